"""Which dense flow on line art (issue 12, item 1): the shipped DIS on guides against flow
chained through the neighbouring frames and against RIFE's learned flow (``core.eval.rife``),
each judged by the flow-warp anchor it gives: the clip's two end keys warped onto every
in-between and blended by validity x warp agreement x temporal distance
(``core.motion.warp_anchor``), against the true colour frame. Prints a markdown table (PSNR,
moving-part PSNR, SSIM per method, set and clip length) and the CPU cost per flow at 256^2
and for a 1080p frame; asserts nothing.

    python -m core.eval.flow_bench [--clips 6] [--lengths 8 24] [--sets procedural openmoji]

Methods:

- ``copy``: the nearest key, unwarped (what the anchor must beat).
- ``dis``: DIS between the in-between's guide and the key's, forward-backward checked (shipped).
- ``dis-chain``: DIS between neighbouring frames, composed t -> t-1 -> ... -> key (flows
  added through warping, validities multiplied along the chain).
- ``dis-both``: each key warped both ways (direct and chained) and the two warps blended like
  two keys, so each pixel leans on whichever the warp agreement backs.
- ``dis-fwd``: chained to the earlier key only, direct to the later one: what a frame-by-frame
  stream has without reading ahead.
- ``rife`` / ``rife-lines``: RIFE 4.x's flow t -> key on the guides / on the plain line
  images, forward-backward checked like DIS.
- ``rife-chain``: RIFE's neighbour flows on the guides, chained.

Every method runs single-threaded (OpenCV and torch), so the ms columns compare like with
like on a shared machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from ..data.procedural import Shot, render_shot
from ..motion import Guide, Motion, chain, guide
from ..motion.flow import at_flow_size, consistency
from ..motion.flow import flow as dis_flow
from ..train.clips import EVAL_SEED_BASE
from .evaluate import (
    anchor_frame,
    bracketing,
    frame_metrics,
    moving_mask,
    nearest_reference,
    reference_frames,
)
from .regions import line_mask
from .shotsets import shot_set

METHODS = ("copy", "dis", "dis-chain", "dis-both", "dis-fwd", "rife", "rife-lines",
           "rife-chain")
FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def plain(mask: np.ndarray) -> np.ndarray:
    """The line image itself at the guides' size (uint8, paper 255): RIFE's input without
    the distance field."""
    return np.clip((1.0 - at_flow_size(mask)) * 255 + 0.5, 0, 255).astype(np.uint8)


class Flows:
    """The motions of one clip under one flow function, each computed once."""

    def __init__(self, fn: FlowFn, images: list[np.ndarray]) -> None:
        self.fn, self.images = fn, images
        self._raw: dict[tuple[int, int], np.ndarray] = {}
        self._chain: dict[tuple[int, int], Motion] = {}

    def raw(self, a: int, b: int) -> np.ndarray:
        if (a, b) not in self._raw:
            self._raw[a, b] = self.fn(self.images[a], self.images[b])
        return self._raw[a, b]

    def direct(self, a: int, b: int) -> Motion:
        fwd = self.raw(a, b)
        return Motion(fwd, consistency(fwd, self.raw(b, a)))

    def chained(self, a: int, key: int) -> Motion:
        """a -> a +- 1 -> ... -> key."""
        step = 1 if key > a else -1
        if a + step == key:
            return self.direct(a, key)
        if (a, key) not in self._chain:
            self._chain[a, key] = chain(self.direct(a, a + step), self.chained(a + step, key))
        return self._chain[a, key]


def _dis(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return dis_flow(Guide(a, a.shape), Guide(b, b.shape))


def _rife(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from . import rife

    return rife.flow(a, b)


def key_motions(fl: Flows, method: str, frame: int, key: int) -> list[Motion]:
    """The motions ``frame -> key`` a method warps the key by."""
    if method.endswith("-chain"):
        return [fl.chained(frame, key)]
    if method.endswith("-both"):
        return [fl.direct(frame, key), fl.chained(frame, key)]
    if method.endswith("-fwd") and key < frame:
        return [fl.chained(frame, key)]
    return [fl.direct(frame, key)]


def anchors(shot: Shot, methods: tuple[str, ...], refs: tuple[int, ...]
            ) -> dict[str, dict[int, np.ndarray]]:
    """Each method's 8-bit anchor frames (float [0, 1]) for the clip's in-betweens."""
    masks = [line_mask(x) for x in shot.lines]
    guides = [guide(m) for m in masks]
    gimg = [g.image for g in guides]
    flows = {"dis": Flows(_dis, gimg)}
    if any(m.startswith("rife") for m in methods):
        flows["rife"] = Flows(_rife, gimg)
        flows["rife-lines"] = Flows(_rife, [plain(m) for m in masks])
    rgb = shot.color.astype(np.float32) / 255
    targets = [f for f in range(len(rgb)) if f not in refs]
    out: dict[str, dict[int, np.ndarray]] = {}
    for method in methods:
        out[method] = {}
        for f in targets:
            keys = bracketing(f, refs)
            if method == "copy":
                out[method][f] = rgb[nearest_reference(f, refs)]
                continue
            fl = flows[method if method == "rife-lines" else method.split("-")[0]]
            pairs = [(k, m) for k in keys for m in key_motions(fl, method, f, k)]
            out[method][f] = anchor_frame(guides, rgb, f, [k for k, _ in pairs],
                                          [m for _, m in pairs])
    return out


def clip_scores(shot: Shot, methods: tuple[str, ...]) -> dict[str, list[dict[str, float]]]:
    """Per method, the frame metrics of every in-between of a clip keyed at its ends."""
    refs = reference_frames(2, len(shot.color))
    true = shot.color.astype(np.float32) / 255
    preds = anchors(shot, methods, refs)
    scores: dict[str, list[dict[str, float]]] = {}
    for method, frames in preds.items():
        scores[method] = [frame_metrics(p, true[f], moving_mask(
            true[f], [true[r] for r in bracketing(f, refs)])) for f, p in frames.items()]
    return scores


def sources(names: tuple[str, ...], clips: int, size: int
            ) -> dict[str, Callable[[int], Iterator[Shot]]]:
    """The held-out sets that can be made here (drawings only when its index exists)."""
    out: dict[str, Callable[[int], Iterator[Shot]]] = {}
    for name in names:
        if name == "drawings":
            from ..data.drawings import default_index

            if not default_index().is_file():
                print(f"flow_bench: drawings skipped: no index at {default_index()}")
                continue
        out[name] = shot_set(name, clips, size)[1]
    return out


def timings(methods: tuple[str, ...], repeat: int = 3) -> dict[str, dict[str, float]]:
    """ms per flow (best of ``repeat``) at 256^2 and for a 1080p frame (its guides at
    ``FLOW_SIDE``), and RIFE at full 1080p once."""
    shot = render_shot(EVAL_SEED_BASE, frames=2, size=256)
    masks = [line_mask(x) for x in shot.lines]
    big = [cv2.resize(m, (1920, 1080), interpolation=cv2.INTER_LINEAR) for m in masks]
    pairs = {"256": [guide(m).image for m in masks], "1080p": [guide(m).image for m in big]}
    fns = {"dis": _dis}
    if any(m.startswith("rife") for m in methods):
        fns["rife"] = _rife
        _rife(*pairs["256"])  # load the weights outside the clock

    def ms(fn: FlowFn, a: np.ndarray, b: np.ndarray, n: int) -> float:
        best = np.inf
        for _ in range(n):
            t0 = time.perf_counter()
            fn(a, b)
            best = min(best, time.perf_counter() - t0)
        return best * 1000

    out = {name: {size: ms(fn, *imgs, repeat) for size, imgs in pairs.items()}
           for name, fn in fns.items()}
    if "rife" in fns:
        native = [np.clip((1 - m) * 255 + 0.5, 0, 255).astype(np.uint8) for m in big]
        out["rife"]["1080p native"] = ms(_rife, *native, 1)
    return out


Results = dict[tuple[str, int], tuple[int, dict[str, list[dict[str, float]]]]]


def table(results: Results) -> str:
    rows = ["| method | set | frames | clips | PSNR | moving PSNR | SSIM |",
            "|---|---|---|---|---|---|---|"]
    for (name, frames), (n, per) in results.items():
        for method, scores in per.items():
            moving = [s["moving_psnr"] for s in scores if np.isfinite(s["moving_psnr"])]
            rows.append(f"| {method} | {name} | {frames} | {n} | "
                        f"{np.mean([s['psnr'] for s in scores]):.2f} | "
                        f"{np.mean(moving) if moving else float('nan'):.2f} | "
                        f"{np.mean([s['ssim'] for s in scores]):.3f} |")
    return "\n".join(rows)


def cost_table(costs: dict[str, dict[str, float]]) -> str:
    cols = ["256", "1080p", "1080p native"]
    rows = ["| flow | ms 256² | ms 1080p (guides at FLOW_SIDE) | ms 1080p native |",
            "|---|---|---|---|"]
    for name, c in costs.items():
        rows.append(f"| {name} | " + " | ".join(f"{c[k]:.0f}" if k in c else "–" for k in cols)
                    + " |")
    return "\n".join(rows)


def run(sets: tuple[str, ...], lengths: tuple[int, ...], clips: int, size: int,
        methods: tuple[str, ...], time_flows: bool = True) -> str:
    """Score every method on every set and clip length; the markdown table."""
    import torch

    from ..progress import Progress

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    srcs = sources(sets, clips, size)
    results: Results = {}
    bar = Progress(len(srcs) * len(lengths) * clips, "flow-bench")
    try:
        for name, make in srcs.items():
            for frames in lengths:
                acc: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
                n = 0
                for shot in make(frames):
                    n += 1
                    for method, s in clip_scores(shot, methods).items():
                        acc[method] += s
                    bar.step(f"{name} {frames} clip {n}")
                results[name, frames] = (n, acc)
    finally:
        bar.close()
    text = table(results)
    if time_flows:
        text += "\n\nCPU per flow, one thread (chained methods: one flow per neighbour pair, "\
                "each pair once per clip; direct: 2 per key and in-between)\n\n" \
                + cost_table(timings(methods))
    return text


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m core.eval.flow_bench", description=__doc__)
    p.add_argument("--sets", nargs="+", default=["procedural", "drawings", "openmoji"])
    p.add_argument("--lengths", nargs="+", type=int, default=[8, 24])
    p.add_argument("--clips", type=int, default=6)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--no-timing", action="store_true")
    a = p.parse_args(argv)
    print(run(tuple(a.sets), tuple(a.lengths), a.clips, a.size, tuple(a.methods),
              not a.no_timing))


if __name__ == "__main__":
    main()
