"""The ``inkpaint`` command (also ``python -m core``).

Errors a user can fix print one line, ``inkpaint: error: ...``, and exit 1; usage errors exit
2; Ctrl-C exits 130. Output frames are written atomically, and nothing is written unless every
input checked out first.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .commands.benchcompose import add_arguments as add_benchcompose_arguments
from .commands.dataset import add_dataset_parser
from .commands.evaluate import add_arguments as add_evaluate_arguments
from .commands.finetune import add_finetune_parser
from .config import ABLATIONS
from .engine.backends import BACKENDS
from .errors import InkpaintError, from_os_error
from .progress import MODES as PROGRESS_MODES


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="lite",
                   help="weights name in weights/ (lite, paper) or a .safetensors path")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="auto: onnx where ONNX Runtime is installed and the model is exported "
                        "or exportable (about 5x faster on CPU), else torch")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inkpaint", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"inkpaint {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("colorize", help="colour a shot of line-art frames from references")
    p.add_argument("--lineart", required=True,
                   help="line-art frames: name.####.png, name.%%04d.png or a folder")
    p.add_argument("--ref", action="append", default=[], metavar="FRAME=COLOR[,LINEART]",
                   help="a painted reference frame (repeat); sheet=COLOR,LINEART for a model "
                        "sheet outside the shot")
    p.add_argument("--out", required=True, help="output pattern (name.####.png) or folder")
    p.add_argument("--frames", help="frame range A-B to write (default: the whole shot)")
    _add_model_args(p)
    p.add_argument("--size", type=int, help="working resolution, long side (default: preset)")
    p.add_argument("-k", "--refs-per-frame", type=int, default=2, dest="k",
                   help="references used per frame (K)")
    p.add_argument("--temporal", action=argparse.BooleanOptionalAction, default=False,
                   help="refine each stretch between two keys with the temporal network "
                        "(off by default: the shipped lite's trained one moves the product's "
                        "evaluation by under 0.01 dB, weights/MODEL_CARD.md)")
    p.add_argument("--compose", choices=["auto", "flat", "network"], default="auto",
                   help="auto: palette fills where a region is flat, network colours where "
                        "it is not; flat: palette fills only; network: the plain network output")
    p.add_argument("--lines", choices=["keep", "fill"], default="keep",
                   help="keep the drawn lines (coloured lines keep their colour) or fill them")
    p.add_argument("--bit-depth", type=int, choices=[8, 16], default=8,
                   help="PNG/TIFF bit depth")
    p.add_argument("--overwrite", action="store_true",
                   help="redo every frame (default: skip frames already written from the "
                        "same inputs, redo those whose inputs changed)")
    p.add_argument("--review-below", metavar="X",
                   help="at the end, list the frames whose confidence is below X (0 to 1)")
    p.add_argument("--no-confidence", action="store_true",
                   help="write no confidence maps (PNG beside each frame, or the EXR's "
                        "'confidence' channel)")
    p.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                   help="progress format: bar, lines, or a farm's (deadline, openjd, tractor); "
                        "auto: $INKPAINT_PROGRESS, Tractor when under a blade, else bar on a "
                        "terminal and lines otherwise")

    from .commands.farm import add_farm_parser

    add_farm_parser(sub)

    p = sub.add_parser("review", help="a contact sheet (PNG) of a rendered shot: frames, "
                       "confidence maps, keys and flagged frames")
    from .commands.review import add_arguments as add_review_arguments

    add_review_arguments(p)

    p = sub.add_parser("export", help="export the generators for ONNX Runtime, or one "
                       "TorchScript file for Nuke's CatFileCreator (--format torchscript)")
    p.add_argument("--model", default="lite")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx",
                   help="onnx: <weights>.G.onnx and .T.onnx; torchscript: <weights>.torchscript.pt")
    p.add_argument("--out", type=Path, help="torchscript only: the file to write")

    p = sub.add_parser("info", help="presets, weights, FLOPs and available devices")
    p.add_argument("--model", default="lite")

    p = sub.add_parser("bench", help="speed and memory benchmark (prints a table)")
    p.add_argument("--presets", default="lite,paper")
    p.add_argument("--backends", default="torch,onnx")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--repeat", type=int, default=2,
                   help="fresh processes per row, best kept (the machine may be shared)")
    p.add_argument("--sizes", help="working sizes for the cost-by-size table, e.g. "
                   "256,512,1024 (first preset only)")
    p.add_argument("--budget-mb", type=float, default=8192,
                   help="memory budget the largest working size is solved for")
    p.add_argument("--shot", metavar="SIZE", help="end to end instead: the whole product "
                   "(read, prep, motion, network, compose, write) on a production-like shot "
                   "of SIZE (1080p, 720p, 4k or WxH), s per frame per stage and peak RSS, "
                   "beside the optical-flow warp anchor; model: the first of --presets")
    p.add_argument("--out", help="--shot: keep the shot and the frames in this folder")
    p.add_argument("--one", help=argparse.SUPPRESS)  # PRESET:BACKEND, run in a child process
    p.add_argument("--run-shot", help=argparse.SUPPRESS)  # MODEL:BACKEND, --shot's child
    p.add_argument("--dir", help=argparse.SUPPRESS)  # the child's prepared weights and shots

    p = sub.add_parser("bench-compose", help="composition speed and memory at 1080p "
                       "(network excluded; --stream N: a long shot)")
    add_benchcompose_arguments(p)

    add_dataset_parser(sub)

    p = sub.add_parser("evaluate", help="the paper's metrics and tables beside the "
                       "copy-nearest-reference baseline (Markdown + JSON)")
    add_evaluate_arguments(p)

    add_finetune_parser(sub)

    p = sub.add_parser("train", help="train the networks (stage 1: G and D, 2: temporal)")
    p.add_argument("--preset", default="lite")
    p.add_argument("--run", required=True, type=Path, help="run folder (resumes if present)")
    p.add_argument("--stage", type=int, choices=[1, 2], default=1)
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--init", help="weights to start from (stage 2, fine-tuning)")
    p.add_argument("--vgg-side", type=int, help="downsample VGG inputs to this side")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--drawings", type=float, default=0.5,
                   help="share of clips from animated clip-art drawings (0 = procedural only)")
    p.add_argument("--ablation", choices=list(ABLATIONS),
                   help="train the paper's Table 1 row with this part or loss switched off "
                        "(no-temporal: G as Full, shipped without T)")
    p.add_argument("--train-size", type=int,
                   help="square training crops of this side (default: the preset's)")
    p.add_argument("--seed", type=int, default=0,
                   help="networks' initial weights and the clip stream (same seed, same data)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: a CUDA GPU where PyTorch sees one, else the CPU")
    p.add_argument("--workers", type=int, default=1,
                   help="processes rendering training clips (on a GPU, give it the CPU "
                        "cores: one process renders clips slower than a GPU trains on them)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "colorize":
            from .commands.colorize import run_colorize

            return run_colorize(args)
        if args.command == "farm":
            from .commands.farm import run_farm

            return run_farm(args)
        if args.command == "review":
            from .commands.review import run_review

            return run_review(args)
        if args.command == "evaluate":
            from .commands.evaluate import run_evaluate

            return run_evaluate(args)
        if args.command == "dataset":
            from .commands.dataset import run_dataset

            return run_dataset(args)
        if args.command == "export":
            if args.format == "torchscript":
                from .engine.torchscript import export_torchscript

                print(export_torchscript(args.model, args.out))
                return 0
            from .engine.export import export_onnx

            for path in export_onnx(args.model):
                if path is not None:
                    print(path)
            return 0
        if args.command == "info":
            from .commands.info import run_info

            return run_info(args)
        if args.command == "bench":
            from .commands.bench import run_bench

            return run_bench(args)
        if args.command == "bench-compose":
            from .commands.benchcompose import run_benchcompose

            return run_benchcompose(args)
        if args.command == "finetune":
            from .commands.finetune import run_finetune

            return run_finetune(args)
        if args.command == "train":
            from .train.trainer import Trainer, TrainOptions

            opts = TrainOptions(preset=args.preset, run_dir=args.run, stage=args.stage,
                                steps=args.steps, batch=args.batch, init=args.init,
                                vgg_side=args.vgg_side, threads=args.threads,
                                drawings=args.drawings, ablation=args.ablation,
                                train_size=args.train_size, seed=args.seed,
                                device=args.device, workers=args.workers)
            Trainer(opts).run(progress=lambda line: print(line, flush=True))
            return 0
    except InkpaintError as exc:
        print(f"inkpaint: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")
        depth = len(__package__.split("."))
        if missing[:depth] != __package__.split(".") or missing[depth:depth + 1] not in (
                ["eval"], ["train"], ["data"]):
            raise
        # The Blender and Nuke bundles vendor the inference part of core only (build.py).
        print(f"inkpaint: error: '{args.command}' needs a full Inkpaint install (pip install "
              "inkpaint): the Blender and Nuke plugins bundle only what colouring needs",
              file=sys.stderr, flush=True)
        return 1
    except OSError as exc:
        print(f"inkpaint: error: {from_os_error(exc)}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("inkpaint: interrupted", file=sys.stderr, flush=True)
        return 130
    return 2
