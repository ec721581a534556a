"""Fit the composition's region decision (``core.compose.decide``) on shots whose region
colours are known, and write ``core/compose/decision.yaml``.

Every in-between of each training shot goes through the real ``Colorizer`` (the product
path: network, motion, composition) with its evidence kept. Each region of the in-between
whose true fill is known becomes one sample: the region's evidence and the right candidate,
a palette colour of the keys (the region is one colour in the truth) or ``KEEP`` (it is
not: shading, a gradient, a painted background). Regions whose true colour is in none of
the keys cannot be right by any choice and are left out.

The weights maximise the likelihood of the right candidates (multinomial logit, L2 penalty,
Adam). Procedural shots use training seeds (below ``EVAL_SEED_BASE``), drawings and
OpenMoji their ``train`` splits, so the evaluation's held-out shots never shape the decision.
Fitted on procedural and drawings alone, the decision gave two large one-colour OpenMoji
regions the keys' pixels at near ties (held-out OpenMoji clips of 8: -0.57 dB; -0.42 with
OpenMoji in the fit). The shots are taken at both of the evaluation's clip lengths
(``--frames 8,24``): keys 23 frames apart leave more, and larger, regions that no key shows,
and a decision fitted on clips of 8 alone trusted the warp's opinion there too much
(held-out drawings and openmoji, clips of 24: -0.9 and -0.5 dB).

    python -m core.eval.fit_decision --shots 16 --drawings 10 --openmoji 8 --frames 8,24
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml

from ..compose.decide import (
    COLOUR_FEATURES,
    EVIDENCE,
    KEEP_FEATURES,
    Evidence,
    Weights,
    colour_features,
    shipped_weights,
)
from ..compose.match import MIN_AREA
from ..compose.segment import Segmentation
from ..data.procedural import Shot
from ..engine.colorizer import Colorizer
from ..engine.plan import Reference
from ..imageio import atomic_write
from ..progress import Progress
from .regions import AGREE
from .regions import TOL as FILL_TOL
from .shotsets import shot_set

TOL = round(FILL_TOL * 255)  # the evaluation's "one fill" rule (``regions``), in 8 bits
TRUTH_RIM = 2.0  # px from the lines where a region's true fill is read: the anti-aliased rim is
# neither fill nor line (``decide.RIM`` is the votes' rim ramp, another thing)
L2 = 1e-3  # keeps weights finite where a feature separates the samples perfectly


# One judged region: (shares [E, P], keep features [F], thinness, right candidate)
Sample = tuple[np.ndarray, np.ndarray, float, int]


def samples(shot: Shot, colorizer: Colorizer) -> Iterator[Sample]:
    """(shares [E, P], keep features [F], thinness, right candidate) per judged region of
    every in-between of ``shot`` (keys: its first and last frames)."""
    last = len(shot.color) - 1
    with tempfile.TemporaryDirectory(prefix="inkpaint-fit-") as tmp:
        lineart, color = shot.write(Path(tmp), colours=[0, last])
        refs = [Reference(color[0], 0), Reference(color[last], last)]
        for cf in colorizer.colorize(lineart, refs):
            if cf.detail is None:
                continue  # a key or a held cel: nothing was decided
            yield from _region_samples(*cf.detail, shot.color[cf.frame])


def _region_samples(seg: Segmentation, ev: Evidence, palette: np.ndarray, true: np.ndarray
                    ) -> Iterator[Sample]:
    inner = (seg.labels > 0) & (seg.dist >= TRUTH_RIM)
    lab = seg.labels[inner]
    px = true[inner].astype(np.int16)
    p = ev.shares.shape[2]
    if len(palette) != p:
        return  # keys without a flat fill: KEEP is the only candidate, nothing to fit
    d = np.abs(px[:, None, :] - palette[None].astype(np.int16)).max(2)  # [N, P]
    nearest = np.argmin(d, 1)
    exact = d[np.arange(len(d)), nearest] <= TOL
    area = np.bincount(lab, minlength=seg.n + 1)
    hits = np.zeros((seg.n + 1, p), np.int64)
    np.add.at(hits, (lab[exact], nearest[exact]), 1)
    for r in range(1, seg.n + 1):
        if area[r] < MIN_AREA:
            continue
        best = int(np.argmax(hits[r]))
        if hits[r, best] >= AGREE * area[r]:
            yield ev.shares[r], ev.keep[r], float(ev.thin[r]), best
        elif hits[r].sum() < 0.5 * area[r]:  # mostly off the palette: shading, a gradient
            yield ev.shares[r], ev.keep[r], float(ev.thin[r]), p


def _arrays(data: list[Sample]):
    """The samples padded to the largest palette: (colour features [N, C, P+1], valid
    [N, P+1], keep features [N, F], right candidate [N], P)."""
    pmax = max(s.shape[1] for s, _, _, _ in data)
    n, e, f = len(data), len(EVIDENCE), len(KEEP_FEATURES)
    shares = np.zeros((n, e, pmax + 1))
    valid = np.zeros((n, pmax + 1), bool)
    keep = np.zeros((n, f))
    thin = np.zeros(n)
    y = np.zeros(n, np.int64)
    for i, (s, k, t, c) in enumerate(data):
        p = s.shape[1]
        shares[i, :, :p] = s
        valid[i, :p] = True
        valid[i, pmax] = True
        keep[i] = k
        thin[i] = t
        y[i] = pmax if c == p else c
    return colour_features(shares, keep, thin), valid, keep, y, pmax


def _forward(theta: np.ndarray, feats: np.ndarray, valid: np.ndarray, keep: np.ndarray,
             pmax: int) -> np.ndarray:
    e = feats.shape[1]
    z = np.einsum("ncp,c->np", feats, theta[:e])
    z[:, pmax] = keep @ theta[e:]
    z = np.where(valid, z, -np.inf)
    z -= z.max(1, keepdims=True)
    prob = np.exp(z)
    return prob / prob.sum(1, keepdims=True)


def score(data: list[Sample], w: Weights) -> dict:
    """How often the decision with weights ``w`` is right, overall and by confidence (is a
    confidence of 0.5 or more right at least 9 times in 10?)."""
    feats, valid, keep, y, pmax = _arrays(data)
    n = len(y)
    prob = _forward(np.concatenate([w.colour, w.keep]), feats, valid, keep, pmax)
    chosen = np.argmax(prob, 1)
    conf = prob[np.arange(n), chosen]
    right = chosen == y
    sure = conf >= 0.5
    return {"regions": n, "keep_regions": int((y == pmax).sum()),
            "accuracy": round(float(right.mean()), 4),
            "nll": round(float(-np.log(prob[np.arange(n), y] + 1e-12).mean()), 4),
            "right_when_conf_ge_0.5": round(float(right[sure].mean()), 4) if sure.any() else None,
            "share_conf_ge_0.5": round(float(sure.mean()), 4),
            "right_when_conf_lt_0.5": round(float(right[~sure].mean()), 4)
            if (~sure).any() else None}


def fit(data: list[Sample], start: Weights,
        steps: int = 1500, lr: float = 0.05) -> tuple[Weights, dict]:
    """Maximum-likelihood weights of the multinomial logit (Adam on the mean negative
    log-likelihood plus ``L2``), and their ``score`` on the same data."""
    feats, valid, keep, y, pmax = _arrays(data)
    n, e = len(y), len(COLOUR_FEATURES)
    theta = np.concatenate([start.colour, start.keep])
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)

    for it in range(1, steps + 1):
        prob = _forward(theta, feats, valid, keep, pmax)
        g = prob.copy()
        g[np.arange(n), y] -= 1  # d(-log p_y)/dz
        grad = np.concatenate([np.einsum("np,ncp->c", g, feats),
                               keep.T @ g[:, pmax]]) / n + 2 * L2 * theta
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad ** 2
        theta -= lr * (m / (1 - 0.9 ** it)) / (np.sqrt(v / (1 - 0.999 ** it)) + 1e-8)
    w = Weights(theta[:e], theta[e:])
    return w, score(data, w)



def shots(counts: Mapping[str, int], lengths: Sequence[int], size: int,
          held_out: bool = False) -> Iterator[Shot]:
    """Training shots of each set in ``counts`` (procedural from ``shotsets.FIT_SEED_BASE``
    on, clip art and OpenMoji from their train splits), or the evaluation's held-out ones, at
    each clip length in ``lengths`` (the evaluation's two protocols differ: keys 23 frames
    apart leave more regions that no key shows)."""
    for frames in lengths:
        for name, n in counts.items():
            if n:
                yield from shot_set(name, n, size, train=not held_out)[1](frames)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m core.eval.fit_decision", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", type=int, default=24, help="procedural training shots")
    ap.add_argument("--drawings", type=int, default=12, help="clip-art training shots")
    ap.add_argument("--openmoji", type=int, default=0, help="OpenMoji training shots")
    ap.add_argument("--frames", default="8",
                    help="clip lengths, comma-separated (e.g. 8,24: both of the evaluation's)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--model", default="lite")
    ap.add_argument("--held-out", action="store_true",
                    help="score the shipped decision on held-out shots instead of fitting")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parents[1] / "compose" / "decision.yaml")
    a = ap.parse_args(argv)
    lengths = [int(f) for f in a.frames.split(",")]
    colorizer = Colorizer(a.model, size=a.size)
    colorizer.keep_evidence = True
    data: list = []
    counts = {"procedural": a.shots, "drawings": a.drawings, "openmoji": a.openmoji}
    bar = Progress(sum(counts.values()) * len(lengths), "fit-decision")
    for i, shot in enumerate(shots(counts, lengths, a.size, a.held_out)):
        data += list(samples(shot, colorizer))
        bar.step(f"shot {i + 1}, {len(data)} regions")
    bar.close()
    if a.held_out:
        print(yaml.safe_dump({"held_out": score(data, shipped_weights())}, sort_keys=False))
        return
    weights, stats = fit(data, shipped_weights())
    args = sys.argv[1:] if argv is None else argv
    doc = {"fitted": {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                      "command": " ".join(["python -m core.eval.fit_decision", *args]),
                      "procedural_shots": a.shots, "drawing_shots": a.drawings,
                      "openmoji_shots": a.openmoji,
                      "frames": lengths, "size": a.size, "model": a.model, **stats},
           "weights": weights.to_dict()}
    head = ("# The composition's region decision (core/compose/decide.py): a multinomial logit\n"
            "# over the candidate fills, fitted by core/eval/fit_decision.py on training shots\n"
            "# whose region colours are known. Do not edit by hand: re-fit.\n")
    atomic_write(a.out, (head + yaml.safe_dump(doc, sort_keys=False)).encode())
    print(yaml.safe_dump(doc, sort_keys=False))


if __name__ == "__main__":
    main()
