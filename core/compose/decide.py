"""One decision per region: which fill it gets, from all the evidence, and how sure that is.

Evidence, each a share per candidate fill (the palette colours of the keys) for every region
of the in-between:

- ``warp``: the keys' own pixels brought onto the in-between by optical flow
  (``core.motion.keys``), each pixel weighted by how far its warp can be trusted and by how
  near its key is in time;
- ``track``: the previous frame's output brought onto this one by the flow between them
  (shot memory: a region keeps its fill from frame to frame unless the evidence changes);
- ``match``: the counterpart matcher's region in the keys (position, area, shape), weighted
  by its similarity;
- ``net``: the network's colours, voting by nearest palette colour.

Besides the palette colours there is one more candidate, ``KEEP``: the region is not a single
fill (shading, a gradient, a painted background, a texture) and takes the warped keys' own
pixels. Its evidence is how much of the warped keys' pixels there are off the palette or
split between colours, and whether the matched counterpart is not flat.

The decision is a multinomial logit over the candidates, ``p(c) ∝ exp(sum_e a_e s_e(c))``
(plus the ``KEEP`` terms), whose weights are fitted on shots whose region colours are known
(``core.eval.fit_decision``) and shipped in ``decision.yaml``. The chosen fill is the most
probable candidate and its probability is the region's confidence: calibrated on the
fitting data, so "0.8" means about 8 in 10 such regions are right.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from .palette import PaletteLUT
from .segment import Segmentation

EVIDENCE = ("warp", "track", "match", "net")
# Features of the KEEP candidate, in this order: bias, off-palette share of the warped keys,
# their second colour's share, the same two of the tracked previous frame, and a not-flat
# counterpart's similarity.
KEEP_FEATURES = ("bias", "warp_off", "warp_second", "track_off", "track_second", "match_off")
# A pixel at least this far (8-bit RGB distance) from every palette colour is not a fill:
# anti-aliasing and lossy compression keep fill pixels within about 10, the steps of a
# gradient or a painted background are farther.
OFF_PALETTE = 24.0
# px from the lines: a line's anti-aliased rim, where a warp is least exact (an edge that
# moved lands a pixel or two off, and at a disocclusion the flow drags it along)
RIM = 3.0


@dataclass
class Evidence:
    """Per region r (0 = ink) and candidate c (palette colours, then KEEP)."""

    shares: np.ndarray  # float [n+1, len(EVIDENCE), P]: colour shares per evidence
    keep: np.ndarray  # float [n+1, len(KEEP_FEATURES)]: the KEEP candidate's features

    @property
    def n(self) -> int:
        return len(self.shares) - 1


@dataclass(frozen=True)
class Weights:
    colour: np.ndarray  # [len(EVIDENCE)]
    keep: np.ndarray  # [len(KEEP_FEATURES)]

    @classmethod
    def from_dict(cls, d: dict) -> Weights:
        return cls(np.array([float(d["colour"][e]) for e in EVIDENCE]),
                   np.array([float(d["keep"][f]) for f in KEEP_FEATURES]))

    def to_dict(self) -> dict:
        return {"colour": {e: round(float(v), 4) for e, v in zip(EVIDENCE, self.colour)},
                "keep": {f: round(float(v), 4) for f, v in zip(KEEP_FEATURES, self.keep)}}


@lru_cache(maxsize=1)
def shipped_weights() -> Weights:
    """The fitted weights shipped beside this module (``decision.yaml``)."""
    text = resources.files(__package__).joinpath("decision.yaml").read_text()
    return Weights.from_dict(yaml.safe_load(text)["weights"])


def logits(ev: Evidence, w: Weights) -> np.ndarray:
    """[n+1, P+1]: each candidate's score (the palette colours, then KEEP)."""
    colour = np.einsum("rep,e->rp", ev.shares, w.colour)
    return np.concatenate([colour, (ev.keep @ w.keep)[:, None]], 1)


def probabilities(ev: Evidence, w: Weights) -> np.ndarray:
    z = logits(ev, w)
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def decide(ev: Evidence, w: Weights | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(candidate per region: palette index or P for KEEP, its probability)."""
    p = probabilities(ev, w or shipped_weights())
    chosen = np.argmax(p, 1)
    return chosen, p[np.arange(len(p)), chosen]


def image_votes(seg: Segmentation, img: np.ndarray, weight: np.ndarray, lut: PaletteLUT,
                step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region, from every ``step``-th pixel of ``img`` (uint8 HxWx3, on the frame's grid)
    weighted by ``weight`` (HxW in [0, 1]) and by distance from the lines (the rim of a line
    is anti-aliasing and where a warp is least exact): (colour shares [n+1, P], off-palette
    share [n+1], second colour's share [n+1]). Shares are of the region's sampled pixels, so
    a region the evidence covers only in part gets small shares. Regions the grid misses
    are sampled at every pixel."""
    n, p = seg.n, max(len(lut.palette), 1)
    idx = seg.samples(step)
    lab = seg.labels.ravel()[idx].astype(np.int64)
    rim = np.clip(seg.dist.ravel()[idx] / RIM, 0.1, 1.0)
    wgt = weight.ravel()[idx] * rim
    bins = lut.bins(img.reshape(-1, 3)[idx])
    off = lut.dist[bins] > OFF_PALETTE
    count = np.bincount(lab, rim, n + 1)
    votes = np.bincount(lab[~off] * p + lut.index[bins[~off]], wgt[~off], (n + 1) * p)
    off_sum = np.bincount(lab[off], wgt[off], n + 1)
    count = np.maximum(count, 1e-9)
    votes = votes.reshape(n + 1, p) / count[:, None]
    second = np.sort(votes, 1)[:, -2] if p > 1 else np.zeros(n + 1)
    return votes, off_sum / count, second
