"""The few lines that touch ``nuke``: read the gizmo's knobs, create and execute the
temporary Write nodes, run the worker under a ProgressTask, point the gizmo at the result.
All decisions are in ``job``; this module only carries them out.

In the GUI the Colorize button only plans the run and starts a thread; the thread renders the
inputs one frame at a time and sets knobs through ``nuke.executeInMainThreadWithResult``
(Foundry's pattern for threads: only the main thread touches nodes) and runs the worker,
so Nuke's UI stays live and the ProgressTask's Cancel is read between frames. ``nuke -t``
(farm mode) has no event loop and runs the same steps in the calling thread."""

import os
import tempfile
import threading
import time

import nuke

from . import job, runner

GIZMO = "InkpaintColorize"
READ_NODE = "InkpaintResult"
_READ_KNOBS = job.SETTING_KNOBS + ("cache_dir", "python")


# ---- progress --------------------------------------------------------------------------------


class GuiProgress:
    """``nuke.ProgressTask`` with a Cancel button."""

    def __init__(self, title):
        self._task = nuke.ProgressTask(title)

    def update(self, percent, message):
        self._task.setProgress(int(max(0, min(100, percent))))
        self._task.setMessage(message)

    def cancelled(self):
        return self._task.isCancelled()

    def close(self):
        self._task = None  # dropping the last reference closes Nuke's progress bar


class TerminalProgress:
    """For ``nuke -t``: stage lines on stdout (the worker's progress lines are echoed)."""

    def update(self, percent, message):
        if not message.startswith("frame "):  # per-frame lines come from the worker itself
            print(f"inkpaint: {message}", flush=True)

    def cancelled(self):
        return False

    def close(self):
        pass


# ---- the run ---------------------------------------------------------------------------------


def _knob_values(node):
    knobs = node.knobs()
    return dict((name, knobs[name].value()) for name in _READ_KNOBS if name in knobs)


def _shot(node):
    """The line-art input's frame range (what the gizmo's output covers)."""
    if node.input(0) is None:
        raise job.UserError("connect the line art to the node's 'lineart' input")
    if node.input(1) is None:
        raise job.UserError("connect the painted reference frames to the 'refs' input")
    frames = node.input(0).frameRange()
    return int(frames.first()), int(frames.last())


def _has_alpha(source):
    return "rgba.alpha" in source.channels()


def _root_value(name, default=""):
    knob = nuke.root().knob(name)
    return knob.value() if knob is not None else default


def set_colour_space(node, knobs, names, what):
    """Set every (internal node, knob) of ``knobs`` inside the gizmo ``node`` to the first of
    ``names`` the script's OCIO config has; returns it. ``what`` names the knob to fix."""
    with node:
        for name in names:
            try:
                for inner, knob in knobs:
                    nuke.toNode(inner)[knob].setValue(name)
                return name
            except (ValueError, RuntimeError, TypeError):
                continue
    raise job.UserError(f"none of the colour spaces {', '.join(names)} exists in this "
                        f"script's OCIO config: type one in the node's '{what}' knob")


def sync_colour(node):
    """Point the gizmo's OCIOColorSpace nodes at the script's sRGB colour space (the node's
    knob, else the first of ``job.SRGB_NAMES`` the config has); returns the name. A gizmo's
    internals are rebuilt from its file on every load, so onCreate calls this too."""
    override = str(node["srgb_colorspace"].value() or "").strip()
    return set_colour_space(node, job.COLORIZE_SRGB_KNOBS, job.srgb_candidates(override),
                            "sRGB colour space")


def _create_writes(node, plan):
    """The temporary Write nodes, inside the gizmo, fed by its sRGB conversions."""
    sync_colour(node)
    created = []
    with node:
        for spec in plan.writes:
            write = nuke.nodes.Write()
            created.append((spec, write))
            write["file"].setValue(spec.path)
            for name, value in spec.knobs.items():
                if name in write.knobs():
                    write[name].setValue(value)
            write.setInput(0, nuke.toNode(spec.source))
    return created


def _direct(call, *args):
    return call(*args)


def _on_main(call, *args):
    return nuke.executeInMainThreadWithResult(call, args)


def _render(writes, progress, on_main=_direct, per_frame=False):
    """Execute the Write nodes over their frame runs (progress 0-10 %). ``on_main`` runs each
    ``nuke.execute`` on the main thread; ``per_frame`` renders one frame per call, so a
    thread hands the main thread short pieces and Cancel is read between frames."""
    total = sum(len(spec.frames) for spec, _ in writes)
    done = 0
    for spec, write in writes:
        for first, last in spec.runs:
            pieces = [(f, f) for f in range(first, last + 1)] if per_frame else [(first, last)]
            for a, b in pieces:
                if progress.cancelled():
                    raise runner.Cancelled()
                progress.update(10.0 * done / max(1, total), f"rendering {spec.role} {a}-{b}")
                try:
                    on_main(nuke.execute, write, a, b, 1)
                except RuntimeError as exc:
                    if progress.cancelled() or "cancel" in str(exc).lower():
                        raise runner.Cancelled() from None
                    why = " ".join(str(exc).split())
                    raise job.UserError(f"rendering the {spec.role} input failed at frames "
                                        f"{a}-{b}: {why}") from None
                done += b - a + 1


def _delete_writes(node, writes):
    with node:
        for _, write in writes:
            nuke.delete(write)


def _cleanup(plan):
    """Remove the rendered inputs; the job file and the worker's log stay for reference."""
    for name in os.listdir(plan.folder) if os.path.isdir(plan.folder) else []:
        path = os.path.join(plan.folder, name)
        if name.startswith(("line.", "ref.")):
            os.remove(path)


def set_status(node, text):
    if "status" in node.knobs():
        node["status"].setValue(text)


def set_review(node, scores):
    """The frames to look at (confidence below ``job.REVIEW_BELOW``) in the review knob."""
    if "review" in node.knobs():
        node["review"].setValue(job.review_text(scores))


def _show_result(node, plan):
    for name, value in job.result_knobs(plan).items():
        node[name].setValue(value)
    with node:
        read = nuke.toNode(READ_NODE)
    if read is not None and "reload" in read.knobs():
        read["reload"].execute()


def _prepare(node, frames, python, overwrite):
    """Main thread: the run's settings, plan and worker Python, checked before anything is
    rendered."""
    settings = job.read_settings(_knob_values(node))
    root = job.cache_root(settings.cache_dir, _root_value("name"), tempfile.gettempdir())
    shot = _shot(node)
    plan = job.plan_run(settings, node.name(), shot, root, frames, overwrite,
                        lineart_alpha=_has_alpha(node.input(0)),
                        refs_alpha=_has_alpha(node.input(1)))
    python = runner.resolve_python(python or settings.python)
    if not os.path.isdir(plan.folder):  # also where create_directories is unknown
        os.makedirs(plan.folder)
    return settings, plan, python


def _finish(node, plan, settings, start, scores):
    """Main thread: show the result and say what happened (flagged frames included)."""
    _show_result(node, plan)
    _cleanup(plan)
    set_review(node, scores)
    set_status(node, job.status_done(plan, settings.model, time.time() - start, scores))


def _run(node, plan, settings, python, start, progress, echo, on_main, per_frame):
    """Render the inputs, run the worker, show the result; ``on_main`` carries every step
    that touches nodes to the main thread."""
    on_main(set_status, node, "rendering inputs...")
    writes = on_main(_create_writes, node, plan)
    try:
        _render(writes, progress, on_main, per_frame)
    finally:
        on_main(_delete_writes, node, writes)
    on_main(set_status, node, "colouring...")
    progress.update(10.0, f"colouring {job.format_frames(plan.frames)}")
    scores = runner.run_job(plan, python,
                            progress=lambda pct, msg: progress.update(10.0 + 0.9 * pct, msg),
                            should_cancel=progress.cancelled, echo=echo)
    on_main(_finish, node, plan, settings, start, scores)
    return plan


def colorize(node, frames=None, python=None, overwrite=True, progress=None, echo=None):
    """Run one InkpaintColorize node over ``frames`` ((first, last); default: its frame
    range knob, else the whole line-art input) in this thread (``nuke -t``). Raises
    ``job.UserError`` or ``runner.Cancelled``; the node's status knob says what happened
    either way."""
    start = time.time()
    progress = progress or TerminalProgress()
    try:
        settings, plan, python = _prepare(node, frames, python, overwrite)
        return _run(node, plan, settings, python, start, progress, echo, _direct, False)
    except job.UserError as exc:
        set_status(node, f"error: {exc}")
        raise
    except runner.Cancelled:
        set_status(node, "cancelled (frames already written are kept)")
        raise


_running = {}  # node full name -> the thread colouring it


def running():
    """Names of the nodes being coloured in the background."""
    return sorted(name for name, t in list(_running.items()) if t.is_alive())


def colorize_in_background(node):
    """The GUI run: plan here (main thread), then render and colour in a thread."""
    name = node.fullName()
    if name in running():
        nuke.message(f"Inkpaint: {name} is already colouring; cancel it in the progress bar "
                     "first")
        return None
    start = time.time()
    try:
        settings, plan, python = _prepare(node, None, None, True)
    except job.UserError as exc:
        set_status(node, f"error: {exc}")
        nuke.message(f"Inkpaint: {exc}")
        return None

    def work():
        progress = GuiProgress(f"Inkpaint: {node.name()}")  # made in the thread, as Foundry's
        try:                                                # example does
            _run(node, plan, settings, python, start, progress, None, _on_main, True)
        except job.UserError as exc:
            nuke.executeInMainThread(_report_error, (node, str(exc)))
        except runner.Cancelled:
            nuke.executeInMainThread(set_status,
                                     (node, "cancelled (frames already written are kept)"))
        except Exception as exc:  # a crash must still reach the artist, not end silently
            nuke.executeInMainThread(_report_error, (node, f"unexpected {type(exc).__name__}: "
                                                           f"{exc}"))
            raise
        finally:
            progress.close()

    thread = threading.Thread(target=work, name=f"inkpaint {name}")
    thread.daemon = True  # quitting Nuke ends it; frames already written are whole
    _running[name] = thread
    thread.start()
    return thread


def _report_error(node, message):
    set_status(node, f"error: {message}")
    nuke.message(f"Inkpaint: {message}")


# ---- gizmo callbacks -------------------------------------------------------------------------


def colorize_this():
    """The gizmo's Colorize button: returns at once; the run goes on in a thread."""
    colorize_in_background(nuke.thisNode())


def on_create():
    """The gizmo's onCreate (also on every script load): its colour conversions."""
    node = nuke.thisNode()
    try:
        sync_colour(node)
    except job.UserError as exc:
        nuke.warning(f"{node.name()}: {exc}")


def knob_changed():
    """The gizmo's knobChanged: a changed setting makes the shown result stale."""
    node, knob = nuke.thisNode(), nuke.thisKnob()
    if knob is None or knob.name() not in job.SETTING_KNOBS:
        return
    if knob.name() == "srgb_colorspace":
        on_create()
    if "result_ready" in node.knobs() and node["result_ready"].value():
        set_status(node, "settings changed since the last run: press Colorize")
