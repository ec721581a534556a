"""Closed regions from native-resolution line art, with small gaps in the lines closed.

Ink-and-paint fills are bounded by the drawn lines, so the regions a paint bucket would fill
are the unit of colour. Real lines have gaps (a pen lifted a little early, a scan that lost a
faint stroke), and a plain flood fill leaks through them into the neighbouring region. This
is the trapped-ball idea (Zhang et al. 2009, "Vectorizing cartoon animations") done with
whole-image operations instead of a ball moved pixel by pixel:

1. ink = line coverage >= ``threshold`` (anti-aliased and thin lines count from a third
   covered, so a 1 px line drawn between two pixels still separates);
2. ``D`` = distance of each paper pixel to the nearest ink; seeds are the components of
   ``D > r``: a ball of radius ``r`` fits there, so seeds never pass through a gap narrower
   than ``2 r``; ``r`` follows the line width (gaps of up to about 2.5 line widths close);
3. every paper pixel within ``r`` of a seed is what that ball covers and takes the nearest
   seed's label; such a ball never crosses a line (its centre is more than ``r`` from ink);
4. what the balls cannot reach (sharp corners, parts narrower than ``2 r``, the mouths of
   gaps) is split into 4-connected pieces: a piece touching one ball region joins it, a
   piece touching none is a region of its own (eyes, thin limbs, small closed shapes), and a
   piece touching several (a gap between two regions) goes pixel by pixel to the nearest
   seed among those it touches.

Line pixels belong to no region; ``nearest`` maps every pixel to the nearest region pixel,
which is the fill under a line (for anti-aliased compositing and ``--lines fill``).
All steps are OpenCV distance transforms, connected components and numpy bincounts: about
a hundred ms for a 1080p frame on one core, memory a few frame-sized arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

INK_THRESHOLD = 0.3  # line coverage from which a pixel is ink (bounds regions)
GAP_FACTOR = 1.3  # gap radius in line widths
MIN_GAP_RADIUS = 1.5  # px


@dataclass
class Segmentation:
    labels: np.ndarray  # int32 HxW, 1..n regions, 0 on ink
    n: int  # number of regions
    filled_labels: np.ndarray  # int32 HxW, labels with ink given the nearest region's label
    dist: np.ndarray  # float32 HxW, distance of paper pixels to the nearest ink (0 on ink)
    line_width: float  # estimated line width, px
    gap_radius: float  # radius of the gap-closing ball, px
    _small: dict = field(default_factory=dict)  # 16-bit copies of the label maps, made once

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    def filled(self) -> np.ndarray:
        """Region labels with ink pixels given the label of the nearest region."""
        return self.filled_labels

    def per_pixel(self, table: np.ndarray, filled: bool = True) -> np.ndarray:
        """``table[filled labels]`` (or of ``labels`` with ink = 0): a per-region value
        spread over the frame, the one whole-frame gather composition does many times."""
        return lookup(table, self.compact(filled))

    def compact(self, filled: bool = True) -> np.ndarray:
        """The label map (``filled_labels`` or ``labels``) in 16 bits when the regions fit,
        made once: what ``cv2.LUT`` takes (int32 it does not)."""
        key = "filled" if filled else "labels"
        if key not in self._small:
            src = self.filled_labels if filled else self.labels
            self._small[key] = src.astype(np.uint16) if self.n < 1 << 16 else src
        return self._small[key]

    def nearest(self, pix: np.ndarray, radius: int = 4) -> np.ndarray:
        """Flat index of a nearest region (paper) pixel of each flat pixel index in ``pix``
        (a paper pixel is its own), searched outwards up to ``radius`` px (the pixels asked
        about are a line's anti-aliased rim, next to paper); pixels with no paper that close
        (the middle of a thick blob of ink) are their own answer."""
        h, w = self.shape
        paper = self.labels.ravel() > 0
        out = pix.copy()
        todo = np.flatnonzero(~paper[pix])
        y, x = np.divmod(pix[todo], w)
        for dy, dx in _OFFSETS[radius]:
            if not len(todo):
                break
            yy, xx = y + dy, x + dx
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            q = np.where(ok, yy * w + xx, 0)
            hit = ok & paper[q]
            out[todo[hit]] = q[hit]
            keep = ~hit
            todo, y, x = todo[keep], y[keep], x[keep]
        return out

    def samples(self, step: int) -> np.ndarray:
        """Flat indices of the pixels region statistics are taken from: every ``step``-th
        pixel, then every pixel of the regions that grid misses (small ones), so each
        region is judged and a large frame costs about a ``step``-squared of its pixels."""
        h, w = self.shape
        grid = (np.arange(0, h, step)[:, None] * w + np.arange(0, w, step)[None]).ravel()
        hit = np.zeros(self.n + 1, bool)
        hit[self.labels.ravel()[grid]] = True
        hit[0] = True
        if hit.all():
            return grid
        rest = np.flatnonzero(self.per_pixel(~hit, filled=False))
        return np.concatenate([grid, rest])

    def areas(self) -> np.ndarray:
        return np.bincount(self.labels.ravel(), minlength=self.n + 1)


_LUT16 = [True]  # cv2.LUT takes 16-bit indices (OpenCV 5); flips off where it does not


def lookup(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``table[index]`` for a label map. Labels below 2^16 go through ``cv2.LUT`` with a
    65536-entry table (several times faster than numpy's gather, which first converts int32
    indices to intp); otherwise, or with an OpenCV without 16-bit LUTs, numpy."""
    table = np.asarray(table)
    as_bool = table.dtype == bool
    if as_bool:
        table = table.view(np.uint8)
    if _LUT16[0] and len(table) <= 1 << 16 and table.ndim == 1 and index.ndim == 2:
        full = np.zeros(1 << 16, table.dtype)
        full[: len(table)] = table
        try:
            out = cv2.LUT(index if index.dtype == np.uint16 else index.astype(np.uint16), full)
            return out.view(bool) if as_bool else out
        except cv2.error:
            _LUT16[0] = False
    out = table[index.astype(np.intp)]
    return out.view(bool) if as_bool else out


def _offsets(radius: int) -> list[tuple[int, int]]:
    r = range(-radius, radius + 1)
    offs = [(dy, dx) for dy in r for dx in r if 0 < dy * dy + dx * dx <= radius * radius]
    return sorted(offs, key=lambda o: (o[0] ** 2 + o[1] ** 2, o))


_OFFSETS = {r: _offsets(r) for r in range(1, 9)}


def line_width(ink: np.ndarray) -> float:
    """Typical stroke width (px) of a binary ink mask: a stroke of width w and length L has
    area w L and about 2 L boundary pixels, so w = 2 area / boundary; robust to speckles
    (they add area and boundary alike) and needs no skeleton."""
    area = int(np.count_nonzero(ink))
    if area == 0:
        return 1.0
    inner = cv2.erode(ink.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)),
                      borderType=cv2.BORDER_REPLICATE)
    boundary = area - int(np.count_nonzero(inner))
    return float(max(1.0, 2.0 * area / max(boundary, 1)))


def segment(mask: np.ndarray, gap: float | None = None,
            threshold: float = INK_THRESHOLD) -> Segmentation:
    """Regions of a line mask (float HxW coverage, 1 = line: ``line_art``'s second output).

    ``gap`` is the gap-closing ball radius in px; None derives it from the line width."""
    ink = np.asarray(mask) >= threshold
    h, w = ink.shape
    width = line_width(ink)
    radius = float(gap) if gap is not None else max(MIN_GAP_RADIUS, GAP_FACTOR * width)
    dist = cv2.distanceTransform((~ink).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)

    # 1-3: trapped balls: seeds where a ball of `radius` fits (8-connected components, which
    # DIST_LABEL_CCOMP numbers exactly like cv2.connectedComponents), grown by that radius.
    seeds = (dist > radius).view(np.uint8)
    n_seeds = 0
    nearest_seed = None
    if seeds.any():
        d_seed, nearest_seed = cv2.distanceTransformWithLabels(
            1 - seeds, cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_CCOMP)
        n_seeds = int(cv2.minMaxLoc(nearest_seed)[1])
        covered = d_seed <= radius + 0.5
        covered &= ~ink
        labels = np.where(covered, nearest_seed, 0).astype(np.int32, copy=False)
        del d_seed
    else:
        covered = np.zeros((h, w), bool)
        labels = np.zeros((h, w), np.int32)

    # 4: what the balls could not reach.
    rest = ~(covered | ink)
    del covered
    n = n_seeds
    if rest.any():
        n_rest, rest_lab = cv2.connectedComponents(rest.view(np.uint8), connectivity=4,
                                                   ltype=cv2.CV_32S)
        n = _attach(labels, rest_lab, n_rest, n_seeds, nearest_seed)

    filled = _fill_ink(labels, ink, width, nearest_seed, n)
    return Segmentation(labels, n, filled, dist, width, radius)


def _fill_ink(labels: np.ndarray, ink: np.ndarray, width: float,
              nearest_seed: np.ndarray | None, n: int) -> np.ndarray:
    """Labels with every ink pixel given a neighbouring region's label (the fill under the
    line): regions grown into the ink by 3 x 3 dilations, as many as half a line width; the
    middle of thicker ink blobs (under opaque ink, where the fill does not show) takes the
    nearest seed's region, or, without seeds, the exact nearest-pixel transform."""
    if n == 0 or not ink.any():
        return labels
    if n >= 1 << 16:  # dilation works on 16-bit labels
        return _fill_exact(labels, ink)
    grown = labels.astype(np.uint16)
    kernel = np.ones((3, 3), np.uint8)
    left = ink
    for _ in range(int(np.ceil(width / 2)) + 1):
        np.copyto(grown, cv2.dilate(grown, kernel), where=left)  # unlabelled ink only
        left = grown == 0
    out = grown.astype(np.int32)
    if not left.any():
        return out
    if nearest_seed is None:
        return _fill_exact(labels, ink)
    out[left] = nearest_seed[left]
    return out


def _fill_exact(labels: np.ndarray, ink: np.ndarray) -> np.ndarray:
    _, idx = cv2.distanceTransformWithLabels(
        ink.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL)
    return np.concatenate([[0], labels[~ink]]).astype(np.int32)[idx]


def _attach(labels: np.ndarray, rest_lab: np.ndarray, n_rest: int, n_seeds: int,
            nearest_seed: np.ndarray | None) -> int:
    """Label, in place, the pieces the balls missed (step 4 of the module docstring);
    returns the new number of regions."""
    h, w = labels.shape
    pix = np.flatnonzero(rest_lab.ravel())
    pid = rest_lab.ravel()[pix]
    flat_lab = labels.ravel()
    a_parts, b_parts = [], []
    y, x = np.divmod(pix, w)
    for ok, step in ((x > 0, -1), (x < w - 1, 1), (y > 0, -w), (y < h - 1, w)):
        nb = flat_lab[pix[ok] + step]
        hit = nb > 0
        a_parts.append(pid[ok][hit])
        b_parts.append(nb[hit])
    a, b = np.concatenate(a_parts), np.concatenate(b_parts)
    base = np.int64(n_seeds + 1)
    pairs, counts = np.unique(a.astype(np.int64) * base + b, return_counts=True)
    srt = pairs
    order = np.lexsort((counts, pairs // base))
    pairs = pairs[order]
    pa, pb = pairs // base, (pairs % base).astype(np.int32)
    touches = np.bincount(pa, minlength=n_rest)
    best = np.zeros(n_rest, np.int32)  # piece -> the region it touches most
    if len(pairs):
        last = np.append(np.flatnonzero(np.diff(pa)), len(pa) - 1)
        best[pa[last]] = pb[last]
    lonely = np.flatnonzero(touches == 0)[1:]  # piece 0 is "not a piece"
    best[lonely] = n_seeds + np.arange(1, len(lonely) + 1, dtype=np.int32)
    fill = best[pid]
    multi = touches[pid] > 1
    if multi.any() and nearest_seed is not None:
        # a piece between several regions: each pixel to its nearest seed if that is one
        # of the regions the piece touches, else to the region the piece touches most
        mp = pid[multi].astype(np.int64)
        cand = nearest_seed.ravel()[pix[multi]].astype(np.int64)
        code = mp * base + cand
        pos = np.minimum(np.searchsorted(srt, code), len(srt) - 1)
        fill[multi] = np.where(srt[pos] == code, cand, fill[multi])
    flat_lab[pix] = fill
    return n_seeds + len(lonely)


def region_stats(labels: np.ndarray, n: int, step: int = 1) -> dict[str, np.ndarray]:
    """Per-region area, centroid and second central moments (index 0 = ink), from every
    ``step``-th pixel in each direction (areas scaled back): the features region matching
    uses. Regions missed by the subsampling get area 0."""
    lab = labels[::step, ::step]
    ys, xs = np.indices(lab.shape, dtype=np.float32)
    xs *= step
    ys *= step
    flat = lab.ravel()
    cnt = np.bincount(flat, minlength=n + 1).astype(np.float64)
    safe = np.maximum(cnt, 1)
    cx = np.bincount(flat, xs.ravel(), n + 1) / safe
    cy = np.bincount(flat, ys.ravel(), n + 1) / safe
    dx, dy = xs.ravel() - cx[flat], ys.ravel() - cy[flat]
    mxx = np.bincount(flat, dx * dx, n + 1) / safe
    myy = np.bincount(flat, dy * dy, n + 1) / safe
    mxy = np.bincount(flat, dx * dy, n + 1) / safe
    return {"area": cnt * step * step, "cx": cx, "cy": cy, "mxx": mxx, "myy": myy, "mxy": mxy}


def adjacency(filled: np.ndarray, n: int) -> np.ndarray:
    """Pairs (i, j), i < j, of regions that meet, directly or across a line (``filled`` is
    ``Segmentation.filled()``, where ink belongs to the nearest region)."""
    a = np.concatenate([filled[:, :-1].ravel(), filled[:-1].ravel()])
    b = np.concatenate([filled[:, 1:].ravel(), filled[1:].ravel()])
    m = a != b
    a, b = a[m].astype(np.int64), b[m].astype(np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    codes = np.unique(lo * (n + 1) + hi)
    return np.stack([codes // (n + 1), codes % (n + 1)], 1)
