"""``inkpaint finetune``: adapt trained weights to a new animation style from a few of its
shots (the paper's sec. 4.4-4.5: 32 sequences of the new animation, about 30 epochs).

The shots come from ``inkpaint dataset build`` over the new show's footage; ``--sequences``
of them train, the rest are held out and scored before and after, so the new weights are
only written when they are measured. The result is an ordinary weights file with its card:
``inkpaint colorize --model NAME`` uses it once it is in ``weights/`` (or give its path).
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from ..errors import InkpaintError


def add_finetune_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="few-shot fine-tuning on a new style "
                       "(shots from 'dataset build')")
    p.add_argument("--model", default="lite", help="weights to start from")
    p.add_argument("--data", required=True, type=Path,
                   help="a data set written by 'inkpaint dataset build'")
    p.add_argument("--out", required=True, type=Path,
                   help="weights to write, e.g. weights/myshow.safetensors")
    p.add_argument("--sequences", type=int, default=32,
                   help="shots that train (the paper: 32); the rest validate")
    p.add_argument("--epochs", type=int, default=30, help="passes over the training shots")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--run", type=Path, help="run folder for checkpoints (resumes if present; "
                   "default: a temporary folder)")
    p.add_argument("--vgg-side", type=int, help="downsample VGG inputs to this side (CPU)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--progress", help="auto, bar, lines, deadline, openjd, tractor")


def run_finetune(args: argparse.Namespace) -> int:
    from ..card import read_card
    from ..progress import Progress
    from ..train.trainer import Trainer, TrainOptions
    from ..weights import load_weights, save_weights

    if args.sequences < 1 or args.epochs < 1 or args.batch < 1:
        raise InkpaintError("--sequences, --epochs and --batch must be 1 or more")
    if args.out.suffix != ".safetensors":
        raise InkpaintError(f"--out {args.out}: name a .safetensors file")
    _, card = read_card(args.model)
    steps_per_epoch = math.ceil(args.sequences / args.batch)
    steps = args.epochs * steps_per_epoch
    with tempfile.TemporaryDirectory(prefix="inkpaint-finetune-") as tmp:
        run = args.run or Path(tmp)
        opts = TrainOptions(preset=card["preset"], run_dir=run, stage=1, steps=steps,
                            batch=args.batch, init=args.model, vgg_side=args.vgg_side,
                            threads=args.threads, data=args.data, sequences=args.sequences,
                            ckpt_every=steps_per_epoch, val_every=steps_per_epoch,
                            log_every=steps_per_epoch)
        trainer = Trainer(opts)
        before = trainer.validate()["val_psnr"] if trainer.step == 0 else None
        print(f"inkpaint: fine-tuning {args.model} on {len(trainer.train_shots)} shots of "
              f"{args.data}, {len(trainer.val_shots)} held out; {steps} steps "
              f"({args.epochs} epochs)", flush=True)
        if before is not None:
            print(f"inkpaint: held-out PSNR before: {before:.2f} dB", flush=True)
        progress = Progress(steps - trainer.step, "finetune", mode=args.progress)
        try:
            trainer.run(progress=lambda line: None,
                        on_step=lambda step: progress.step(f"step {step}/{steps}"))
            progress.finish(f"{steps} steps")
        finally:
            progress.close()
        best = load_weights(str(run / "best.safetensors"))
        info = {"finetuned_from": str(args.model), "data": str(args.data),
                "sequences": len(trainer.train_shots), "held_out": len(trainer.val_shots),
                "epochs": args.epochs, "steps": steps, "val_psnr": round(trainer.best, 2),
                "val_psnr_before": None if before is None else round(before, 2)}
        save_weights(args.out, best, info)
    print(f"inkpaint: held-out PSNR after: {trainer.best:.2f} dB (best of the epochs); "
          f"wrote {args.out}", flush=True)
    if before is not None and trainer.best < before:
        print("inkpaint: warning: the held-out shots got worse than before fine-tuning: "
              "use the starting weights, or more shots or epochs", flush=True)
    return 0

