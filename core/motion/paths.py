"""Key flows that follow large motion: direct DIS from an in-between to its key, started from
the chain of neighbour flows between them.

DIS searches from its coarsest pyramid level down, and at every level it only looks a few
pixels around what the level above found. A limb that swings farther than its own width
between an in-between and its key (a leg at mid-stride, six frames from the key that shows
it at the other end of its swing) is matched, at the coarse levels, to whatever line lies
nearest: the key's warp then brings in the paper or the other leg. Neighbouring frames are
a small motion apart, so the flows between them follow the limb, and added up through the
frames between (``flow.follow``) they say roughly where it is in the key. Chained flows alone
carry every step's error, and extracted line art that jitters from frame to frame makes many
(Kenney's sprites: the chained warp lost 1.3 dB moving-part PSNR to the direct one); as the
*start* of the direct flow, DIS corrects them against the key itself. On the flow-warp
anchor (training clips of 8, 4 each; the 6 sprite clips, evaluation only), direct DIS
against DIS started from the chain and refined to ``flow.FINEST_SIDE``, moving-part PSNR:
procedural 21.19 -> 23.44, OpenMoji 27.05 -> 29.27, sprites 19.06 -> 20.48 (README,
"Motion").

Memory stays bounded on long shots: the chains and neighbour flows live in one LRU whose
size follows the longest gap between keys (``HELD`` + ``PER_GAP_FRAME`` per frame of it),
not the shot's length. A chain is a fixed sum whatever the cache holds (towards a key: this
frame's step, then the chain from the next frame; from a key: the chain to the frame
before, then its step), so a ``--frames`` range or a farm chunk, which starts from an empty
cache, gets the same flows bit for bit as a full run.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .flow import Guide, Motion, consistency, flow, flow_size, follow

# Flow fields held (chains and neighbour flows, at most 2 MB each at the 512 px flow size)
# beyond what a segment's length asks (``held``): a frame needs four chains and reuses its
# neighbour's.
HELD = 48
# Per frame of the longest gap between two keys: its two steps (both ways) and its chains to
# and from each of the two keys; those towards the later key are all made by the segment's
# first in-between's walk there and used by the frames after it. Held fewer, the LRU drops
# the far ones first and every later frame walks to the key again: on the demo's 24-frame
# segment, 936 step flows instead of 46.
PER_GAP_FRAME = 6


def capacity(gap: int) -> int:
    """Flow fields a shot's ``Paths`` holds when its keys are at most ``gap`` frames apart."""
    return HELD + PER_GAP_FRAME * gap


def held_bytes(shape: tuple[int, int], gap: int) -> int:
    """The most memory the chains of a shot of ``shape`` (native h, w) frames hold: its
    ``capacity`` in flow fields (two float32 planes at the flow size). It grows with the key
    spacing, not the shot's length: at 1080p about 230 MB for keys 24 frames apart."""
    h, w = flow_size(shape)
    return capacity(gap) * h * w * 2 * 4


class Paths:
    """Chained neighbour flows of one shot, by frame number. ``guide_of(frame)`` is the
    frame's flow guide, or None where the shot has no such frame (then no chain passes it)."""

    def __init__(self, guide_of: Callable[[int], Guide | None], gap: int = 0) -> None:
        self.guide_of = guide_of
        self.capacity = capacity(gap)  # ``gap``: the most frames between keys
        self.held: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def _get(self, key: tuple) -> np.ndarray | None:
        f = self.held.get(key)
        if f is not None:
            self.held.move_to_end(key)
        return f

    def _put(self, key: tuple, f: np.ndarray) -> np.ndarray:
        self.held[key] = f
        if len(self.held) > self.capacity:
            self.held.popitem(last=False)
        return f

    def step(self, a: int, b: int) -> np.ndarray | None:
        """The flow from frame ``a`` to its neighbour ``b`` (refined to ``FINEST_SIDE``)."""
        f = self._get(("step", a, b))
        if f is None:
            ga, gb = self.guide_of(a), self.guide_of(b)
            if ga is None or gb is None or ga.image.shape != gb.image.shape:
                return None
            f = self._put(("step", a, b), flow(ga, gb, fine=True))
        return f

    def neighbour(self, a: int, b: int) -> Motion | None:
        """Where frame ``a``'s pixels are in ``b``, checked both ways, by the steps the
        chains are made of; None unless ``b`` is next to ``a`` and both guides are known."""
        if abs(a - b) != 1:
            return None
        there, back = self.step(a, b), self.step(b, a)
        if there is None or back is None:
            return None
        return Motion(there, consistency(there, back))

    def toward(self, t: int, k: int) -> np.ndarray | None:
        """The flow from ``t`` to ``k`` through every frame between, or None if one of them
        is missing."""
        d = 1 if k > t else -1
        x = t
        while x != k and ("to", x, k) not in self.held:
            x += d
        f = None if x == k else self._get(("to", x, k))
        while x != t:
            x -= d
            s = self.step(x, x + d)
            if s is None:
                return None
            f = self._put(("to", x, k), s if f is None else follow(s, f))
        return f

    def away(self, k: int, t: int) -> np.ndarray | None:
        """The flow from ``k`` to ``t`` through every frame between, or None."""
        d = 1 if t > k else -1
        x = t
        while x != k and ("from", k, x) not in self.held:
            x -= d
        f = None if x == k else self._get(("from", k, x))
        while x != t:
            x += d
            s = self.step(x - d, x)
            if s is None:
                return None
            f = self._put(("from", k, x), s if f is None else follow(f, s))
        return f

    def motion(self, t: int, k: int, target: Guide, key: Guide, chained: bool = True
               ) -> Motion:
        """Where ``target``'s (frame ``t``) pixels are in ``key`` (frame ``k``): direct DIS
        both ways, each started from the chain between them (with ``chained``) and refined
        to ``FINEST_SIDE``, checked forward and backward. Without a chain (a frame between is
        missing, or the key is not of the shot's size) the refined direct flow alone."""
        there = back = None
        if chained and abs(t - k) > 1 and target.image.shape == key.image.shape:
            there, back = self.toward(t, k), self.away(k, t)
        fwd = flow(target, key, there, fine=True)
        return Motion(fwd, consistency(fwd, flow(key, target, back, fine=True)))
