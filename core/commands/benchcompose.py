"""``inkpaint bench-compose``: the composition stage's cost at 1920 x 1080 (ms/frame,
frames/s, peak RSS per mode; network excluded). Prints numbers; asserts nothing.
``--stream N`` streams an N-frame shot through composition instead (peak RSS and frames/s
of a long shot, against issue 8's targets)."""

from __future__ import annotations

import argparse

from ..compose.composer import MODES
from ..errors import InkpaintError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--modes", default="flat,auto,network",
                   help="comma-separated compose modes (default: flat,auto,network)")
    p.add_argument("--frames", type=int, default=24, help="frames per mode (default 24)")
    p.add_argument("--threads", type=int, default=2,
                   help="OpenCV threads, the cores composition may use (default 2)")
    p.add_argument("--stream", type=int, metavar="N",
                   help="stream a 1080p shot of N frames through each mode instead "
                        "(e.g. 1000): peak RSS and frames/s of a long shot")


def run_benchcompose(args: argparse.Namespace) -> int:
    # core/eval is development-only and not vendored into Blender/Nuke: imported here, not at
    # module level, so the vendored CLI (which builds this parser) starts without it.
    from ..eval.compose_bench import bench, print_bench, print_stream

    modes = tuple(m for m in args.modes.split(",") if m)
    bad = [m for m in modes if m not in MODES]
    if bad or args.frames < 1 or (args.stream is not None and args.stream < 1):
        raise InkpaintError(f"use --modes from {', '.join(MODES)}, --frames and --stream >= 1")
    if args.stream is not None:
        print_stream(bench(modes, args.stream, args.threads, stream=True))
    else:
        print_bench(bench(modes, args.frames, args.threads))
    return 0

