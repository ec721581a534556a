"""Callbacks of the InkpaintColorizeCattery gizmo: copy its knobs onto the internal nodes
(a gizmo's internals are rebuilt from the .gizmo file on every load, so onCreate re-applies
them). Its OCIOColorSpace nodes convert the inputs from the *input colour space* (any colour
space or role of the script's OCIO config, ``scene_linear`` by default) to the config's sRGB,
which the networks see, and the result back. The Inference node's ``size`` knob exists only
once a .cat that declares it is loaded, so a missing knob is skipped rather than an error."""

import nuke

from . import job, nuke_ops

_WATCHED = ("size", "colorspace", "srgb_colorspace")


def sync(node):
    try:
        nuke_ops.set_colour_space(node, job.CATTERY_COLOURSPACE_KNOBS,
                                  [str(node["colorspace"].value()).strip() or job.WORKING],
                                  "input colour space")
        nuke_ops.set_colour_space(node, job.CATTERY_SRGB_KNOBS,
                                  job.srgb_candidates(str(node["srgb_colorspace"].value())
                                                      .strip()), "sRGB colour space")
        size = job.cattery_size(node["size"].value())
    except job.UserError as exc:
        nuke.warning(f"{node.name()}: {exc}")
        return
    with node:
        inference = nuke.toNode("Inference1")
        if inference is not None and "size" in inference.knobs():
            inference["size"].setValue(size)


def on_create():
    sync(nuke.thisNode())


def knob_changed():
    knob = nuke.thisKnob()
    if knob is not None and knob.name() in _WATCHED:
        sync(nuke.thisNode())
