"""Production output: the network's soft, low-resolution colours turned into frames at the
line art's native resolution whose fills are exactly the references' palette colours.

Per frame (whole-image OpenCV/numpy operations; nothing is kept between frames):

1. **Regions** of the native line art with small gaps closed (``segment.py``).
2. **Vote**: each region's network pixels are mapped to the nearest palette colour (a 32^3
   lookup table) and vote, weighted by their distance from the lines (the network's colours
   bleed across edges). The votes also say how split the region is and how far the
   network's colours are from any palette colour ("fit").
3. **Counterpart**: the reference region that best matches each region by position, area and
   shape (``match.py``, the paint-bucket matcher): its fill joins the vote as a tie-breaker
   (``MATCH_PRIOR`` x similarity), and whether it is flat, two-tone or a gradient steers
   ``auto``.
4. **Carry-over** from references of the same size: where the line art around a pixel is the
   reference's line for line (static parts, painted backgrounds, held cels), the reference's
   own pixels are right by construction. A region whose whole footprint is unchanged is
   *static* and takes the reference's fill; in ``auto`` every pixel whose neighbourhood is
   unchanged and which lies in the reference region that corresponds to its own region
   (same place, intersection over union >= ``CARRY_IOU``) takes the reference's native pixel,
   so a painted background is carried everywhere except around what moved in front of it.
   Beside a drawn line, a small change of coverage already counts: the line moved by a
   fraction of a pixel, and the key's pixels there show it where it was (``_line_moved``).
5. **Fill**, by mode:
   - ``flat``: every region one palette colour (its vote, or a static region's reference
     fill). Only palette colours and the line art's own line colours appear.
   - ``network``: the plain upscaled network output (as without composition).
   - ``auto`` (the default): static -> the reference; a counterpart in the keys that is
     flat and similar enough (``TRUST_SIM``) -> its fill; a counterpart that is a gradient
     or texture -> its mean colour; otherwise, with no counterpart, the network decides:
     its colours off the palette (an off-model colour) -> the network's colours; a second
     palette colour in the vote that survives a median filter as a blob -> two palette
     colours, pixel by pixel; else its vote's palette colour. Pixel carry-over on top.
     Measured on the held-out sets (``inkpaint evaluate --compose-table``), trusting the
     counterpart beats both the network's vote and the network-free matcher on PSNR. With
     the step-2,900 ``lite`` weights the network adds little here: a flat grey stand-in
     for its output scores 0.2 dB lower on procedural shots and the same on the others.
   With motion, a region given one fill that a key's *seam* crosses where the key's warp
   holds (the key's paint changes colour there with no line between: outline-free line
   art, a gap the segmentation did not close) spans several fills: it takes the warped
   keys' pixels (``_follow_warp``). Measured on sprites (extracted, gappy line art), clips
   of 8: +1.9 dB PSNR, procedural and drawings unchanged. So does one where the warped keys
   show another colour over a part whose edge runs along its lines (``_drawn_parts``: a
   leg whose outline stops short, joined to the paper by the gap): OpenMoji +1.6-1.9 dB.
   Where no key's warp holds (a part that moved farther than the keys' flow follows), the
   keys' pixels give way to the previous frame's, carried by the neighbour flow
   (``core.motion.keys.fill_in``).
6. **Lines**: ``keep`` composites the drawn line over the fills at its own opacity (black ink
   and grey pencil in the colour the references painted their lines, coloured lines in their
   own colour); ``fill`` paints line pixels with the fill next to them.
7. **Confidence** per region = vote margin x palette fit x counterpart similarity, 1 where
   carried over; the map is that per pixel, the frame's summary the mean over regions (an
   estimate of the share of regions that are right).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import InkpaintError
from ..motion.keys import FrameMotion, WarpedKey, blend, fill_in, total_weight
from ..preprocess import line_art
from .decide import (
    EVIDENCE,
    KEEP_FEATURES,
    OFF_PALETTE,
    RIM,
    Evidence,
    Weights,
    image_votes,
    probabilities,
    shipped_weights,
    thinness,
)
from .match import MIN_AREA, RegionFeatures, best_matches, features
from .palette import PaletteLUT, _codes, extract_palette, merge_palettes, to_u8
from .segment import INK_THRESHOLD, Segmentation, lookup, segment

MODES = ("flat", "network", "auto")
LINE_MODES = ("keep", "fill")
DEFAULT_MODE = "auto"

FLAT_SHARE = 0.5  # a reference region is flat when this share is exactly one palette colour
CARRY_DIFF = 0.25  # line coverage change that counts as "the line art differs here"
# ... and beside a line's core: a line edge moved by a tenth of a pixel (a box-filtered edge
# changes its pixel's coverage by the distance it moved). Measured on Synfig's eye: 0.05 and
# 0.1 gain the same, 0.15 loses most of it.
EDGE_DIFF = 0.1
# Coverage of a drawn line's core: solid lines reach it, the faint marks of a sketchy line
# art (< ~0.5) do not. At INK_THRESHOLD (0.3) those marks counted and cost procedural clips of
# 8 0.04 dB; at 0.9 thin anti-aliased lines that never cover a whole pixel were missed.
LINE_CORE = 0.6
CARRY_IOU = 0.6  # a region and its reference counterpart overlap at least this much
FRINGE = 0.02  # line coverage below which a pixel is clean paper
FLAGGED = 0.5  # regions below this confidence count as flagged
SAMPLES = 130_000  # votes and region statistics come from a grid of about this many pixels
NEUTRAL = 0.15  # a line colour this dark and grey is "black ink" (takes the painted ink)
# A key painted its lines when the colour it painted them in is darker than this (brightest
# channel): black ink, and dark coloured lines (the procedural shots' coloured-line style,
# ~0.26). Where a key only changes colour at the lines (no line painted), the estimate is
# the fills' own colour, and on the extracted line art measured it is 0.39 or brighter.
LINE_DARK = 0.3

FLAT, KEEP, STATIC, CARRIED, SPLIT = 0, 1, 2, 3, 4  # where a region's colour comes from
SOURCE_NAMES = ("flat", "keep", "static", "carried", "split")
# A key's warp is trusted at a pixel from this validity (``core.motion.keys``: forward-
# backward check x guide agreement): the warp is then more likely right than not.
WARP_HOLDS = 0.5
# A part of another colour inside a one-fill region is a drawn part joined by a gap when it is
# at least this many line widths wide (thinner: a line's anti-aliasing, or a neighbour's
# paint a warp a pixel or two off brings along the line between), as large as a square this
# many line widths on a side (smaller: a speck) and ...
PART_WIDTHS = 1.0
PART_AREA = 2.0
# ... nearly all its edge runs along drawn lines (within a line width), the rest being the gap.
DRAWN_EDGE = 0.9


@dataclass
class RefCel:
    """A painted reference prepared for composition (keep one per reference for the shot)."""

    rgb: np.ndarray  # uint8 HxWx3, the reference's own pixels
    mask: np.ndarray  # float32 HxW line coverage of its line art
    seg: Segmentation
    filled: np.ndarray  # int32 HxW region of every pixel (ink: the nearest region)
    palette: np.ndarray  # uint8 [P, 3] its flat fill colours
    region_code: np.ndarray  # int64 [n+1] RGB code of each region's main fill (-1: not flat)
    region_mean: np.ndarray  # uint8 [n+1, 3] mean colour of each region
    feats: RegionFeatures
    ink: np.ndarray | None  # float32 [3]: the colour black/grey lines were painted in
    seams: np.ndarray  # uint8 HxW, 255 where the paint changes colour with no line between

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape


@dataclass
class Composed:
    rgb: np.ndarray  # float32 HxWx3 sRGB [0, 1], native size
    confidence: np.ndarray  # float32 HxW [0, 1]
    score: float  # frame summary: mean region confidence
    regions: int  # regions judged (area >= MIN_AREA)
    flagged: int  # of which below FLAGGED
    sources: dict[str, int] = field(default_factory=dict)  # regions per fill source
    # (segmentation, evidence, palette) of the decision, with ``keep_evidence=True``: what
    # ``core.eval.fit_decision`` fits the decision's weights on
    detail: tuple[Segmentation, Evidence, np.ndarray] | None = None


def as_line_pixels(lines: np.ndarray | None) -> np.ndarray | None:
    """Line art as ``read_image`` gives it (float HxWxC); uint8 (255 = paper) and HxW
    arrays, as ``render_shot`` makes them, are converted."""
    if lines is None:
        return None
    a = np.asarray(lines)
    a = a.astype(np.float32) / 255 if a.dtype == np.uint8 else a.astype(np.float32, copy=False)
    return a[..., None] if a.ndim == 2 else a


def _mask_of(line_pixels: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray:
    if mask is not None:
        return np.asarray(mask, np.float32)
    if line_pixels is None:
        raise ValueError("give the line art's pixels or its line mask")
    return line_art(line_pixels)[1]


def prepare_reference(rgb: np.ndarray, line_pixels: np.ndarray | None = None, *,
                      mask: np.ndarray | None = None, gap: float | None = None) -> RefCel:
    """Prepare a painted reference (colour float [0, 1] or uint8 HxWx3) and its line art
    (``read_image(...).pixels``, or its line mask from ``line_art``)."""
    line_pixels = as_line_pixels(line_pixels)
    mask = _mask_of(line_pixels, mask)
    u8 = np.ascontiguousarray(to_u8(np.asarray(rgb)[..., :3]))
    if u8.shape[:2] != mask.shape:
        raise InkpaintError(
            f"a reference's colour is {u8.shape[1]}x{u8.shape[0]} but its line art is "
            f"{mask.shape[1]}x{mask.shape[0]}: paint the reference on its own line art")
    seg = segment(mask, gap)
    palette = extract_palette(u8, mask)
    filled = seg.filled()
    n = seg.n
    lut = PaletteLUT.build(palette) if len(palette) else None
    code = np.full(n + 1, -1, np.int64)
    if lut is not None:
        exact = lut.exact(u8)
        ok = (exact >= 0) & (seg.labels > 0)
        votes = np.bincount(seg.labels[ok].astype(np.int64) * len(palette) + exact[ok],
                            minlength=(n + 1) * len(palette)).reshape(n + 1, len(palette))
        flat_lab = seg.labels.ravel()
        cnt = np.maximum(np.bincount(flat_lab, minlength=n + 1), 1)
        has = votes.max(1) >= FLAT_SHARE * cnt  # a flat fill, not a gradient or texture
        code[has] = _codes(palette[None])[0][np.argmax(votes[has], 1)]
    flat_lab = seg.labels.ravel()
    cnt = np.maximum(np.bincount(flat_lab, minlength=n + 1), 1)
    mean = np.stack([np.bincount(flat_lab, u8[..., c].ravel(), n + 1) / cnt for c in range(3)], 1)
    ink = _painted_ink(u8, seg, mask, line_pixels)
    return RefCel(u8, mask, seg, filled, palette, code,
                  np.clip(np.rint(mean), 0, 255).astype(np.uint8), features(seg, 2), ink,
                  _seams(u8, mask))


def _seams(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Where a painted key changes colour with no line between (uint8, 255 there): the
    boundaries of fills that outline-free line art or a gap in the lines leaves open, so a
    region of an in-between can span several fills."""
    # a colour step across a 3x3 window: a resampled edge blends over 2-3 px, each step of
    # which may be small; a gradient or shading changes by far less over 2 px
    win = np.ones((3, 3), np.uint8)
    step = cv2.morphologyEx(rgb, cv2.MORPH_GRADIENT, win).max(2) > OFF_PALETTE
    # a drawn line and the fill edges beside it: the window reaches a pixel past the line's
    # anti-aliased fringe (its mask already holds every pixel the line covers at all)
    r = 2
    lined = cv2.dilate((mask > FRINGE).astype(np.uint8),
                       cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1,) * 2))
    return np.where(step & (lined == 0), np.uint8(255), np.uint8(0))


_LUTS: OrderedDict[bytes, PaletteLUT] = OrderedDict()


def _lut(palette: np.ndarray) -> PaletteLUT:
    key = palette.tobytes()
    if key not in _LUTS:
        _LUTS[key] = PaletteLUT.build(palette)
        while len(_LUTS) > 8:
            _LUTS.popitem(last=False)
    _LUTS.move_to_end(key)
    return _LUTS[key]


def compose(line_pixels: np.ndarray | None, network_rgb: np.ndarray, refs: Sequence[RefCel],
            mode: str = DEFAULT_MODE, lines: str = "keep", *, mask: np.ndarray | None = None,
            net_scale: float | None = None, gap: float | None = None,
            motion: FrameMotion | None = None, weights: Weights | None = None,
            keep_evidence: bool = False) -> Composed:
    """Compose one frame at the line art's native size.

    ``line_pixels``: the frame's line art as read (``read_image(path).pixels``; needed for
    ``lines="keep"``, whose colours it supplies); ``mask``: its line mask if already computed
    (``line_art(pixels)[1]``); ``network_rgb``: the network's colours at native size (float
    [0, 1] or uint8 HxWx3); ``refs``: the frame's references, nearest first (carry-over
    prefers the first); ``net_scale``: native size / network working size (how far the
    network's colours bleed across lines, in native px); ``motion``: the frame's keys and
    previous output warped onto it (``core.motion``), without which the decision rests on
    the matcher and the network alone; ``weights``: the decision's (default: shipped)."""
    if mode not in MODES:
        raise InkpaintError(f"unknown compose mode {mode!r}; use one of {', '.join(MODES)}")
    if lines not in LINE_MODES:
        raise InkpaintError(f"unknown line mode {lines!r}; use one of {', '.join(LINE_MODES)}")
    line_pixels = as_line_pixels(line_pixels)
    mask = _mask_of(line_pixels, mask)
    h, w = mask.shape
    net = np.ascontiguousarray(to_u8(np.asarray(network_rgb)[..., :3]))
    if net.shape[:2] != (h, w):
        net = cv2.resize(net, (w, h), interpolation=cv2.INTER_CUBIC)
    same = [r for r in refs if r.shape == (h, w)]
    if mode != "network":
        for r in same:
            if cv2.norm(mask, r.mask, cv2.NORM_INF) <= CARRY_DIFF / 4:  # a held cel
                return Composed(r.rgb.astype(np.float32) / 255, np.ones((h, w), np.float32),
                                1.0, r.seg.n, 0, {"held": 1})

    seg = segment(mask, gap)
    n = seg.n
    palette = merge_palettes([r.palette for r in refs])
    lut = _lut(palette)
    p = len(palette)
    step = max(1, round(np.sqrt(h * w / SAMPLES)))  # statistics from ~SAMPLES pixels
    rows = np.arange(n + 1)
    feats = features(seg, step)

    # Carry-over: static regions (their key's fill) and, in auto, static neighbourhoods
    # (the key's own pixels).
    filled = seg.filled()
    static_col = np.full(n + 1, -1, np.int64)
    carry = None
    if mode != "network" and p:
        pal_codes = _codes(palette[None])[0]
        for k, r in enumerate(same):
            carry = _carry(seg, filled, mask, r, step, pal_codes, static_col, carry, k + 1,
                           pixels=mode == "auto", keep_lines=lines == "keep")

    ev = evidence(seg, net, refs, feats, lut, step, net_scale, motion)
    prob = probabilities(ev, weights or shipped_weights())
    if mode != "auto" and p:  # flat: one palette colour per region, never the keys' pixels
        prob = prob[:, :p] / np.maximum(prob[:, :p].sum(1, keepdims=True), 1e-12)
    chosen = np.argmax(prob, 1) if p else np.full(n + 1, KEEP_CODE)
    conf = prob[rows, chosen].astype(np.float32) if p else np.ones(n + 1, np.float32)
    keep = chosen == p
    static = static_col >= 0
    chosen = np.where(static, static_col, np.where(keep, KEEP_CODE, chosen))
    keep &= ~static
    conf[static] = 1.0
    if mode == "network":
        keep[:] = True
        chosen[:] = KEEP_CODE
    chosen[0] = 0 if p else KEEP_CODE
    keep_img, warped = net, None
    if motion is not None and motion.keys and mode == "auto":  # the keys' own pixels
        warped = blend(motion.keys)
        if motion.track is not None:  # where the keys' warps fail, the frame before's
            clear = np.minimum(seg.dist * np.float32(1 / RIM), np.float32(1))
            warped = fill_in(*warped, motion.track, clear), warped[1]
        keep_img = warped[0]
    out = _paint(seg, palette, chosen, keep_img)
    source = np.where(static, STATIC, np.where(keep, KEEP, FLAT)).astype(np.int8)
    if warped is not None:
        split = _follow_warp(out, seg, motion.keys, *warped, source == FLAT, step, lut)
        source[split] = SPLIT
        if carry is not None:  # its correspondence with a key's region does not hold
            carry[split[filled]] = 0

    if carry is not None:  # regions whose pixels all come from a reference
        lab_s, carry_s = filled[::step, ::step], carry[::step, ::step]
        done = np.bincount(lab_s[carry_s > 0], minlength=n + 1) >= 0.98 * np.bincount(
            lab_s.ravel(), minlength=n + 1)
        source[done & ~static & (rows > 0)] = CARRIED
        conf[source == CARRIED] = 1.0
        for k, r in enumerate(same):
            out = cv2.copyTo(r.rgb, (carry == k + 1).view(np.uint8), out)
    conf[0] = 1.0
    if mode == "network" and np.asarray(network_rgb).dtype != np.uint8 and \
            np.asarray(network_rgb).shape[:2] == (h, w):
        rgb = np.clip(np.asarray(network_rgb, np.float32)[..., :3], 0, 1)  # exactly as given
    else:
        rgb = np.multiply(out, np.float32(1 / 255), dtype=np.float32)
    if mode != "network":
        ink = next((r.ink for r in refs if r.ink is not None), None)
        _lines(rgb, seg, mask, line_pixels, lines, carry, ink,
               np.isin(source, (KEEP, SPLIT)))
        if warped is not None and lines == "keep":
            # keys that painted their lines in no dark colour (line art extracted from the
            # colour's edges: the lines are not in the paint) are followed on every line pixel
            painted = ink is None or float(ink.max()) < LINE_DARK
            _warp_lines(rgb, mask, *warped, carry, painted)

    cmap = seg.per_pixel(conf)
    if carry is not None:
        cmap[carry > 0] = 1.0
    judged = (feats.area >= MIN_AREA) & (rows > 0)
    score = float(conf[judged].mean()) if judged.any() else 1.0
    counts = np.bincount(source[1:].astype(np.int64), minlength=len(SOURCE_NAMES))
    sources = {name: int(c) for name, c in zip(SOURCE_NAMES, counts) if c}
    if carry is not None:
        sources["carried_px"] = int(np.count_nonzero(carry))
    return Composed(rgb, cmap, score, int(judged.sum()), int((conf[judged] < FLAGGED).sum()),
                    sources, (seg, ev, palette) if keep_evidence else None)


def evidence(seg: Segmentation, net: np.ndarray, refs: Sequence[RefCel],
             feats: RegionFeatures, lut: PaletteLUT, step: int, net_scale: float | None,
             motion: FrameMotion | None) -> Evidence:
    """Everything that says which fill each region has (``decide``): the warped keys, the
    tracked previous frame, the counterpart matcher and the network's vote."""
    n, p = seg.n, max(len(lut.palette), 1)
    shares = np.zeros((n + 1, len(EVIDENCE), p))
    keep = np.zeros((n + 1, len(KEEP_FEATURES)))
    keep[:, 0] = 1.0
    idx = seg.samples(step)  # one sample grid for every source's statistics
    thin = thinness(seg, idx)
    if len(lut.palette):
        votes, _, weight = _vote(seg, net, lut, idx, net_scale)
        shares[:, EVIDENCE.index("net")] = votes / np.maximum(weight, 1e-9)[:, None]
    if refs and len(lut.palette):
        k_ref, reg, sim = best_matches(feats, [r.feats for r in refs])
        offsets = np.cumsum([0] + [r.seg.n + 1 for r in refs])
        ref_code = np.concatenate([r.region_code for r in refs])[offsets[k_ref] + reg]
        pal_codes = _codes(lut.palette[None])[0]
        pos = np.minimum(np.searchsorted(pal_codes, ref_code), p - 1)
        known = (ref_code >= 0) & (pal_codes[pos] == ref_code)
        shares[np.flatnonzero(known), EVIDENCE.index("match"), pos[known]] = sim[known]
        keep[:, KEEP_FEATURES.index("match_off")] = np.where(ref_code < 0, sim, 0.0)
    if motion is not None and len(lut.palette):
        if motion.keys:
            total = total_weight(motion.keys)
            for k in motion.keys:
                v, off, second = image_votes(seg, to_u8(k.rgb), k.weight / total * k.valid,
                                             lut, idx)
                shares[:, EVIDENCE.index("warp")] += v
                keep[:, KEEP_FEATURES.index("warp_off")] += off
                keep[:, KEEP_FEATURES.index("warp_second")] += second
        if motion.track is not None:
            t = motion.track
            v, off, second = image_votes(seg, to_u8(t.rgb), t.valid, lut, idx)
            shares[:, EVIDENCE.index("track")] = v
            keep[:, KEEP_FEATURES.index("track_off")] = off
            keep[:, KEEP_FEATURES.index("track_second")] = second
    return Evidence(shares, keep, thin)


def _vote(seg: Segmentation, net: np.ndarray, lut: PaletteLUT, idx: np.ndarray,
          net_scale: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region: weighted palette votes [n+1, P], mean distance to the nearest palette
    colour and total weight, from the pixels ``idx`` (``Segmentation.samples``)."""
    n, p = seg.n, max(len(lut.palette), 1)
    margin = 1.0 + (net_scale or 1.0)
    lab = seg.labels.ravel()[idx]
    index, dist = lut.nearest(net.reshape(-1, 3)[idx])
    wgt = np.clip(seg.dist.ravel()[idx] * np.float32(1 / margin), 0.1, 1.0)
    votes = np.bincount(lab.astype(np.int64) * p + index, wgt, (n + 1) * p)
    dsum = np.bincount(lab, wgt * dist, n + 1)
    weight = np.bincount(lab, wgt, n + 1)
    fit = dsum / np.maximum(weight, 1e-9)
    return votes.reshape(n + 1, p), fit, weight


def _carry(seg: Segmentation, filled: np.ndarray, mask: np.ndarray, ref: RefCel, step: int,
           pal_codes: np.ndarray, static_col: np.ndarray, carry: np.ndarray | None,
           number: int, *, pixels: bool, keep_lines: bool) -> np.ndarray | None:
    """Static regions (whole footprint's line art unchanged) get ``ref``'s fill in
    ``static_col`` (palette index); with ``pixels``, every not yet carried pixel whose
    neighbourhood is unchanged and whose reference region corresponds to its own region
    gets ``number`` (the reference's 1-based place in the list) in the returned ``carry``
    map."""
    n = seg.n
    diff = _line_moved(mask, ref.mask).view(np.uint8)
    rad = int(np.ceil(seg.line_width)) + 2
    near = cv2.dilate(diff, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * rad + 1,) * 2))
    near = near.view(bool)
    lab_s = seg.labels[::step, ::step]
    near_s = near[::step, ::step]
    changed = np.bincount(lab_s[near_s], minlength=n + 1)
    present = np.bincount(lab_s.ravel(), minlength=n + 1)
    static = (changed == 0) & (present > 0) & (static_col < 0)
    static[0] = False
    rf_s = ref.filled[::step, ::step]
    if static.any():
        # the reference's fill over each static region (its palette colour, if flat)
        sel = static[lab_s]
        ref_code = ref.region_code[rf_s[sel]]
        pos = np.minimum(np.searchsorted(pal_codes, ref_code), len(pal_codes) - 1)
        ok = pal_codes[pos] == ref_code
        nr = len(pal_codes)
        v = np.bincount(lab_s[sel][ok].astype(np.int64) * nr + pos[ok],
                        minlength=(n + 1) * nr).reshape(n + 1, nr)
        good = static & (v.sum(1) > 0)
        static_col[good] = np.argmax(v[good], 1)
    if not pixels:
        return carry
    # correspondence: the reference region that overlaps each region most, kept only when
    # the two are the same shape in the same place (intersection over union), so a part that
    # moved onto where another part was is not painted with that other part's colour
    ft_s = filled[::step, ::step]
    nr = ref.seg.n + 1
    codes = ft_s.ravel().astype(np.int64) * nr + rf_s.ravel()
    if (n + 1) * nr <= _DENSE_HIST:
        hist = np.bincount(codes, minlength=(n + 1) * nr).reshape(n + 1, nr)
        corr = np.argmax(hist, 1)
        best = hist[np.arange(n + 1), corr]
        area_t = hist.sum(1)
        area_r = hist.sum(0)[corr]
    else:
        uniq, cnt = np.unique(codes, return_counts=True)
        t_of, r_of = uniq // nr, uniq % nr
        order = np.lexsort((cnt, t_of))
        last = order[np.append(np.flatnonzero(np.diff(t_of[order])), len(order) - 1)]
        corr = np.zeros(n + 1, np.int64)
        best = np.zeros(n + 1, np.int64)
        corr[t_of[last]] = r_of[last]
        best[t_of[last]] = cnt[last]
        area_t = np.bincount(t_of, cnt, n + 1)
        area_r = np.bincount(r_of, cnt, nr)[corr]
    iou = best / np.maximum(area_t + area_r - best, 1)
    corr = np.where(iou >= CARRY_IOU, corr, -1).astype(np.int32)
    corr[0] = -1
    mine = (ref.filled == seg.per_pixel(corr)) & ~near
    if not keep_lines:
        mine &= mask <= FRINGE
    if carry is None:
        carry = np.zeros(mask.shape, np.uint8)
    else:
        mine &= carry == 0
    carry[mine] = number
    return carry


def _line_moved(mask: np.ndarray, ref_mask: np.ndarray) -> np.ndarray:
    """Where the line art differs from a key's (bool HxW): coverage changed by more than
    ``CARRY_DIFF``, or, beside a drawn line's core, by more than ``EDGE_DIFF``. A line that
    moved by a fraction of a pixel changes only the coverage of its anti-aliased edge, and
    the key's pixels there show the edge where it was (Synfig's eye, clips of 8 and 24: +0.7
    and +1.3 dB PSNR, +1.5 and +0.6 dB moving-part PSNR); faint marks that jitter between
    drawings without moving anything (sketch strokes, paper grain) have no core and keep
    carrying the key's pixels (procedural shots' painted backgrounds)."""
    d = cv2.absdiff(mask, ref_mask)
    core = cv2.dilate(cv2.max(mask, ref_mask), np.ones((3, 3), np.uint8)) >= LINE_CORE
    return (d > CARRY_DIFF) | ((d > EDGE_DIFF) & core)


KEEP_CODE = 255  # code-map value of pixels that take the keys' (or network's) own colours
_DENSE_HIST = 1 << 22  # region pairs up to which the overlap histogram is a dense bincount


def _paint(seg: Segmentation, palette: np.ndarray, chosen: np.ndarray,
           keep_img: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 fills: each region its palette colour (``chosen``), or ``keep_img``'s own
    pixels where ``chosen`` is ``KEEP_CODE`` (ink pixels take their nearest region's fill
    for now). Every pixel gets a one-byte code turned into colour by one table lookup."""
    if len(palette) >= KEEP_CODE:  # too many colours for a byte: a slower gather
        table = np.vstack([palette, np.zeros((1, 3), np.uint8)])
        out = table[np.minimum(chosen, len(palette))][seg.filled()]
        keep = seg.per_pixel(chosen == KEEP_CODE).astype(bool)
        out[keep] = keep_img[keep]
        return out
    code = seg.per_pixel(chosen.astype(np.uint8))
    out = _coloured(code, palette)
    if (chosen == KEEP_CODE).any():
        out = cv2.copyTo(keep_img, cv2.compare(code, KEEP_CODE, cv2.CMP_EQ), out)
    return out


def _follow_warp(out: np.ndarray, seg: Segmentation, keys: Sequence[WarpedKey],
                 warped: np.ndarray, valid: np.ndarray, flat: np.ndarray, step: int,
                 lut: PaletteLUT) -> np.ndarray:
    """Warp-first inside regions that are not one fill, in place on ``out`` (uint8 fills):
    a region given one palette colour (``flat``, per region) spans several fills of the keys
    when, where the keys' warp holds,

    - a key's seam crosses it (outline-free line art: the paint changes colour with no line
      between), or
    - the warped keys show another colour over a part whose edge runs along the region's
      own lines (``_drawn_parts``): a part the lines draw, joined to its neighbour by a gap
      the segmentation did not close (a leg whose outline ends at the frame's edge or stops
      short of the pedal it rests on).

    Its pixels then take the keys' fills as they move (``_morph_fills``), and the warped
    keys' pixels (``warped``, ``valid``: their ``blend``) where those are not fills. Returns
    the regions so treated (bool [n+1])."""
    flat = flat.copy()
    flat[0] = False  # ink
    split = _drawn_parts(out, seg, warped, valid, flat, step)
    if all(k.seams is not None for k in keys):
        total = total_weight(keys)
        seam = np.sum([k.weight / total * k.valid * k.seams for k in keys], axis=0)
        crossed = (seam >= 255 * WARP_HOLDS) & flat[seg.labels]
        # a seam shorter than a line is wide is a speck of anti-aliasing, not a boundary
        split |= np.bincount(seg.labels[crossed], minlength=seg.n + 1) > np.ceil(seg.line_width)
    split[0] = False
    if split.any():
        _morph_fills(out, seg, keys, warped, split, lut, step)
    return split


def _morph_fills(out: np.ndarray, seg: Segmentation, keys: Sequence[WarpedKey],
                 warped: np.ndarray, split: np.ndarray, lut: PaletteLUT, step: int) -> None:
    """Paint the regions ``split`` (bool [n+1]) in place on ``out``. Those the keys paint
    in fills (cel paint): each pixel the palette colour whose area it lies in when the keys'
    fill boundaries are morphed between them, but where most of the keys' weight shows
    paint that is no fill. There, and in the other regions (gradients, textures), the keys'
    blended pixels (``warped``).

    A boundary with no line on it (a cel-shading band's edge, a leg joined to the pedal by
    a gap) has nothing for the flow to hold on to, so the two keys bring it to two places.
    Blended pixel by pixel, both places show, each half strength: a ghost band of colours
    that are no fill (drawings' shading bands, clips of 8: most such regions wrong). Here
    each fill's signed distance (positive inside) is taken in each warped key and averaged
    by the keys' weights (validity x agreement x nearness in time), and each pixel takes
    the fill with the largest: the boundary moves from where the earlier key has it to
    where the later key has it, as the frames go, and the paint stays palette-exact.

    The distances are taken on the statistics' grid (``step``) and interpolated: a signed
    distance is smooth, so its zero crossing lands within a fraction of the grid, and at
    1080p one fill over the whole frame costs 4 distance transforms of 130k px, not of 2 Mpx.
    """
    inside = lookup(split, seg.compact(filled=False))
    x, y, bw, bh = cv2.boundingRect(inside.view(np.uint8))
    box = (slice(y, y + bh), slice(x, x + bw))
    inside = inside[box]
    grid = (slice(step // 2, None, step),) * 2  # the cells' centres
    lab = np.where(inside, seg.labels[box], 0)[grid]
    far = float(bh + bw)  # no fill of this colour in the box: farther than any
    fills, weights, off_share, cel, allowed = _key_fills(seg, keys, lut, box, grid, lab, step)
    labels = seg.compact(filled=False)[box]
    in_split = inside.copy()
    inside &= lookup(cel, labels)
    classes = np.flatnonzero(allowed.any(0))
    best = np.full((bh, bw), -np.inf, np.float32)
    choice = np.zeros((bh, bw), np.uint8 if len(classes) <= 256 else np.intp)
    for i, c in enumerate(classes):
        score = np.zeros(lab.shape, np.float32)
        for w, f in zip(weights, fills):
            # distance to the nearest pixel of another fill, less that to the nearest of
            # this one: ink and off-palette paint are neither, so a band that runs to a
            # line is as deep as its width from the other fill, not from the line
            signed = _distance((f >= 0) & (f != c)) - _distance(f == c)
            score += w * np.clip(signed, -far, far)
        score = cv2.resize(score, (bw, bh), interpolation=cv2.INTER_LINEAR) if step > 1 \
            else score
        # only where the fill is one of the region's: the box of those regions
        mine = lookup(allowed[:, c], labels)
        sx, sy, sw, sh = cv2.boundingRect(mine.view(np.uint8))
        sub = (slice(sy, sy + sh), slice(sx, sx + sw))
        better = mine[sub] & (score[sub] > best[sub])
        np.copyto(choice[sub], i, where=better)
        np.copyto(best[sub], score[sub], where=better)
    if step > 1:
        off_share = cv2.resize(off_share, (bw, bh), interpolation=cv2.INTER_LINEAR)
    # paint the keys hold off-palette (a gradient, a texture, a sprite's shading by its
    # outline) stays theirs
    fill = inside & (off_share <= 0.5) & (best > -np.inf)
    region = np.ascontiguousarray(out[box])
    if len(classes):
        colours = lut.palette[classes]
        painted = colours[choice] if len(colours) > 256 else _coloured(choice, colours)
        region = cv2.copyTo(painted, fill.view(np.uint8), region)
    out[box] = cv2.copyTo(warped[box], (in_split & ~fill).view(np.uint8), region)


def _key_fills(seg: Segmentation, keys: Sequence[WarpedKey], lut: PaletteLUT,
               box: tuple[slice, slice], grid: tuple[slice, slice], lab: np.ndarray, step: int
               ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """What ``_morph_fills`` morphs, on the grid ``grid`` of the box ``box`` (``lab``: the
    regions to paint there, 0 elsewhere): per key its fills (palette index, -1 off the
    palette) and its weight (the key's mean weight over each region, per cell); the share of
    the keys' weight that is off the palette, per cell; which regions are cel paint (bool
    [n+1]); and each region's candidate fills (bool [n+1, P])."""
    count = np.maximum(np.bincount(lab.ravel(), minlength=seg.n + 1), 1)
    fills, weights = [], []
    off_share = np.zeros(lab.shape, np.float32)
    exact, weight = np.zeros(seg.n + 1), np.zeros(seg.n + 1)
    deep = seg.dist[box][grid] >= RIM  # clear of the lines' anti-aliased rim
    paint = np.zeros(seg.n + 1)  # the most off-palette paint a key's warp shows deep in a region
    r = max(1, round(PART_WIDTHS * seg.line_width / (2 * step)))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)
    for k in keys:
        u8 = to_u8(k.rgb[box][grid])
        index, dist = lut.nearest(u8)
        off = dist > OFF_PALETTE
        fills.append(np.where(off, -1, index))
        # one weight per key and region (its mean): the validity is noisy inside flat paint,
        # where the flow has nothing to check against, and per pixel it tore one boundary
        # into patches of both keys' fills
        mean = np.bincount(lab.ravel(), k.weight[box][grid].ravel(), seg.n + 1) / count
        weights.append(mean.astype(np.float32)[lab])
        off_share += weights[-1] * off
        exact += mean * np.bincount(lab[dist == 0], minlength=seg.n + 1)  # a fill exactly
        weight += mean * count
        # off-palette paint where the warp holds (elsewhere the flow dragged in what is
        # near), in parts at least a line width wide: the anti-aliased edge between two fills
        # is off the palette too, but a pixel or two wide
        part = cv2.erode((off & (k.valid[box][grid] >= WARP_HOLDS)).view(np.uint8), disk)
        paint = np.maximum(paint, np.bincount(lab[(part > 0) & deep], minlength=seg.n + 1))
    off_share /= np.maximum(np.sum(weights, axis=0), np.float32(1e-12))
    # cel paint: regions where the keys show exact palette colours on at least FLAT_SHARE of
    # the pixels (as a reference region is flat), and no part off the palette larger than a
    # speck (a line width squared). Other regions keep the blend: a gradient has colours
    # near a fill too (Synfig's eye: snapped to the nearest fill, -2 to -4 dB), and a
    # sprite's shaded body in the paper's region (its extracted outline has gaps) took the
    # paper's white wherever most of the keys' weight did not show the body (-0.9 dB).
    cel = (exact >= FLAT_SHARE * np.maximum(weight, 1e-12)) & \
        (paint * step * step < seg.line_width ** 2)
    # each region's fills: those the keys show in it clear of the lines' rim (there a warp a
    # pixel off shows the neighbour's fill: on line art extracted from the colour, the paper
    # around a sprite made a white halo inside its outline), but specks: fewer pixels (all
    # keys together) than a line width squared is anti-aliasing; each fill costs two
    # distance transforms per key
    p = len(lut.palette)
    found = np.zeros((seg.n + 1) * p)
    for f in fills:
        ok = deep & (lab > 0) & cel[lab] & (f >= 0)
        found += np.bincount(lab[ok].astype(np.int64) * p + f[ok], minlength=(seg.n + 1) * p)
    allowed = found.reshape(seg.n + 1, p) * step * step >= seg.line_width ** 2
    return fills, weights, off_share, cel, allowed


def _coloured(code: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """uint8 HxWx3: ``colours`` (at most 256) indexed by the one-byte ``code`` (uint8 HxW),
    by one table lookup (a numpy gather with int indices costs several times more at 1080p;
    codes past ``colours`` are black)."""
    table = np.zeros((256, 1, 3), np.uint8)
    table[: len(colours), 0] = colours
    return cv2.LUT(cv2.merge([code, code, code]), table)


def _distance(to: np.ndarray) -> np.ndarray:
    """float32: each pixel's distance to the nearest pixel of ``to`` (bool), OpenCV's large
    value where there is none."""
    return cv2.distanceTransform((~to).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _drawn_parts(out: np.ndarray, seg: Segmentation, warped: np.ndarray, valid: np.ndarray,
                 flat: np.ndarray, step: int) -> np.ndarray:
    """Regions (bool [n+1], among ``flat``) in which the warped keys, where they hold, show
    a colour other than the region's fill over a part (at least ``PART_WIDTHS`` line widths
    wide, ``PART_AREA`` line widths square) whose edge runs along drawn lines for at least
    ``DRAWN_EDGE`` of its length. Paint a failed flow dragged over open paper has an edge in
    the open, and so, in part, has a neighbour's paint that a warp a little off brings in
    along their line; a part that the lines draw, joined to its neighbour by a gap, has all
    its edge on the lines but the gap. On the statistics' grid (``step``): the keys'
    validity is no finer."""
    lab = seg.labels[::step, ::step]
    fill = out[::step, ::step]
    other = cv2.compare(cv2.absdiff(warped[::step, ::step], fill).max(2), OFF_PALETTE,
                        cv2.CMP_GT)
    other &= cv2.compare(valid[::step, ::step], WARP_HOLDS, cv2.CMP_GE)
    other &= lookup(flat, seg.compact(filled=False)[::step, ::step]).view(np.uint8)
    n = seg.n + 1
    # a part that survives an erosion to half its minimum width: a strip along a line (a
    # warp a pixel or two off) does not, however long
    r = max(1, round(PART_WIDTHS * seg.line_width / (2 * step)))
    core = cv2.erode(other, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    area = np.bincount(lab[other > 0], minlength=n) * step * step
    big = (np.bincount(lab[core > 0], minlength=n) > 0) & \
        (area >= (PART_AREA * seg.line_width) ** 2)
    if not big.any():
        return np.zeros(n, bool)
    # its edge: the part's pixels next to one that is not the part (the frame's edge does
    # not count: erosion's border is the part's own)
    edge = (other > 0) & (cv2.erode(other, np.ones((3, 3), np.uint8)) == 0)
    drawn = edge & (seg.dist[::step, ::step] <= seg.line_width + step)
    along = np.bincount(lab[drawn], minlength=n) / np.maximum(
        np.bincount(lab[edge], minlength=n), 1)
    return big & (along >= DRAWN_EDGE)


def _lines(rgb: np.ndarray, seg: Segmentation, mask: np.ndarray,
           line_pixels: np.ndarray | None, lines: str, carry: np.ndarray | None,
           painted_ink: np.ndarray | None = None,
           per_pixel: np.ndarray | None = None) -> None:
    """Line pixels, in place: the fill under each is its nearest region pixel's (already
    there for one-colour regions; looked up for the regions in ``per_pixel``, whose colour
    varies); ``keep`` composites the drawn line over it (``_unmix``), black and grey lines in
    the colour the references painted them (``painted_ink``), coloured lines in their own."""
    pix = np.flatnonzero(mask.ravel() > FRINGE if lines == "keep" else
                         mask.ravel() >= INK_THRESHOLD)
    if carry is not None:
        pix = pix[carry.ravel()[pix] == 0]
    if not len(pix):
        return
    flat = rgb.reshape(-1, 3)
    varies = None if per_pixel is None else per_pixel[seg.filled_labels.ravel()[pix]]

    def under(sel: np.ndarray) -> np.ndarray:
        if varies is not None:
            sel = sel & varies
        out = flat[pix]
        out[sel] = flat[seg.nearest(pix[sel])]
        return out

    if lines == "fill":
        flat[pix] = under(np.ones(len(pix), bool))
        return
    alpha, ink = _unmix(line_pixels, mask, pix)
    if painted_ink is not None:
        ink[_neutral(ink)] = painted_ink
    flat[pix] = ink * alpha + under(alpha[:, 0] < 0.999) * (1 - alpha)


def _warp_lines(rgb: np.ndarray, mask: np.ndarray, warped: np.ndarray, valid: np.ndarray,
                carry: np.ndarray | None, painted: bool = True) -> None:
    """Warp-first on the lines, in place: where the keys' warp holds, a line and its
    anti-aliased rim take the keys' own painted pixels (the colour they painted the ink, the
    fill's blend into it), weighted by how far the warp holds; drawn again from the line art
    only where no key's warp does (``warped``, ``valid``: ``blend`` of the warped keys).
    Lines the keys did not paint as lines (not ``painted``) are not drawn at all: they take
    the warped keys' pixels even where the warp is unsure. Fills stay the decision's."""
    rim = cv2.dilate((mask > FRINGE).view(np.uint8), np.ones((3, 3), np.uint8))
    if carry is not None:
        rim[carry > 0] = 0
    pix = np.flatnonzero(rim.ravel())
    if not len(pix):
        return
    v = valid.ravel()[pix][:, None] if painted else np.float32(1)
    flat = rgb.reshape(-1, 3)
    keys = warped.reshape(-1, 3)[pix].astype(np.float32) / 255  # RefCel pixels are uint8
    flat[pix] = v * keys + (1 - v) * flat[pix]


def _neutral(ink: np.ndarray) -> np.ndarray:
    """Line colours that are black ink: dark and grey (channel by channel: numpy reduces a
    length-3 axis slowly)."""
    r, g, b = ink[:, 0], ink[:, 1], ink[:, 2]
    hi = np.maximum(np.maximum(r, g), b)
    lo = np.minimum(np.minimum(r, g), b)
    return (hi < NEUTRAL) & (hi - lo < NEUTRAL)


def _over_white(line_pixels: np.ndarray, mask: np.ndarray, pix: np.ndarray) -> np.ndarray:
    """The line art's colour at ``pix`` over white, paper normalised to white (as
    ``line_art`` does), float32 [len(pix), 3]."""
    px = np.asarray(line_pixels, np.float32)
    if px.ndim == 2:
        px = px[..., None]
    c = px.shape[2]
    flat = px.reshape(-1, c)[pix]
    if c == 4:
        alpha = np.clip(flat[:, 3:], 0, 1)
        return flat[:, :3] * alpha + (1 - alpha)
    flat = np.repeat(flat, 3, 1) if c == 1 else flat[:, :3]
    sample = px[::7, ::7].reshape(-1, c)[(mask[::7, ::7] <= FRINGE).ravel()]
    paper = np.median(sample, 0) if len(sample) else np.ones(c, np.float32)
    paper = np.maximum(np.repeat(paper, 3) if c == 1 else paper[:3], 0.05)
    return np.clip(flat / paper, 0, 1)


def _unmix(line_pixels: np.ndarray | None, mask: np.ndarray, pix: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """(opacity [len(pix), 1], colour [len(pix), 3]) of the drawn line at ``pix``: the line
    art is the line over white paper, L = (1 - a) + a ink, taken with the largest
    transparency that explains it (a = 1 - darkest channel), so black ink is black at its
    coverage, grey pencil is black at partial opacity (paint shows through, as under a
    pencil line) and a red line is red."""
    if line_pixels is None:
        return mask.ravel()[pix][:, None], np.zeros((len(pix), 3), np.float32)
    col = _over_white(line_pixels, mask, pix)
    alpha = (1 - np.minimum(np.minimum(col[:, 0], col[:, 1]), col[:, 2]))[:, None]
    ink = (col - (1 - alpha)) / np.maximum(alpha, 1e-3)
    return alpha, np.clip(ink, 0, 1)


def _painted_ink(rgb: np.ndarray, seg: Segmentation, mask: np.ndarray,
                 line_pixels: np.ndarray | None) -> np.ndarray | None:
    """The colour a reference painted its black/grey lines in (median over its strongly
    inked pixels, the fill showing through a partly opaque line taken out), or None when it
    has too few such pixels to tell."""
    pix = np.flatnonzero(mask.ravel() > 0.9)
    if len(pix) < 20:
        return None
    alpha, ink = _unmix(line_pixels, mask, pix)
    ok = (alpha[:, 0] > 0.5) & _neutral(ink)
    if ok.sum() < 20:
        return None
    a = alpha[ok]
    painted = rgb.reshape(-1, 3)[pix[ok]].astype(np.float32) / 255
    under = rgb.reshape(-1, 3)[seg.nearest(pix[ok])].astype(np.float32) / 255
    est = (painted - under * (1 - a)) / a
    return np.clip(np.median(est, 0), 0, 1).astype(np.float32)
