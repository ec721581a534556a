"""Turning the line art and colour frames users have into what the networks were trained on.

The networks expect clean line images (white paper, black ink), distance field maps made from
them (paper sec. 3.1, after SketchyGAN: lines are sparse, distances make matching between
frames easier) and sizes that are multiples of the encoder's stride. Real inputs are scans on
grey, noisy paper, Grease Pencil renders on transparency, coloured shadow and highlight lines
or white-on-black exports; this module removes those differences.
"""

from dataclasses import dataclass

import cv2
import numpy as np

_INVERT_BELOW = 0.5  # median brightness under which an image is taken as white-on-black
_INK_PERCENTILE = 0.1  # the darkest 0.1 % of pixels set the ink level...
_MIN_INK_CONTRAST = 0.25  # ...if they are at least this much darker than the paper
_NOISE_SIGMAS = 3.0  # paper grain within this many standard deviations is not ink
# Every this many rows and columns, the pixels whose order statistics guess a quantile
# (``_quantile``): 1/64 of a frame, some 32k pixels at 1080p, is plenty to hit the value
# that paper or full ink shares.
_SAMPLE_STEP = 8


def line_art(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Line image (1 = paper, 0 = ink) and line mask (coverage, 1 = line) from any line art.

    ``img`` is float32 HxWxC (C in 1, 3, 4), e.g. ``read_image(path).pixels``. The rule:

    1. alpha (C = 4) is straight and composited over white, so only what was drawn counts and
       the colour stored under transparent pixels is ignored (also right for premultiplied
       black ink);
    2. if the median pixel is dark (brightest channel < 0.5) the image is white-on-black and
       is inverted;
    3. each channel is divided by its median, the paper colour, so grey or cream paper becomes
       white; ink is then how far the *darkest* channel falls below the paper level (the
       median), which makes saturated coloured lines (red shadow, blue highlight lines)
       full-strength ink like black ones;
    4. the darkest 0.1 % of pixels set the ink level (when clearly darker than the paper), so
       scanned grey-black ink becomes full coverage;
    5. paper grain within 3 robust standard deviations (MAD) of the paper level is dropped
       and what is left is rescaled, so anti-aliased edges keep fractional coverage; clean
       digital line art has no grain and keeps its anti-aliasing exactly.

    It assumes roughly neutral paper and line art that covers less than half the image.
    """
    r, g, b = _over_white(np.asarray(img, dtype=np.float32))
    # channel by channel, not .max(axis=2): numpy reduces a 3-long last axis ~10x slower
    if _quantile(np.maximum(np.maximum(r, g), b), 50) < _INVERT_BELOW:
        r, g, b = (1.0 - c for c in (r, g, b))
    paper = np.maximum(np.array([_quantile(c, 50) for c in (r, g, b)]), 0.05)
    v = np.minimum(np.minimum(r / paper[0], g / paper[1]), b / paper[2])
    level = float(_quantile(v, 50))
    ink = float(_quantile(v, _INK_PERCENTILE))
    span = max(level - ink if level - ink >= _MIN_INK_CONTRAST else level, 1e-6)
    sigma = 1.4826 * float(_quantile(np.abs(v - level), 50))  # robust spread of paper grain
    floor = min(_NOISE_SIGMAS * sigma / span, 0.5)
    coverage = np.clip((level - v) / span, 0.0, 1.0)
    mask = np.clip((coverage - floor) / (1.0 - floor), 0.0, 1.0).astype(np.float32)
    return 1.0 - mask, mask


def _quantile(x: np.ndarray, percent: float) -> np.floating:
    """``np.percentile(x, percent)`` of an HxW image (``np.median`` at 50), exactly, without
    sorting it when many pixels share the value there, as paper and full ink do in most
    line art: a guess from a sample, confirmed by two counts, is the value at both ranks the
    percentile interpolates between. Otherwise numpy's own partition decides."""
    pos = percent / 100 * (x.size - 1)
    lo, hi = int(np.floor(pos)), int(np.ceil(pos))
    sample = np.ascontiguousarray(x[::_SAMPLE_STEP, ::_SAMPLE_STEP]).ravel()
    k = round(percent / 100 * (sample.size - 1))
    guess = np.partition(sample, k)[k]
    if np.count_nonzero(x < guess) <= lo and hi < np.count_nonzero(x <= guess):
        return guess
    return np.median(x) if percent == 50 else np.percentile(x, percent)


def _over_white(img: np.ndarray) -> tuple[np.ndarray, ...]:
    """The R, G and B planes (HxW, contiguous) in [0, 1]: grey repeated, alpha composited
    over white paper. Planes, not HxWx3: every step of ``line_art`` is per channel, and
    numpy runs 2-3x slower on the strided views of an interleaved image (1080p: 30 ms
    less a frame)."""
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels not in (1, 3, 4):
        raise ValueError(f"line art must have 1, 3 or 4 channels, got {channels}")
    # clipped straight out of the interleaved frame: one pass a channel (a split first, then
    # the clip, costs 3x more)
    planes = [np.clip(img[..., c] if img.ndim == 3 else img, 0.0, 1.0) for c in range(channels)]
    if channels == 4:
        alpha = planes[3]
        return tuple(p * alpha + (1.0 - alpha) for p in planes[:3])
    return tuple(planes * 3) if channels == 1 else tuple(planes)


def distance_field(mask: np.ndarray, max_dist: float) -> np.ndarray:
    """Euclidean distance to the nearest line pixel (mask >= 0.5) over ``max_dist``, clipped
    to [0, 1]; all ones when there is no line, as if every line were infinitely far away."""
    if max_dist <= 0:
        raise ValueError(f"max_dist must be positive, got {max_dist}")
    lines = np.asarray(mask) >= 0.5
    if not lines.any():
        return np.ones(lines.shape, np.float32)
    dist = cv2.distanceTransform(
        np.where(lines, 0, 255).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
    )
    return np.minimum(dist / np.float32(max_dist), 1.0).astype(np.float32)


@dataclass(frozen=True)
class Fit:
    """How ``fit`` changed an image, so ``unfit`` can undo it exactly."""

    source: tuple[int, int]  # H, W of the original
    scaled: tuple[int, int]  # H, W after resizing, before padding
    top: int  # padding rows above the image
    left: int  # padding columns left of the image
    padded: tuple[int, int]  # H, W of the network input


def fit(
    img: np.ndarray, size: int, multiple: int = 8, pad_value: float | None = None
) -> tuple[np.ndarray, Fit]:
    """Letterbox for the network: the long side becomes ``size`` (aspect kept), then both
    sides are padded symmetrically up to a multiple of ``multiple``.

    ``pad_value`` fills the border: 1.0 for line images and distance fields (paper, far from
    any line), 0.0 for line masks; None repeats the edge pixels, which suits colour. Works for
    HxW and HxWxC.
    """
    h, w = img.shape[:2]
    scale = size / max(h, w)
    scaled = (max(1, round(h * scale)), max(1, round(w * scale)))
    padded = (-(-scaled[0] // multiple) * multiple, -(-scaled[1] // multiple) * multiple)
    top, left = (padded[0] - scaled[0]) // 2, (padded[1] - scaled[1]) // 2
    spec = Fit((h, w), scaled, top, left, padded)
    pads = [(top, padded[0] - scaled[0] - top), (left, padded[1] - scaled[1] - left)]
    pads += [(0, 0)] * (img.ndim - 2)
    resized = _resize(img, scaled)
    if pad_value is None:
        return np.pad(resized, pads, mode="edge"), spec
    return np.pad(resized, pads, mode="constant", constant_values=pad_value), spec


def unfit(img: np.ndarray, spec: Fit) -> np.ndarray:
    """Crop ``fit``'s padding and resize back to the source size, clipped to [0, 1]."""
    if img.shape[:2] != spec.padded:
        raise ValueError(f"unfit expects a {spec.padded} image, got {img.shape[:2]}")
    h, w = spec.scaled
    crop = img[spec.top : spec.top + h, spec.left : spec.left + w]
    return np.clip(_resize(crop, spec.source), 0.0, 1.0)


def _resize(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """INTER_AREA when shrinking (keeps thin lines as partial coverage instead of dropping
    them); when enlarging, cubic for colour and linear for single-channel maps (no overshoot
    ringing around lines), clipped because cubic may overshoot."""
    img = np.asarray(img, dtype=np.float32)
    if img.shape[:2] == hw:
        return img.copy()
    if hw[0] < img.shape[0] or hw[1] < img.shape[1]:
        interp = cv2.INTER_AREA
    else:
        interp = cv2.INTER_LINEAR if img.ndim == 2 or img.shape[2] == 1 else cv2.INTER_CUBIC
    out = cv2.resize(img, (hw[1], hw[0]), interpolation=interp)
    out = out.reshape(hw + img.shape[2:])  # cv2 drops a trailing channel axis of 1
    return np.clip(out, 0.0, 1.0) if interp == cv2.INTER_CUBIC else out
