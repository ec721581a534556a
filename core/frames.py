"""Frame sequences the way animators and render farms name them.

A sequence is given as a pattern, ``shots/a.####.png`` or ``shots/a.%04d.png``, or as a
folder. The token's width is the zero padding, exactly as ``%0Nd`` formats it: ``####`` finds
``a.0009.png``, ``a.0010.png`` and ``a.10000.png`` but not ``a.009.png``, and a single ``#``
(or ``%d``) means unpadded. Frames are always ordered by number, never by file name.

A folder holds one sequence: its image files whose names end with a frame number right before
the extension, grouped by what comes before the number and by the extension. The biggest group
wins; hidden files (macOS '._' copies, temp files) and numbered strays (one file of some other
name) are ignored, but a second group of two or more files means two sequences were mixed,
and that is an error rather than a guess.
"""

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InkpaintError

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".hdr"})

_TOKEN = re.compile(r"#+|%0?([0-9]*)d")
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<digits>[0-9]+)(?P<ext>\.[^.]+)$")
_RANGE = re.compile(r"^\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?$")


@dataclass(frozen=True)
class _Pattern:
    folder: Path
    prefix: str
    padding: int
    suffix: str

    def path(self, frame: int) -> Path:
        return self.folder / f"{self.prefix}{frame:0{self.padding}d}{self.suffix}"

    def frame_of(self, name: str) -> int | None:
        """The frame number a file name stands for, if it is exactly what ``path`` makes."""
        if not (name.startswith(self.prefix) and name.endswith(self.suffix)):
            return None
        digits = name[len(self.prefix) : len(name) - len(self.suffix)]
        if not (digits.isascii() and digits.isdigit()):
            return None
        frame = int(digits)
        return frame if digits == f"{frame:0{self.padding}d}" else None

    def __str__(self) -> str:
        return str(self.folder / f"{self.prefix}{'#' * self.padding}{self.suffix}")


def _parse_pattern(pattern: str | os.PathLike) -> _Pattern | None:
    """Split ``dir/name.####.ext`` into its parts; None when the name has no frame token."""
    path = Path(pattern)
    name = path.name
    matches = list(_TOKEN.finditer(name))
    if not matches:
        return None
    token = matches[-1]  # the frame number is the last token in the name
    if token.group(0).startswith("#"):
        padding = len(token.group(0))
    else:
        padding = max(int(token.group(1) or 1), 1)
    return _Pattern(path.parent, name[: token.start()], padding, name[token.end() :])


class FrameSequence:
    """The existing frames of one input sequence, found on disk when it is built."""

    def __init__(self, pattern: str | os.PathLike) -> None:
        _not_empty(pattern, "line-art pattern")
        parsed = _parse_pattern(pattern)
        if parsed is None:
            if not Path(pattern).is_dir():
                raise InkpaintError(
                    f"'{pattern}' is neither a frame pattern nor a folder; "
                    "use e.g. shots/a.####.png, shots/a.%04d.png or the folder of frames"
                )
            parsed = _discover(Path(pattern))
        self._pattern = parsed
        self.frames: list[int] = _existing_frames(parsed)
        self._frame_set = set(self.frames)

    @property
    def pattern(self) -> str:
        """The sequence as a ``####`` pattern, for messages and for naming outputs."""
        return str(self._pattern)

    @property
    def prefix(self) -> str:
        return self._pattern.prefix

    @property
    def padding(self) -> int:
        return self._pattern.padding

    @property
    def suffix(self) -> str:
        return self._pattern.suffix

    def path(self, frame: int) -> Path:
        return self._pattern.path(frame)

    def select(self, frames: Iterable[int] | None = None) -> list[int]:
        """The requested frames (all when None), sorted; every one of them must exist.

        A ``range`` is taken as a range: ``--frames 0-99999999999`` or a stray
        ``line.1700000000.png`` costs what the files on disk cost, not a list of every
        number in between."""
        if frames is None:
            return list(self.frames)
        if isinstance(frames, range) and frames.step == 1:
            wanted = [f for f in self.frames if f in frames]
            if len(wanted) == frames.stop - frames.start:  # len() overflows past 2**63
                return wanted
            missing = _gaps(frames.start, frames.stop - 1, wanted)
        else:
            wanted = sorted(set(frames))
            missing = _runs(f for f in wanted if f not in self._frame_set)
            if not missing:
                return wanted
        count = sum(b - a + 1 for a, b in missing)
        verb, noun = ("is", "frame") if count == 1 else ("are", "frames")
        raise InkpaintError(
            f"{noun} {_format_runs(missing)} {verb} missing from {self.pattern}; "
            "render them or choose another frame range"
        )

    def __contains__(self, frame: object) -> bool:
        return frame in self._frame_set

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[int]:
        return iter(self.frames)

    def __repr__(self) -> str:
        return f"FrameSequence({self.pattern!r}, {len(self)} frames)"


def _not_empty(pattern: str | os.PathLike, what: str) -> None:
    """An empty argument would mean the current folder: refuse it rather than guess."""
    if not str(pattern).strip():
        raise InkpaintError(f"the {what} is empty; give e.g. shots/a.####.png or a folder")


def _list(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError as exc:
        raise InkpaintError(f"cannot list folder {folder}: {exc.strerror or exc}") from exc


def _existing_frames(pattern: _Pattern) -> list[int]:
    if not pattern.folder.is_dir():
        raise InkpaintError(f"folder {pattern.folder} does not exist (looking for {pattern})")
    found = [(pattern.frame_of(e.name), e) for e in _list(pattern.folder)]
    found = [(f, e) for f, e in found if f is not None]
    odd = [e.path for f, e in found if not e.is_file() and not e.is_dir()]
    if odd:  # a FIFO would block the run that reads it, a device would never end
        raise InkpaintError(f"{odd[0]} is not a regular file (a pipe or a device?): "
                            "give image files")
    frames = sorted(f for f, e in found if e.is_file())
    if not frames:
        raise InkpaintError(f"no files match {pattern}; check the folder and the name pattern")
    return frames


def _discover(folder: Path) -> _Pattern:
    """Find the one numbered image sequence in ``folder`` (rules in the module docstring)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for entry in _list(folder):
        parts = None if entry.name.startswith(".") else split_numbered(entry.name)
        if parts and parts[2].lower() in IMAGE_EXTS and not entry.is_dir():
            groups.setdefault((parts[0], parts[2]), []).append(parts[1])
    if not groups:
        raise InkpaintError(
            f"no numbered image files in folder {folder}; frames must be named like name.0001.png"
        )
    ranked = sorted(groups.items(), key=lambda kv: len(kv[1]), reverse=True)
    if len(ranked) > 1 and (len(ranked[1][1]) > 1 or len(ranked[0][1]) == 1):
        names = ", ".join(f"{prefix}#{ext}" for (prefix, ext), _ in ranked[:3])
        raise InkpaintError(
            f"folder {folder} mixes several sequences ({names}); "
            "give a pattern such as folder/name.####.png instead of the folder"
        )
    (prefix, ext), digits = ranked[0]
    padding = padding_of(digits)
    if padding is None:
        raise InkpaintError(
            f"frames {prefix}#{ext} in folder {folder} mix zero paddings; "
            "rename them to one padding or give a pattern"
        )
    return _Pattern(folder, prefix, padding, ext)


def split_numbered(name: str) -> tuple[str, str, str] | None:
    """(prefix, frame digits, extension) of a numbered file name (``line.1001.png``): the
    last run of digits right before the extension; None when there is none."""
    m = _NUMBERED.match(name)
    return (m["prefix"], m["digits"], m["ext"]) if m else None


def padding_of(digits: Iterable[str]) -> int | None:
    """The zero padding of one sequence's frame numbers as written (the shortest, so
    ``0999`` and ``1000`` pad to 4 and ``99999`` fits too); None when they mix paddings
    (``7`` beside ``0008``), which no one pattern names."""
    digits = list(digits)
    padding = min(len(d) for d in digits)
    return None if any(d != f"{int(d):0{padding}d}" for d in digits) else padding


class OutputPattern:
    """Where output frames go: a ``####``/``%04d`` pattern, or a folder.

    For a folder, each frame is named like the input sequence (``like``): its name up to the
    frame number, the same padding, and always ``.png``; give a full pattern to choose another
    name or format. Nothing is checked on disk here: the folder may not exist yet.
    """

    def __init__(self, pattern: str | os.PathLike, like: FrameSequence | None = None) -> None:
        _not_empty(pattern, "output pattern")
        parsed = _parse_pattern(pattern)
        if parsed is None:
            parsed = self._in_folder(Path(pattern), like)
        self._pattern = parsed

    @staticmethod
    def _in_folder(folder: Path, like: FrameSequence | None) -> _Pattern:
        if folder.suffix.lower() in IMAGE_EXTS:
            raise InkpaintError(
                f"output '{folder}' has no frame number; "
                f"use e.g. {folder.with_suffix('')}.####{folder.suffix} or a folder"
            )
        if like is None:
            raise InkpaintError(
                f"output folder {folder} needs an input sequence to name its frames; "
                "give a pattern such as out/name.####.png"
            )
        return _Pattern(folder, like.prefix, like.padding, ".png")

    @property
    def pattern(self) -> str:
        return str(self._pattern)

    @property
    def folder(self) -> Path:
        return self._pattern.folder

    def path(self, frame: int) -> Path:
        return self._pattern.path(frame)

    def __repr__(self) -> str:
        return f"OutputPattern({self.pattern!r})"


def parse_frame_range(text: str) -> range:
    """``"1001-1048"`` or ``"7"`` (both ends included) as a ``range``; frames are >= 0."""
    m = _RANGE.match(text)
    if m is None:
        raise InkpaintError(
            f"bad frame range '{text}': write START-END (e.g. 1001-1048) or one frame number"
        )
    start = int(m[1])
    end = int(m[2]) if m[2] is not None else start
    if start > end:
        raise InkpaintError(f"bad frame range '{text}': the start must not be after the end")
    return range(start, end + 1)


def format_frames(frames: Iterable[int], limit: int = 8) -> str:
    """Compact one-line list, ``"12-14, 20"``; runs past ``limit`` are summarised."""
    return _format_runs(_runs(frames), limit)


def _runs(frames: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive frames as (first, last) pairs."""
    runs: list[list[int]] = []
    for f in sorted(set(frames)):
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    return [(a, b) for a, b in runs]


def _gaps(first: int, last: int, present: list[int]) -> list[tuple[int, int]]:
    """The runs of ``first``-``last`` not in ``present`` (sorted, inside the range)."""
    gaps, expect = [], first
    for f in [*present, last + 1]:
        if f > expect:
            gaps.append((expect, f - 1))
        expect = f + 1
    return gaps


def _format_runs(runs: list[tuple[int, int]], limit: int = 8) -> str:
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in runs[:limit]]
    if len(runs) > limit:
        parts.append(f"and {len(runs) - limit} more runs")
    return ", ".join(parts)


def check_no_overwrite(
    inputs: Iterable[str | os.PathLike], output: OutputPattern, frames: Iterable[int]
) -> None:
    """Refuse before any work starts if an output frame would replace one of the user's
    source files. Files are compared by identity (device and inode), so symlinks, hard links,
    '..' and case-insensitive file systems cannot sneak past."""
    sources = {_identity(p) for p in inputs} - {None}
    for frame in frames:
        target = output.path(frame)
        if _identity(target) in sources:
            raise InkpaintError(
                f"output {target} is one of the input files; write to another folder or "
                "name (Inkpaint never overwrites its sources)"
            )


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
