"""Stand-ins for the network's output, made from the true colours, to test and tune the
composition before trained weights exist (the lead re-measures with the real network).

What a colourisation network gets wrong, reproduced: it works at a low resolution (the
frame is shrunk to the working size and enlarged back with the engine's ``unfit``, so
colours are soft and bleed across lines), its colours drift a little (a smooth colour cast
plus per-pixel noise), and it confuses some regions: a region painted (mostly) in another
palette colour, or half of a region taking its neighbour's colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..preprocess import fit, unfit


@dataclass(frozen=True)
class NetworkSim:
    name: str
    work: int  # working size (long side)
    cast: float  # amplitude of the smooth colour cast, [0, 1] units
    noise: float  # per-pixel noise sigma at the working size
    wrong: float  # share of regions repainted in another palette colour
    half: float  # share of regions half taken by another colour
    blur: float  # extra blur at the working size, px


LEVELS = {
    "good": NetworkSim("good", 256, 0.02, 0.015, 0.03, 0.03, 0.5),
    "typical": NetworkSim("typical", 256, 0.04, 0.03, 0.10, 0.08, 0.8),
    "poor": NetworkSim("poor", 128, 0.06, 0.05, 0.25, 0.15, 1.0),
}


def simulate_network(color: np.ndarray, palette: np.ndarray, sim: NetworkSim,
                     rng: np.random.Generator) -> np.ndarray:
    """A plausible network output (float32 HxWx3 [0, 1], native size) for the true colour
    frame ``color`` (uint8 HxWx3) whose fills come from ``palette`` (uint8 [P, 3])."""
    img = color.astype(np.float32) / 255
    h, w = color.shape[:2]
    img = _confuse(img, color, palette, sim, rng)
    small, spec = fit(img, sim.work, multiple=8)
    if sim.blur:
        small = cv2.GaussianBlur(small, (0, 0), sim.blur)
    sh, sw = small.shape[:2]
    cast = rng.normal(0, 1, (4, 4, 3)).astype(np.float32)
    cast = cv2.resize(cast, (sw, sh), interpolation=cv2.INTER_CUBIC) * sim.cast
    small = small + cast + rng.normal(0, sim.noise, small.shape).astype(np.float32)
    return unfit(np.clip(small, 0, 1), spec)


def _confuse(img: np.ndarray, color: np.ndarray, palette: np.ndarray, sim: NetworkSim,
             rng: np.random.Generator) -> np.ndarray:
    """Repaint some flat regions (connected areas of one palette colour) in a wrong colour."""
    if len(palette) < 2:
        return img
    code = (color[..., 0].astype(np.int32) << 16) | (color[..., 1].astype(np.int32) << 8) \
        | color[..., 2]
    pcode = (palette[:, 0].astype(np.int32) << 16) | (palette[:, 1].astype(np.int32) << 8) \
        | palette[:, 2]
    flat = np.isin(code, pcode)
    n, lab, stats, cents = cv2.connectedComponentsWithStats(flat.view(np.uint8), connectivity=4)
    out = img.copy()
    big = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= 12)
    big = big[big > 0]
    if not len(big):
        return out
    roll = rng.random(len(big))
    wrong = big[roll < sim.wrong]
    half = big[(roll >= sim.wrong) & (roll < sim.wrong + sim.half)]
    recolour = np.zeros(n, bool)
    recolour[wrong] = True
    new = palette[rng.integers(len(palette), size=n)].astype(np.float32) / 255
    mix = rng.uniform(0.6, 1.0, n).astype(np.float32)
    sel = recolour[lab]
    out[sel] = out[sel] * (1 - mix[lab[sel], None]) + new[lab[sel]] * mix[lab[sel], None]
    if len(half):
        ys, xs = np.indices(lab.shape)
        ang = rng.uniform(0, 2 * np.pi, n)
        side = (xs - cents[lab, 0]) * np.cos(ang[lab]) + (ys - cents[lab, 1]) * np.sin(ang[lab])
        halves = np.zeros(n, bool)
        halves[half] = True
        sel = halves[lab] & (side > 0)
        out[sel] = new[lab[sel]]
    return out
