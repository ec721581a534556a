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

A region that no evidence sees well (a limb piece that moved far, a part that comes out from
behind another) gets shares near zero from every source, and the decision used to fall back
on its ``KEEP`` prior: the warped keys' pixels, which there are whatever the flow dragged in.
The warp's own opinion still counts there if the region is thin: which colour its few,
barely valid pixels show, whatever their number (``warp_unseen``, ``colour_features``). On
12 held-out procedural clips of 8, in the one-colour regions that no source covered by a
tenth, those pixels named the right fill in 104 of the 168 where there were any; the
network's vote in 31 of 227.

The decision is a multinomial logit over the candidates, ``p(c) ∝ exp(sum_f a_f x_f(c))``
over the colour features (plus the ``KEEP`` terms), whose weights are fitted on shots whose
region colours are known (``core.eval.fit_decision``) and shipped in ``decision.yaml``. The
chosen fill is the most probable candidate and its probability is the region's confidence:
calibrated on the fitting data, so "0.8" means about 8 in 10 such regions are right.
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
# The logit's colour features: the evidence's shares, then the warp's opinion weighted by how
# unseen and how thin the region is (``colour_features``).
COLOUR_FEATURES = (*EVIDENCE, "warp_unseen")
# Features of the KEEP candidate, in this order: bias, off-palette share of the warped keys,
# their second colour's share, the same two of the tracked previous frame, and a not-flat
# counterpart's similarity.
KEEP_FEATURES = ("bias", "warp_off", "warp_second", "track_off", "track_second", "match_off")
# The sources whose coverage says how well a region is seen, each with its KEEP feature of
# paint that is not one palette colour: a valid warp, the tracked previous frame, a similar
# counterpart (not the network's vote, which every region has in full). The warp comes first.
SEEING = (("warp", "warp_off"), ("track", "track_off"), ("match", "match_off"))
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
    thin: np.ndarray  # float [n+1] in (0, 1]: how thin the region is (``thinness``)

    @property
    def n(self) -> int:
        return len(self.shares) - 1


def thinness(seg: Segmentation, idx: np.ndarray) -> np.ndarray:
    """[n+1] per region, from the pixels ``idx`` (flat indices): the line width over the
    region's depth (its largest distance from the lines), at most 1, squared. A limb piece a
    line or two wide is all rim, so what its rim shows is what it is; deep inside a large
    region, what the rim shows is what lies around it (``colour_features``). Squared: on the
    training shots (clips of 8 and 24) the ratio and its square fit alike (464 and 463 of
    6,934 regions wrong), and with the ratio alone openmoji's mid-sized parts, whose lines
    are thick (8 px at 256 px), still counted as half thin: one 15 px deep part took a
    wrong colour from its rim in clips of 8 (-0.28 dB on that set)."""
    depth = np.zeros(seg.n + 1)
    np.maximum.at(depth, seg.labels.ravel()[idx], seg.dist.ravel()[idx])
    return np.square(seg.line_width / np.maximum(depth, seg.line_width))


def colour_features(shares: np.ndarray, keep: np.ndarray, thin: np.ndarray) -> np.ndarray:
    """[..., len(COLOUR_FEATURES), P] from evidence shares [..., len(EVIDENCE), P], the KEEP
    features [..., len(KEEP_FEATURES)] and the regions' ``thinness`` [...]: the shares as
    they are, and the warp's opinion (its share of each colour among all its pixels' weight,
    off-palette ones included) times how unseen the region is (1 - the largest coverage of
    the ``SEEING`` sources) times how thin it is. A region a valid warp, the track or a
    close counterpart covers gets nothing from it; a thin piece they all miss gets the
    warp's vote at full strength, however few of its pixels were valid. A large region
    they miss (a part that comes into view, an occluder that moved far) gets little: its
    few valid pixels lie on its rim, where the flow drags in what surrounds it. In the
    regions of 12 held-out procedural clips of 8 that no source covered by half, the warp's
    opinion named the right fill in 79 of 107 up to 511 px, in 18 of 41 larger ones; in 4
    held-out drawing clips of 24, in 25 of 35 up to 7 px deep, in 5 of 25 deeper ones."""
    cover = shares.sum(-1)  # [..., E]
    cover = np.stack([cover[..., EVIDENCE.index(e)] + keep[..., KEEP_FEATURES.index(off)]
                      for e, off in SEEING], -1)
    unseen = (1 - np.minimum(cover.max(-1), 1.0)) * thin
    warp = shares[..., EVIDENCE.index("warp"), :] / np.maximum(cover[..., 0], 1e-12)[..., None]
    return np.concatenate([shares, (warp * unseen[..., None])[..., None, :]], -2)


@dataclass(frozen=True)
class Weights:
    colour: np.ndarray  # [len(COLOUR_FEATURES)]
    keep: np.ndarray  # [len(KEEP_FEATURES)]

    @classmethod
    def from_dict(cls, d: dict) -> Weights:
        return cls(np.array([float(d["colour"][e]) for e in COLOUR_FEATURES]),
                   np.array([float(d["keep"][f]) for f in KEEP_FEATURES]))

    def to_dict(self) -> dict:
        return {"colour": {e: round(float(v), 4) for e, v in zip(COLOUR_FEATURES, self.colour)},
                "keep": {f: round(float(v), 4) for f, v in zip(KEEP_FEATURES, self.keep)}}


@lru_cache(maxsize=1)
def shipped_weights() -> Weights:
    """The fitted weights shipped beside this module (``decision.yaml``)."""
    text = resources.files(__package__).joinpath("decision.yaml").read_text()
    return Weights.from_dict(yaml.safe_load(text)["weights"])


def logits(ev: Evidence, w: Weights) -> np.ndarray:
    """[n+1, P+1]: each candidate's score (the palette colours, then KEEP)."""
    colour = np.einsum("rfp,f->rp", colour_features(ev.shares, ev.keep, ev.thin), w.colour)
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
                idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region, from the pixels ``idx`` (flat indices, ``Segmentation.samples``: a grid,
    and every pixel of the regions it misses) of ``img`` (uint8 HxWx3, on the frame's grid)
    weighted by ``weight`` (HxW in [0, 1]) and by distance from the lines (the rim of a line
    is anti-aliasing and where a warp is least exact): (colour shares [n+1, P], off-palette
    share [n+1], second colour's share [n+1]). Shares are of the region's sampled pixels, so
    a region the evidence covers only in part gets small shares."""
    n, p = seg.n, max(len(lut.palette), 1)
    lab = seg.labels.ravel()[idx].astype(np.int64)
    rim = np.clip(seg.dist.ravel()[idx] / RIM, 0.1, 1.0)
    wgt = weight.ravel()[idx] * rim
    index, dist = lut.nearest(img.reshape(-1, 3)[idx])
    off = dist > OFF_PALETTE
    count = np.bincount(lab, rim, n + 1)
    votes = np.bincount(lab[~off] * p + index[~off], wgt[~off], (n + 1) * p)
    off_sum = np.bincount(lab[off], wgt[off], n + 1)
    count = np.maximum(count, 1e-9)
    votes = votes.reshape(n + 1, p) / count[:, None]
    second = np.sort(votes, 1)[:, -2] if p > 1 else np.zeros(n + 1)
    return votes, off_sum / count, second
