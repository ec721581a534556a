"""``inkpaint colorize``: the main job, for terminals and farms alike."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..engine.colorizer import Colorizer
from ..engine.plan import Reference
from ..errors import InkpaintError
from ..frames import FrameSequence, OutputPattern, check_no_overwrite, parse_frame_range
from ..imageio import write_image
from ..progress import Progress


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


def run_colorize(args: argparse.Namespace) -> int:
    seq = FrameSequence(args.lineart)
    refs = [parse_ref(r) for r in args.ref]
    wanted = seq.select(parse_frame_range(args.frames) if args.frames
                        else range(seq.frames[0], seq.frames[-1] + 1))
    out = OutputPattern(args.out, like=seq)
    sources = [seq.path(f) for f in seq.frames]
    sources += [p for r in refs for p in (r.color, r.lineart) if p is not None]
    check_no_overwrite(sources, out, wanted)
    # Frames are written atomically, so an existing output is a complete one: a retried farm
    # task only does what is left. --overwrite redoes everything.
    todo = wanted if args.overwrite else [f for f in wanted if not out.path(f).exists()]
    skipped = len(wanted) - len(todo)
    if skipped:
        print(f"inkpaint: {skipped} of {len(wanted)} frames already written, skipping them "
              "(--overwrite redoes them)", flush=True)
    if not todo:
        return 0
    colorizer = Colorizer(model=args.model, backend=args.backend, device=args.device,
                          size=args.size, k=args.k, temporal=not args.no_temporal)
    progress = Progress(len(todo), "colorize")
    try:
        for cf in colorizer.colorize({f: seq.path(f) for f in seq.frames}, refs, todo):
            write_image(out.path(cf.frame), cf.rgb, bit_depth=args.bit_depth)
            progress.step(f"frame {cf.frame}")
    finally:
        progress.close()
    print(f"inkpaint: wrote {len(todo)} frames to {out.pattern} "
          f"({colorizer.cfg.name}, {args.backend} on {colorizer.backend.device})", flush=True)
    return 0
