"""Inkpaint for Blender: colours line-art animation from a few painted reference frames.

Sequencer > Sidebar (N) > Inkpaint > Colorize Strip. The source is an image strip of line art
or a Grease Pencil object; timeline markers named ``ref…`` mark the painted frames. The
engine (``core``, vendored by build.py) runs with ONNX Runtime on a worker thread.
"""

from __future__ import annotations

import bpy

from . import headless, job, operators, panel, props

__all__ = ["headless", "register", "unregister"]
_MODULES = (props, operators, panel)


@bpy.app.handlers.persistent
def _on_load_pre(*_args) -> None:
    """A job refers to the current file's scene: stop it cleanly before another file loads."""
    running = job.active_job()
    if running is not None:
        running.abort()


def register() -> None:
    for module in _MODULES:
        module.register()
    bpy.app.handlers.load_pre.append(_on_load_pre)


def unregister() -> None:
    running = job.active_job()
    if running is not None:
        running.abort()
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    for module in reversed(_MODULES):
        module.unregister()
