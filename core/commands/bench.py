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
from ..errors import InkpaintError

# The working size's long side grows in steps of this many pixels when the memory budget is
# solved for (the engine pads the canvas to a multiple of 8; 64 keeps the answer readable).
SIZE_STEP = 64


def matmul_gflops(device: str = "cpu", repeat: int = 5) -> float:
    """Matmul rate of the row's device now: fp32 with PyTorch's BLAS on all cores, or fp16
    on CUDA (the precision the network runs at there, through autocast). The roofline the
    network's rate is compared with; measured in the row's own process, since on a shared
    machine it moves with the load."""
    import torch

    # big enough that a GPU's launch overhead is a small part of each product
    n, dtype = (8192, torch.float16) if device == "cuda" else (1024, torch.float32)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * repeat / (time.perf_counter() - t) / 1e9


def _gpu_peak_mb() -> float | None:
    """The CUDA memory PyTorch's allocator held at most in this process (None without a
    GPU in use): on a GPU, the memory that decides the largest working size."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    """This process's own peak RSS. Not getrusage's ru_maxrss: that survives exec, so a row
    started from the parent (which holds PyTorch and the export) would report the parent's."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def _one(preset: str, backend: str, size: int, root: Path) -> dict:
    """Colour the shot in ``root`` (made by ``_prepare``) twice: times everything a user waits
    for except loading the model, and the network calls alone. The first pass is a fresh
    run's first window (the runtime allocates and plans as it goes); the second is what every
    later window of a long shot costs, which is the network's own rate."""
    from ..engine.colorizer import Colorizer
    from ..engine.plan import Reference

    shot = json.loads((root / f"shot{size}.json").read_text())
    lineart = {int(f): Path(p) for f, p in shot["lineart"].items()}
    refs = [Reference(Path(p), int(f)) for f, p in shot["color"].items()]
    rss_imported = _rss_mb()
    col = Colorizer(str(root / f"{preset}.safetensors"), backend=backend, size=size,
                    temporal=True)  # the issue-15 protocol: the paper's whole network
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
    row = {"device": col.backend.device, "rss_imported_mb": rss_imported,
           "rss_loaded_mb": rss_loaded, "matmul": matmul_gflops(col.backend.device)}
    for when in ("cold", "warm"):
        net_s = 0.0
        t = time.perf_counter()
        n = sum(not c.is_reference for c in col.colorize(lineart, refs))
        dt = time.perf_counter() - t
        row |= {f"ms_per_frame_{when}": 1000 * dt / n, f"net_ms_per_frame_{when}": 1000 * net_s / n}
    return row | {"peak_rss_mb": _peak_mb(), "gpu_peak_mb": _gpu_peak_mb(), "frames": n}


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
    """The best of ``repeat`` fresh processes (the fastest; the machine is shared)."""
    best: dict | None = None
    for _ in range(repeat):
        r = subprocess.run([sys.executable, "-m", "core", "bench", "--one", f"{preset}:{backend}",
                            "--size", str(size), "--dir", str(root)],
                           capture_output=True, text=True, check=True,
                           env=dict(os.environ, INKPAINT_CACHE=str(root / "cache")))
        row = json.loads(r.stdout.strip().splitlines()[-1])
        if best is None or row["net_ms_per_frame_cold"] < best["net_ms_per_frame_cold"]:
            best = row
    return best


def _mb(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


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
    if args.run_shot:
        model, backend = args.run_shot.split(":")
        print(json.dumps(_shot_run(model, backend, Path(args.dir))), flush=True)
        return 0
    presets, backends = args.presets.split(","), args.backends.split(",")
    if args.shot:
        return _shot_bench(args.shot, presets[0], backends, args.frames, args.repeat,
                           Path(args.out) if args.out else None)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else []
    targets = args.frames - 2  # the in-betweens between the two keys share them
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f} (1/5/15 min); best of {args.repeat} fresh processes per row")
    print(f"shot: {args.frames} frames, 2 references, K = 2, temporal on; ms/frame: the whole "
          "colorize (read, network, compose); net: the network calls alone; cold: the process's "
          "first pass over the shot, warm: its second (the model loaded and run once)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _prepare(root, presets, sorted({args.size, *sizes}), args.frames)
        print(f"\nat {args.size}x{args.size}:\n")
        print("| preset | backend | device | ms/frame cold / warm | net ms/frame cold / warm | "
              "RSS MB imported / loaded / peak | GPU MB peak | GFLOP/frame | "
              "GFLOP/s reached cold / warm | matmul GFLOP/s | % of matmul cold / warm |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for preset in presets:
            gflop = _gflop(preset, args.size, targets)
            for backend in backends:
                r = _row(preset, backend, args.size, root, args.repeat)
                rate = [gflop / r[f"net_ms_per_frame_{w}"] * 1000 for w in ("cold", "warm")]
                share = [100 * x / r["matmul"] for x in rate]
                print(f"| {preset} | {backend} | {r['device']} | {r['ms_per_frame_cold']:.0f} / "
                      f"{r['ms_per_frame_warm']:.0f} | {r['net_ms_per_frame_cold']:.0f} / "
                      f"{r['net_ms_per_frame_warm']:.0f} | {r['rss_imported_mb']:.0f} / "
                      f"{r['rss_loaded_mb']:.0f} / {r['peak_rss_mb']:.0f} | "
                      f"{_mb(r['gpu_peak_mb'])} | {gflop:.1f} | "
                      f"{rate[0]:.1f} / {rate[1]:.1f} | {r['matmul']:.1f} | "
                      f"{share[0]:.0f} % / {share[1]:.0f} % |",
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
    print("| size | backend | ms/frame cold / warm | net ms/frame cold / warm | peak RSS MB | "
          "GPU MB peak |")
    print("|---|---|---|---|---|---|")
    for backend in backends:
        for size in sizes:
            r = _row(preset, backend, size, root, repeat)
            print(f"| {size} | {backend} | {r['ms_per_frame_cold']:.0f} / "
                  f"{r['ms_per_frame_warm']:.0f} | {r['net_ms_per_frame_cold']:.0f} / "
                  f"{r['net_ms_per_frame_warm']:.0f} | {r['peak_rss_mb']:.0f} | "
                  f"{_mb(r['gpu_peak_mb'])} |", flush=True)
        if r["gpu_peak_mb"] is not None:  # the GPU's memory is the limit (model included)
            memory, per_px, base = "GPU memory", r["gpu_peak_mb"] / size**2, 0.0
        else:
            memory, base = "RAM", r["rss_loaded_mb"]
            per_px = (r["peak_rss_mb"] - base) / size**2
        side = int(((budget_mb - base) / per_px) ** 0.5) // SIZE_STEP * SIZE_STEP
        print(f"\n{backend}: {per_px * 2**20:.0f} bytes of {memory} per working pixel at "
              f"{size}; largest working size within {budget_mb / 1024:.0f} GB: about "
              f"{side}x{side} (extrapolated)\n", flush=True)


# ---- end to end: the whole product on a production-size shot --------------------------------

SHOT_SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}
FIRST = 1001  # frame numbers as a production shot has them


def parse_shot_size(text: str) -> tuple[int, int]:
    """``1080p``, ``720p``, ``4k`` or ``WxH`` -> (width, height)."""
    if text.lower() in SHOT_SIZES:
        return SHOT_SIZES[text.lower()]
    w, sep, h = text.lower().partition("x")
    if not (sep and w.isdigit() and h.isdigit() and int(w) >= 32 and int(h) >= 32):
        raise InkpaintError(f"bad --shot '{text}': use 720p, 1080p, 4k or WxH (e.g. 320x180)")
    return int(w), int(h)


def _colorize_argv(root: Path, model: str, backend: str, frames: int) -> list[str]:
    """The ``inkpaint colorize`` command the end-to-end row runs (its defaults otherwise):
    the shot's first and last frames are the painted keys."""
    last = FIRST + frames - 1
    return ["colorize", "--lineart", str(root / "shot" / "line.####.png"),
            "--ref", f"{FIRST}={root / 'shot' / f'color.{FIRST}.png'}",
            "--ref", f"{last}={root / 'shot' / f'color.{last}.png'}",
            "--out", str(root / backend / "out.####.png"), "--model", model,
            "--backend", backend, "--overwrite", "--progress", "lines"]


def _shot_run(model: str, backend: str, root: Path) -> dict:
    """One end-to-end row, in its own process: the real CLI colours the shot with every
    step timed by the pipeline's own stage marks (``core.timing``)."""
    from ..cli import main
    from ..timing import record, stage

    frames = len(list((root / "shot").glob("line.*.png")))
    with record() as rec:
        t, cpu = time.perf_counter(), time.process_time()
        with stage("load"):
            from . import colorize  # noqa: F401  (its imports are part of loading)
        if main(_colorize_argv(root, model, backend, frames)) != 0:
            raise InkpaintError("the end-to-end colorize run failed")
        rec.seconds["total"] = time.perf_counter() - t
        rec.cpu["total"] = time.process_time() - cpu
    return {"seconds": rec.seconds, "cpu": rec.cpu, "peak_rss_mb": _peak_mb(),
            "gpu_peak_mb": _gpu_peak_mb()}


def _anchor_seconds(shot, frames: int) -> tuple[float, float]:
    """Wall and CPU seconds per in-between of the optical-flow warp anchor
    (``core.motion.warp_anchor``, as the evaluation's flow_warp row makes it: guides from
    the line art, both keys warped and blended) on the same shot."""
    from ..eval.evaluate import Runner

    t, cpu = time.perf_counter(), time.process_time()
    Runner.warped(shot, (0, frames - 1), list(range(1, frames - 1)))
    return (time.perf_counter() - t) / (frames - 2), (time.process_time() - cpu) / (frames - 2)


def _shot_bench(size: str, model: str, backends: list[str], frames: int, repeat: int,
                out: Path | None) -> int:
    """``--shot``: the whole product (``inkpaint colorize`` with its defaults and the
    shipped ``model`` weights) on a production-like shot of ``size``, each backend in fresh
    processes (best total of ``repeat``): seconds per in-between for each stage, peak RSS,
    and the flow-warp anchor on the same shot. ``out`` keeps the shot and the frames."""
    from ..data.procedural import Shot
    from ..engine.backends import make_backend
    from ..eval.compose_bench import mosaic_shot

    w, h = parse_shot_size(size)
    if frames < 3:
        raise InkpaintError("--frames must be at least 3 for --shot (two keys and an "
                            "in-between)")
    with tempfile.TemporaryDirectory() as tmp:
        root = out or Path(tmp)
        shot = Shot(*mosaic_shot(frames, w, h))
        shot.write(root / "shot", first=FIRST, colours=(0, frames - 1))
        rows = {}
        for backend in backends:
            make_backend(backend, model)  # an ONNX export, if one is missing, is not timed
            for _ in range(repeat):
                r = subprocess.run([sys.executable, "-m", "core", "bench", "--run-shot",
                                    f"{model}:{backend}", "--dir", str(root)],
                                   capture_output=True, text=True, check=True)
                row = json.loads(r.stdout.strip().splitlines()[-1])
                if backend not in rows or row["seconds"]["total"] < rows[backend]["seconds"][
                        "total"]:
                    rows[backend] = row
        anchor = min(_anchor_seconds(shot, frames) for _ in range(repeat))
        _print_shot(w, h, frames, model, rows, anchor, repeat)
        if out is not None:
            print(f"\nshot and frames kept in {out}; the command each row ran: inkpaint "
                  + " ".join(_colorize_argv(out, model, "BACKEND", frames)))
    return 0


def _per_stage(times: dict[str, float], name: str) -> float:
    """A stage's seconds; ``other``: the run's time outside every stage; ``total``: the
    run's time without ``load``, which a shot pays once, however long."""
    if name == "other":
        return times["total"] - sum(v for k, v in times.items() if k != "total")
    if name == "total":
        return times["total"] - times.get("load", 0.0)
    return times.get(name, 0.0)


def _print_shot(w: int, h: int, frames: int, model: str, rows: dict[str, dict],
                anchor: tuple[float, float], repeat: int) -> None:
    from ..timing import STAGES

    load = os.getloadavg()
    n = frames - 2
    print(f"end to end at {w}x{h}: {frames} frames ({n} in-betweens between 2 painted keys), "
          f"`inkpaint colorize` defaults, {model} weights; best of {repeat} fresh processes; "
          f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
          " (1/5/15 min)\n")
    cells: dict[str, list[str]] = {}
    for r in rows.values():
        for name in [*STAGES, "other", "total", "load"]:
            wall, cpu = (_per_stage(r[k], name) for k in ("seconds", "cpu"))
            if name != "load":
                wall, cpu = wall / n, cpu / n
            # four decimals: on a small shot the cheapest stages take a few ms a frame
            cells.setdefault(name, []).append(f"{wall:.4f} ({cpu:.4f})")
        cells.setdefault("peak RSS MB", []).append(f"{r['peak_rss_mb']:.0f}")
        cells.setdefault("GPU MB peak", []).append(_mb(r["gpu_peak_mb"]))
    names = {"other": "other (planning, frame keys, progress)", "total": "**total**",
             "load": "load, once per run (s)"}
    print("| stage: s per in-between, wall (CPU) | " + " | ".join(rows) + " |")
    print("|---|" + "---|" * len(rows))
    for name, row in cells.items():
        print(f"| {names.get(name, name)} | " + " | ".join(row) + " |")
    print(f"\nflow-warp anchor (core.motion.warp_anchor, as `inkpaint evaluate`'s flow_warp row "
          f"makes it) on the same shot: {anchor[0]:.4f} ({anchor[1]:.4f}) s per in-between",
          flush=True)
