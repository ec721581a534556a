"""Where a run's time goes, per stage of the real pipeline (``inkpaint bench --shot``).

The colourizer and the colorize command mark their steps with ``stage(name)``. Nothing is
recorded unless a ``record()`` is open, so a user's run pays one global look-up per step.
Stages nest and each counts only its own time: a key read from disk while the motion step
warps it counts as ``read``, not ``motion``, so the rows add up to the run without overlap.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

# The product's steps per frame, in pipeline order; ``load`` is once per run (imports and
# the model), everything unmarked (planning, hashing frames' sources, progress) is the rest.
STAGES = ("read", "prep", "motion", "network", "compose", "write")


class Stages:
    """Seconds per stage name of one recorded run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._open: list[list] = []  # [name, start of its current uninterrupted stretch]


_active: Stages | None = None


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the block's wall time as ``name`` (minus the nested stages' time) while a
    ``record()`` is open."""
    rec = _active
    if rec is None:
        yield
        return
    now = time.perf_counter()
    if rec._open:  # the enclosing stage pauses
        outer = rec._open[-1]
        rec.seconds[outer[0]] = rec.seconds.get(outer[0], 0.0) + now - outer[1]
    rec._open.append([name, now])
    try:
        yield
    finally:
        end = time.perf_counter()
        _, start = rec._open.pop()
        rec.seconds[name] = rec.seconds.get(name, 0.0) + end - start
        if rec._open:
            rec._open[-1][1] = end  # and resumes


@contextmanager
def record() -> Iterator[Stages]:
    """Record the stages of whatever runs inside (one run at a time, not thread-safe: the
    pipeline runs its steps on one thread)."""
    global _active
    previous, _active = _active, Stages()
    try:
        yield _active
    finally:
        _active = previous
