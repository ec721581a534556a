"""Progress for every long job, in the form whoever watches it can read.

- ``bar``: a tqdm bar (the default on a terminal).
- ``lines``: one flushed line per item on stderr,
  ``inkpaint: progress 12.5% (3/24) frame 1003`` (the default otherwise).
- ``deadline``: the same line on stdout, where a Deadline plugin's stdout handler reads it
  with ``DEADLINE_REGEX`` (group 1 is the percentage); a failure repeats the ``inkpaint:
  error: ...`` line on stdout too, since those handlers never see stderr.
- ``openjd``: ``openjd_progress: 12.5`` per item and ``openjd_status: ...`` at the start and
  the end, on stdout, as Open Job Description runtimes (AWS Deadline Cloud workers,
  ``openjd run``) parse them; a failure adds ``openjd_fail: <reason>``.
- ``tractor``: ``TR_PROGRESS 012%`` per item on stdout, which tractor-blade turns into the
  task's progress bar.

``auto`` picks ``$INKPAINT_PROGRESS`` when set, ``tractor`` when running under a Tractor blade
(``TR_ENV_JID`` is set), else ``bar`` on a terminal and ``lines`` otherwise. Every farm mode
prints exactly one line per item, flushed at once, so a killed task's log shows how far it got.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from .errors import InkpaintError

LINE = "inkpaint: progress {pct:.1f}% ({done}/{total}) {label}"
MODES = ("auto", "bar", "lines", "deadline", "openjd", "tractor")
FARM_MODES = ("deadline", "openjd", "tractor")
ENV = "INKPAINT_PROGRESS"
# For a Deadline plugin's AddStdoutHandlerCallback (.NET regex, same syntax in Python).
DEADLINE_REGEX = r"inkpaint: progress ([0-9]+(?:\.[0-9]+)?)% \(([0-9]+)/([0-9]+)\)"
DEADLINE_ERROR_REGEX = r"inkpaint: error: (.*)"
TRACTOR_LINE = "TR_PROGRESS {pct:03d}%"


def resolve_mode(mode: str | None, stream: TextIO | None = None) -> str:
    """The concrete mode for ``mode`` (``auto`` or None is resolved; see the module doc)."""
    mode = (mode or "auto").strip().lower()
    if mode == "auto":
        env = os.environ.get(ENV, "").strip().lower()
        if env and env != "auto":
            if env not in MODES:
                raise InkpaintError(f"{ENV}={env!r} is not a progress mode: use one of "
                                    f"{', '.join(MODES)}")
            return env
        if os.environ.get("TR_ENV_JID"):
            return "tractor"
        stream = stream or sys.stderr
        return "bar" if _isatty(stream) else "lines"
    if mode not in MODES:
        raise InkpaintError(f"--progress {mode!r}: use one of {', '.join(MODES)}")
    return mode


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def fail_line(mode: str, reason: str) -> str | None:
    """The farm-specific failure line for ``mode`` (None where the format has none)."""
    if mode == "openjd":
        return "openjd_fail: " + " ".join(str(reason).split())
    if mode == "deadline":
        return "inkpaint: error: " + " ".join(str(reason).split())
    return None


class Progress:
    """``Progress(total, desc)`` keeps the old behaviour (bar on a tty, else lines); ``mode``
    selects a farm format. ``stream`` overrides where the lines go (tests)."""

    def __init__(self, total: int, desc: str, stream: TextIO | None = None,
                 bar: bool | None = None, mode: str | None = None) -> None:
        self.total, self.done, self.desc = total, 0, desc
        if mode is None or mode == "auto":
            if bar is not None:
                mode = "bar" if bar else "lines"
            else:
                mode = resolve_mode(mode, stream or sys.stderr)
        self.mode = resolve_mode(mode)
        farm = self.mode in FARM_MODES
        self.stream = stream or (sys.stdout if farm else sys.stderr)
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="frame", file=self.stream)
        elif self.mode == "openjd":
            self._print(f"openjd_status: {desc}: {total} frames")

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def step(self, label: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(label, refresh=False)
            self.bar.update(1)
            return
        pct = 100.0 * self.done / max(1, self.total)
        if self.mode == "openjd":
            self._print(f"openjd_progress: {pct:.1f}")
        elif self.mode == "tractor":
            self._print(TRACTOR_LINE.format(pct=int(pct)))
        else:  # lines, deadline
            self._print(LINE.format(pct=pct, done=self.done, total=self.total, label=label))

    def finish(self, message: str) -> None:
        """The run succeeded: a last status line where the format has one."""
        if self.mode == "openjd":
            self._print(f"openjd_status: {message}")

    def fail(self, reason: str) -> None:
        """The run failed: farms that take a failure reason get it (the one ``inkpaint:
        error:`` line on stderr is the CLI's job)."""
        line = fail_line(self.mode, reason)
        if line:
            self._print(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
