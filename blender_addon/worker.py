"""The inference half of a job, on a worker thread: no bpy here at all.

The same idea as dream-textures' generator process: the heavy work runs away from Blender's
UI thread and only talks to it through a queue of small messages, which the main thread
drains from a timer (the modal operator) or a polling loop (background mode). ONNX Runtime
and OpenCV release the GIL while they compute, so the UI stays responsive; cancelling is a
flag checked between frames, and the coloured frames (with their confidence maps) go into a
staging folder that the main thread either moves into place and logs (success) or deletes
(cancel, error).
"""

from __future__ import annotations

import queue
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .core.errors import InkpaintError
from .core.frames import OutputPattern

if TYPE_CHECKING:  # the engine's modules need cv2: imported on the worker, when it runs
    from .core.compose.cache import RenderRun


@dataclass
class WorkSpec:
    lineart: dict[int, Path]  # scene frame -> line-art file
    refs: list[tuple[int, Path]]  # (scene frame, painted colour file)
    frames: list[int]  # scene frames
    numbers: dict[int, int]  # scene frame -> output frame number (the source's own)
    out: OutputPattern  # where the frames end up (the render log is kept beside them)
    model: str
    device: str  # auto | cpu | cuda
    k: int
    temporal: bool
    staging: Path  # frames and maps are written here; the main thread moves them to ``out``

    @property
    def exr(self) -> bool:
        return Path(self.out.pattern).suffix.lower() == ".exr"

    def staged(self, frame: int) -> Path:
        return self.staging / self.out.path(self.numbers[frame]).name

    def staged_map(self, frame: int) -> Path:
        from .core.compose.review import confidence_pattern

        return self.staging / confidence_pattern(self.out).path(self.numbers[frame]).name


class ColorWorker(threading.Thread):
    """Messages on ``events``: ("loaded", device), ("plan", (scene frames to colour, scene
    frames kept as they are)),
    ("frame", scene frame) per frame written, ("error", sentence) and, last, ("end", None).

    Like the CLI, it colours only the frames whose inputs changed since they were written
    (``compose.cache``: the render log beside the output); once it has ended, ``rendering`` and
    ``scores`` (by output frame number) are there for the main thread to log the frames it
    moves into place."""

    def __init__(self, spec: WorkSpec) -> None:
        super().__init__(name="inkpaint-colorize", daemon=True)
        self.spec = spec
        self.events: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()
        self.rendering: RenderRun | None = None
        self.scores: dict[int, float] = {}
        self.written: list[int] = []  # scene frames, in the order they were staged

    def cancel(self) -> None:
        self.cancelled.set()

    def run(self) -> None:
        try:
            self._colorize()
        except Exception as exc:  # reported to the artist, never swallowed
            self.events.put(("error", _sentence(exc)))
        finally:
            self.events.put(("end", None))

    def _colorize(self) -> None:
        from .core.compose.review import write_confidence
        from .core.engine.colorizer import Colorizer
        from .core.engine.plan import Reference
        from .core.imageio import write_image

        s = self.spec
        colorizer = Colorizer(model=s.model, backend="auto", device=s.device, k=s.k,
                              temporal=s.temporal)
        if self.cancelled.is_set():
            return
        self.events.put(("loaded", colorizer.backend.device))
        refs = [Reference(color=c, frame=f) for f, c in s.refs]
        todo = self._plan(colorizer, refs)
        if not todo:
            return
        frames = colorizer.colorize(s.lineart, refs, todo)
        try:
            for cf in frames:
                if self.cancelled.is_set():
                    return
                conf = cf.confidence
                if conf is not None and not s.exr:
                    write_confidence(s.staged_map(cf.frame), conf)
                write_image(s.staged(cf.frame), cf.rgb,
                            extra={"confidence": conf} if conf is not None and s.exr else None)
                if cf.score is not None:
                    self.scores[s.numbers[cf.frame]] = cf.score
                self.written.append(cf.frame)
                self.events.put(("frame", cf.frame))
        finally:
            frames.close()

    def _plan(self, colorizer, refs: list) -> list[int]:
        """The scene frames to colour: the key of each frame's inputs against the render log,
        exactly as ``inkpaint colorize`` decides (``compose.cache.RenderRun``)."""
        from .core.compose.cache import RenderRun

        s = self.spec
        scene_of = {s.numbers[f]: f for f in s.frames}
        sources = colorizer.sources(s.lineart, refs, s.frames)
        self.rendering = RenderRun({s.numbers[f]: files for f, files in sources.items()},
                                   {**colorizer.settings, "confidence_maps": True},
                                   s.out.pattern, {n: s.out.path(n) for n in scene_of})
        plan = self.rendering.plan
        self.scores = self.rendering.kept_scores()
        todo = [scene_of[n] for n in plan.todo]
        self.events.put(("plan", (todo, sorted(scene_of[n] for n in plan.kept))))
        return todo


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, InkpaintError):
        return str(exc)
    if isinstance(exc, ImportError):
        return (f"Inkpaint's Python packages did not load ({exc}): reinstall the extension "
                "from its .zip (it carries onnxruntime and opencv for your platform)")
    traceback.print_exception(exc)
    return (f"Inkpaint stopped on an unexpected {type(exc).__name__} ({exc}); the details are "
            "in the system console")
