"""``inkpaint dataset build`` (the paper's sec. 4.1 pipeline on your own footage) and
``inkpaint dataset drawings-index`` (the one-off scan of the clip-art drawings)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_dataset_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="build training data from footage; index the drawings")
    dsub = p.add_subparsers(dest="dataset_command", required=True)
    b = dsub.add_parser("build", help="split videos or frame folders into shots with line art")
    b.add_argument("--source", action="append", required=True,
                   help="a video file or a folder of numbered frames (repeat)")
    b.add_argument("--out", required=True, type=Path)
    b.add_argument("--size", type=int, default=256)
    b.add_argument("--preset", default="lite", help="preset whose distance-field clip to use")
    i = dsub.add_parser("drawings-index", help="scan openclipart-svg once for usable drawings")
    i.add_argument("--workers", type=int, default=1)


def run_dataset(args: argparse.Namespace) -> int:
    if args.dataset_command == "build":
        from ..config import load_preset
        from ..data.footage import build_dataset

        index = build_dataset(args.source, args.out, size=args.size,
                              distance_max=load_preset(args.preset).distance_max)
        print(f"inkpaint: {len(index.get('shots', []))} shots written to {args.out}")
        return 0
    from ..data.drawings import build_index

    print(f"inkpaint: drawings index at {build_index(workers=args.workers)}")
    return 0
