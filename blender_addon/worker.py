"""The inference half of a job, on a worker thread: no bpy here at all.

The same idea as dream-textures' generator process: the heavy work runs away from Blender's
UI thread and only talks to it through a queue of small messages, which the main thread
drains from a timer (the modal operator) or a polling loop (background mode). ONNX Runtime
and OpenCV release the GIL while they compute, so the UI stays responsive; cancelling is a
flag checked between frames, and the coloured frames go into a staging folder that the main
thread either moves into place (success) or deletes (cancel, error).
"""

from __future__ import annotations

import queue
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from .core.errors import InkpaintError


@dataclass
class WorkSpec:
    lineart: dict[int, Path]
    refs: list[tuple[int, Path]]  # (frame, painted colour file)
    frames: list[int]
    model: str
    device: str  # auto | cpu | cuda
    k: int
    temporal: bool
    staging: Path
    stem: str
    ext: str  # ".png" | ".exr"

    def path(self, frame: int) -> Path:
        return self.staging / frame_name(self.stem, frame, self.ext)


def frame_name(stem: str, frame: int, ext: str) -> str:
    return f"{stem}.{frame:04d}{ext}"


class ColorWorker(threading.Thread):
    """Messages on ``events``: ("loaded", None), ("frame", n), ("error", sentence) and, last,
    ("end", None)."""

    def __init__(self, spec: WorkSpec) -> None:
        super().__init__(name="inkpaint-colorize", daemon=True)
        self.spec = spec
        self.events: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()

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
        from .core.engine.colorizer import Colorizer
        from .core.engine.plan import Reference
        from .core.imageio import write_image

        s = self.spec
        colorizer = Colorizer(model=s.model, backend="onnx", device=s.device, k=s.k,
                              temporal=s.temporal)
        if self.cancelled.is_set():
            return
        self.events.put(("loaded", colorizer.backend.device))
        refs = [Reference(color=c, frame=f) for f, c in s.refs]
        frames = colorizer.colorize(s.lineart, refs, s.frames)
        try:
            for cf in frames:
                if self.cancelled.is_set():
                    return
                write_image(s.path(cf.frame), cf.rgb)
                self.events.put(("frame", cf.frame))
        finally:
            frames.close()


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, InkpaintError):
        return str(exc)
    if isinstance(exc, ImportError):
        return (f"Inkpaint's Python packages did not load ({exc}): reinstall the extension "
                "from its .zip (it carries onnxruntime and opencv for your platform)")
    traceback.print_exception(exc)
    return (f"Inkpaint stopped on an unexpected {type(exc).__name__} ({exc}); the details are "
            "in the system console")
