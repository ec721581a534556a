"""The paper's Table 1 at CPU scale: Full and each ablation trained from the same seed and the
same clip stream for the same number of steps, one after another, then one evaluation with a
row per ablation, through the product path and the network alone.

    python -m core.eval.table1 --steps 250 --t-steps 50 --train-size 64 --batch 2 \\
        --run-root runs/table1

runs at ``nice`` 19 and one thread unless told otherwise.

Every run lives in ``RUN_ROOT/NAME`` and checkpoints as ``inkpaint train`` does, so the suite
resumes where it stopped: runs already at ``--steps`` are skipped, a larger ``--steps`` extends
every run by the same amount (the budget stays equal). "No Temporal" is not trained: it is
Full's G with the temporal network off, the evaluation's own row. With ``--t-steps`` the Full
run also gets a stage-2 temporal network (G frozen), so Full and No Temporal differ; without
it Full's T is the untrained identity and the two rows are equal by construction.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ..card import read_card
from ..errors import InkpaintError

FULL = "full"
# The trained rows, Full first: every ablation of ``config.ABLATIONS`` but No Temporal.
RUNS = (FULL, "no-sim", "no-em", "no-distance", "no-perceptual", "no-style", "no-latent")
TEMPORAL_RUN = "full-temporal"  # its folder names Full's step: T is trained on that G
REAL_SETS = "procedural,drawings,synfig-eye,openmoji"


def done_steps(weights: Path) -> int:
    """The step a run's latest weights were saved at (0 when it has not saved yet)."""
    if not weights.is_file():
        return 0
    _, card = read_card(str(weights))
    return int((card.get("training") or {}).get("step", 0))


def train_all(args: argparse.Namespace, log=print) -> dict[str, Path]:
    """Train (or resume) every run to ``args.steps``; the latest weights of each by name."""
    from ..train.trainer import Trainer, TrainOptions

    root = Path(args.run_root)
    out: dict[str, Path] = {}
    plan = [(name, 1, args.steps) for name in RUNS]
    if args.t_steps:
        plan.append((TEMPORAL_RUN, 2, args.t_steps))
    for i, (name, stage, steps) in enumerate(plan):
        run = root / (f"{name}-on-{args.steps}" if stage == 2 else name)
        out[name] = run / "latest.safetensors"
        have = done_steps(out[name])
        if have >= steps:
            log(f"table1: {name} is at step {have} of {steps}: skipped ({i + 1}/{len(plan)})")
            continue
        log(f"table1: training {name} from step {have} to {steps} ({i + 1}/{len(plan)})")
        started = time.time()
        opts = TrainOptions(
            preset=args.preset, run_dir=run, stage=stage, steps=steps, batch=args.batch,
            vgg_side=args.vgg_side, threads=args.threads, seed=args.seed,
            drawings=args.drawings, train_size=args.train_size, workers=0,
            ablation=None if name in (FULL, TEMPORAL_RUN) else name,
            init=str(out[FULL]) if stage == 2 else None,
            ckpt_every=args.ckpt_every, log_every=args.ckpt_every, val_every=args.ckpt_every,
            val_clips=args.val_clips, device=args.device)
        Trainer(opts).run(progress=lambda line, name=name: log(f"table1: {name} {line}"))
        log(f"table1: {name} done in {time.time() - started:.0f} s")
    return out


def evaluate_all(args: argparse.Namespace, weights: dict[str, Path], log=print) -> Path:
    """One ``inkpaint evaluate`` over every run: Full (with T where trained), No Temporal and
    each ablation, product path and network alone; writes ``RUN_ROOT/table1.md`` / ``.json``."""
    from ..eval.evaluate import Options, evaluate
    from ..eval.report import write_report

    full = weights.get(TEMPORAL_RUN, weights[FULL])
    opts = Options(model=str(full), sets=tuple(args.sets.split(",")), clips=args.clips,
                   protocols=(8,), ablations={n: str(weights[n]) for n in RUNS[1:]},
                   size=args.size, device=args.device, fid=not args.no_fid)
    log("table1: evaluating, as " + " ".join([
        "inkpaint evaluate --model", opts.model, "--ablation",
        ",".join(opts.ablations.values()), "--sets", ",".join(opts.sets), "--clips",
        str(opts.clips), "--protocol 8 --size", str(opts.size), *(() if opts.fid else
                                                                 ("--no-fid",))]))
    report = evaluate(opts, log=log)
    report["settings"]["table1"] = {
        "steps": args.steps, "t_steps": args.t_steps, "train_size": args.train_size,
        "batch": args.batch, "vgg_side": args.vgg_side, "seed": args.seed,
        "drawings": args.drawings, "preset": args.preset, "threads": args.threads}
    md, _ = write_report(report, Path(args.run_root) / "table1")
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.eval.table1", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-root", required=True, help="one folder per run, and the table")
    ap.add_argument("--preset", default="lite")
    ap.add_argument("--steps", type=int, required=True, help="stage-1 steps of every run")
    ap.add_argument("--t-steps", type=int, default=0,
                    help="stage-2 steps of the Full run's temporal network (0: none)")
    ap.add_argument("--train-size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--vgg-side", type=int, default=32)
    ap.add_argument("--drawings", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--ckpt-every", type=int, default=25,
                    help="steps between checkpoints, log lines and validations")
    ap.add_argument("--val-clips", type=int, default=4)
    ap.add_argument("--sets", default=REAL_SETS, help="evaluation sets (inkpaint evaluate)")
    ap.add_argument("--clips", type=int, default=2, help="evaluation clips per set")
    ap.add_argument("--size", type=int, default=128,
                    help="evaluation frame size (the paper: 256; 128 is nearer the CPU-scale "
                         "training size and a quarter of the cost)")
    ap.add_argument("--no-fid", action="store_true")
    ap.add_argument("--train-only", action="store_true", help="train, do not evaluate")
    ap.add_argument("--nice", type=int, default=19,
                    help="niceness added to the process (a long background job on a shared "
                         "machine yields to everyone's work)")
    args = ap.parse_args(argv)
    os.nice(args.nice)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    try:
        import cv2
        import torch

        from . import evaluate, report  # noqa: F401  (now: a long suite runs the code it began with)

        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
        log = lambda line: print(line, flush=True)  # noqa: E731
        weights = train_all(args, log)
        if not args.train_only:
            log(f"table1: wrote {evaluate_all(args, weights, log)}")
    except InkpaintError as exc:
        print(f"inkpaint: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
