"""Splitting a shot into farm chunks that the temporal network can render independently.

The engine colours the in-betweens between two painted keys in temporal windows of
``window - 2`` in-betweens, laid out from the first in-between after a key (see
``engine/plan.py``), and no window spans a key. So:

- a **unit** is the run of in-betweens up to and including the key that closes it (the key
  belongs to the frames coloured towards it); the frames after the last key form the last
  unit, and a key on the very first frame of the range opens nothing and is a one-frame unit
  of its own (it is only copied through);
- inside a unit, chunks are cut every ``chunk_size`` frames counted from the unit's first
  frame, with ``chunk_size`` the largest whole number of temporal windows that fits in the
  requested maximum.

Every cut then falls on a window edge, so no temporal window is split between two chunks and
no chunk computes a window another chunk computes too. Any other split would still give
bit-identical frames (a frame range computes exactly what the full run computes); this one
just wastes nothing. Farms that chunk frames themselves (Deadline, OpenJD, OpenCue) get one
group per unit with this chunk size and cut exactly these chunks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import InkpaintError

DEFAULT_CHUNK = 24  # one second of animation


@dataclass(frozen=True)
class Chunk:
    """Frames ``start``-``end`` (inclusive), all in unit ``unit``; what one farm task renders."""

    start: int
    end: int
    unit: int
    keys: tuple[int, ...] = ()  # reference frames inside the chunk (copied through)

    @property
    def frames(self) -> range:
        return range(self.start, self.end + 1)

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    @property
    def range(self) -> str:
        """As ``colorize --frames`` takes it."""
        return f"{self.start}-{self.end}"


@dataclass(frozen=True)
class Unit:
    """The frames from one key (exclusive) to the next (inclusive): one farm group."""

    start: int
    end: int
    keys: tuple[int, ...]

    @property
    def range(self) -> str:
        return f"{self.start}-{self.end}"

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    @property
    def key_only(self) -> bool:
        return all(f in self.keys for f in range(self.start, self.end + 1))


@dataclass(frozen=True)
class ChunkPlan:
    first: int
    last: int
    keys: tuple[int, ...]
    max_size: int
    window: int  # in-betweens per temporal window (0: no temporal network)
    chunk_size: int  # the max rounded down to whole windows
    units: tuple[Unit, ...]
    chunks: tuple[Chunk, ...]
    notes: tuple[str, ...] = field(default=())

    def unit_chunks(self, unit: int) -> list[Chunk]:
        return [c for c in self.chunks if c.unit == unit]

    def to_dict(self) -> dict:
        return {
            "frames": f"{self.first}-{self.last}",
            "keys": list(self.keys),
            "max_chunk_size": self.max_size,
            "temporal_window": self.window,
            "chunk_size": self.chunk_size,
            "units": [{"frames": u.range, "keys": list(u.keys)} for u in self.units],
            "chunks": [{"frames": c.range, "unit": c.unit, "size": c.size, "keys": list(c.keys)}
                       for c in self.chunks],
            "notes": list(self.notes),
        }

    def text(self) -> str:
        keys = ", ".join(map(str, self.keys)) or "none (model sheets only)"
        lines = [f"frames {self.first}-{self.last}, keys {keys}: "
                 f"{len(self.chunks)} chunks of at most {self.chunk_size} frames in "
                 f"{len(self.units)} units"
                 + (f" (temporal window: {self.window} in-betweens)" if self.window else "")]
        for i, u in enumerate(self.units):
            what = "key only" if u.key_only else f"{u.size} frames"
            lines.append(f"unit {i}: {u.range} ({what})")
            for c in self.unit_chunks(i):
                keys = f"  key {', '.join(map(str, c.keys))}" if c.keys else ""
                plural = "s" if c.size != 1 else ""
                lines.append(f"  chunk {c.range}  ({c.size} frame{plural}){keys}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def aligned_chunk_size(max_size: int, window: int) -> int:
    """The largest whole number of temporal windows in ``max_size`` frames (or ``max_size``
    itself when it is smaller than one window, or when there is no temporal network)."""
    if max_size < 1:
        raise InkpaintError(f"--chunk-size {max_size} is too small: use 1 or more")
    if window <= 0 or max_size < window:
        return max_size
    return max_size // window * window


def split_units(first: int, last: int, keys: Iterable[int]) -> list[Unit]:
    """Units of ``first``-``last`` (rules in the module docstring)."""
    keys = sorted({k for k in keys if first <= k <= last})
    units: list[Unit] = []
    start = first
    for k in keys:
        units.append(Unit(start, k, tuple(f for f in keys if start <= f <= k)))
        start = k + 1
    if start <= last:
        units.append(Unit(start, last, ()))
    return units


def plan_chunks(first: int, last: int, keys: Iterable[int], max_size: int = DEFAULT_CHUNK,
                window: int = 0, frames: range | None = None) -> ChunkPlan:
    """Chunks of the shot ``first``-``last`` with painted ``keys``; ``window`` is the number of
    in-betweens per temporal window (0 without the temporal network). ``frames`` limits the
    plan to part of the shot (pick-ups) while keeping the cuts where the full plan has them.
    No keys (model sheets only, as ``colorize`` takes them) make the whole shot one unit."""
    keys = tuple(sorted(set(keys)))
    if first > last:
        raise InkpaintError(f"bad shot range {first}-{last}")
    outside = [k for k in keys if not first <= k <= last]
    if outside:
        raise InkpaintError(f"reference frame {outside[0]} is outside the shot ({first}-{last})")
    size = aligned_chunk_size(max_size, window)
    notes = []
    if window > 0 and max_size < window:
        notes.append(f"chunk size {max_size} is smaller than one temporal window ({window} "
                     "in-betweens): frames stay identical, but windows cut by a chunk edge are "
                     "computed by both chunks")
    units = split_units(first, last, keys)
    lo, hi = (frames.start, frames.stop - 1) if frames is not None else (first, last)
    if frames is not None and (lo < first or hi > last or lo > hi):
        raise InkpaintError(f"frame range {lo}-{hi} is not inside the shot ({first}-{last})")
    chunks = []
    for i, u in enumerate(units):
        for s in range(u.start, u.end + 1, size):
            a, b = max(s, lo), min(s + size - 1, u.end, hi)
            if a <= b:
                chunks.append(Chunk(a, b, i, tuple(k for k in keys if a <= k <= b)))
    return ChunkPlan(first, last, keys, max_size, window, size, tuple(units), tuple(chunks),
                     tuple(notes))
