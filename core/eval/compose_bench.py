"""Composition cost at production resolution: ms/frame, frames/s and peak RSS per mode, the
network excluded (its output is simulated), each mode in its own process (peak RSS is per
process). Prints numbers; asserts nothing.

The frames are 1920 x 1080 mosaics of procedural cel shots (8 tiles of 540 px, so the line
density and region count are those of a busy frame, not of one character blown up), their
line masks computed once up front: the colourizer has them already (``line_art`` runs on the
native line art for the network's input), so composition does not pay for them; the
``line_art`` row says what that costs.

The streaming row (``run_stream``) is the long-shot check: a shot of any length (1,000
frames) goes through composition one frame at a time, as the colourizer streams it, and the
row says whether memory stays flat and the rate holds. Its frames are made as they are
needed from a short cycle of drawings (played forward and back, each frame with its own
simulated network output), so the source held in memory does not grow with the shot.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

TILE = 540
CYCLE = 8  # in-betweens of the drawing cycle the streaming row plays forward and back
TARGET_MB, TARGET_FPS = 2048, 5.0  # issue 8: a 1080p shot composes within these


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def mosaic_shot(frames: int, width: int = 1920, height: int = 1080, seed: int = 1_000_000_101
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(colour uint8 [T, H, W, 3], line art uint8 [T, H, W], palette) tiled from procedural
    shots of ``TILE`` px."""
    from ..data.procedural import render_shot

    rows, cols = -(-height // TILE), -(-width // TILE)
    color = np.zeros((frames, rows * TILE, cols * TILE, 3), np.uint8)
    lines = np.zeros((frames, rows * TILE, cols * TILE), np.uint8)
    palettes = []
    for k in range(rows * cols):
        shot = render_shot(seed + k, frames=frames, size=TILE, style="clean")
        y, x = (k // cols) * TILE, (k % cols) * TILE
        color[:, y:y + TILE, x:x + TILE] = shot.color
        lines[:, y:y + TILE, x:x + TILE] = shot.lines
        palettes.append(shot.palette)
    palette = np.unique(np.concatenate(palettes), axis=0)
    return color[:, :height, :width], lines[:, :height, :width], palette


def run_one(mode: str, lines_mode: str = "keep", frames: int = 24, threads: int = 2) -> dict:
    """Compose ``frames`` in-betweens of a 1080p mosaic shot (references: first and last
    frame) in one mode. Timed: ``compose`` only (preparing the two references, the line
    masks and the simulated network output are not)."""
    import cv2

    from ..compose import compose, prepare_reference
    from ..preprocess import line_art
    from .simulate import LEVELS, simulate_network

    cv2.setNumThreads(threads)
    color, lines, palette = mosaic_shot(frames + 2)

    def line_px(i: int) -> np.ndarray:
        return lines[i][..., None].astype(np.float32) / 255

    t = time.perf_counter()
    refs = [prepare_reference(color[k], line_px(k)) for k in (0, frames + 1)]
    t_ref = (time.perf_counter() - t) / 2
    rng = np.random.default_rng(0)
    base_rss = _rss_mb()
    rss, walls, cpus, t_line = [], [], [], []
    for i in range(1, frames + 1):
        px = line_px(i)
        t = time.perf_counter()
        mask = line_art(px)[1]
        t_line.append(time.perf_counter() - t)
        net = simulate_network(color[i], palette, LEVELS["typical"], rng)
        order = refs if i <= (frames + 1) / 2 else refs[::-1]
        w0, c0 = time.perf_counter(), time.process_time()
        out = compose(px, net, order, mode=mode, lines=lines_mode, mask=mask,
                      net_scale=1920 / 256)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        del out, net, px, mask
        rss.append(_rss_mb())
    wall = float(np.mean(walls))
    return {"mode": mode, "lines": lines_mode, "size": "1920x1080", "frames": frames,
            "ms_per_frame": 1000 * wall, "median_ms": 1000 * float(np.median(walls)),
            "first_ms": 1000 * walls[0], "cpu_ms_per_frame": 1000 * float(np.mean(cpus)),
            "fps": 1 / wall, "peak_rss_mb": _peak_mb(),
            "rss_growth_mb": rss[-1] - rss[min(2, len(rss) - 1)], "data_rss_mb": base_rss,
            "line_art_ms": 1000 * float(np.mean(t_line)), "prepare_ref_ms": 1000 * t_ref,
            "regions": int(refs[0].seg.n), "threads": threads}


def run_stream(mode: str, lines_mode: str = "keep", frames: int = 1000, threads: int = 2
               ) -> dict:
    """Compose a 1080p shot of ``frames`` frames one at a time (references: the cycle's
    first and last drawing). Timed: ``compose``; the line mask and the simulated network
    output are made per frame too (untimed), as the colourizer makes them."""
    import cv2

    from ..compose import compose, prepare_reference
    from ..preprocess import line_art
    from .simulate import LEVELS, simulate_network

    cv2.setNumThreads(threads)
    color, lines, palette = mosaic_shot(CYCLE + 2)
    source_mb = (color.nbytes + lines.nbytes) / 2**20

    def line_px(k: int) -> np.ndarray:
        return lines[k][..., None].astype(np.float32) / 255

    refs = [prepare_reference(color[k], line_px(k)) for k in (0, CYCLE + 1)]
    rng = np.random.default_rng(0)
    walls, rss = [], []
    start = time.perf_counter()
    for i in range(frames):
        k = 1 + i % (2 * CYCLE)  # 1 .. CYCLE, then back down: a drawing of the cycle
        k = k if k <= CYCLE else 2 * CYCLE + 1 - k
        px = line_px(k)
        mask = line_art(px)[1]
        net = simulate_network(color[k], palette, LEVELS["typical"], rng)
        order = refs if k <= (CYCLE + 1) / 2 else refs[::-1]
        t = time.perf_counter()
        out = compose(px, net, order, mode=mode, lines=lines_mode, mask=mask,
                      net_scale=1920 / 256)
        walls.append(time.perf_counter() - t)
        del out, net, px, mask
        rss.append(_rss_mb())
    settle = min(10, frames - 1)  # allocator pools fill during the first frames
    return {"mode": mode, "lines": lines_mode, "size": "1920x1080", "frames": frames,
            "fps": frames / sum(walls), "ms_per_frame": 1000 * float(np.mean(walls)),
            "p95_ms": 1000 * float(np.percentile(walls, 95)), "peak_rss_mb": _peak_mb(),
            "rss_growth_mb": rss[-1] - rss[settle], "settle": settle,
            "source_mb": source_mb, "wall_s": time.perf_counter() - start,
            "threads": threads}


def bench(modes: tuple[str, ...] = ("flat", "auto", "network"), frames: int = 24,
          threads: int = 2, stream: bool = False) -> list[dict]:
    """One process per mode (so each peak RSS is its own); returns the rows (``stream``:
    the streaming rows, ``frames`` long)."""
    rows = []
    for mode in modes:
        cmd = [sys.executable, "-m", "core.eval.compose_bench", mode, str(frames), str(threads),
               *(["stream"] if stream else [])]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                 os.path.abspath(__file__)))))
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return rows


def _print_table(title: str, rows: list[dict], head: list[str],
                 cells: Callable[[dict], list[str]]) -> None:
    """The machine line (cores, threads, load: timings mean little without it), then a
    Markdown table."""
    print(f"{title} at 1920x1080, network excluded; {os.cpu_count()} CPUs, OpenCV threads "
          f"{rows[0]['threads'] if rows else '-'}, load average {os.getloadavg()[0]:.1f}")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(cells(r)) + " |")


def print_bench(rows: list[dict]) -> None:
    _print_table("composition", rows,
                 ["mode", "lines", "ms/frame", "median ms", "first frame ms", "CPU ms/frame",
                  "frames/s", "peak RSS MB", "RSS growth MB, frame 3 to last"],
                 lambda r: [r["mode"], r["lines"], f"{r['ms_per_frame']:.0f}",
                            f"{r['median_ms']:.0f}", f"{r['first_ms']:.0f}",
                            f"{r['cpu_ms_per_frame']:.0f}", f"{r['fps']:.2f}",
                            f"{r['peak_rss_mb']:.0f}", f"{r['rss_growth_mb']:+.1f}"])
    if rows:
        r = rows[0]
        print(f"({r['frames']} frames per mode; peak RSS includes the shot's "
              f"{r['frames'] + 2} frames held as uint8 and the two prepared references, "
              f"{r['data_rss_mb']:.0f} MB before composing; line_art (computed by the "
              f"colourizer anyway) {r['line_art_ms']:.0f} ms/frame; prepare_reference "
              f"{r['prepare_ref_ms']:.0f} ms once per reference; {r['regions']} regions "
              f"in a reference)")


def print_stream(rows: list[dict]) -> None:
    def met(r: dict) -> str:
        return "met" if r["peak_rss_mb"] < TARGET_MB and r["fps"] >= TARGET_FPS else "missed"

    _print_table("streaming composition", rows,
                 ["mode", "lines", "frames", "frames/s", "ms/frame", "p95 ms", "peak RSS MB",
                  "RSS growth MB", "target"],
                 lambda r: [r["mode"], r["lines"], str(r["frames"]), f"{r['fps']:.2f}",
                            f"{r['ms_per_frame']:.0f}", f"{r['p95_ms']:.0f}",
                            f"{r['peak_rss_mb']:.0f}", f"{r['rss_growth_mb']:+.1f}", met(r)])
    if rows:
        r = rows[0]
        print(f"(target: peak RSS < {TARGET_MB} MB and >= {TARGET_FPS:g} frames/s; peak RSS "
              f"is the process's (VmHWM), including the {r['source_mb']:.0f} MB drawing cycle "
              f"the frames are made from and the two prepared references; RSS growth from "
              f"frame {r['settle'] + 1} to the last; {r['wall_s']:.0f} s in all with the "
              f"untimed line masks and simulated network outputs)")


if __name__ == "__main__":
    mode, frames, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    run = run_stream if sys.argv[4:] == ["stream"] else run_one
    print(json.dumps(run(mode, frames=frames, threads=threads)), flush=True)
