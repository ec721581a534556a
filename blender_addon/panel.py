"""The "Colorize Strip" panel in the Sequencer's sidebar (N), tab "Inkpaint"."""

from __future__ import annotations

import importlib.util
import textwrap

import bpy

from . import compat, references
from .core.frames import format_frames
from .job import active_job, last_job
from .props import check_device, check_model, gpu_available

_DEPS = ("onnxruntime", "cv2", "yaml")
REVIEW_ROWS = 12  # frames listed as buttons; the rest as one line of ranges


def missing_packages() -> list[str]:
    return [m for m in _DEPS if importlib.util.find_spec(m) is None]


def _wrapped(layout, text: str, icon: str = "NONE", width: int = 42) -> None:
    """Long sentences over several labels (a label does not wrap)."""
    col = layout.column(align=True)
    for i, line in enumerate(textwrap.wrap(text, width) or [""]):
        col.label(text=line, icon=icon if i == 0 else "BLANK1")


class SEQUENCER_PT_inkpaint_colorize(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Inkpaint"
    bl_label = "Colorize Strip"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        s = scene.inkpaint
        job = active_job()

        missing = missing_packages()
        if missing:
            _wrapped(layout, f"Missing Python packages ({', '.join(missing)}): reinstall the "
                             "Inkpaint extension from its .zip", "ERROR")

        body = layout.column()
        body.enabled = job is None
        body.use_property_split = True
        body.use_property_decorate = False
        body.prop(s, "source_type", expand=True)
        sed = scene.sequence_editor
        if s.source_type == "STRIP":
            if sed is not None:
                body.prop_search(s, "source_strip", sed, compat.strips_all_name(),
                                 text="Strip", icon="SEQUENCE")
            else:
                body.prop(s, "source_strip")
        else:
            body.prop(s, "gp_object")
        body.prop(s, "marker_prefix")

        found = references.survey(context, s)
        box = layout.box()
        if found.source is not None:
            src = found.source
            box.label(text=f"{src.name}: frames {src.first}-{src.last}", icon="SEQ_SEQUENCER")
        refs = box.column(align=True)
        for r in found.refs:
            if r.ignored:
                refs.label(text=f"{r.marker} @ {r.frame}: ignored, {r.ignored}",
                           icon="HIDE_ON")
            elif r.problem:
                _wrapped(refs, f"{r.marker} @ {r.frame}: {r.problem}", "ERROR")
            else:
                refs.label(text=f"{r.marker} @ {r.frame}: {r.origin}", icon="CHECKMARK")
        ref_problems = {f"Marker '{r.marker}' (frame {r.frame}): {r.problem}"
                        for r in found.refs if r.problem}
        for problem in found.problems:
            if problem not in ref_problems:
                _wrapped(box, problem, "ERROR")

        opts = layout.column()
        opts.enabled = job is None
        opts.use_property_split = True
        opts.use_property_decorate = False
        opts.prop(s, "model")
        model_problem = check_model(s)[1]
        if model_problem:
            _wrapped(opts, model_problem, "ERROR")
        opts.prop(s, "device")
        device_problem = check_device(s.device)[1]
        if device_problem:
            _wrapped(opts, device_problem, "ERROR")
        elif not gpu_available():
            opts.label(text="Runs on the CPU (no GPU support in this install)", icon="INFO")
        opts.prop(s, "k")
        opts.prop(s, "temporal")
        opts.prop(s, "output_dir")
        if not s.output_dir and found.source is not None:
            stem = bpy.path.clean_name(found.source.name)
            opts.label(text=f"Default: //inkpaint/{stem}/", icon="FILE_FOLDER")
        opts.prop(s, "file_format")
        opts.prop(s, "review_below")

        if job is not None:
            col = layout.column()
            if compat.can_draw_progress(col):
                col.progress(factor=job.fraction, type="BAR", text=job.status)
            else:
                col.label(text=f"{int(100 * job.fraction)}%  {job.status}")
            col.operator("inkpaint.cancel", icon="CANCEL")
            return
        row = layout.row()
        row.scale_y = 1.5
        row.enabled = found.ok and not missing and not model_problem and not device_problem
        row.operator("inkpaint.colorize_strip", icon="BRUSH_DATA")
        last = last_job()
        if last is not None:
            _wrapped(layout, last.message, "INFO" if last.phase == "DONE" else "ERROR")
            if last.phase == "DONE" and last.scores:
                draw_review(layout, last)


def draw_review(layout, job) -> None:
    """The frames of the last run to look at first: confidence below Review Below, each a
    button that puts the playhead on it."""
    box = layout.box()
    level = job.plan.review_below
    if not job.review:
        box.label(text=f"Review: no frame below {level:.2f} "
                       f"(lowest {min(job.scores.values()):.2f})", icon="CHECKMARK")
        return
    box.label(text=f"Review: {len(job.review)} of {len(job.scores)} frames below {level:.2f}",
              icon="ERROR")
    col = box.column(align=True)
    for frame, score in job.review[:REVIEW_ROWS]:
        name = job.plan.output(frame).name
        op = col.operator("inkpaint.show_frame", text=f"Frame {frame}: {score:.2f}  ({name})",
                          icon="PLAY")
        op.frame = frame
    if len(job.review) > REVIEW_ROWS:
        rest = [f for f, _ in job.review[REVIEW_ROWS:]]
        _wrapped(col, f"… and {len(rest)} more: {format_frames(rest)}")


CLASSES = (SEQUENCER_PT_inkpaint_colorize,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
