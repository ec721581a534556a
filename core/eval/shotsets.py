"""The shot sets the evaluation renders from its data (procedural, clip art, openmoji), made
one way for ``inkpaint evaluate``, the flow benchmark and the fits of the composer's
decision and of the semantic matcher: the same name and split give the same clips."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..data.procedural import Shot, render_shot
from ..errors import InkpaintError
from ..train.clips import EVAL_SEED_BASE

# The procedural seeds the fits draw their *training* clips from (core.eval.fit_decision,
# core.eval.semantic): any seed below EVAL_SEED_BASE is a training seed, so a fit never
# sees a held-out clip. 7,000 is where the shipped fits started; keep it so they reproduce.
FIT_SEED_BASE = 7_000

SHOT_SETS = ("procedural", "drawings", "openmoji")

Clips = Callable[[int], Iterator[Shot]]  # frames per clip -> the set's clips, in a fixed order


def shot_set(name: str, clips: int, size: int, train: bool = False) -> tuple[int, Clips]:
    """How many clips the set ``name`` gives (at most ``clips``) and the clips: held out
    (seeds from ``EVAL_SEED_BASE``, the data sets' 'eval' split), or with ``train`` the
    fits' training clips (``FIT_SEED_BASE``, split 'train'). Raises InkpaintError when the
    set's data are not installed; a missing drawing index is built first (minutes)."""
    base, split = (FIT_SEED_BASE, "train") if train else (EVAL_SEED_BASE, "eval")
    if name == "procedural":
        return clips, lambda frames: (render_shot(base + i, frames=frames, size=size)
                                      for i in range(clips))
    if name == "drawings":
        try:
            from ..data.drawings import drawings, render_drawing_shot
        except ImportError as exc:
            raise InkpaintError(f"core.data.drawings is not available ({exc})") from exc
        drawings(split)  # builds the index on first use; raises what is missing
        return clips, lambda frames: (render_drawing_shot(base + i, frames=frames, size=size,
                                                          split=split) for i in range(clips))
    if name == "openmoji":
        from ..data.openmoji import emoji_shot, illustrations

        chosen = illustrations(split, clips)  # raises if the package or cairosvg is missing
        return len(chosen), lambda frames: (emoji_shot(p, base + i, frames=frames, size=size)
                                            for i, p in enumerate(chosen))
    raise InkpaintError(f"unknown shot set '{name}': use {', '.join(SHOT_SETS)}")
