"""The correction loop's bookkeeping (issue 8, item 3): after an artist corrects a frame and
gives it back as a ``--ref``, a re-run recolours only the frames whose inputs changed.

A frame's output is a function of its inputs' *contents* (its line art, the line art and
paint of the references it was coloured from, and, with the temporal network, the other
frames of its window) and of the settings (weights, compose mode, line mode, K, size).
``frame_key`` hashes exactly those; ``RenderLog`` keeps the key each frame was written with
in a small JSON file beside the output, so a re-run can tell which frames are stale and say
how many it skipped. Content hashes, not modification times: a render farm copies files,
and touching a file does not change a frame.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

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


class RenderLog:
    """Frame -> key of the inputs it was last written from, in a JSON file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.keys: dict[int, str] = {}
        if self.path.exists():
            try:
                self.keys = {int(k): str(v) for k, v in
                             json.loads(self.path.read_text()).items()}
            except (OSError, ValueError):
                self.keys = {}  # unreadable: everything counts as stale, nothing breaks

    def stale(self, frame: int, key: str, output: str | os.PathLike) -> bool:
        """True when the frame must be (re)rendered: no output yet, or other inputs."""
        return not Path(output).exists() or self.keys.get(frame) != key

    def record(self, frame: int, key: str) -> None:
        self.keys[frame] = key

    def save(self) -> None:
        data = json.dumps({str(f): k for f, k in sorted(self.keys.items())}, indent=0)
        atomic_write(self.path, data.encode())


def plan_rerun(frames: Iterable[int], keys: Mapping[int, str], outputs: Mapping[int, Path],
               log: RenderLog) -> tuple[list[int], list[int]]:
    """(frames to render, frames skipped because their inputs did not change)."""
    todo, skipped = [], []
    for f in frames:
        (todo if log.stale(f, keys[f], outputs[f]) else skipped).append(f)
    return todo, skipped
