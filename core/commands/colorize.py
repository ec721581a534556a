"""``inkpaint colorize``: the main job, for terminals and farms alike."""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

from ..engine.colorizer import Colorizer
from ..engine.plan import Reference
from ..errors import InkpaintError
from ..farm.retry import remove_orphaned_temps
from ..frames import FrameSequence, OutputPattern, check_no_overwrite, parse_frame_range
from ..imageio import write_image
from ..progress import Progress, fail_line, resolve_mode


def parse_ref(text: str) -> Reference:
    """``FRAME=COLOR[,LINEART]`` or ``sheet=COLOR,LINEART``."""
    key, sep, rest = text.partition("=")
    paths = [p for p in rest.split(",") if p]
    if not sep or not 1 <= len(paths) <= 2:
        raise InkpaintError(f"bad --ref '{text}': use FRAME=COLOR[,LINEART] or "
                            "sheet=COLOR,LINEART")
    color = Path(paths[0])
    lineart = Path(paths[1]) if len(paths) == 2 else None
    if key.strip().lower() == "sheet":
        return Reference(color=color, frame=None, lineart=lineart)
    try:
        frame = int(key)
    except ValueError:
        raise InkpaintError(f"bad --ref '{text}': '{key}' is not a frame number") from None
    return Reference(color=color, frame=frame, lineart=lineart)


class _Terminated(InkpaintError):
    pass


@contextmanager
def _sigterm_as_error():
    """Farms cancel a task with SIGTERM (then SIGKILL after a grace period). Turning it into
    an error lets the temp file of the frame being written be removed and the failure line be
    printed; frames already written stay, and the retry skips them."""
    def handler(signum, frame):
        raise _Terminated("cancelled (SIGTERM): frames written so far are complete and kept; "
                          "rerun the same command to finish the rest")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (embedded in a host application)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_colorize(args: argparse.Namespace) -> int:
    mode = resolve_mode(getattr(args, "progress", None))
    try:
        with _sigterm_as_error():
            return _run(args, mode)
    except InkpaintError as exc:
        line = fail_line(mode, str(exc))
        if line:
            print(line, flush=True)
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a crash (out of memory, a driver error): traceback, then one line
        traceback.print_exc(file=sys.stderr)
        reason = f"unexpected {type(exc).__name__}: {exc}"
        line = fail_line(mode, reason)
        if line:
            print(line, flush=True)
        raise InkpaintError(reason) from exc


def _run(args: argparse.Namespace, mode: str) -> int:
    seq = FrameSequence(args.lineart)
    refs = [parse_ref(r) for r in args.ref]
    wanted = seq.select(parse_frame_range(args.frames) if args.frames
                        else range(seq.frames[0], seq.frames[-1] + 1))
    out = OutputPattern(args.out, like=seq)
    sources = [seq.path(f) for f in seq.frames]
    sources += [p for r in refs for p in (r.color, r.lineart) if p is not None]
    check_no_overwrite(sources, out, wanted)
    # A task killed hard (SIGKILL, a lost node) can leave the hidden temp file of the frame
    # it was writing; the retry clears those.
    removed = remove_orphaned_temps(out.path(f) for f in wanted)
    if removed:
        print(f"inkpaint: removed {removed} temp files left by an interrupted run", flush=True)
    # Frames are written atomically, so an existing output is a complete one: a retried farm
    # task only does what is left. --overwrite redoes everything.
    todo = wanted if args.overwrite else [f for f in wanted if not out.path(f).exists()]
    skipped = len(wanted) - len(todo)
    if skipped:
        print(f"inkpaint: {skipped} of {len(wanted)} frames already written, skipping them "
              "(--overwrite redoes them)", flush=True)
    if not todo:
        if mode == "openjd":
            print("openjd_progress: 100.0", flush=True)
        return 0
    colorizer = Colorizer(model=args.model, backend=args.backend, device=args.device,
                          size=args.size, k=args.k, temporal=not args.no_temporal,
                          compose=args.compose, lines=args.lines)
    progress = Progress(len(todo), "colorize", mode=mode)
    try:
        for cf in colorizer.colorize({f: seq.path(f) for f in seq.frames}, refs, todo):
            write_image(out.path(cf.frame), cf.rgb, bit_depth=args.bit_depth)
            progress.step(f"frame {cf.frame}")
        progress.finish(f"wrote {len(todo)} frames")
    finally:
        progress.close()
    print(f"inkpaint: wrote {len(todo)} frames to {out.pattern} "
          f"({colorizer.cfg.name}, {args.backend} on {colorizer.backend.device})", flush=True)
    return 0
