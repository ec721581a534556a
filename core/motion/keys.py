"""The painted keys brought onto an in-between by optical flow on line art.

Each key is warped onto the in-between's grid (``flow.warp``) and weighted per pixel by
three things: whether its flow passed the forward-backward check, how well the warped key's
guide matches the in-between's guide there (the *warp error*: after a correct warp the two
drawings coincide), and how near the key is in time. Where any key's warp holds, its own
painted pixels are the answer: shading, gradients, painted backgrounds and textures come
through at native resolution, and a frame that barely moved comes out as its key.

This is also the *flow-warp anchor* the evaluation sets beside the product: with no region
logic at all it is what a plain optical-flow tool gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .flow import Guide, Motion, motion, resample, sampling, warp

# Warp error (mean absolute guide difference over a window, 0..255 guide units) at which a
# key's weight falls to 1/e (Gaussian fall-off): guides of two drawings that coincide differ
# by a few units of anti-aliasing (weight > 0.9), a line off by its width by tens (~0).
WARP_ERROR_SCALE = 12.0
ERROR_WINDOW = 7  # px at flow size: about one line width plus its anti-aliasing each side
# Weight floor, so a pixel whose every key failed still gets the temporally nearer key's
# (warped) colour instead of a division by zero; small enough never to outvote a valid key.
FLOOR = 1e-3


@dataclass
class WarpedKey:
    rgb: np.ndarray  # native H x W x C, the key's pixels on the in-between's grid
    weight: np.ndarray  # native H x W, validity x warp agreement x temporal weight
    valid: np.ndarray  # native H x W, validity x warp agreement (no temporal term)
    # native H x W uint8, the key's seams (``RefCel.seams``) on the in-between's grid
    seams: np.ndarray | None = None


@dataclass
class FrameMotion:
    """What motion tells the composition about one in-between: its keys' pixels warped onto
    it, and the previous frame's output warped onto it (shot memory; None for the first)."""

    keys: list[WarpedKey]
    track: WarpedKey | None = None


def temporal_weights(frame: int, key_frames: Sequence[int]) -> np.ndarray:
    """Linear interpolation weights of the keys bracketing ``frame`` (inverse distance for
    more than two), summing to 1: the nearer key counts more."""
    d = np.array([abs(frame - k) for k in key_frames], np.float64)
    if (d == 0).any():
        return (d == 0).astype(np.float64) / (d == 0).sum()
    w = 1.0 / d
    return w / w.sum()


def agreement(target: Guide, key: Guide, m: Motion) -> np.ndarray:
    """Validity of a key's warp at flow size: the forward-backward check times the local
    warp error of the guides."""
    warped = warp(key.image, m.flow)
    err = cv2.blur(cv2.absdiff(target.image, warped).astype(np.float32),
                   (ERROR_WINDOW, ERROR_WINDOW))
    return m.valid * np.exp(-np.square(err / WARP_ERROR_SCALE))


def warp_key(target: Guide, key: Guide, rgb: np.ndarray, t_weight: float,
             m: Motion | None = None, seams: np.ndarray | None = None) -> WarpedKey:
    """One key's pixels on ``target``'s grid with their weights, at native size. ``m`` is
    the motion ``target -> key`` when it is known another way (a chain of neighbour flows, a
    learned flow: ``core.eval.flow_bench``); by default DIS between the guides. ``seams``
    (the key's, native size) come along by the same warp."""
    m = m or motion(target, key)
    ok = agreement(target, key, m)
    hw = target.native
    valid = cv2.resize(ok, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR) if ok.shape != hw \
        else ok
    at = sampling(m.flow, rgb.shape[:2])
    return WarpedKey(resample(rgb, at), np.maximum(valid * t_weight, FLOOR * t_weight), valid,
                     None if seams is None else resample(seams, at))


def total_weight(keys: Sequence[WarpedKey]) -> np.ndarray:
    """The keys' weights summed per pixel: np.sum of them stacked, without the stack."""
    total = keys[0].weight
    for k in keys[1:]:
        total = total + k.weight
    return total


def blend(keys: Sequence[WarpedKey]) -> tuple[np.ndarray, np.ndarray]:
    """The warped keys blended per pixel by weight (in the keys' own dtype: uint8 keys give
    rounded uint8), and the best validity of any key there (how much of the pixel's colour
    is backed by a key)."""
    total = total_weight(keys)
    weights = [k.weight / total for k in keys]
    colour = keys[0].rgb.ndim == 3
    # channel by channel: the same sums as with weights broadcast over the channels, in a
    # third of the memory traffic (numpy's broadcast of w[..., None] is slow at 1080p)
    planes = []
    for c in range(keys[0].rgb.shape[2] if colour else 1):
        acc = np.zeros(total.shape, np.float32)
        for k, w in zip(keys, weights):
            acc += np.multiply(k.rgb[..., c] if colour else k.rgb, w, dtype=w.dtype)
        if keys[0].rgb.dtype == np.uint8:  # rounded half to even and saturated, as
            acc = cv2.convertScaleAbs(acc)  # np.clip(np.rint(acc), 0, 255); acc >= 0
        planes.append(acc)
    acc = cv2.merge(planes) if colour else planes[0]
    return acc, np.maximum.reduce([k.valid for k in keys])


def fill_in(colour: np.ndarray, valid: np.ndarray, track: WarpedKey,
            clear: np.ndarray) -> np.ndarray:
    """The keys' blend (``blend``: ``colour``, ``valid``) with the previous frame's pixels
    (``track``) mixed in by how far no key's warp holds and the previous frame's own warp
    does, and by ``clear`` (HxW in [0, 1]: 0 on the lines, 1 clear of their rim): share =
    track validity x (1 - keys' validity) x clear. A part that swings farther than a key's
    flow follows (a leg in a walk cycle) loses the key's warp, which then brings in
    whatever lies there in the key (the paper beside the leg); the neighbour flow from the
    frame before still follows it. Where a key's warp holds, the keys decide: the previous
    frame is an output, and colours carried from frame to frame blur and keep their errors;
    beside the lines too, where the neighbour flow drags a moving edge into what it
    uncovers (a halo around a part moving over a painted background). Measured on five
    sets (README, "Motion")."""
    share = cv2.multiply(cv2.multiply(track.valid, 1 - valid), clear)
    # one OpenCV pass in the pixels' own type: numpy's float mix costs 3x at 1080p (50 ms)
    return cv2.blendLinear(track.rgb.astype(colour.dtype, copy=False), colour, share,
                           1 - share)


def warp_anchor(target: Guide, keys: Sequence[tuple[Guide, np.ndarray, int]],
                frame: int, motions: Sequence[Motion | None] | None = None) -> np.ndarray:
    """The flow-warp anchor: every key warped onto ``frame`` and blended (float RGB), by the
    given motions ``frame -> key`` (one per key) or DIS."""
    tw = temporal_weights(frame, [f for _, _, f in keys])
    motions = motions or [None] * len(keys)
    warped = [warp_key(target, g, np.asarray(rgb, np.float32), w, m)
              for (g, rgb, _), w, m in zip(keys, tw, motions)]
    return blend(warped)[0]
