"""The correction loop's bookkeeping (issue 8, item 3): after an artist corrects a frame and
gives it back as a ``--ref``, a re-run recolours only the frames whose inputs changed.

A frame's output is a function of its inputs' *contents* (its line art, the line art and
paint of the references it was coloured from, and, with the temporal network, the other
frames of its window) and of the settings (weights, compose mode, line mode, K, size).
``frame_keys`` hashes exactly those; ``RenderLog`` keeps the key each frame was written with
in small hidden JSON files beside the output, so a re-run can tell which frames are stale
and say how many it skipped. Content hashes, not modification times: a render farm copies
files, and touching a file does not change a frame. ``RenderRun`` is what the CLI, the
Blender add-on and the Nuke worker use: the keys, the logs, the plan and the write order.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
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


def frame_keys(sources: Mapping[int, Iterable[str | os.PathLike]],
               settings: Mapping[str, object]) -> dict[int, str]:
    """The key of each output frame: the contents of every file it was made from (order
    matters: its line art first, then its references nearest first, then the rest of its
    temporal window, as ``Colorizer.sources`` lists them) and the settings that shape it.

    Each distinct file is looked up once: with the shot memory a frame is made from every
    earlier frame of its segment, and looking each input up per frame (a stat and a resolve
    each) took 19 s for a 1000-frame segment; hashing the digests stays quadratic but costs
    little (a blake2b update of 32 bytes per input)."""
    tail = json.dumps(dict(settings), sort_keys=True, default=str).encode()
    digests: dict[str | os.PathLike, str] = {}
    keys = {}
    for frame, files in sources.items():
        h = hashlib.blake2b(digest_size=16)
        for p in files:
            if p not in digests:
                digests[p] = file_digest(p)
            h.update(digests[p].encode())
        h.update(tail)
        keys[frame] = h.hexdigest()
    return keys


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

    @property
    def kept(self) -> list[int]:
        return self.unchanged + self.unlogged

    def report(self, total: int, redo: str) -> list[str]:
        """The lines every host prints about what this run skips and redoes, so a TD reads
        the same words in a terminal, a farm log and Nuke's script editor; ``redo`` says how
        this host forces the skipped frames (a flag, a knob)."""
        same, unlogged = len(self.unchanged), len(self.unlogged)
        lines = []
        if same or unlogged:
            why = {(True, False): "their inputs did not change; ",
                   (False, True): "",
                   (True, True): f"{same} because their inputs did not change, {unlogged} "
                                 "written without a render log entry; "}[same > 0, unlogged > 0]
            lines.append(f"inkpaint: {same + unlogged} of {total} frames already written, "
                         f"skipping them ({why}{redo} redoes them)")
        if self.changed:
            lines.append(f"inkpaint: {len(self.changed)} of {total} frames are redone: their "
                         "inputs changed since they were written")
        return lines


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

    def expect(self, frame: int, key: str, content: bytes | Path,
               score: float | None) -> None:
        """Log a frame *before* ``content`` (its bytes, or a finished file that will be moved
        into place) is its output, and save at once. ``written`` adds the file's mtime
        afterwards, so re-runs need not hash it again. ``RenderRun.writing`` says why this
        order."""
        if isinstance(content, bytes):
            digest, size = hashlib.blake2b(content, digest_size=16).hexdigest(), len(content)
        else:
            digest, size = file_digest(content), Path(content).stat().st_size
        self._save(frame, Entry(key, digest, size, 0, score))

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


class RenderRun:
    """One run over frames of an output sequence, planned and logged the one way the CLI, the
    Blender add-on and the Nuke worker all share: each frame's key (``frame_keys``), the render
    log (``RenderLog``: this run's file, every run's entries), which frames to render
    (``plan``, everything with ``overwrite``) and, through ``writing``, the order a frame
    goes to disk in."""

    def __init__(self, sources: Mapping[int, Iterable[str | os.PathLike]],
                 settings: Mapping[str, object], pattern: str | os.PathLike,
                 outputs: Mapping[int, Path], overwrite: bool = False) -> None:
        frames = sorted(outputs)
        self.outputs = {f: Path(outputs[f]) for f in frames}
        self.keys = frame_keys(sources, settings)
        self.log = RenderLog(log_path(pattern, frames), log_files(pattern))
        self.plan = (Rerun(frames, [], [], []) if overwrite
                     else plan_rerun(frames, self.keys, self.outputs, self.log))

    def kept_scores(self) -> dict[int, float]:
        """The logged confidence summaries of the frames the plan keeps."""
        return self.log.scores({f: self.outputs[f] for f in self.plan.kept})

    @contextmanager
    def writing(self, frame: int, content: bytes | Path, score: float | None,
                companions: Iterable[Path] = ()) -> Iterator[Path]:
        """Put ``frame``'s output (``content``: its bytes, or a finished file the block moves
        into place) in the path this yields, inside the block.

        The old output and its ``companions`` (its confidence map) go first, then the log
        learns the new output, then the block writes it. Killed at any point, the output is
        either absent (redone) or exactly ``content`` and logged with its key (kept while its
        inputs stay, redone once they change): never an unlogged new frame, which a re-run
        would keep whatever its inputs became, nor an old frame beside the new frame's entry,
        which would no longer be described and so be kept as hand-made."""
        output = self.outputs[frame]
        for stale in (output, *companions):
            stale.unlink(missing_ok=True)
        self.log.expect(frame, self.keys[frame], content, score)
        yield output
        self.log.written(frame, output)
