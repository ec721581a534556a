"""Where a run's time goes, per stage of the real pipeline (``inkpaint bench --shot``).

The colourizer and the colorize command mark their steps with ``stage(name)``. Nothing is
recorded unless a ``record()`` is open, so a user's run pays one global look-up per step.
Stages nest and each counts only its own time: a key read from disk while the motion step
warps it counts as ``read``, not ``motion``, so the rows add up to the run without overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# The product's steps per frame, in pipeline order; ``load`` is once per run (imports and
# the model), everything unmarked (planning, hashing frames' sources, progress) is the rest.
STAGES = ("read", "prep", "motion", "network", "compose", "write")


class Stages:
    """Wall and CPU seconds per stage name of one recorded run. CPU time (all the process's
    threads) is what a shared machine's load does not inflate: on a busy machine the wall
    time of a single-threaded stage is its CPU time stretched by the wait for a core."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._open: list[list] = []  # [name, wall, cpu at the start of its current stretch]
        self.thread = threading.get_ident()  # the pipeline's own thread, the one timed

    def _add(self, entry: list, wall: float, cpu: float) -> None:
        self.seconds[entry[0]] = self.seconds.get(entry[0], 0.0) + wall - entry[1]
        self.cpu[entry[0]] = self.cpu.get(entry[0], 0.0) + cpu - entry[2]


_active: Stages | None = None


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the block's time as ``name`` (minus the nested stages' time) while a
    ``record()`` is open."""
    rec = _active
    if rec is None or threading.get_ident() != rec.thread:
        yield  # worker threads' time is in the stage that waits for them
        return
    wall, cpu = time.perf_counter(), time.process_time()
    if rec._open:  # the enclosing stage pauses
        rec._add(rec._open[-1], wall, cpu)
    rec._open.append([name, wall, cpu])
    try:
        yield
    finally:
        wall, cpu = time.perf_counter(), time.process_time()
        rec._add(rec._open.pop(), wall, cpu)
        if rec._open:  # and resumes
            rec._open[-1][1:] = [wall, cpu]


@contextmanager
def record() -> Iterator[Stages]:
    """Record the stages of whatever runs inside on this thread (one run at a time)."""
    global _active
    previous, _active = _active, Stages()
    try:
        yield _active
    finally:
        _active = previous
