"""Region-level evaluation for the composition (issue 8, item 5): region accuracy, pixel
accuracy, and the network-free region matcher baseline.

Ink-and-paint is judged per region: a fill is either the model-sheet colour or it is a
retake. PSNR hides that (a wrong eye colour costs a fraction of a dB), so next to it:

- ``region_accuracy``: the true frame's flat regions (4-connected areas of one palette colour
  away from the lines; gradients and textures are not fills and are not counted), and the
  share of them whose prediction equals the true fill (within ``tol`` per channel) on at
  least ``agree`` of their pixels. Every region counts once, whatever its size, as in a
  retake list.
- ``pixel_accuracy``: the share of pixels (away from the lines, whose anti-aliased colours
  depend on the ink colour of the painted frame) whose colour equals the truth within ``tol``.
- ``match_colours``: what paint-bucket tools do without any network: each region of the
  frame takes the colour of the reference region that best matches it by position, area,
  shape and neighbours (``core.compose.match``). The network has to beat it.

Images: float [0, 1] or uint8 HxWx3; line art: a line image (float, 1 = paper) or uint8
(255 = paper) HxW or HxWxC, as ``read_image`` gives or as ``render_shot`` makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..compose.composer import RefCel, _lines, as_line_pixels
from ..compose.match import RegionFeatures, features, match_regions
from ..compose.palette import _codes, _uncode, extract_palette, to_u8
from ..compose.segment import Segmentation, segment
from ..preprocess import line_art

TOL = 3 / 255  # "equal": 8-bit rounding and light compression
AGREE = 0.9
MIN_AREA = 12  # px


def _line_pixels(lines: np.ndarray) -> np.ndarray:
    return as_line_pixels(lines)


def line_mask(lines: np.ndarray) -> np.ndarray:
    """Line coverage (1 = ink) of a line image, as the composition sees it."""
    return line_art(_line_pixels(lines))[1]


def _away_from_lines(lines: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if lines is None:
        return np.ones(shape, bool)
    near = cv2.dilate((line_mask(lines) > 0.02).view(np.uint8), np.ones((3, 3), np.uint8))
    return ~near.view(bool)


def _close(pred: np.ndarray, gt: np.ndarray, tol: float) -> np.ndarray:
    diff = cv2.absdiff(to_u8(pred), to_u8(gt)).max(axis=2)
    return diff <= int(round(tol * 255))


def fill_regions(gt: np.ndarray, lines: np.ndarray | None = None,
                 palette: np.ndarray | None = None, min_area: int = MIN_AREA
                 ) -> tuple[np.ndarray, int]:
    """The true frame's flat regions: (labels int32 HxW, 0 = not a fill; count). ``palette``
    (uint8 [P, 3]) names the fill colours; None reads them off ``gt``."""
    u8 = to_u8(gt)
    away = _away_from_lines(lines, u8.shape[:2])
    if palette is None:
        palette = extract_palette(u8, None if lines is None else line_mask(lines))
    code = _codes(u8)
    fill = np.isin(code, _codes(np.asarray(palette, np.uint8)[None])[0]) & away
    # drop the pixels where two fills meet without a line, so each component is one colour
    edge = np.zeros(fill.shape, bool)
    h_edge = code[:, 1:] != code[:, :-1]
    v_edge = code[1:] != code[:-1]
    edge[:, 1:] |= h_edge
    edge[:, :-1] |= h_edge
    edge[1:] |= v_edge
    edge[:-1] |= v_edge
    fill &= ~edge
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fill.view(np.uint8), connectivity=4)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    ids = np.zeros(n, np.int32)
    ids[keep] = np.arange(1, int(keep.sum()) + 1)
    return ids[lab], int(keep.sum())


def region_accuracy(pred: np.ndarray, gt: np.ndarray, lines: np.ndarray | None = None,
                    palette: np.ndarray | None = None, tol: float = TOL,
                    agree: float = AGREE) -> float:
    """Share of the true frame's flat regions whose prediction equals their fill (see the
    module docstring); nan when the frame has no flat region."""
    labels, n = fill_regions(gt, lines, palette)
    if n == 0:
        return float("nan")
    ok = _close(pred, gt, tol)
    good = np.bincount(labels.ravel(), ok.ravel(), n + 1)[1:]
    total = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return float(np.mean(good >= agree * total))


def pixel_accuracy(pred: np.ndarray, gt: np.ndarray, lines: np.ndarray | None = None,
                   tol: float = TOL) -> float:
    """Share of pixels (away from the lines when ``lines`` is given) equal within ``tol``."""
    ok = _close(pred, gt, tol)
    away = _away_from_lines(lines, ok.shape)
    return float(ok[away].mean()) if away.any() else float("nan")


@dataclass
class MatchProblem:
    """A frame's regions and its references' regions as the region matcher sees them: what
    ``match_colours`` solves, and what other matching cues (``core.eval.semantic``) reuse so
    that every matcher is judged on the same regions and paints the same way."""

    pixels: np.ndarray  # the frame's line art (float HxWxC)
    mask: np.ndarray  # its line coverage
    seg: Segmentation
    target: RegionFeatures
    ref_feats: list[RegionFeatures]
    ref_cols: list[np.ndarray]  # per reference, each region's index into ``table``
    table: np.ndarray  # RGB codes of the references' fills (flat colour, else region mean)


def match_problem(lines: np.ndarray, refs: Sequence[RefCel]) -> MatchProblem:
    """Segment the frame whose line art is ``lines`` and tabulate its references' fills."""
    px = _line_pixels(lines)
    mask = line_art(px)[1]
    seg = segment(mask)
    codes = []
    for r in refs:
        mean_code = _codes(r.region_mean[None])[0].astype(np.int64)
        codes.append(np.where(r.region_code >= 0, r.region_code, mean_code))
    table, inv = np.unique(np.concatenate(codes), return_inverse=True)
    offsets = np.cumsum([0] + [len(c) for c in codes])
    ref_cols = [inv[offsets[k]:offsets[k + 1]] for k in range(len(refs))]
    return MatchProblem(px, mask, seg, features(seg, 1, neighbours=True),
                        [features(r.seg, 1, neighbours=True) for r in refs], ref_cols, table)


def paint_matched(problem: MatchProblem, colour: np.ndarray, refs: Sequence[RefCel],
                  line_mode: str = "keep") -> np.ndarray:
    """float32 HxWx3: each region the fill ``colour`` (index into ``problem.table``) names,
    lines as in the composition."""
    fills = _uncode(problem.table)[np.maximum(colour, 0)]
    out = fills[problem.seg.filled()].astype(np.float32) / 255
    _lines(out, problem.seg, problem.mask, problem.pixels, line_mode, None,
           next((r.ink for r in refs if r.ink is not None), None))
    return out


def match_colours(lines: np.ndarray, refs: Sequence[RefCel], line_mode: str = "keep",
                  rounds: int = 2) -> np.ndarray:
    """The network-free region matcher baseline: float32 HxWx3 for the frame whose line art
    is ``lines``, from references prepared with ``core.compose.prepare_reference``. Each region
    takes the fill of its best-matching reference region (a flat fill's exact colour, else
    the region's mean colour); lines as in the composition."""
    pb = match_problem(lines, refs)
    colour, _ = match_regions(pb.target, pb.ref_feats, pb.ref_cols, len(pb.table), rounds)
    return paint_matched(pb, colour, refs, line_mode)


def copy_nearest(ref_rgb: np.ndarray) -> np.ndarray:
    """The copy-nearest-reference baseline (the nearest reference's colours as they are)."""
    return to_u8(ref_rgb).astype(np.float32) / 255
