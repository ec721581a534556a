"""Animated shots from real artists' drawings: public-domain SVG clip art (Debian's
``openclipart-svg``), rendered twice with cairosvg, as drawn and as strokes only.

Procedural shots teach the mechanics; hand-made drawings add what a generator does not make:
real silhouettes, hair, folds, hands, props, an artist's choice of colours and line weight.
Rendering one SVG twice gives colour and line art that are pixel-aligned by construction: the
strokes-only rewrite turns every fill white (so what was hidden stays hidden) and every stroke
black with its width kept, near-black fills (outlines drawn as filled shapes) count as ink.

Only drawings that look like cel art are kept (flat fills from a small palette, outlines around
the fills, a sane amount of ink); the scan of the ~8,000 files runs once and is cached as a JSON
index. A fixed tenth of the drawings, chosen by a hash of the file name, is held out for
evaluation. Each shot animates one drawing with the same motion applied to colour and lines:
scale/rotation/translation, a smooth non-rigid warp, bending joints (part articulation),
camera pan/zoom/roll, occluders crossing the frame, drawings held on twos and pose jumps.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree as ET

import cv2
import numpy as np

from ..errors import InkpaintError
from .procedural import BACKGROUNDS, Shot, _background, _blob, _stroke, _timeline

CLIPART_ROOT = Path("/usr/share/openclipart/svg")
INDEX_VERSION = 1
EVAL_SHARE = 10  # one drawing in EVAL_SHARE is held out (by file-name hash)
REF_RES = 256  # resolution at which drawings are measured for the index

_SVG_NS = "http://www.w3.org/2000/svg"
_INSTALL = ("run 'apt-get install -y openclipart-svg' (public-domain SVG clip art) "
            "and 'pip install cairosvg' (needs the cairo library: 'apt-get install -y libcairo2')")
# Subtrees whose fills mean something else than paint (masks use luminance) or are never
# painted themselves (gradients, filters); the rewrite leaves them alone.
_KEEP_TAGS = frozenset({"mask", "clipPath", "linearGradient", "radialGradient", "filter",
                        "metadata", "title", "desc", "style", "script"})
_PAINT_PROPS = ("fill", "stroke", "fill-opacity", "stroke-opacity", "color")
_DECL = re.compile(r"\s*([-\w]+)\s*:\s*([^;]*)")


# ---------------------------------------------------------------- SVG rewriting


def _cairosvg():
    try:
        import cairosvg  # noqa: F401  (optional dependency, imported when drawings are used)
        from cairosvg.parser import Tree
        from cairosvg.surface import PNGSurface
    except (ImportError, OSError) as exc:  # OSError: cairocffi found no libcairo
        raise InkpaintError(f"cannot render SVG drawings ({exc}); {_INSTALL}") from exc
    return Tree, PNGSurface


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _parse_style(style: str) -> dict[str, str]:
    return {m[1].strip().lower(): m[2].strip() for m in _DECL.finditer(style or "")}


def _rgb(value: str, current: str) -> tuple[float, float, float] | None:
    """A paint value as RGB in [0, 1]; None for 'none', url(...) paint servers, or junk."""
    from cairosvg.colors import COLORS

    v = value.strip().lower()
    if v == "currentcolor":
        v = current.strip().lower()
    if not v or v == "none" or v.startswith("url("):
        return None
    if v in COLORS:
        return tuple(COLORS[v][:3])
    if v.startswith("#"):
        h = v[1:]
        try:
            if len(h) == 3:
                return tuple(int(c, 16) / 15 for c in h)
            if len(h) >= 6:
                return tuple(int(h[i: i + 2], 16) / 255 for i in (0, 2, 4))
        except ValueError:
            return None
        return None
    m = re.match(r"rgba?\(([^)]*)\)", v)
    if m:
        parts = [p.strip() for p in m[1].split(",")][:3]
        try:
            return tuple(float(p.rstrip("%")) / (100 if p.endswith("%") else 255)
                         for p in parts)
        except ValueError:
            return None
    return None


def _opacity(value: str | None) -> float:
    try:
        return min(max(float(value), 0.0), 1.0) if value is not None else 1.0
    except ValueError:
        return 1.0


def _is_ink(rgb: tuple[float, float, float] | None, alpha: float) -> bool:
    """Near-black, mostly opaque paint: outlines that were drawn as filled shapes."""
    return rgb is not None and max(rgb) < 0.25 and alpha >= 0.5


def _rewrite(svg: bytes, lines: bool) -> bytes:
    """``lines=False``: the drawing without filter effects (drop shadows and blurs are not cel
    paint). ``lines=True``: strokes only, fills white or none, strokes black (widths kept).

    Paint is resolved the way SVG inherits it (attributes, then ``style`` declarations, then
    the parent's value; black fill by default) and written back explicitly on every element,
    so the result does not depend on inheritance any more. CSS ``<style>`` sheets are not
    resolved; the index skips drawings that have one.
    """
    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as exc:
        raise InkpaintError(f"not a valid SVG drawing: {exc}") from exc

    def walk(el: ET.Element, inherited: dict[str, str], group_alpha: float) -> None:
        if _local(el.tag) in _KEEP_TAGS:
            return
        style = _parse_style(el.get("style", ""))
        for key in ("filter",):
            el.attrib.pop(key, None)
            style.pop(key, None)
        if lines:
            paint = dict(inherited)
            for key in _PAINT_PROPS:
                if key in el.attrib:
                    paint[key] = el.attrib.pop(key)
                if key in style:
                    paint[key] = style.pop(key)
                if paint.get(key) == "inherit":
                    paint[key] = inherited.get(key, "")
            alpha = group_alpha * _opacity(el.get("opacity", style.get("opacity")))
            current = paint.get("color", "black")
            fill_rgb = _rgb(paint.get("fill", "black"), current)
            fill_a = alpha * _opacity(paint.get("fill-opacity"))
            fill = paint.get("fill", "black").strip().lower()
            if _is_ink(fill_rgb, fill_a):
                new_fill = "#000000"
            elif fill == "none":
                new_fill = "none"
            else:
                new_fill = "#ffffff"
            stroke = paint.get("stroke", "none").strip().lower()
            stroke_rgb = _rgb(stroke, current)
            if stroke == "none" or stroke == "":
                new_stroke = "none"
            elif stroke_rgb is not None and 0.2126 * stroke_rgb[0] + 0.7152 * stroke_rgb[1] \
                    + 0.0722 * stroke_rgb[2] > 0.85:
                new_stroke = "#ffffff"  # white highlight strokes are paint, not line art
            else:
                new_stroke = "#000000"
            style.update({"fill": new_fill, "stroke": new_stroke})
            inherited, group_alpha = paint, alpha
        el.set("style", ";".join(f"{k}:{v}" for k, v in style.items()))
        for child in el:
            walk(child, inherited, group_alpha)

    walk(root, {}, 1.0)
    return ET.tostring(root)


def strokes_only(svg: bytes) -> bytes:
    """The line art of an SVG drawing: black strokes (widths kept) on white fills."""
    return _rewrite(svg, lines=True)


def rasterize(svg: bytes, res: int, background: str | None = None) -> np.ndarray:
    """Render an SVG into a res x res canvas (aspect kept, centred): uint8 RGBA, straight
    alpha; transparent where nothing was drawn unless ``background`` (e.g. 'white')."""
    tree_cls, surface_cls = _cairosvg()
    try:
        tree = tree_cls(bytestring=svg, unsafe=False)
        surface = surface_cls(tree, None, 96, output_width=res, output_height=res,
                              background_color=background)
    except InkpaintError:
        raise
    except Exception as exc:  # cairosvg raises anything from ValueError to ZeroDivisionError
        raise InkpaintError(f"cannot render SVG drawing: {exc}") from exc
    surf = surface.cairo
    surf.flush()
    stride = surf.get_stride()
    buf = np.frombuffer(surf.get_data(), np.uint8).reshape(res, stride // 4, 4)[:, :res]
    bgra = buf.astype(np.float32)
    alpha = bgra[..., 3:4]
    rgb = np.where(alpha > 0, bgra[..., 2::-1] * 255 / np.maximum(alpha, 1), 0)
    out = np.concatenate([rgb, alpha], 2)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def render_drawing(svg: bytes, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Colour (uint8 RGBA, transparent outside the drawing) and line art (uint8, 255 = paper,
    0 = ink) of one drawing, pixel-aligned, on a res x res canvas."""
    color = rasterize(_rewrite(svg, lines=False), res)
    lines = rasterize(strokes_only(svg), res, background="white")
    return color, cv2.cvtColor(lines[..., :3], cv2.COLOR_RGB2GRAY)


def measure(color: np.ndarray, lines: np.ndarray) -> dict[str, float]:
    """How cel-like a rendered drawing is (see ``_accept``), from its two renders."""
    res = lines.shape[0]
    alpha = color[..., 3] >= 128
    area = float(alpha.mean())
    if area < 1e-3:
        return {"area": area}
    ys, xs = np.nonzero(alpha)
    aspect = (np.ptp(xs) + 1) / (np.ptp(ys) + 1)
    cov = 1 - lines.astype(np.float32) / 255
    ink = cov >= 0.5
    inkpx = float(cov.sum())
    k3 = np.ones((3, 3), np.uint8)
    boundary = ink & ~cv2.erode(ink.astype(np.uint8), k3).astype(bool)
    width = 2 * inkpx / max(int(boundary.sum()), 1)
    near_ink = cv2.dilate(ink.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    a = color[..., 3:4].astype(np.float32) / 255
    rgb = color[..., :3].astype(np.float32) * a + 255 * (1 - a)
    # colour edges: any channel (or the silhouette) changes by a clear step
    gx = np.abs(np.diff(rgb, axis=1)).max(2) > 40
    gy = np.abs(np.diff(rgb, axis=0)).max(2) > 40
    edge = np.zeros((res, res), bool)
    edge[:, 1:] |= gx
    edge[1:, :] |= gy
    paint = alpha & ~near_ink
    q = (color[..., :3][paint] >> 4).astype(np.int32)
    keys = (q[:, 0] << 8) | (q[:, 1] << 4) | q[:, 2]
    counts = np.sort(np.bincount(keys, minlength=4096))[::-1] / max(len(keys), 1)
    c = color[..., :3].astype(np.int16)
    same = np.zeros((res, res), bool)
    same[:-1, :-1] = (np.abs(c[:-1, :-1] - c[1:, :-1]).max(2) <= 1) & \
        (np.abs(c[:-1, :-1] - c[:-1, 1:]).max(2) <= 1)
    calm = paint & ~cv2.dilate(edge.astype(np.uint8), k3).astype(bool)
    hsv = cv2.cvtColor(color[..., :3], cv2.COLOR_RGB2HSV)
    colorful = (hsv[..., 1] > 40) & (hsv[..., 2] > 50) & paint
    return {
        "area": area,
        "aspect": float(aspect),
        "ink": inkpx / max(float(alpha.sum()), 1.0),  # ink share of the drawing's area
        "width": float(width) / res,  # mean line width over the canvas size
        "flat": float(counts[counts >= 0.01].sum()),  # paint in big flat colours
        "exact": float((same & calm).sum()) / max(int(calm.sum()), 1),  # 0 for gradients
        "colors": int((counts >= 0.01).sum()),
        "colorful": float(colorful.sum()) / max(float(alpha.sum()), 1.0),
        "explained": float((edge & near_ink).sum()) / max(int(edge.sum()), 1),
    }
