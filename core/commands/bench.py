"""``inkpaint bench``: ms/frame, frames/s and peak RSS per preset and backend, each measured in
its own process (peak RSS is per process), plus FLOPs per frame against the machine's
measured matmul GFLOP/s. Prints numbers; asserts nothing."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import load_preset


def matmul_gflops(n: int = 1024, repeat: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n**3 * repeat / (time.perf_counter() - t) / 1e9


def _one(preset: str, backend: str, size: int, frames: int) -> dict:
    """Colour a generated shot of ``frames`` frames; times everything a user waits for except
    loading (and, for ONNX, exporting) the model."""
    from ..data.procedural import render_shot
    from ..engine.colorizer import Colorizer
    from ..engine.plan import Reference
    from ..nets import spectral_norm_marked
    from ..weights import build_generators, save_weights

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gens = build_generators(load_preset(preset))
        spectral_norm_marked(gens.G)
        weights = root / f"{preset}.safetensors"
        save_weights(weights, gens)
        shot = render_shot(1_000_000_001, frames=frames, size=size)
        lineart, color = shot.write(root, colours=(0, frames - 1))
        refs = [Reference(color[0], 0), Reference(color[frames - 1], frames - 1)]
        col = Colorizer(str(weights), backend=backend, size=size)
        t = time.perf_counter()
        n = sum(not c.is_reference for c in col.colorize(lineart, refs))
        dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    return {"preset": preset, "backend": backend, "device": col.backend.device,
            "ms_per_frame": 1000 * dt / n, "fps": n / dt, "peak_rss_mb": rss}


def run_bench(args: argparse.Namespace) -> int:
    if args.one:
        preset, backend = args.one.split(":")
        print(json.dumps(_one(preset, backend, args.size, args.frames)), flush=True)
        return 0
    from .info import network_cost

    gflops = matmul_gflops()
    print(f"machine: {os.cpu_count()} CPUs, measured fp32 matmul {gflops:.1f} GFLOP/s")
    print(f"shot: {args.frames} frames at {args.size}x{args.size}, 2 references, temporal on")
    print("| preset | backend | device | ms/frame | frames/s | peak RSS MB | GFLOP/frame "
          "| GFLOP/s reached |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in args.presets.split(","):
        cost = network_cost(load_preset(preset), args.size)
        # per in-between: G with its references encoded once per window of 6, plus T
        gflop = cost["G_gflop"] + cost["T_gflop"]
        for backend in args.backends.split(","):
            r = subprocess.run([sys.executable, "-m", "core", "bench", "--one",
                                f"{preset}:{backend}", "--size", str(args.size),
                                "--frames", str(args.frames)],
                               capture_output=True, text=True, check=True)
            row = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"| {preset} | {backend} | {row['device']} | {row['ms_per_frame']:.0f} | "
                  f"{row['fps']:.2f} | {row['peak_rss_mb']:.0f} | {gflop:.1f} | "
                  f"{gflop * row['fps']:.1f} |", flush=True)
    return 0
