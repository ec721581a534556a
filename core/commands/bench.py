"""``inkpaint bench``: ms/frame and peak RSS per preset and backend, each row measured in a
fresh process (peak RSS is per process, and a row must not inherit another's imports), plus
the network's FLOPs per frame against the machine's measured matmul rate; with ``--sizes``,
the cost per frame as the working size grows and the largest size that fits a memory budget.
Prints numbers; asserts nothing.

Everything a row needs (weights, their ONNX export, the shot) is made by the parent first, so
a row's process only imports its runtime, loads the model and colours: what a user's render
costs once the model is installed."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import load_preset

# The working size's long side grows in steps of this many pixels when the memory budget is
# solved for (the engine pads the canvas to a multiple of 8; 64 keeps the answer readable).
SIZE_STEP = 64


def matmul_gflops(n: int = 1024, repeat: int = 5) -> float:
    """fp32 matmul rate of this machine now (PyTorch's BLAS, all cores): the roofline the
    network's rate is compared with. Measured again before each row, since on a shared
    machine it moves with the load."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n**3 * repeat / (time.perf_counter() - t) / 1e9


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    """This process's own peak RSS. Not getrusage's ru_maxrss: that survives exec, so a row
    started from the parent (which holds PyTorch and the export) would report the parent's."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def _one(preset: str, backend: str, size: int, root: Path) -> dict:
    """Colour the shot in ``root`` (made by ``_prepare``): times everything a user waits for
    except loading the model, and the network calls alone."""
    from ..engine.colorizer import Colorizer
    from ..engine.plan import Reference

    shot = json.loads((root / f"shot{size}.json").read_text())
    lineart = {int(f): Path(p) for f, p in shot["lineart"].items()}
    refs = [Reference(Path(p), int(f)) for f, p in shot["color"].items()]
    rss_imported = _rss_mb()
    col = Colorizer(str(root / f"{preset}.safetensors"), backend=backend, size=size)
    rss_loaded = _rss_mb()
    net_s = 0.0
    run = col.backend._run

    def timed(*a):
        nonlocal net_s
        t = time.perf_counter()
        out = run(*a)
        net_s += time.perf_counter() - t
        return out

    col.backend._run = timed
    t = time.perf_counter()
    n = sum(not c.is_reference for c in col.colorize(lineart, refs))
    dt = time.perf_counter() - t
    return {"device": col.backend.device, "ms_per_frame": 1000 * dt / n,
            "net_ms_per_frame": 1000 * net_s / n, "rss_imported_mb": rss_imported,
            "rss_loaded_mb": rss_loaded, "peak_rss_mb": _peak_mb(), "frames": n}


def _prepare(root: Path, presets: list[str], sizes: list[int], frames: int) -> None:
    """Weights (random: speed does not depend on their values), their ONNX export in a cache
    the rows are pointed at, and one shot per size."""
    from ..data.procedural import render_shot
    from ..engine.export import export_onnx
    from ..nets import spectral_norm_marked
    from ..weights import build_generators, save_weights

    for preset in presets:
        gens = build_generators(load_preset(preset))
        spectral_norm_marked(gens.G)
        weights = root / f"{preset}.safetensors"
        save_weights(weights, gens)
        export_onnx(str(weights), root / "cache" / "onnx")
    for size in sizes:
        shot = render_shot(1_000_000_001, frames=frames, size=size)
        lineart, color = shot.write(root / f"shot{size}", colours=(0, frames - 1))
        (root / f"shot{size}.json").write_text(json.dumps(
            {"lineart": {f: str(p) for f, p in lineart.items()},
             "color": {f: str(p) for f, p in color.items()}}))


def _row(preset: str, backend: str, size: int, root: Path, repeat: int) -> dict:
    """The best of ``repeat`` fresh processes (the fastest; the machine is shared), with the
    matmul rate measured just before it."""
    best: dict | None = None
    for _ in range(repeat):
        rate = matmul_gflops()
        r = subprocess.run([sys.executable, "-m", "core", "bench", "--one", f"{preset}:{backend}",
                            "--size", str(size), "--dir", str(root)],
                           capture_output=True, text=True, check=True,
                           env=dict(os.environ, INKPAINT_CACHE=str(root / "cache")))
        row = json.loads(r.stdout.strip().splitlines()[-1]) | {"matmul": rate}
        if best is None or row["net_ms_per_frame"] < best["net_ms_per_frame"]:
            best = row
    return best


def _gflop(preset: str, size: int, targets: int) -> float:
    """Network GFLOP per in-between: G per target with its references encoded once for the
    ``targets`` in-betweens that share them, plus T per frame of a full window."""
    from .info import network_cost

    cost = network_cost(load_preset(preset), size, targets=targets)
    return cost["G_gflop"] + cost["T_gflop"]


def run_bench(args: argparse.Namespace) -> int:
    if args.one:
        preset, backend = args.one.split(":")
        print(json.dumps(_one(preset, backend, args.size, Path(args.dir))), flush=True)
        return 0
    presets, backends = args.presets.split(","), args.backends.split(",")
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else []
    targets = args.frames - 2  # the in-betweens between the two keys share them
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f} (1/5/15 min); best of {args.repeat} fresh processes per row")
    print(f"shot: {args.frames} frames, 2 references, K = 2, temporal on; ms/frame: the whole "
          "colorize (read, network, compose); net: the network calls alone")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _prepare(root, presets, sorted({args.size, *sizes}), args.frames)
        print(f"\nat {args.size}x{args.size}:\n")
        print("| preset | backend | device | ms/frame | net ms/frame | RSS MB imported / "
              "loaded / peak | GFLOP/frame | GFLOP/s reached | matmul GFLOP/s | % of matmul |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for preset in presets:
            gflop = _gflop(preset, args.size, targets)
            for backend in backends:
                r = _row(preset, backend, args.size, root, args.repeat)
                rate = gflop / r["net_ms_per_frame"] * 1000
                print(f"| {preset} | {backend} | {r['device']} | {r['ms_per_frame']:.0f} | "
                      f"{r['net_ms_per_frame']:.0f} | {r['rss_imported_mb']:.0f} / "
                      f"{r['rss_loaded_mb']:.0f} / {r['peak_rss_mb']:.0f} | {gflop:.1f} | "
                      f"{rate:.1f} | {r['matmul']:.1f} | {100 * rate / r['matmul']:.0f} % |",
                      flush=True)
        if sizes:
            _sizes(presets[0], backends, sizes, root, args.repeat, args.budget_mb)
    return 0


def _sizes(preset: str, backends: list[str], sizes: list[int], root: Path, repeat: int,
           budget_mb: float) -> None:
    """Cost per in-between as the working size grows, and the largest size whose peak fits
    ``budget_mb``. Sim's attention never holds its score matrix and large frames go through
    G one target per call (``PIXELS_PER_CALL``), so above the loaded model the peak grows
    with the pixel count: the largest size measured, per pixel, extrapolates it."""
    print(f"\n{preset} by working size (square frames):\n")
    print("| size | backend | ms/frame | net ms/frame | peak RSS MB |")
    print("|---|---|---|---|---|")
    for backend in backends:
        for size in sizes:
            r = _row(preset, backend, size, root, repeat)
            print(f"| {size} | {backend} | {r['ms_per_frame']:.0f} | "
                  f"{r['net_ms_per_frame']:.0f} | {r['peak_rss_mb']:.0f} |", flush=True)
        per_px = (r["peak_rss_mb"] - r["rss_loaded_mb"]) / size**2
        side = int(((budget_mb - r["rss_loaded_mb"]) / per_px) ** 0.5) // SIZE_STEP * SIZE_STEP
        print(f"\n{backend}: {per_px * 2**20:.0f} bytes per working pixel at {size}; largest "
              f"working size within {budget_mb / 1024:.0f} GB: about {side}x{side} "
              "(extrapolated)\n", flush=True)
