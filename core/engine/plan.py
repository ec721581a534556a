"""Which references colour which frame, and how frames are grouped into temporal windows.

Timed references cut the shot into segments; the frames of a segment are coloured from the
references around them and refined by the temporal network in windows that hold the two
bracketing reference frames and up to ``window - 2`` in-betweens, in chronological order (the
clips the networks are trained on). Windows are laid out from each segment's start, never
across a reference, so any frame range (a farm chunk) computes exactly what a full run does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from ..errors import InkpaintError


@dataclass(frozen=True)
class Reference:
    """A painted key: ``frame`` in the shot, or None for an off-shot model sheet (which then
    needs its own ``lineart``). Without ``lineart`` the shot's line art at ``frame`` is used."""

    color: Path
    frame: int | None = None
    lineart: Path | None = None

    @property
    def key(self) -> tuple[int, int, str]:
        """A total order (timed refs by frame, then sheets by path) for determinism."""
        return (0, self.frame, "") if self.frame is not None else (1, 0, str(self.color))


@dataclass(frozen=True)
class Window:
    """Targets coloured together; ``left``/``right`` are the bracketing timed references."""

    targets: tuple[int, ...]
    left: Reference | None
    right: Reference | None

    @property
    def frames(self) -> tuple[int, ...]:
        """Chronological frames of the temporal window (references included)."""
        ends = [r.frame for r in (self.left, self.right) if r is not None]
        return tuple(sorted(set(self.targets) | set(ends)))


def validate_refs(refs: Sequence[Reference], shot: Sequence[int]) -> None:
    if not refs:
        raise InkpaintError("no reference frames given: add at least one --ref FRAME=COLOR")
    first, last = min(shot), max(shot)
    frames = set(shot)
    seen: set[int] = set()
    for r in refs:
        if r.frame is None:
            if r.lineart is None:
                raise InkpaintError(f"model sheet {r.color} needs its own line art: "
                                    "--ref sheet=COLOR,LINEART")
            continue
        if not first <= r.frame <= last:
            raise InkpaintError(
                f"reference frame {r.frame} is outside the shot ({first}-{last}): "
                "give a frame of the shot, or use it as a model sheet (--ref sheet=COLOR,LINEART)"
            )
        if r.lineart is None and r.frame not in frames:
            raise InkpaintError(
                f"reference frame {r.frame} has no line art in the shot: render that frame, "
                f"or give its line art (--ref {r.frame}=COLOR,LINEART)"
            )
        if r.frame in seen:
            raise InkpaintError(f"two references for frame {r.frame}: keep one")
        seen.add(r.frame)


def select_refs(frame: int, refs: Sequence[Reference], k: int) -> tuple[Reference, ...]:
    """The K references for one frame: the nearest timed one before and after it, then model
    sheets, then the other timed ones by distance. Returned in a fixed order."""
    timed = [r for r in refs if r.frame is not None]
    before = [r for r in timed if r.frame < frame]
    after = [r for r in timed if r.frame > frame]
    bracket = []
    if before:
        bracket.append(max(before, key=lambda r: r.frame))
    if after:
        bracket.append(min(after, key=lambda r: r.frame))
    bracket.sort(key=lambda r: (abs(r.frame - frame), r.frame))
    rest = sorted((r for r in timed if r not in bracket),
                  key=lambda r: (abs(r.frame - frame), r.frame))
    sheets = sorted((r for r in refs if r.frame is None), key=lambda r: r.key)
    chosen = (bracket + sheets + rest)[:k]
    return tuple(sorted(chosen, key=lambda r: r.key))


def plan_windows(shot: Sequence[int], refs: Sequence[Reference], window: int) -> list[Window]:
    """All windows of the shot in chronological order (see the module docstring)."""
    timed = sorted((r for r in refs if r.frame is not None), key=lambda r: r.frame)
    ref_frames = {r.frame for r in timed}
    per_chunk = max(1, window - 2)

    def bracket(f: int) -> tuple[Reference | None, Reference | None]:
        left = [r for r in timed if r.frame < f]
        right = [r for r in timed if r.frame > f]
        return (left[-1] if left else None, right[0] if right else None)

    out: list[Window] = []
    targets = [f for f in sorted(shot) if f not in ref_frames]
    for (left, right), seg in groupby(targets, key=bracket):
        seg = list(seg)
        for i in range(0, len(seg), per_chunk):
            out.append(Window(tuple(seg[i:i + per_chunk]), left, right))
    return out
