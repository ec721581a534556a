"""Inkpaint's engine, wherever it is: vendored into this package by ``build.py dist``
(``inkpaint_nuke.core``), else the ``core`` package of an installed Inkpaint, else the
checkout this plugin folder sits in (``<checkout>/nuke_plugin`` beside ``<checkout>/core``).
Only the worker side imports this (it needs numpy, OpenCV and the engine)."""

import importlib
import os
import sys

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _import_core():
    try:
        return importlib.import_module(__package__ + ".core")
    except ImportError:
        pass
    try:
        return importlib.import_module("core")
    except ImportError:
        if not os.path.isfile(os.path.join(CHECKOUT, "core", "__init__.py")):
            raise
    sys.path.append(CHECKOUT)
    return importlib.import_module("core")


core = _import_core()


def module(name):
    """``module("engine.colorizer")`` -> the engine's submodule, wherever core lives."""
    return importlib.import_module(core.__name__ + "." + name)
