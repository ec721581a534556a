"""``inkpaint evaluate``: the paper's section 4 tables for a set of weights, beside the
copy-nearest-reference baseline, as Markdown and JSON."""

from __future__ import annotations

import argparse

from ..errors import InkpaintError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``evaluate`` options (also pasted into ``core/cli.py``; light: imports nothing)."""
    p.add_argument("--model", default="lite",
                   help="weights name in weights/ (lite, paper) or a .safetensors path")
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--sets", default="procedural,drawings,sprites,openmoji,synfig-eye",
                   help="comma-separated: procedural, drawings, sprites, openmoji, synfig-eye")
    p.add_argument("--clips", type=int, default=16,
                   help="clips per set (sprites: 6 at most; synfig-eye: 14 of 24 frames)")
    p.add_argument("--protocol", default="8,24",
                   help="clip lengths; first and last frames are the references")
    p.add_argument("--k-table", action="store_true",
                   help="also K = 1..5 references over clips of 24 (Table 5)")
    p.add_argument("--ablation", nargs="?", const="", default=None, metavar="NAME=PATH,...",
                   help="ablation table (Table 1): Full, No Temporal and these weights")
    p.add_argument("--compose-table", action="store_true",
                   help="also compose network/flat/auto, the region matcher and copy side by "
                   "side on clips of 8 (issue 8)")
    p.add_argument("--size", type=int, default=256, help="frame size (the paper: 256)")
    p.add_argument("--no-fid", action="store_true", help="skip FID (Inception features)")
    p.add_argument("--out", required=True, help="reports/NAME: writes NAME.md and NAME.json")


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise InkpaintError(f"bad {flag} '{text}': give comma-separated integers, e.g. 8,24"
                            ) from None
    if not vals:
        raise InkpaintError(f"{flag} is empty: give e.g. 8,24")
    return vals


def run_evaluate(args: argparse.Namespace) -> int:
    from ..eval.evaluate import Options, evaluate, parse_ablations
    from ..eval.report import report_paths, write_report

    opts = Options(
        model=args.model,
        sets=tuple(s.strip() for s in args.sets.split(",") if s.strip()),
        clips=args.clips,
        protocols=_ints(args.protocol, "--protocol"),
        k_table=args.k_table,
        ablations=parse_ablations(args.ablation),
        size=args.size,
        backend=args.backend,
        device=args.device,
        fid=not args.no_fid,
        compose_table=args.compose_table,
    )
    report_paths(args.out)  # a bad --out fails now, not after the run
    report = evaluate(opts, log=lambda line: print(line, flush=True))
    md, js = write_report(report, args.out)
    print(f"inkpaint: wrote {md} and {js}", flush=True)
    return 0
