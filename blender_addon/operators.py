"""The Colorize Strip operator: modal with a timer in the UI, blocking in background mode.

In the UI, ``invoke`` plans the job and returns RUNNING_MODAL; every TIMER event runs one
``Job.step`` (one Grease Pencil render, or draining the worker's messages), so the interface
stays live, the panel and status bar show progress, and Esc cancels. In background mode
(``blender -b``, the bpy module) there is no event loop: Blender calls ``execute`` even for
INVOKE_DEFAULT, which runs the same steps in a loop and prints one progress line per item.
"""

from __future__ import annotations

import bpy

from .core.errors import InkpaintError
from .job import Job, active_job, plan_job, run_with_progress

TIMER_SECONDS = 0.05


def conclude(op, job: Job) -> set[str]:
    """Report how a finished job ended; the operator's return value."""
    if job.phase == "DONE":
        op.report({"INFO"}, f"{job.message} in {job.seconds:.1f} s")
        return {"FINISHED"}
    op.report({"WARNING"} if job.phase == "CANCELLED" else {"ERROR"}, job.message)
    return {"CANCELLED"}


def show_progress(context, job: Job | None) -> None:
    wm = context.window_manager
    workspace = getattr(context, "workspace", None)
    if job is None or job.finished:
        if wm is not None:
            wm.progress_end()
        if workspace is not None:
            workspace.status_text_set(None)
    else:
        if wm is not None:
            wm.progress_update(int(100 * job.fraction))
        if workspace is not None:
            what = "cancelling…" if job.cancelling else f"{job.status} (Esc to cancel)"
            workspace.status_text_set(f"Inkpaint: {what}")
    screen = getattr(context, "screen", None)
    for area in getattr(screen, "areas", ()):
        if area.type == "SEQUENCE_EDITOR":
            area.tag_redraw()


def modal_step(op, context, event_type: str, event_value: str = "PRESS") -> set[str]:
    """What ``modal`` does for one event, kept outside the class so that tests under the bpy
    module (which has no event loop) can drive it with TIMER and ESC events."""
    job: Job = op._job
    if event_type == "ESC":
        if event_value == "PRESS":
            job.cancel()
    elif event_type == "TIMER":
        job.step()
    else:
        return {"PASS_THROUGH"}
    show_progress(context, job)
    if job.finished:
        teardown(op, context)
        return conclude(op, job)
    return {"RUNNING_MODAL"}


def teardown(op, context) -> None:
    timer = getattr(op, "_timer", None)
    if timer is not None:
        context.window_manager.event_timer_remove(timer)
        op._timer = None
    show_progress(context, None)


class INKPAINT_OT_colorize_strip(bpy.types.Operator):
    bl_idname = "inkpaint.colorize_strip"
    bl_label = "Colorize Strip"
    bl_description = ("Colour the source's line-art frames from the painted reference frames "
                      "marked on the timeline")
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if active_job() is not None:
            cls.poll_message_set("Inkpaint is already colouring: wait, or press Esc")
            return False
        return context.scene is not None

    def execute(self, context):
        """Blocking: background mode, scripts, render farms."""
        try:
            job = run_with_progress(plan_job(context))
        except InkpaintError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return conclude(self, job)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        try:
            self._job = Job(plan_job(context)).start()
        except InkpaintError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        show_progress(context, self._job)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        return modal_step(self, context, event.type, event.value)

    def cancel(self, context):
        """Blender ends the operator (window closed, file loaded): leave nothing behind."""
        self._job.abort()
        teardown(self, context)


class INKPAINT_OT_cancel(bpy.types.Operator):
    bl_idname = "inkpaint.cancel"
    bl_label = "Cancel Colouring"
    bl_description = "Stop colouring; no strip is made and no frames are left behind"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context):
        return active_job() is not None

    def execute(self, context):
        active_job().cancel()
        return {"FINISHED"}


class INKPAINT_OT_show_frame(bpy.types.Operator):
    bl_idname = "inkpaint.show_frame"
    bl_label = "Show Frame"
    bl_description = "Put the playhead on this frame to review it"
    bl_options = {"INTERNAL"}

    frame: bpy.props.IntProperty(name="Frame")

    def execute(self, context):
        context.scene.frame_set(self.frame)
        return {"FINISHED"}


CLASSES = (INKPAINT_OT_colorize_strip, INKPAINT_OT_cancel, INKPAINT_OT_show_frame)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
