"""``inkpaint colorize``: the main job, for terminals and farms alike."""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..compose.cache import RenderRun
from ..compose.review import (
    confidence_pattern,
    review_line,
    scores_path,
    summary_line,
    write_confidence,
    write_scores,
)
from ..engine.colorizer import Colorizer
from ..engine.plan import Reference, validate_refs
from ..errors import InkpaintError, from_os_error
from ..farm.retry import remove_orphaned_temps
from ..frames import FrameSequence, OutputPattern, check_no_overwrite
from ..imageio import Reads, atomic_write, check_writable_format, encode_image
from ..preflight import (
    check_keys,
    check_memory_of,
    check_model,
    check_output_folder,
    select_frames,
    shot_size,
)
from ..progress import Progress, fail_line, resolve_mode
from ..timing import stage


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


_CANCELLED = ("cancelled (SIGTERM): frames written so far are complete and kept; rerun the "
              "same command to finish the rest")
_held = {"depth": 0, "pending": False}  # _sigterm_held's state, read by the SIGTERM handler


@contextmanager
def _sigterm_as_error():
    """Farms cancel a task with SIGTERM (then SIGKILL after a grace period). Turning it into
    an error lets the temp file of the frame being written be removed and the failure line be
    printed; frames already written stay, and the retry skips them."""
    def handler(signum, frame):
        if _held["depth"]:
            _held["pending"] = True  # raised when the pair being written is complete
            return
        raise _Terminated(_CANCELLED)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (embedded in a host application)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _sigterm_held():
    """Hold a cancel while a frame and its confidence map are written, so a cancelled task
    leaves whole pairs; the cancel takes effect right after. (A signal mask would not do:
    torch's threads take the signal and Python runs the handler in the main thread anyway.)"""
    _held["depth"] += 1
    try:
        yield
    finally:
        _held["depth"] -= 1
    if not _held["depth"] and _held["pending"]:
        _held["pending"] = False
        raise _Terminated(_CANCELLED)


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
    except OSError as exc:  # the file system changed under the run (full disk, permissions)
        err = from_os_error(exc)
        line = fail_line(mode, str(err))
        if line:
            print(line, flush=True)
        raise err from exc
    except Exception as exc:  # a crash (out of memory, a driver error): traceback, then one line
        traceback.print_exc(file=sys.stderr)
        reason = f"unexpected {type(exc).__name__}: {exc}"
        line = fail_line(mode, reason)
        if line:
            print(line, flush=True)
        raise InkpaintError(reason) from exc


def parse_review_below(text: str | None) -> float | None:
    """``--review-below X``: a summary confidence in [0, 1]."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise InkpaintError(f"bad --review-below '{text}': give a confidence from 0 to 1, "
                            "e.g. --review-below 0.6")
    return value


def _say(progress: Progress, line: str) -> None:
    """A line on stdout that leaves the progress display whole: above a terminal's bar, and
    as a line of its own in the farm formats (it matches none of their progress patterns)."""
    if progress.bar is not None:
        progress.bar.write(line, file=sys.stdout)
    else:
        print(line, flush=True)


def _run(args: argparse.Namespace, mode: str) -> int:
    # The preflight (core.preflight): arguments, outputs, the frames' headers, the keys, the
    # model's card and the run's memory, cheapest first and before the model loads; the
    # Colorizer then checks the windows' neighbours too and decodes every input once, all
    # before anything is written.
    seq = FrameSequence(args.lineart)
    refs = [parse_ref(r) for r in args.ref]
    review_below = parse_review_below(args.review_below)
    wanted = select_frames(seq, args.frames)
    validate_refs(refs, seq.frames)
    out = OutputPattern(args.out, like=seq)
    check_writable_format(out.path(wanted[0]), args.bit_depth)
    maps = confidence_pattern(out)
    check_output_folder(out.folder)
    sources = [seq.path(f) for f in seq.frames]
    sources += [p for r in refs for p in (r.color, r.lineart) if p is not None]
    check_no_overwrite(sources, out, wanted)
    check_no_overwrite(sources, maps, wanted)
    shape = shot_size({f: seq.path(f) for f in wanted}, wanted, refs)  # headers only
    reads = Reads()  # the keys decoded here are the ones the run colours with
    check_keys(refs, reads)
    cfg = check_model(args.model, args.k, args.size)
    check_memory_of(shape, args.size if args.size is not None else cfg.size, cfg, args.k,
                    len(refs))
    colorizer = Colorizer(model=args.model, backend=args.backend, device=args.device,
                          size=args.size, k=args.k, temporal=args.temporal,
                          compose=args.compose, lines=args.lines, reads=reads)
    if review_below is not None and not colorizer.composes:
        raise InkpaintError("--review-below needs confidence, and --compose network --lines "
                            "keep composes nothing: use --compose auto or flat, or --lines fill")
    lineart = {f: seq.path(f) for f in seq.frames}
    # A frame's key: the contents of the files it is made from and the settings, so a re-run
    # after a corrected reference redoes exactly the frames that reference reaches.
    settings = {**colorizer.settings, "bit_depth": args.bit_depth,
                "confidence_maps": not args.no_confidence}
    # Frames are written atomically, so an existing output is a complete one: a retried farm
    # task only does what is left, and a re-run only what its inputs changed. --overwrite
    # redoes everything.
    run = RenderRun(colorizer.sources(lineart, refs, wanted), settings, out.pattern,
                    {f: out.path(f) for f in wanted}, overwrite=args.overwrite)
    # A task killed hard (SIGKILL, a lost node) can leave the hidden temp file of the frame
    # it was writing; the retry clears those. This run's frames and log are its own (farm
    # chunks do not overlap), so their temp files go whatever their age; the scores file is
    # shared by every chunk, so only temp files too old to have a live writer go.
    removed = remove_orphaned_temps([*run.outputs.values(), *(maps.path(f) for f in wanted),
                                     run.log.path], older_than=0.0)
    removed += remove_orphaned_temps([scores_path(out.pattern)])
    if removed:
        print(f"inkpaint: removed {removed} temp files left by an interrupted run", flush=True)
    plan = run.plan
    for line in plan.report(len(wanted), "--overwrite"):
        print(line, flush=True)
    scores = run.kept_scores()
    if plan.todo:
        scores |= _render(args, mode, colorizer, lineart, refs, plan.todo, out, maps, run)
    elif mode == "openjd":
        print("openjd_progress: 100.0", flush=True)
    # The whole sequence's scores, as every run's log has them (parallel chunks: the last
    # to finish writes the complete list).
    sequence = run.log.scores({f: out.path(f) for f in run.log.entries})
    if sequence:
        write_scores(scores_path(out.pattern), sequence)
    if review_below is not None:
        print(review_line(scores, review_below), flush=True)
    return 0


def _write_pair(path: Path, data: bytes, map_path: Path, conf: np.ndarray | None) -> None:
    """Write a frame and its confidence map (``conf``; None: none) as a pair (inside
    ``RenderRun.writing``, which removed the old pair): a frame that cannot be written (a
    full disk) takes its new map with it."""
    if conf is not None:
        write_confidence(map_path, conf)
    try:
        atomic_write(path, data)
    except BaseException:
        map_path.unlink(missing_ok=True)
        raise


def _render(args: argparse.Namespace, mode: str, colorizer: Colorizer,
            lineart: dict[int, Path], refs: list[Reference], todo: list[int],
            out: OutputPattern, maps: OutputPattern, run: RenderRun) -> dict[int, float]:
    """Colour ``todo`` and write each frame with its confidence map; returns the frames'
    confidence summaries.

    Each frame goes to disk through ``RenderRun.writing``, so a run killed at any point
    (SIGKILL included) leaves every frame either absent, or complete and described by the
    log: the re-run after a key changes redoes exactly what it must."""
    exr = out.path(todo[0]).suffix.lower() == ".exr"
    scores = {}
    progress = Progress(len(todo), "colorize", mode=mode)
    try:
        for cf in colorizer.colorize(lineart, refs, todo):
            path = out.path(cf.frame)
            conf = None if args.no_confidence else cf.confidence
            with stage("write"):
                data = encode_image(path, cf.rgb, bit_depth=args.bit_depth,
                                    extra={"confidence": conf} if conf is not None and exr
                                    else None)
                map_path = maps.path(cf.frame)
                with _sigterm_held(), run.writing(cf.frame, data, cf.score, [map_path]):
                    # a cancel in here would split the frame, map and log
                    _write_pair(path, data, map_path, None if exr else conf)
            if cf.score is not None:
                scores[cf.frame] = cf.score
                _say(progress, summary_line(cf.frame, cf.score, cf.note))
            progress.step(f"frame {cf.frame}")
        progress.finish(f"wrote {len(todo)} frames")
    finally:
        progress.close()
    print(f"inkpaint: wrote {len(todo)} frames to {out.pattern} "
          f"({colorizer.cfg.name}, {colorizer.backend.name} on {colorizer.backend.device})",
          flush=True)
    return scores
