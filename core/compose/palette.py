"""The model-sheet palette, read off the painted references, and nearest-colour lookups.

Ink-and-paint fills are exact colours picked from a model sheet. In a painted frame they are
the colours that fill whole patches pixel for pixel; everything else is either ink, an
anti-aliased mix along an edge, or a gradient or texture (painted backgrounds). So a palette
colour is one that (1) covers at least ``min_pixels`` pixels whose four neighbours all have
exactly that colour, (2) away from the line art's ink (which also drops the anti-aliased
rims of the lines), and (3) is not one step of a smooth gradient: an 8-bit gradient is made
of flat bands too, but a band's edge pixels differ from it by a level or two, while a fill's
edge meets ink, another fill or an anti-aliasing mix that is clearly different.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LUT_BITS = 5  # per channel: 32^3 bins, bin width 8 levels
FINE_BITS = 8 - LUT_BITS  # per channel within a bin
GRADIENT_STEP = 3  # levels: neighbours this close to a band's colour make it a gradient
GRADIENT_SHARE = 0.5  # a colour whose edges are mostly such steps is a gradient band


def to_u8(rgb: np.ndarray) -> np.ndarray:
    """float [0, 1] HxWx3 -> uint8 (rounded); uint8 passes through."""
    if rgb.dtype == np.uint8:
        return rgb
    return cv2.convertScaleAbs(np.asarray(rgb, np.float32), alpha=255.0)


def _codes(u8: np.ndarray) -> np.ndarray:
    u = u8.astype(np.int32)
    return (u[..., 0] << 16) | (u[..., 1] << 8) | u[..., 2]


def _uncode(codes: np.ndarray) -> np.ndarray:
    return np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], 1).astype(np.uint8)


def extract_palette(rgb: np.ndarray, line_mask: np.ndarray | None = None,
                    min_pixels: int | None = None) -> np.ndarray:
    """The flat fill colours (uint8 [P, 3], sorted) of a painted frame (float [0, 1] or uint8
    HxWx3). ``line_mask`` (coverage, 1 = ink) of the matching line art excludes the lines;
    ``min_pixels`` defaults to 8 px, or 1/200000 of the frame for frames above 1.6 Mpx."""
    u8 = to_u8(rgb)
    h, w = u8.shape[:2]
    if min_pixels is None:
        min_pixels = max(8, h * w // 200_000)
    code = _codes(u8)
    flat = np.zeros((h, w), bool)
    flat[1:-1, 1:-1] = ((code[1:-1, 1:-1] == code[:-2, 1:-1]) & (code[1:-1, 1:-1] == code[2:, 1:-1])
                        & (code[1:-1, 1:-1] == code[1:-1, :-2])
                        & (code[1:-1, 1:-1] == code[1:-1, 2:]))
    near_ink = None
    if line_mask is not None:
        near_ink = cv2.dilate((np.asarray(line_mask) > 0.02).view(np.uint8),
                              np.ones((3, 3), np.uint8)).view(bool)
        flat &= ~near_ink
    cand, counts = np.unique(code[flat], return_counts=True)
    keep = counts >= min_pixels
    cand, counts = cand[keep], counts[keep]
    if len(cand) == 0:
        return np.zeros((0, 3), np.uint8)
    return _uncode(cand[~_gradient_bands(u8, code, cand, counts, near_ink)])


def _gradient_bands(u8: np.ndarray, code: np.ndarray, cand: np.ndarray, counts: np.ndarray,
                    near_ink: np.ndarray | None) -> np.ndarray:
    """Per candidate colour: is it a band of a smooth gradient (see the module docstring)?
    A band's edge is long for its area (a strip), so a handful of one-level steps on the edge
    of a large flat patch (a stray rounding) does not make it one."""
    small = np.zeros(len(cand), np.int64)
    total = np.zeros(len(cand), np.int64)
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        # each neighbour pair's largest channel step, the same both ways round (channel by
        # channel: numpy reduces a 3-long last axis slowly)
        diff = cv2.absdiff(u8[a], u8[b])
        steps = np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2])
        differ = code[a] != code[b]
        for p, q in ((a, b), (b, a)):
            edge = differ if near_ink is None else differ & ~near_ink[q]
            cp = code[p][edge]
            pos = np.minimum(np.searchsorted(cand, cp), len(cand) - 1)
            is_cand = cand[pos] == cp
            step = steps[edge][is_cand]
            idx = pos[is_cand]
            total += np.bincount(idx, minlength=len(cand))
            small += np.bincount(idx[step <= GRADIENT_STEP], minlength=len(cand))
    return (small > GRADIENT_SHARE * np.maximum(total, 1)) & (small >= np.maximum(
        8, 0.5 * np.sqrt(counts)))


@dataclass
class PaletteLUT:
    """Nearest palette colour for every colour, via a 32^3 table of bin centres, and an
    exact table (the bin's 8^3 colours) for each bin that holds a palette colour. Palettes
    have fills that close (white paper 255 and an off-white highlight 250 share a bin, whose
    centre is nearer 250): the table alone gave every white pixel to the off-white, and a
    white sheet of paper took the highlight's colour. Elsewhere the centre's answer stands:
    those are colours between fills (anti-aliasing, gradients), whose nearest fill within a
    few levels decides nothing."""

    palette: np.ndarray  # uint8 [P, 3]
    index: np.ndarray  # int16 [32768]: nearest palette index per bin
    dist: np.ndarray  # float32 [32768]: distance (0-255 RGB units) to the nearest
    row: np.ndarray  # int32 [32768]: the bin's row of ``fine``, -1 for none
    fine: np.ndarray  # int16 [rows, 512]: nearest palette index of each colour of the bin

    @classmethod
    def build(cls, palette: np.ndarray) -> PaletteLUT:
        palette = np.asarray(palette, np.uint8).reshape(-1, 3)
        n = 1 << LUT_BITS
        step = 256 // n
        g = (np.arange(n, dtype=np.float32) * step + (step - 1) / 2.0)
        centres = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        row = np.full(len(centres), -1, np.int32)
        if len(palette) == 0:
            return cls(palette, np.zeros(len(centres), np.int16),
                       np.full(len(centres), np.inf, np.float32), row,
                       np.zeros((0, 1 << 3 * FINE_BITS), np.int16))
        d = _square_distances(centres, palette)
        first = np.argmin(d, axis=1)
        best = np.sqrt(np.maximum(d[np.arange(len(d)), first], 0))
        # each fill's bin (at most one per fill), by its lowest colour, and the bin's 8^3
        # colours in the order ``nearest`` indexes them (red slowest, as ``bins``)
        base = np.unique(palette >> FINE_BITS << FINE_BITS, axis=0).astype(np.int32)
        width = np.arange(1 << FINE_BITS)
        within = np.stack(np.meshgrid(width, width, width, indexing="ij"), -1).reshape(-1, 3)
        colours = (base[:, None] + within[None]).reshape(-1, 3)
        fine = np.argmin(_square_distances(colours, palette), axis=1).reshape(len(base), -1)
        row[cls.bins(base)] = np.arange(len(base), dtype=np.int32)
        return cls(palette, first.astype(np.int16), best.astype(np.float32), row,
                   fine.astype(np.int16))

    def nearest(self, u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(nearest palette index, distance to it) of each colour of an (..., 3) uint8 array:
        exact in the bins that hold a palette colour, so the distance is 0 exactly where the
        colour is a fill; elsewhere the bin centre's (never 0: centres lie between levels),
        at most half a bin's diagonal (7 units) off, which the off-palette test allows
        for."""
        bins = self.bins(u8)
        index, dist = self.index[bins].astype(np.intp), self.dist[bins]
        rows = self.row[bins]
        sure = rows >= 0
        if sure.any():
            px = u8[sure]
            low = (px & ((1 << FINE_BITS) - 1)).astype(np.int32)  # the colour within its bin
            best = self.fine[rows[sure], (low[:, 0] << 2 * FINE_BITS)
                             | (low[:, 1] << FINE_BITS) | low[:, 2]].astype(np.intp)
            index[sure] = best
            diff = px.astype(np.float32) - self.palette[best].astype(np.float32)
            dist[sure] = np.sqrt(np.sum(diff * diff, axis=-1))
        return index, dist

    @staticmethod
    def bins(u8: np.ndarray) -> np.ndarray:
        """Table index of each colour of an (..., 3) uint8 array."""
        shift = 8 - LUT_BITS
        u = (u8 >> shift).astype(np.int32)
        return (u[..., 0] << (2 * LUT_BITS)) | (u[..., 1] << LUT_BITS) | u[..., 2]

    def exact(self, u8: np.ndarray) -> np.ndarray:
        """Palette index of each colour that is exactly a palette colour, else -1."""
        codes = _codes(u8)
        pc = _codes(self.palette[None])[0]
        order = np.argsort(pc)
        srt = pc[order]
        if len(srt) == 0:
            return np.full(codes.shape, -1, np.int32)
        pos = np.minimum(np.searchsorted(srt, codes), len(srt) - 1)
        return np.where(srt[pos] == codes, order[pos], -1).astype(np.int32)


def _square_distances(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """[N, P] squared RGB distances as |c|^2 - 2 c.p + |p|^2, one matrix product; exact for
    integer colours in float32 (every term is an integer below 2^24)."""
    c, p = np.asarray(colours, np.float32), np.asarray(palette, np.float32)
    return np.sum(c * c, 1)[:, None] - 2 * c @ p.T + np.sum(p * p, 1)[None]


def merge_palettes(palettes: list[np.ndarray]) -> np.ndarray:
    """Union of several palettes (uint8 [P, 3], sorted, no duplicates)."""
    if not palettes:
        return np.zeros((0, 3), np.uint8)
    codes = np.unique(np.concatenate([_codes(p[None])[0] for p in palettes if len(p)] or
                                     [np.zeros(0, np.int32)]))
    return _uncode(codes)
