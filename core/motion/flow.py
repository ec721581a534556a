"""Dense correspondence between line-art frames: where each pixel of one drawing is in another.

Line art is a poor input for optical flow as it is: thin lines on flat paper, so almost every
pixel is textureless and the flow there is a guess. The *guide* image gives every paper pixel
a gradient: the line image blended with its distance field (the same distance fields the
network reads, paper sec. 3.1), so a pixel between two lines is matched by its distances to
both. OpenCV's DIS (Kroeger et al. 2016) runs on the guides at a bounded working size (flow
is smooth at the scale of a region, and 1080p flow at full size costs ~10x for nothing), and
the flow is scaled back to native size.

A forward-backward check (Sundaram et al. 2010) says where the flow can be trusted: following
the flow from A to B and then B's flow back must return to the start. Occluded and
disoccluded pixels, and pixels whose match was a guess, fail it.

Between distant drawings (an in-between and a key many frames away) DIS loses parts that
moved more than their own width, or finds them and fails the check. Chained through the
frames between, each step is a small motion DIS follows, and the steps compose: on the
flow-warp anchor, chaining gains 0.7-1.9 dB PSNR and 0.4-2.1 dB moving-part PSNR over the
direct flow on held-out procedural and OpenMoji clips of 8 and 24 frames; blending the
direct and the chained warp gains most on the moving parts. RIFE's learned flow is no better
on the moving parts than direct DIS, at 19x the CPU (``core.eval.flow_bench``, README
"Motion").

Conventions: ``flow(a, b)`` is the field ``F`` with ``a(x) ~ b(x + F(x))``, so
``warp(image_b, F)`` brings ``b``'s pixels onto ``a``'s grid (backward warping: every target
pixel gets exactly one value, no holes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..preprocess import distance_field

# Flow is computed with the long side at most this many px: DIS cost grows with the pixel
# count while animation motion is smooth over regions tens of px wide; 512 keeps a 1080p
# frame's flows at ~30 ms each on one core.
FLOW_SIDE = 512
# Distance-field range in px at the flow size: about a region's half-width at 512 px, so the
# guide varies across a region instead of saturating (a saturated guide is flat again).
GUIDE_RANGE = 24.0
# Sundaram et al.'s forward-backward bound: |F + B|^2 < FB_REL (|F|^2 + |B|^2) + FB_ABS
# (in flow-size px^2). Their published values; the relative term lets fast motion be off by
# a few percent of its length.
FB_REL, FB_ABS = 0.01, 0.5
# The colourizer's key flows refine down to the pyramid level whose long side is at most this
# many px (``flow(..., fine=True)``): the MEDIUM preset stops at half its input, which at 512
# px (every frame of 1080p and up) is 256 px; a frame whose guide is already 256 px or less
# would stop at 128 px, where a limb is a pixel or two wide. Same level, so the same cost per
# flow, as at 1080p.
FINEST_SIDE = 256


@dataclass(frozen=True)
class Guide:
    """A line-art frame prepared for flow: the guide image at flow size and the scale to
    native size."""

    image: np.ndarray  # uint8 h x w
    native: tuple[int, int]  # H, W of the line art

    @property
    def scale(self) -> float:
        return self.native[1] / self.image.shape[1]


def guide(mask: np.ndarray) -> Guide:
    """The flow guide of a line mask (``line_art(pixels)[1]``, 1 = line) at native size."""
    small = at_flow_size(mask)
    dist = distance_field(small, GUIDE_RANGE)
    img = 0.5 * (1.0 - small) + 0.5 * dist
    return Guide(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8), np.shape(mask))


def at_flow_size(image: np.ndarray) -> np.ndarray:
    """A native-size single-channel image (float32) area-resized so that its long side is at
    most ``FLOW_SIDE``: the size every flow of it is computed at."""
    image = np.asarray(image, np.float32)
    h, w = flow_size(image.shape)
    if (h, w) == image.shape:
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def flow_size(shape: tuple[int, int]) -> tuple[int, int]:
    """(h, w) at which the flows of native (h, w) frames are computed (``at_flow_size``)."""
    h, w = shape[:2]
    s = min(1.0, FLOW_SIDE / max(h, w))
    if s == 1.0:
        return h, w
    return max(1, round(h * s)), max(1, round(w * s))


def _dis(side: int | None = None) -> cv2.DISOpticalFlow:
    """A new DIS per flow (12 us): OpenCV's DIS lowers its finest scale for small images and
    keeps it, so a shared one made every later flow depend on the sizes seen before it (a
    small shot coloured earlier in a Blender, Nuke or evaluation process changed the next).
    With ``side`` (the guide's long side) it refines down to ``FINEST_SIDE``."""
    # MEDIUM: the preset that resolves motions of tens of px at 512 px (FAST's coarser
    # patch search loses limbs that move more than their width)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    if side is not None:
        dis.setFinestScale(max(0, math.ceil(math.log2(side / FINEST_SIDE))))
    return dis


def flow(a: Guide, b: Guide, init: np.ndarray | None = None, fine: bool = False
         ) -> np.ndarray:
    """The flow field from ``a`` to ``b`` at flow size (float32 h x w x 2, flow-size px).
    ``init``: a guess of it (flow size) that DIS refines from its coarsest level on, instead
    of starting from no motion; ``fine``: refined down to ``FINEST_SIDE`` px (the
    preset's own finest level otherwise: the flow-warp anchor's)."""
    if a.image.shape != b.image.shape:
        raise ValueError(f"guides differ in size: {a.image.shape} vs {b.image.shape}")
    dis = _dis(max(a.image.shape) if fine else None)
    return dis.calc(a.image, b.image, None if init is None else init.copy())


def warp(image: np.ndarray, f: np.ndarray, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """``image`` (of the frame ``f`` points into) resampled onto the grid ``f`` starts from.

    ``f`` may be at flow size and ``image`` at native size: the flow is resized and scaled
    to the image. Bilinear, so an exactly zero flow returns the image bit for bit."""
    return resample(image, sampling(f, image.shape[:2]), border)


def sampling(f: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel of a native ``hw`` grid samples along ``f`` (x and y maps): made once
    when several images follow one flow (a key's pixels and its seams), as resizing the flow
    to 1080p costs about as much as the resampling itself."""
    h, w = hw
    f = native_flow(f, (h, w))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return gx + f[..., 0], gy + f[..., 1]


def resample(image: np.ndarray, maps: tuple[np.ndarray, np.ndarray],
             border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """``image`` resampled (bilinear) at ``sampling``'s maps."""
    return cv2.remap(image, *maps, cv2.INTER_LINEAR, borderMode=border)


def native_flow(f: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A flow field resized to ``hw`` with its vectors scaled to match."""
    if f.shape[:2] == hw:
        return f
    sy, sx = hw[0] / f.shape[0], hw[1] / f.shape[1]
    out = cv2.resize(f, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= sx
    out[..., 1] *= sy
    return out


def consistency(fwd: np.ndarray, bwd: np.ndarray) -> np.ndarray:
    """Per-pixel validity of ``fwd`` (a -> b) given ``bwd`` (b -> a), both at flow size:
    float32 in [0, 1], 1 where the round trip returns within Sundaram's bound, falling off
    smoothly to 0 at twice the bound (a hard cut makes speckled masks)."""
    back = warp(bwd, fwd)
    err = _square_norm(fwd + back)
    bound = FB_REL * (_square_norm(fwd) + _square_norm(back)) + FB_ABS
    return np.clip(2.0 - err / bound, 0.0, 1.0).astype(np.float32)


def _square_norm(f: np.ndarray) -> np.ndarray:
    """|v|^2 of each vector of a flow field: what np.sum(f ** 2, axis=2) gives, without
    numpy's slow reduction over a 2-long last axis."""
    return f[..., 0] ** 2 + f[..., 1] ** 2


@dataclass
class Motion:
    """The flow from a frame to another and how far it can be trusted, at flow size."""

    flow: np.ndarray  # h x w x 2
    valid: np.ndarray  # h x w in [0, 1]


def follow(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """The flow field ``first`` (a -> b) followed by ``then`` (b -> c): a -> c. Each pixel
    of a follows its flow into b and picks up b's flow there."""
    return first + warp(then, first)


def chain(first: Motion, then: Motion) -> Motion:
    """``first`` (a -> b) followed by ``then`` (b -> c): a -> c (``follow``), trusted as far
    as both steps are. An engine walking a shot keeps ``a -> key`` and extends it one
    neighbour at a time."""
    return Motion(follow(first.flow, then.flow), first.valid * warp(then.valid, first.flow))


def motion(a: Guide, b: Guide) -> Motion:
    """Where ``a``'s pixels are in ``b``, checked both ways (DIS; the colourizer's key flows
    start from the chain of neighbour flows instead: ``Paths.motion``)."""
    fwd = flow(a, b)
    return Motion(fwd, consistency(fwd, flow(b, a)))
