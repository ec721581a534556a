"""``inkpaint bench-compose``: the composition stage's cost at 1920 x 1080 (ms/frame,
frames/s, peak RSS per mode; network excluded). Prints numbers; asserts nothing.

Also runs without the CLI wiring: ``python -m core.commands.benchcompose``."""

from __future__ import annotations

import argparse

from ..compose.bench import bench, print_bench
from ..compose.composer import MODES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--modes", default="flat,auto,network",
                   help="comma-separated compose modes (default: flat,auto,network)")
    p.add_argument("--frames", type=int, default=24, help="frames per mode (default 24)")
    p.add_argument("--threads", type=int, default=2,
                   help="OpenCV threads, the cores composition may use (default 2)")


def run_benchcompose(args: argparse.Namespace) -> int:
    modes = tuple(m for m in args.modes.split(",") if m)
    bad = [m for m in modes if m not in MODES]
    if bad or args.frames < 1:
        raise SystemExit(f"inkpaint: error: use --modes from {', '.join(MODES)} "
                         f"and --frames >= 1")
    print_bench(bench(modes, args.frames, args.threads))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="inkpaint bench-compose", description=__doc__)
    add_arguments(parser)
    raise SystemExit(run_benchcompose(parser.parse_args()))
