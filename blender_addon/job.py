"""One Colorize Strip run, split into short main-thread steps around a worker thread.

    plan_job()  -> Plan   (reads the scene; raises InkpaintError with a sentence to act on)
    Job.step()            (main thread; called by the modal operator's timer, or in a loop by
                           the blocking path used in background mode)
      RENDER   one Grease Pencil pass per step (bpy is main-thread only)
      COLOUR   drain the worker's messages (the worker keys every frame's inputs against
               the render log, colours those that changed, writes them with their confidence
               maps into a hidden staging folder inside the output folder)
      finish   move the frames into place, log them, write the scores, list the frames to
               review, replace the result strip                              -> DONE
    Job.cancel()          -> CANCELLED once the worker has stopped: staging, temp renders and
                             any folder the job created are removed; no strip is made.

Both the modal operator and the background path drive exactly this ``step``, so a test that
calls ``step`` in a loop exercises what the timer runs.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import bpy

from . import compat, references
from .core.errors import InkpaintError
from .core.frames import (
    OutputPattern,
    check_no_overwrite,
    format_frames,
    padding_of,
    split_numbered,
)
from .core.progress import Progress
from .props import check_device, check_model
from .references import RESULT_KEY, Source
from .worker import ColorWorker, WorkSpec

MAX_CHANNEL = 128
_ACTIVE: Job | None = None
_LAST: Job | None = None  # the last job that ended (the panel shows how)


def active_job() -> Job | None:
    return _ACTIVE if _ACTIVE is not None and not _ACTIVE.finished else None


def last_job() -> Job | None:
    return _LAST


@dataclass
class Plan:
    scene_name: str
    source: Source
    refs: list[references.RefInfo]
    out_dir: Path
    out_dir_raw: str  # as the artist wrote it (kept relative to the .blend in the strip)
    out: OutputPattern  # the coloured frames, numbered like the source (``numbers``)
    model: str
    device: str
    k: int
    temporal: bool
    review_below: float  # frames whose confidence is below this are listed for review
    numbers: dict[int, int] = field(default_factory=dict)  # scene frame -> output number
    lineart: dict[int, Path] = field(default_factory=dict)  # image-strip source only
    gp_object: str = ""  # Grease Pencil source only

    @property
    def frames(self) -> list[int]:
        return self.source.frames

    @property
    def strip_name(self) -> str:
        return f"{self.source.name} (Inkpaint)"

    def output(self, frame: int) -> Path:
        """The coloured file of scene frame ``frame``."""
        return self.out.path(self.numbers[frame])


def source_numbering(files: dict[int, Path]) -> tuple[str, int, dict[int, int]] | None:
    """(name prefix, padding, scene frame -> file's frame number) when the files are one
    numbered sequence shown once each (``line.1001.png`` ...), so that the coloured frames
    keep the line art's own numbers, as the CLI's do; None otherwise (a held or reused file,
    mixed names)."""
    parsed = {f: split_numbered(p.name) for f, p in files.items()}
    if not parsed or not all(parsed.values()):
        return None
    prefixes = {prefix for prefix, _, _ in parsed.values()}
    numbers = {f: int(digits) for f, (_, digits, _) in parsed.items()}
    if len(prefixes) != 1 or len(set(numbers.values())) != len(numbers):
        return None
    padding = padding_of(digits for _, digits, _ in parsed.values())
    if padding is None:
        return None
    return prefixes.pop(), padding, numbers


def plan_job(context, settings=None) -> Plan:
    """Everything a run needs, checked before anything is rendered or written."""
    scene = context.scene
    settings = settings or scene.inkpaint
    found = references.survey(context, settings)
    if not found.ok:
        raise InkpaintError(found.problems[0] if found.problems else "Nothing to colour")
    src = found.source
    stem = bpy.path.clean_name(src.name)
    raw = settings.output_dir or f"//inkpaint/{stem}/"
    if raw.startswith("//") and not bpy.data.filepath:
        raise InkpaintError("Save the .blend first (the coloured frames go into a folder "
                            "beside it), or choose an Output Folder in the Inkpaint panel")
    out_dir = Path(bpy.path.abspath(raw))
    model, problem = check_model(settings)
    if problem:
        raise InkpaintError(problem)
    device, problem = check_device(settings.device)
    if problem:
        raise InkpaintError(problem)
    lineart: dict[int, Path] = {}
    gp_name = ""
    named = (f"{stem}.", 4, {f: f for f in src.frames})  # a drawing: the scene's frames
    if src.kind == "STRIP":
        strip, _ = references.source_strip(scene, settings)
        lineart = {f: references.strip_file(strip, f) for f in src.frames}
        missing = [f for f, p in lineart.items() if p is None or not p.is_file()]
        if missing:
            raise InkpaintError(
                f"Line-art frames {format_frames(missing)} of strip '{src.name}' are missing "
                f"on disk (first: {lineart[missing[0]]}): re-link the strip or render those "
                "frames")
        if out_dir.resolve() in {p.parent.resolve() for p in lineart.values()}:
            raise InkpaintError(f"The Output Folder {raw} holds the line art itself: choose "
                                "another folder (Inkpaint never writes over its sources)")
        named = source_numbering(lineart) or named
    else:
        gp_name = references.gp_object(context, settings).name
    prefix, padding, numbers = named
    ext = ".exr" if settings.file_format == "EXR" else ".png"
    out = OutputPattern(out_dir / f"{prefix}{'#' * padding}{ext}")
    sources = [*lineart.values(), *(r.color for r in found.usable if r.color is not None)]
    check_no_overwrite(sources, out, numbers.values())
    return Plan(scene.name, src, found.usable, out_dir, raw, out, model, device, settings.k,
                settings.temporal, settings.review_below, numbers, lineart, gp_name)


class Job:
    """States: RENDER -> COLOUR -> DONE, or FAILED / CANCELLED from any of them."""

    def __init__(self, plan: Plan, on_item: Callable[[str], None] | None = None) -> None:
        self.plan = plan
        self.on_item = on_item  # called with a label ("line art 3", "frame 12") per item
        self.phase = "RENDER"
        self.message = ""
        self.status = "Starting"
        self.tmp = Path(tempfile.mkdtemp(prefix="inkpaint-"))
        self.renders: list[tuple[int, bool, Path]] = []
        if plan.source.kind == "GPENCIL":
            self.renders = [(f, False, self.tmp / f"line.{f:04d}.png") for f in plan.frames]
            self.renders += [(r.frame, True, self.tmp / f"ref.{r.frame:04d}.png")
                             for r in plan.refs]
        self.total = len(self.renders) + len(plan.frames)
        self.done = 0
        self.frames_done = 0
        self.to_colour = len(plan.frames)  # fewer once the worker finds unchanged frames
        self.kept = 0
        self.scores: dict[int, float] = {}  # scene frame -> confidence, after DONE
        self.review: list[tuple[int, float]] = []  # (scene frame, confidence) below the level
        self.staging: Path | None = None
        self.result_strip = ""
        self.channel = 0
        self.device = ""
        self.started = time.monotonic()
        self.seconds = 0.0
        self._renderer = None
        self._worker: ColorWorker | None = None
        self._cancel = False
        self._error: str | None = None
        self._created_dirs: list[Path] = []

    # ---- state -------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.phase in ("DONE", "FAILED", "CANCELLED")

    @property
    def fraction(self) -> float:
        return self.done / max(1, self.total)

    @property
    def cancelling(self) -> bool:
        return self._cancel and not self.finished

    def start(self) -> Job:
        global _ACTIVE
        running = active_job()
        if running is not None and running is not self:
            self._stop("FAILED", f"Inkpaint is already colouring '{running.plan.source.name}':"
                                 " wait for it to finish or press Esc to cancel it")
            raise InkpaintError(self.message)
        _ACTIVE = self
        return self

    # ---- the step the timer calls --------------------------------------------------------------

    def step(self, wait: float = 0.0) -> str:
        """Do one short piece of main-thread work; ``wait`` > 0 blocks that long at most for
        the worker's next message (background mode), 0 never blocks (the UI timer)."""
        if self.finished:
            return self.phase
        try:
            if self._cancel and self._worker is None:
                self._stop("CANCELLED", "Colouring cancelled: no strip was made")
            elif self.phase == "RENDER":
                self._render_next()
            elif self.phase == "COLOUR":
                self._drain(wait)
        except InkpaintError as exc:
            self._stop("FAILED", str(exc))
        except Exception as exc:  # an artist gets a sentence; the console gets the details
            import traceback

            traceback.print_exception(exc)
            self._stop("FAILED", f"Inkpaint stopped on an unexpected {type(exc).__name__} "
                                 f"({exc}); the details are in the system console")
        return self.phase

    def cancel(self) -> None:
        """Ask to stop; the job reaches CANCELLED on a later ``step`` (once the worker has
        finished its current frame), or at once when no worker runs yet."""
        self._cancel = True
        if self._worker is not None:
            self._worker.cancel()
        else:
            self.step()

    def abort(self, timeout: float = 120.0) -> None:
        """Cancel and wait (file load, add-on unregister: nothing may be left behind)."""
        if self.finished:
            return
        self._cancel = True
        if self._worker is not None:
            self._worker.cancel()
            self._worker.join(timeout)
        self.step()

    def run_blocking(self) -> str:
        """Background mode: the same steps in a loop, until the job ends."""
        while not self.finished:
            self.step(wait=0.25)
        return self.phase

    # ---- phases ------------------------------------------------------------------------------

    def _render_next(self) -> None:
        if self.done < len(self.renders):
            if self._renderer is None:
                from .gpencil import PassRenderer

                scene, obj = self._scene(), bpy.data.objects.get(self.plan.gp_object)
                if obj is None:
                    raise InkpaintError(f"Grease Pencil object '{self.plan.gp_object}' was "
                                        "deleted while colouring: run again")
                self._renderer = PassRenderer(scene, obj)
            frame, fills, path = self.renders[self.done]
            what = "reference" if fills else "line art"
            self.status = f"Rendering {what} of frame {frame}"
            self._renderer.render(frame, fills, path)
            self._item(f"{what} {frame}")
            return
        if self._renderer is not None:
            self._renderer.cleanup()
            self._renderer = None
        self._start_worker()

    def _start_worker(self) -> None:
        p = self.plan
        self._makedirs(p.out_dir)
        self.staging = p.out_dir / f".inkpaint-{secrets.token_hex(4)}"
        self.staging.mkdir()
        if p.source.kind == "GPENCIL":
            lineart = {f: self.tmp / f"line.{f:04d}.png" for f in p.frames}
            refs = [(r.frame, self.tmp / f"ref.{r.frame:04d}.png") for r in p.refs]
        else:
            lineart = dict(p.lineart)
            refs = [(r.frame, r.color) for r in p.refs]
        spec = WorkSpec(lineart, refs, p.frames, p.numbers, p.out, p.model, p.device, p.k,
                        p.temporal, self.staging)
        self._worker = ColorWorker(spec)
        self.phase = "COLOUR"
        self.status = "Loading the model"
        self._worker.start()

    def _drain(self, wait: float) -> None:
        events = self._worker.events
        block = wait > 0
        while True:
            try:
                kind, value = events.get(block, wait if block else None)
            except queue.Empty:
                return
            block = False
            if kind == "loaded":
                self.device = value
                self.status = f"Colouring on {value.upper()}"
            elif kind == "plan":  # frames the render log keeps count as done items
                todo, kept = value
                self.to_colour, self.kept = len(todo), len(kept)
                for f in kept:
                    self._item(f"frame {f} kept")
                if kept:
                    self.status = (f"{self.kept} frames unchanged since the last run; colouring "
                                   f"{self.to_colour}")
            elif kind == "frame":
                self.frames_done += 1
                self.status = f"Coloured frame {value} ({self.frames_done}/{self.to_colour})"
                self._item(f"frame {value}")
            elif kind == "error":
                self._error = value
            elif kind == "end":
                self._worker.join()
                self._worker_ended()
                return

    def _worker_ended(self) -> None:
        if self._cancel:
            self._stop("CANCELLED", "Colouring cancelled: no strip was made")
        elif self._error:
            self._stop("FAILED", self._error)
        elif self.frames_done != self.to_colour:
            self._stop("FAILED", f"The engine made {self.frames_done} of "
                                 f"{self.to_colour} frames: run again")
        else:
            self._finish()

    def _finish(self) -> None:
        """Frames (and their maps) into place and into the render log, then the strip: only
        now is the artist's scene changed."""
        from .core.compose.review import (
            confidence_pattern,
            frames_below,
            scores_path,
            write_scores,
        )

        p, w = self.plan, self._worker
        scene = self._scene()
        maps = confidence_pattern(p.out)
        for f in w.written:
            n = p.numbers[f]
            staged = w.spec.staged(f)
            with w.rendering.writing(n, staged, w.scores.get(n), [maps.path(n)]) as out:
                if w.spec.staged_map(f).exists():
                    os.replace(w.spec.staged_map(f), maps.path(n))
                os.replace(staged, out)
        outputs = {n: p.out.path(n) for n in p.numbers.values()}
        keep = {o.name for o in outputs.values()}
        if not w.spec.exr:  # an EXR carries its map as a channel
            keep |= {maps.path(n).name for n in outputs}
        _remove_stale(p.out_dir, [p.out, maps], keep)
        logged = w.rendering.log.scores(outputs)
        if logged:
            write_scores(scores_path(p.out.pattern), logged)
        scene_of = {n: f for f, n in p.numbers.items()}
        self.scores = {scene_of[n]: v for n, v in logged.items()}
        self.review = [(f, self.scores[f]) for f in frames_below(self.scores, p.review_below)]
        sed = scene.sequence_editor_create()
        for old in references.result_strips(sed, p.source.key):
            compat.strips(sed).remove(old)
        lowest = p.source.channel + 1 if p.source.kind == "STRIP" else 1
        self.channel = free_channel(sed, lowest, p.frames[0], p.frames[-1])
        strip = compat.new_image_strip(sed, p.strip_name, [str(p.output(f)) for f in p.frames],
                                       self.channel, p.frames[0])
        strip[RESULT_KEY] = p.source.key
        if p.out_dir_raw.startswith("//"):
            strip.directory = p.out_dir_raw.rstrip("/\\") + "/"
        self.result_strip = strip.name
        done = (f"{len(p.frames)} frames of '{p.source.name}'" if not self.kept else
                f"{self.frames_done} of {len(p.frames)} frames of '{p.source.name}' "
                f"({self.kept} unchanged since the last run, kept)")
        self._stop("DONE", f"Coloured {done} into {p.out_dir_raw} (strip '{strip.name}', "
                           f"channel {self.channel})")

    # ---- helpers -----------------------------------------------------------------------------

    def _scene(self) -> bpy.types.Scene:
        scene = bpy.data.scenes.get(self.plan.scene_name)
        if scene is None:
            raise InkpaintError(f"Scene '{self.plan.scene_name}' was removed while colouring: "
                                "run again")
        return scene

    def _item(self, label: str) -> None:
        self.done += 1
        if self.on_item is not None:
            self.on_item(label)

    def _makedirs(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for d in reversed(missing):
            try:
                d.mkdir()
            except OSError as exc:
                raise InkpaintError(f"Cannot create the output folder {d} "
                                    f"({exc.strerror or exc}): choose another Output Folder") \
                    from exc
            self._created_dirs.append(d)

    def _stop(self, phase: str, message: str) -> None:
        global _ACTIVE, _LAST
        if self._renderer is not None:
            self._renderer.cleanup()
            self._renderer = None
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
        if phase != "DONE":
            for d in reversed(self._created_dirs):
                try:
                    d.rmdir()  # only if still empty: never anything the artist put there
                except OSError:
                    break
        self.phase, self.message = phase, message
        self.status = message
        self.seconds = time.monotonic() - self.started
        if _ACTIVE is self:
            _ACTIVE = None
            _LAST = self


def run_with_progress(plan: Plan, stream: TextIO | None = None) -> Job:
    """Background mode: the whole job in this thread, reporting like the core CLI does (one
    ``inkpaint: progress ...`` line per item, or the farm format ``$INKPAINT_PROGRESS``
    names: deadline, openjd, tractor). Returns the finished job, whatever its phase."""
    job = Job(plan)
    progress = Progress(job.total, f"Inkpaint {plan.source.name}",
                        stream=stream or sys.stdout)
    job.on_item = progress.step
    try:
        job.start()
        job.run_blocking()
    finally:
        progress.close()
    if job.phase == "DONE":
        progress.finish(job.message)
    else:
        progress.fail(job.message)
    return job


def free_channel(sed, lowest: int, first: int, last: int) -> int:
    """The lowest channel from ``lowest`` up that no top-level strip uses on frames
    ``first``..``last``."""
    busy = {s.channel for s in compat.strips(sed)
            if s.frame_final_start <= last and s.frame_final_end > first}
    for channel in range(max(1, lowest), MAX_CHANNEL + 1):
        if channel not in busy:
            return channel
    raise InkpaintError(f"No Sequencer channel above {lowest - 1} is free on frames "
                        f"{first}-{last}: free one and run again")


def _remove_stale(folder: Path, sequences: list[OutputPattern], keep: set[str]) -> None:
    """Frames and maps of an earlier run of this source that this run did not make or keep (a
    longer range, the other format), so the folder holds one consistent sequence."""
    names = []
    for seq in sequences:
        head, _, tail = Path(seq.pattern).name.partition("#")
        ext = tail.lstrip("#")
        other = "(png|exr)" if ext.lower() in (".png", ".exr") else re.escape(ext[1:])
        names.append(re.compile(rf"^{re.escape(head)}-?[0-9]+\.{other}$"))
    for entry in folder.iterdir():
        if (entry.is_file() and entry.name not in keep
                and any(n.match(entry.name) for n in names)):
            entry.unlink(missing_ok=True)
