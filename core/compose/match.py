"""Region-to-region matching between a frame and its references, without a network.

This is what paint-bucket colouring tools do: each region of the frame is paired with the
reference region it most resembles by position, area and shape, and then by neighbours
(a region whose neighbours were given the colours of the candidate's neighbours is more
likely the same part). It serves two purposes: the network-free baseline of the evaluation
(``core.eval.regions.match_colours``), and the "has this region a counterpart in any
reference at all?" term of the composition's confidence (a hand that comes into view has
none, and the network is guessing there).

Features per region: centroid (as a fraction of the frame diagonal), log area, and the
elongation and orientation of its second moments. Similarity = exp(-cost / 2) with
cost = sum of squared, scaled differences; scales are in ``SCALES``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .segment import Segmentation, adjacency, region_stats

SCALES = {"pos": 0.08, "area": 0.7, "shape": 0.6, "neigh": 0.5}
MIN_AREA = 6  # px: smaller regions are specks, matched by nobody and judged by nobody
_CHUNK = 512


@dataclass
class RegionFeatures:
    pos: np.ndarray  # [n+1, 2] centroid / diagonal
    log_area: np.ndarray  # [n+1]
    shape: np.ndarray  # [n+1, 3] log elongation, elongation-weighted cos 2a, sin 2a
    area: np.ndarray  # [n+1] px
    pairs: np.ndarray  # [E, 2] adjacent regions (i < j), empty if not computed


def features(seg: Segmentation, step: int = 1, neighbours: bool = False) -> RegionFeatures:
    """Region features from every ``step``-th pixel (regions missed get area 0)."""
    st = region_stats(seg.labels, seg.n, step)
    h, w = seg.shape
    diag = float(np.hypot(h, w))
    pos = np.stack([st["cx"], st["cy"]], 1) / diag
    mxx, myy, mxy = st["mxx"], st["myy"], st["mxy"]
    tr = mxx + myy
    det_term = np.sqrt(np.maximum((mxx - myy) ** 2 / 4 + mxy**2, 0))
    l1 = tr / 2 + det_term
    l2 = np.maximum(tr / 2 - det_term, 0)
    elong = 0.5 * np.log((l1 + 0.25) / (l2 + 0.25))
    ang2 = np.arctan2(2 * mxy, mxx - myy)
    wgt = np.tanh(elong)
    shape = np.stack([elong, wgt * np.cos(ang2), wgt * np.sin(ang2)], 1)
    pairs = adjacency(seg.filled(), seg.n) if neighbours else np.zeros((0, 2), np.int64)
    return RegionFeatures(pos, np.log(np.maximum(st["area"], 1)), shape, st["area"], pairs)


def _cost(t: RegionFeatures, ti: np.ndarray, r: RegionFeatures) -> np.ndarray:
    """Matching cost [len(ti), n_r + 1] (column 0, the ink, is never a match)."""
    dp = np.sum((t.pos[ti, None, :] - r.pos[None]) ** 2, 2) / SCALES["pos"] ** 2
    da = (t.log_area[ti, None] - r.log_area[None]) ** 2 / SCALES["area"] ** 2
    ds = np.sum((t.shape[ti, None, :] - r.shape[None]) ** 2, 2) / SCALES["shape"] ** 2
    cost = dp + da + ds
    cost[:, 0] = np.inf
    cost[:, r.area < MIN_AREA] = np.inf
    return cost


def best_matches(target: RegionFeatures, refs: list[RegionFeatures],
                 extra: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """For each target region: (reference number, region in it, similarity in [0, 1]).

    ``extra[k]`` adds a cost matrix [n_t + 1, n_k + 1] for reference k (the neighbour term).
    Target regions below ``MIN_AREA`` get similarity 1 (nobody judges specks)."""
    n = len(target.area)
    best_ref = np.zeros(n, np.int32)
    best_reg = np.zeros(n, np.int32)
    best_cost = np.full(n, np.inf)
    for k, r in enumerate(refs):
        for lo in range(0, n, _CHUNK):
            ti = np.arange(lo, min(n, lo + _CHUNK))
            c = _cost(target, ti, r)
            if extra is not None:
                c = c + extra[k][ti]
            j = np.argmin(c, 1)
            cj = c[np.arange(len(ti)), j]
            better = cj < best_cost[ti]
            best_cost[ti[better]] = cj[better]
            best_ref[ti[better]] = k
            best_reg[ti[better]] = j[better]
    sim = np.exp(-best_cost / 2)
    sim[target.area < MIN_AREA] = 1.0
    sim[0] = 1.0
    return best_ref, best_reg, sim


def neighbour_cost(target: RegionFeatures, colour_t: np.ndarray, ref: RegionFeatures,
                   colour_r: np.ndarray, n_colours: int) -> np.ndarray:
    """[n_t + 1, n_r + 1] cost of pairing regions whose neighbours' colours differ:
    (1 - Jaccard index of the two sets of neighbour colours) / scale, squared."""
    def colour_sets(f: RegionFeatures, col: np.ndarray) -> np.ndarray:
        m = np.zeros((len(f.area), n_colours), np.float32)
        if len(f.pairs):
            i, j = f.pairs[:, 0], f.pairs[:, 1]
            ok_j, ok_i = col[j] >= 0, col[i] >= 0
            m[i[ok_j], col[j][ok_j]] = 1
            m[j[ok_i], col[i][ok_i]] = 1
        m[:, :] *= (np.arange(len(f.area)) > 0)[:, None]
        return m

    a, b = colour_sets(target, colour_t), colour_sets(ref, colour_r)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None] - inter
    jac = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return ((1 - jac) / SCALES["neigh"]) ** 2


def match_regions(target: RegionFeatures, refs: list[RegionFeatures],
                  ref_colours: list[np.ndarray], n_colours: int,
                  rounds: int = 2, extra: list[np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Colour index (into a shared colour list of ``n_colours``; -1 = none) and similarity of
    every target region: best match by features, then ``rounds`` of re-matching with the
    neighbour term computed from the colours the previous round gave. ``extra[k]``, a cost
    matrix [n_t + 1, n_k + 1] for reference k, joins every round (another cue of sameness,
    such as ``core.eval.semantic``'s pooled ViT features)."""
    offsets = np.cumsum([0] + [len(c) for c in ref_colours])
    table = np.concatenate([np.asarray(c, np.int64) for c in ref_colours])
    k_ref, reg, sim = best_matches(target, refs, extra)
    colour = table[offsets[k_ref] + reg]
    colour[0] = -1
    for _ in range(rounds):
        if not len(target.pairs):
            break
        costs = [neighbour_cost(target, colour, r, c, n_colours)
                 for r, c in zip(refs, ref_colours)]
        if extra is not None:
            costs = [a + b for a, b in zip(costs, extra)]
        k_ref, reg, sim = best_matches(target, refs, costs)
        colour = table[offsets[k_ref] + reg]
        colour[0] = -1
    return colour, sim
