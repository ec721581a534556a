"""Measuring the composition on procedural shots with simulated network outputs: the numbers
that chose the default mode, and the harness the lead re-runs with trained weights (pass a
``network`` callable that returns the real network's colours).

Protocol: each shot has ``frames`` frames; the first and last are the painted references,
the in-betweens are scored. Rows: ``network`` (the network's colours as they are), ``flat``,
``auto``, the network-free region ``matcher`` and ``copy`` (copy the nearest reference).
Columns: PSNR (capped at 60 dB), region accuracy, pixel accuracy (``core.eval.regions``),
and for the composition modes the mean confidence summary and its correlation with the
frame's true region accuracy (does the summary find the bad frames?).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from ..compose import compose, prepare_reference
from ..data.procedural import render_shot
from .regions import match_colours, pixel_accuracy, region_accuracy
from .simulate import LEVELS, simulate_network

ROWS = ("network", "flat", "auto", "matcher", "copy")
Network = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 60.0 if err == 0 else min(60.0, 10 * math.log10(1 / err))


def measure(seeds: Sequence[int], frames: int = 6, size: int = 384, level: str = "typical",
            lines: str = "keep", network: Network | None = None,
            style: str | None = None) -> dict[str, dict[str, float]]:
    """Mean scores per row over the in-betweens of the shots ``render_shot(seed, frames,
    size)``; ``network(color_u8, palette, rng)`` gives the network's colours (default: the
    ``level`` simulation)."""
    if network is None:
        sim = LEVELS[level]

        def network(color, palette, rng):
            return simulate_network(color, palette, sim, rng)

    scores: dict[str, dict[str, list[float]]] = {r: {} for r in ROWS}

    def add(row: str, key: str, value: float) -> None:
        scores[row].setdefault(key, []).append(value)

    for seed in seeds:
        shot = render_shot(seed, frames=frames, size=size, style=style)
        px = shot.lines[..., None].astype(np.float32) / 255
        keys = (0, frames - 1)
        refs = {k: prepare_reference(shot.color[k], px[k]) for k in keys}
        for f in range(1, frames - 1):
            gt = shot.color[f].astype(np.float32) / 255
            order = sorted(keys, key=lambda k: (abs(k - f), k))
            cels = [refs[k] for k in order]
            net = network(shot.color[f], shot.palette, np.random.default_rng(seed * 1000 + f))
            outs = {"network": (net, None), "copy": (shot.color[order[0]] / 255.0, None)}
            for mode in ("flat", "auto"):
                t = time.perf_counter()
                c = compose(px[f], net, cels, mode=mode, lines=lines,
                            net_scale=size / LEVELS[level].work)
                add(mode, "ms", 1000 * (time.perf_counter() - t))
                outs[mode] = (c.rgb, c)
            outs["matcher"] = (match_colours(px[f], cels, lines), None)
            for row, (rgb, c) in outs.items():
                ra = region_accuracy(rgb, gt, px[f], shot.palette)
                add(row, "psnr", _psnr(rgb, gt))
                add(row, "region_acc", ra)
                add(row, "pixel_acc", pixel_accuracy(rgb, gt, px[f]))
                if c is not None:
                    add(row, "score", c.score)
                    add(row, "_pair", (c.score, ra))
    out: dict[str, dict[str, float]] = {}
    for row, d in scores.items():
        out[row] = {k: float(np.nanmean(v)) for k, v in d.items() if not k.startswith("_")}
        if "_pair" in d:
            pairs = np.array([p for p in d["_pair"] if not math.isnan(p[1])])
            if len(pairs) > 2 and pairs[:, 0].std() > 0 and pairs[:, 1].std() > 0:
                out[row]["score_vs_region_acc_r"] = float(np.corrcoef(pairs.T)[0, 1])
    return out


def print_table(result: dict[str, dict[str, float]], title: str) -> None:
    print(f"\n{title}")
    print("| row | PSNR dB | region acc | pixel acc | mean score | r(score, region acc) |")
    print("|---|---|---|---|---|---|")
    for row, d in result.items():
        def f(k: str, fmt: str, d: dict[str, float] = d) -> str:
            return format(d[k], fmt) if k in d else "-"
        print(f"| {row} | {f('psnr', '.2f')} | {f('region_acc', '.3f')} | "
              f"{f('pixel_acc', '.3f')} | {f('score', '.3f')} | "
              f"{f('score_vs_region_acc_r', '.2f')} |")
