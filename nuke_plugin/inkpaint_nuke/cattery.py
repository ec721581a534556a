"""Callbacks of the InkpaintColorizeCattery gizmo: copy its knobs onto the internal nodes
(a gizmo's internals are rebuilt from the .gizmo file on every load, so onCreate re-applies
them). The Inference node's ``size`` knob exists only once a .cat that declares it is
loaded, so a missing knob is skipped rather than an error."""

import nuke

from . import job

_WATCHED = ("size", "colorspace")


def sync(node):
    try:
        values = job.cattery_internal_knobs(node["size"].value(), node["colorspace"].value())
    except job.UserError as exc:
        nuke.warning(f"{node.name()}: {exc}")
        return
    with node:
        for name, knob, value in values:
            inner = nuke.toNode(name)
            if inner is not None and knob in inner.knobs():
                inner[knob].setValue(value)


def on_create():
    sync(nuke.thisNode())


def knob_changed():
    knob = nuke.thisKnob()
    if knob is not None and knob.name() in _WATCHED:
        sync(nuke.thisNode())
