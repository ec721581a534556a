"""The correction loop's bookkeeping (issue 8, item 3): after an artist corrects a frame and
gives it back as a ``--ref``, a re-run recolours only the frames whose inputs changed.

A frame's output is a function of its inputs' *contents* (its line art, the line art and
paint of the references it was coloured from, and, with the temporal network, the other
frames of its window) and of the settings (weights, compose mode, line mode, K, size).
``frame_key`` hashes exactly those; ``RenderLog`` keeps the key each frame was written with
in small hidden JSON files beside the output, so a re-run can tell which frames are stale
and say how many it skipped. Content hashes, not modification times: a render farm copies
files, and touching a file does not change a frame.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..errors import InkpaintError
from ..imageio import atomic_write

_CHUNK = 1 << 20


def file_digest(path: str | os.PathLike, _memo: dict | None = None) -> str:
    """BLAKE2b-128 of a file's bytes; memoised per (path, size, mtime) within a run."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise InkpaintError(f"cannot read {p}: {exc.strerror or exc}") from exc
    memo = _DIGESTS if _memo is None else _memo
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in memo:
        h = hashlib.blake2b(digest_size=16)
        with open(p, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        memo[key] = h.hexdigest()
    return memo[key]


_DIGESTS: dict = {}


def frame_key(inputs: Iterable[str | os.PathLike], settings: Mapping[str, object]) -> str:
    """The key of one output frame: the contents of every file it was made from (order
    matters: give the frame's line art first, then its references nearest first, then the
    rest of its temporal window) and the settings that shape it."""
    h = hashlib.blake2b(digest_size=16)
    for p in inputs:
        h.update(file_digest(p).encode())
    h.update(json.dumps(dict(settings), sort_keys=True, default=str).encode())
    return h.hexdigest()


LOG_PREFIX = ".inkpaint-render."


def log_path(pattern: str | os.PathLike, frames: Iterable[int]) -> Path:
    """The log one run writes for the output sequence ``pattern`` (``out/c.####.png``, an
    ``OutputPattern.pattern``) over ``frames``: ``out/.inkpaint-render.c.####.png.1001-1024.json``.
    Hidden, and one per sequence and frame range, so farm chunks rendering parts of one
    sequence into one folder at the same time each write their own file."""
    p, frames = Path(pattern), list(frames)
    return p.parent / f"{LOG_PREFIX}{p.name}.{min(frames)}-{max(frames)}.json"


def log_files(pattern: str | os.PathLike) -> list[Path]:
    """Every run's log of the output sequence ``pattern`` (see ``log_path``)."""
    p = Path(pattern)
    head = f"{LOG_PREFIX}{p.name}."
    try:
        with os.scandir(p.parent) as entries:
            return sorted(Path(e.path) for e in entries
                          if e.name.startswith(head) and e.name.endswith(".json"))
    except OSError:
        return []


@dataclass(frozen=True)
class Entry:
    """One frame as a run wrote it: the key of its inputs, the output it made (content digest,
    plus size and mtime to skip re-hashing an untouched file) and its confidence summary."""

    key: str
    digest: str
    size: int
    mtime_ns: int
    score: float | None

    def describes(self, output: Path) -> bool:
        """True while ``output`` is still the file this entry was written for."""
        try:
            st = output.stat()
        except OSError:  # gone since it was looked for
            return False
        if (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns):
            return True
        return st.st_size == self.size and file_digest(output) == self.digest


class Rerun(NamedTuple):
    todo: list[int]  # to render: no output yet, or its inputs changed
    unchanged: list[int]  # skipped: written from the same inputs
    unlogged: list[int]  # skipped: written, but no log describes the output there now
    changed: list[int]  # of ``todo``: written before from other inputs


class RenderLog:
    """What each frame of an output sequence was last written from.

    Every run writes its own file (``log_path``) and reads all of them (``log_files``), so
    parallel farm chunks never lose each other's entries. An entry counts only while the
    output it describes is still there, byte for byte, so entries of older runs and frames
    replaced by hand never mislead; a run over the same range keeps its file's entries."""

    def __init__(self, path: str | os.PathLike, others: Iterable[str | os.PathLike] = ()) -> None:
        self.path = Path(path)
        self.mine = _read(self.path)
        self.entries: dict[int, list[Entry]] = {}
        for log in [self.mine, *(_read(Path(o)) for o in others if Path(o) != self.path)]:
            for f, e in log.items():
                self.entries.setdefault(f, []).append(e)

    def current(self, frame: int, output: str | os.PathLike) -> list[Entry]:
        """The entries that describe the output there now (none: not written or not logged)."""
        out = Path(output)
        if not out.exists():
            return []
        return [e for e in self.entries.get(frame, []) if e.describes(out)]

    def record(self, frame: int, key: str, output: str | os.PathLike,
               score: float | None) -> None:
        """Log a frame just written to ``output`` and save at once: a killed run keeps the
        entries of every frame it finished."""
        out = Path(output)
        st = out.stat()
        self._save(frame, Entry(key, file_digest(out), st.st_size, st.st_mtime_ns, score))

    def expect(self, frame: int, key: str, data: bytes, score: float | None) -> None:
        """Log a frame *before* ``data`` is written as its output, and save at once. Killed
        at any point after this, the output is either not there yet (so it is redone) or is
        exactly ``data`` (so it is described): no frame is ever written unlogged. ``written``
        adds the file's mtime afterwards, so re-runs need not hash it again."""
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        self._save(frame, Entry(key, digest, len(data), 0, score))

    def written(self, frame: int, output: str | os.PathLike) -> None:
        """The output ``expect`` announced is now on disk: remember its mtime."""
        e, st = self.mine[frame], Path(output).stat()
        if st.st_size == e.size:
            self._save(frame, Entry(e.key, e.digest, e.size, st.st_mtime_ns, e.score))

    def _save(self, frame: int, e: Entry) -> None:
        self.mine[frame] = e
        self.entries[frame] = [e]
        data = {str(f): [e.key, e.digest, e.size, e.mtime_ns, e.score]
                for f, e in sorted(self.mine.items())}
        atomic_write(self.path, json.dumps(data, separators=(",", ":")).encode())

    def scores(self, outputs: Mapping[int, Path]) -> dict[int, float]:
        """Confidence summaries of the frames whose output is the one logged."""
        found = {}
        for f, out in outputs.items():
            scored = [e.score for e in self.current(f, out) if e.score is not None]
            if scored:
                found[f] = scored[0]
        return found


def _read(path: Path) -> dict[int, Entry]:
    """A log file's entries; an unreadable one has none (its frames count as not logged)."""
    try:
        return {int(f): Entry(*v) for f, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, TypeError):
        return {}


def plan_rerun(frames: Iterable[int], keys: Mapping[int, str], outputs: Mapping[int, Path],
               log: RenderLog) -> Rerun:
    """Which frames a run renders: those with no output, and those whose logged output was
    made from other inputs; an output no log describes (an older run's, a hand-made one) is
    kept, as before the log existed."""
    plan = Rerun([], [], [], [])
    for f in frames:
        if not Path(outputs[f]).exists():
            plan.todo.append(f)
            continue
        entries = log.current(f, outputs[f])
        if not entries:
            plan.unlogged.append(f)
        elif any(e.key == keys[f] for e in entries):
            plan.unchanged.append(f)
        else:
            plan.todo.append(f)
            plan.changed.append(f)
    return plan
