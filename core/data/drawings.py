"""Animated shots from real artists' drawings: public-domain SVG clip art (Debian's
``openclipart-svg``), rendered twice with cairosvg, as drawn and as strokes only.

Procedural shots teach the mechanics; hand-made drawings add what a generator does not make:
real silhouettes, hair, folds, hands, props, an artist's choice of colours and line weight.
Rendering one SVG twice gives colour and line art that are pixel-aligned by construction: the
strokes-only rewrite turns every fill white (so what was hidden stays hidden) and every stroke
black with its width kept; near-black opaque fills (outlines drawn as filled shapes) are ink,
see-through fills (shadow and highlight glazes) and faint strokes are dropped, filter effects
(blurs, drop shadows) are removed from both renders.

Only drawings that look like cel art are kept (``accept``: flat fills from a small palette,
outlines around the fills, a sane amount of ink; about 7 % of the 8,121 files). Scanning them
takes 5-15 minutes once; the result is a JSON index (``default_index()``), and the two
renders of each drawing are cached as PNGs next to it on first use. A fixed tenth of the
drawings, chosen by a hash of the file name, is held out for evaluation (``split='eval'``).

Each shot animates one drawing, the same backward map warping colour and line raster:
translation on an arc, rotation, scale, squash and stretch, a mirror image, a smooth sine
warp, 0-3 bending joints (a sector of the drawing around a point inside it swings about that
point while the wedges beside it stretch: part articulation without holes or folds), camera
pan/zoom/roll over a painted backdrop, an outlined occluder crossing the frame, drawings held
on twos, and pose jumps. Lines stay plausible because the drawing is scaled so its lines come
out 0.9-2.6 px wide (from the line width measured for the index) and the warps keep the
local scale within about +-30 %; the warped line raster is rendered at 2x and
area-downsampled, so it stays anti-aliased rather than re-thresholded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree as ET

import cv2
import numpy as np

from ..cachedir import user_cache
from ..errors import InkpaintError
from ..imageio import atomic_write
from .procedural import (
    BACKGROUNDS,
    FIXED_SHIFT,
    Shot,
    affine,
    backdrop_image,
    blob,
    limb_outline,
    random_palette,
    timeline,
    to_fixed,
    unit_vector,
)

CLIPART_ROOT = Path("/usr/share/openclipart/svg")
INDEX_VERSION = 1
EVAL_SHARE = 10  # one drawing in EVAL_SHARE is held out (by file-name hash)
REF_RES = 256  # resolution at which drawings are measured for the index
LINE_PX = (0.9, 2.6)  # clip-art line widths in the shots, px at 128 (thin pen to brush)
CACHE_RES = (512, 1024)  # renders kept as PNG next to the index; smaller canvases come from them

_SVG_NS = "http://www.w3.org/2000/svg"
_INSTALL = ("run 'apt-get install -y openclipart-svg' (public-domain SVG clip art) "
            "and 'pip install cairosvg' (needs the cairo library: 'apt-get install -y libcairo2')")
# Subtrees whose fills mean something else than paint (masks use luminance) or are never
# painted themselves (gradients, filters); the rewrite leaves them alone.
_KEEP_TAGS = frozenset({"mask", "clipPath", "linearGradient", "radialGradient", "filter",
                        "metadata", "title", "desc", "style", "script"})
_PAINT_PROPS = ("fill", "stroke", "fill-opacity", "stroke-opacity", "color")
_OPAQUE = 0.9  # fills less opaque than this are glazes over the drawing, not paint
_REGION_SHARE = 0.002  # regions under 0.2 % of the drawing are specks, not fills
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
    """Near-black opaque paint: outlines that were drawn as filled shapes."""
    return rgb is not None and max(rgb) < 0.25 and alpha >= _OPAQUE


def _rewrite(svg: bytes, lines: bool) -> bytes:
    """``lines=False``: the drawing without filter effects (drop shadows and blurs are not cel
    paint). ``lines=True``: strokes only, fills white or none, strokes black (widths kept).

    Paint is resolved the way SVG inherits it (attributes, then ``style`` declarations, then
    the parent's value; black fill by default) and written back explicitly on every element,
    so the result does not depend on inheritance any more. CSS ``<style>`` sheets are not
    resolved; the index skips drawings that have one.
    """
    _cairosvg()
    from defusedxml import DefusedXmlException  # comes with cairosvg
    from defusedxml.ElementTree import fromstring

    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    try:
        root = fromstring(svg)
    except (ET.ParseError, DefusedXmlException) as exc:
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
            # opacity is folded into the paint decisions below and then dropped: lines are
            # either ink or not, and a see-through group's fills become 'none' (glazes)
            alpha = group_alpha * _opacity(style.pop("opacity", el.attrib.pop("opacity", None)))
            el.attrib.pop("opacity", None)
            current = paint.get("color", "black")
            fill_rgb = _rgb(paint.get("fill", "black"), current)
            fill_a = alpha * _opacity(paint.get("fill-opacity"))
            fill = paint.get("fill", "black").strip().lower()
            if _is_ink(fill_rgb, fill_a):
                new_fill = "#000000"
            elif fill == "none" or fill_a < _OPAQUE:
                new_fill = "none"  # glazes (shadow, highlight overlays) hide no lines
            else:
                new_fill = "#ffffff"
            stroke = paint.get("stroke", "none").strip().lower()
            stroke_rgb = _rgb(stroke, current)
            stroke_a = alpha * _opacity(paint.get("stroke-opacity"))
            if stroke in ("none", "") or stroke_a < 0.3:
                new_stroke = "none"  # faint strokes are shading, not line art
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


LineArt = Callable[[bytes], bytes]  # an SVG drawing -> the SVG of its line art


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
    straight = cv2.cvtColor(np.ascontiguousarray(buf), cv2.COLOR_mRGBA2RGBA)  # cairo: premult.
    return cv2.cvtColor(straight, cv2.COLOR_BGRA2RGBA)


def render_drawing(svg: bytes, res: int, line_art: LineArt = strokes_only
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Colour (uint8 RGBA, transparent outside the drawing) and line art (uint8, 255 = paper,
    0 = ink) of one drawing, pixel-aligned, on a res x res canvas. ``line_art`` rewrites the
    SVG into its line art: clip art has no separate line layer, so it defaults to the
    strokes-only rewrite; sources that draw their lines apart (OpenMoji) pass their own."""
    color = rasterize(_rewrite(svg, lines=False), res)
    lines = rasterize(line_art(svg), res, background="white")
    return color, cv2.cvtColor(lines[..., :3], cv2.COLOR_RGB2GRAY)


def measure(color: np.ndarray, lines: np.ndarray) -> dict[str, float]:
    """How cel-like a rendered drawing is (judged by ``accept``), from its two renders."""
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
    painted = (color[..., :3].min(2) < 225) & paint
    # closed regions a paint bucket would fill: paper between the lines, big enough to see
    n, _, comp, _ = cv2.connectedComponentsWithStats((alpha & ~ink).astype(np.uint8), 4)
    regions = int((comp[1:n, cv2.CC_STAT_AREA] >= _REGION_SHARE * alpha.sum()).sum())
    return {
        "area": area,
        "aspect": float(aspect),
        "ink": inkpx / max(float(alpha.sum()), 1.0),  # ink share of the drawing's area
        "width": float(width) / res,  # mean line width over the canvas size
        "flat": float(counts[counts >= 0.01].sum()),  # paint in big flat colours
        "exact": float((same & calm).sum()) / max(int(calm.sum()), 1),  # 0 for gradients
        "colors": int((counts >= 0.01).sum()),
        "painted": float(painted.sum()) / max(int(paint.sum()), 1),  # not white
        "explained": float((edge & near_ink).sum()) / max(int(edge.sum()), 1),
        "regions": regions,
    }


# ---------------------------------------------------------------- the index

# measure() key: accepted (low, high). Set by looking at a few hundred drawings side by side:
# gradients, shaded 3-D icons and flags fail "exact"/"explained", line-less vector art fails
# "explained", black-and-white clip art fails "painted", scribbles and silhouettes fail "ink".
_LIMITS: dict[str, tuple[float, float]] = {
    "area": (0.08, 1.0),  # the drawing covers 8 % or more of its square canvas
    "aspect": (0.4, 2.5),  # not a banner
    "ink": (0.03, 0.35),  # share of the drawing that is line (or solid black)
    "width": (0.004, 0.03),  # mean line width over the drawing size: 1-7.7 px at 256
    "flat": (0.85, 1.0),  # paint pixels in colours that cover 1 % of the drawing or more
    "exact": (0.9, 1.0),  # paint pixels equal to their neighbours (fills, not gradients)
    "colors": (2, 30),  # big flat colours
    "painted": (0.3, 1.0),  # paint that is not white
    "explained": (0.85, 1.0),  # colour edges that have a line within 3 px
}
_MAX_BYTES = 400_000  # bigger files are traced photos or dense technical drawings (and slow)
_SKIP = (b"<image", b"<style")  # embedded rasters; CSS sheets the rewrite does not resolve


def accept(stats: dict[str, float], limits: dict[str, tuple[float, float]] | None = None
           ) -> bool:
    """Whether measured drawing statistics lie within ``limits`` (default ``_LIMITS``: looks
    like cel clip art)."""
    limits = _LIMITS if limits is None else limits
    return all(k in stats and lo <= stats[k] <= hi for k, (lo, hi) in limits.items())


def default_index() -> Path:
    """``$INKPAINT_DRAWINGS_INDEX``, else ``user_cache() / 'drawings.json'``."""
    env = os.environ.get("INKPAINT_DRAWINGS_INDEX")
    if env:
        return Path(env).expanduser()
    return user_cache() / "drawings.json"


def split_of(path: str | os.PathLike) -> str:
    """'eval' for a fixed tenth of the drawings, 'train' for the rest. Only the file name
    counts, so a drawing filed under two categories lands in one split."""
    digest = hashlib.sha1(Path(path).name.encode("utf-8")).hexdigest()
    return "eval" if int(digest[:8], 16) % EVAL_SHARE == 0 else "train"


def _scan(path: Path) -> tuple[dict[str, float] | None, str]:
    """(statistics if accepted, content hash) for one SVG file."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, ""
    digest = hashlib.sha1(data).hexdigest()
    if len(data) > _MAX_BYTES or any(tag in data for tag in _SKIP):
        return None, digest
    try:
        color, lines = render_drawing(data, REF_RES)
    except InkpaintError:
        return None, digest
    stats = measure(color, lines)
    return (stats if accept(stats) else None), digest


def build_index(root: str | os.PathLike = CLIPART_ROOT, out: str | os.PathLike | None = None,
                workers: int = 1) -> Path:
    """Scan every SVG under ``root`` (minutes: ~30 ms a file per worker), keep the cel-like
    ones and write the index JSON to ``out`` (default ``default_index()``); returns its path.

    The index is ``{"version", "root", "drawings": [{"path", "category", "split", "width",
    "aspect"}]}``, paths relative to root, sorted, byte-identical duplicates dropped."""
    from ..progress import Progress

    root = Path(root)
    if not root.is_dir():
        raise InkpaintError(f"no clip art folder {root}; {_INSTALL}")
    _cairosvg()
    files = sorted(root.rglob("*.svg"))
    if not files:
        raise InkpaintError(f"no .svg files under {root}; {_INSTALL}")
    progress = Progress(len(files), "scanning drawings")
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        results = []
        with ProcessPoolExecutor(workers) as pool:
            for f, result in zip(files, pool.map(_scan, files, chunksize=16)):
                results.append(result)
                progress.step(f.name)
    else:
        results = []
        for f in files:
            results.append(_scan(f))
            progress.step(f.name)
    progress.close()
    seen: set[str] = set()
    entries = []
    for f, (stats, digest) in zip(files, results):
        if stats is None or digest in seen:
            continue
        seen.add(digest)
        rel = f.relative_to(root)
        category = rel.parts[0] if len(rel.parts) > 1 else ""
        entries.append({"path": rel.as_posix(), "category": category, "split": split_of(rel),
                        "width": round(stats["width"], 5), "aspect": round(stats["aspect"], 3)})
    out = Path(out) if out is not None else default_index()
    doc = {"version": INDEX_VERSION, "root": str(root), "drawings": entries}
    atomic_write(out, json.dumps(doc, indent=1).encode("utf-8"))
    _load.cache_clear()
    return out


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> tuple[int, Path, tuple[dict, ...]]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return int(doc["version"]), Path(doc["root"]), tuple(doc["drawings"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InkpaintError(f"drawing index {path} is unreadable ({exc}); delete it to rebuild "
                            "it") from exc


def drawings(split: str = "train", index: str | os.PathLike | None = None
             ) -> tuple[Path, list[dict]]:
    """The clip art root and the accepted drawings of one split ('train', 'eval' or 'all'),
    building the index first if there is none yet."""
    if split not in ("train", "eval", "all"):
        raise InkpaintError(f"unknown drawing split {split!r}; use 'train', 'eval' or 'all'")
    path = Path(index) if index is not None else default_index()
    if not path.is_file():
        if index is not None:
            raise InkpaintError(f"drawing index {path} does not exist; build it with "
                                "core.data.drawings.build_index")
        build_index(out=path)
    version, root, entries = _load(str(path), path.stat().st_mtime)
    if version != INDEX_VERSION:
        if index is not None:
            raise InkpaintError(f"drawing index {path} was made by another version; rebuild "
                                "it with core.data.drawings.build_index")
        build_index(out=path)  # the cached default index is ours to refresh
        version, root, entries = _load(str(path), path.stat().st_mtime)
    if not root.is_dir():
        raise InkpaintError(f"clip art folder {root} named by {path} is gone; {_INSTALL}")
    chosen = [e for e in entries if split == "all" or e["split"] == split]
    if not chosen:
        raise InkpaintError(f"drawing index {path} has no {split} drawings; rebuild it over "
                            "more clip art")
    return root, chosen


# ---------------------------------------------------------------- animation


def _read_svg(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InkpaintError(f"cannot read drawing {path}: {exc.strerror or exc}; rebuild the "
                            "drawing index") from exc


def _renders(path: str, res: int, cache: Path | None, line_art: LineArt
             ) -> tuple[np.ndarray, np.ndarray]:
    """render_drawing, through a PNG cache for the CACHE_RES sizes: cairosvg takes 30-150 ms
    a drawing, reading the two PNGs back 2-5 ms."""
    if cache is None or res not in CACHE_RES:
        return render_drawing(_read_svg(path), res, line_art)
    try:
        st = os.stat(path)
    except OSError:
        return render_drawing(_read_svg(path), res, line_art)  # raises the user-facing error
    ident = (f"{path}|{st.st_size}|{st.st_mtime_ns}|{res}|{INDEX_VERSION}"
             + ("" if line_art is strokes_only else f"|{line_art.__module__}.{line_art.__name__}"))
    key = hashlib.sha1(ident.encode("utf-8")).hexdigest()[:20]
    files = cache / f"{key}.color.png", cache / f"{key}.lines.png"
    if files[0].is_file() and files[1].is_file():
        color = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
        lines = cv2.imread(str(files[1]), cv2.IMREAD_GRAYSCALE)
        if color is not None and lines is not None and color.shape == (res, res, 4):
            return cv2.cvtColor(color, cv2.COLOR_BGRA2RGBA), lines
    color, lines = render_drawing(_read_svg(path), res, line_art)
    for f, img in zip(files, (cv2.cvtColor(color, cv2.COLOR_RGBA2BGRA), lines)):
        ok, buf = cv2.imencode(".png", img)
        if ok:
            try:
                atomic_write(f, buf.tobytes())
            except InkpaintError:
                pass  # a read-only cache only costs speed
    return color, lines


@lru_cache(maxsize=8)
def drawing_canvas(path: str, res: int, cache: str | None, line_art: LineArt = strokes_only
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Premultiplied colour (float32 RGBA), ink coverage (float32, 1 = line) and the exact
    colours of the fills (uint8 [P, 3]) of one drawing on a res x res canvas. Canvases up to
    1024 px are area-downsampled from a cached 512 or 1024 px render: the anti-aliasing cairo
    would give, at a fraction of the cost."""
    big = next((r for r in CACHE_RES if r >= res), res)
    color, lines = _renders(path, big, Path(cache) if cache else None, line_art)
    prem8 = cv2.cvtColor(color, cv2.COLOR_RGBA2mRGBA)
    if big != res:
        prem8 = cv2.resize(prem8, (res, res), interpolation=cv2.INTER_AREA)
        lines = cv2.resize(lines, (res, res), interpolation=cv2.INTER_AREA)
    prem = prem8.astype(np.float32)
    cov = 1 - lines.astype(np.float32) / 255
    # exact fill colours: opaque pixels away from lines (area-downsampling keeps them exact)
    solid = (prem8[..., 3] == 255) & (cv2.erode(lines, np.ones((5, 5), np.uint8)) > 250)
    rgb = prem8[..., :3][solid].astype(np.int32)
    keys, counts = np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2],
                             return_counts=True)
    keys = keys[counts >= 0.02 * max(len(rgb), 1)]
    palette = np.stack([keys >> 16, (keys >> 8) & 255, keys & 255], 1).astype(np.uint8)
    for arr in (prem, cov, palette):
        arr.setflags(write=False)
    return prem, cov, palette


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


class _Motion:
    """One shot's motion of one drawing: where every output pixel samples the canvas."""

    def __init__(self, rng: np.random.Generator, canvas: int, alpha: np.ndarray, res: int):
        self.res, self.canvas = res, canvas
        ys, xs = np.nonzero(alpha > 0.5)
        self.centre = np.array([xs.mean(), ys.mean()]) if len(xs) else np.full(2, canvas / 2)
        mag = 0.05 + 0.3 * rng.random() ** 1.5  # how much happens over the shot
        self.mag = mag
        self.start = res / 2 + res * rng.uniform(-0.12, 0.12, 2)
        self.move = unit_vector(rng.uniform(0, 2 * np.pi)) * res * mag * rng.uniform(0.2, 0.8)
        self.arc = res * mag * rng.uniform(-0.3, 0.3)
        self.rot = (rng.uniform(-0.3, 0.3), mag * rng.uniform(-1.2, 1.2))
        self.scale = (1.0, mag * rng.uniform(-0.8, 0.8))
        self.flip = -1.0 if rng.random() < 0.5 else 1.0
        self.squash = (rng.uniform(0, 2 * np.pi), 0.08 * mag / 0.35 * (rng.random() < 0.5),
                       rng.uniform(0.5, 1.5), rng.uniform(0, 1))  # axis, amount, cycles, phase
        self.smooth = rng.random() < 0.6
        k = 3
        self.warp = np.stack([
            canvas * mag * rng.uniform(0, 0.06, k) * (rng.random() < 0.7),
            rng.uniform(-1.5, 1.5, k), rng.uniform(-1.5, 1.5, k), rng.uniform(0.2, 1.0, k),
            rng.uniform(0, 1, k), *unit_vector(rng.uniform(0, 2 * np.pi, k)),
        ], 1)
        # the warp's steepest slope, summed over its waves, bounds how much it can stretch
        # or squeeze (lines up to 1.3x wider or thinner)
        slope = (self.warp[:, 0] * 2 * np.pi * np.hypot(self.warp[:, 1], self.warp[:, 2])
                 / canvas).sum()
        self.warp[:, 0] *= min(1.0, 0.3 / max(slope, 1e-9))
        # joints: a sector of the drawing around a point inside it swings rigidly, the two
        # wedges at its sides bend. The wedges are squeezed or stretched by up to
        # 1.5 * angle / ramp, so |angle| <= ramp / 3 keeps that within 0.5-1.5 (no folds,
        # lines at most 2x thinner or 1.5x wider where two joints' wedges do not overlap)
        self.joints = []
        radius = np.sqrt(max(len(xs), 1) / np.pi)
        self.hub = max(0.2 * radius, 1.0)
        near = np.hypot(xs - self.centre[0], ys - self.centre[1]) < 0.6 * radius
        for _ in range(int(rng.choice([0, 1, 1, 2, 2]))):
            if not near.any():
                break
            i = rng.choice(np.flatnonzero(near))
            ramp = rng.uniform(0.5, 0.9)
            span = rng.uniform(2 * ramp + 0.3, np.pi + 0.5)
            amp = min(rng.uniform(0.15, 1.0) * (0.3 + 2 * mag), ramp / 4)
            self.joints.append(np.array([xs[i], ys[i], rng.uniform(0, 2 * np.pi), span, ramp,
                                         amp, rng.uniform(0.3, 1.2), rng.uniform(0, 1)]))
        self.jump = np.zeros(3 + len(self.joints))
        if rng.random() < 0.5:
            self.jump[:2] = unit_vector(rng.uniform(0, 2 * np.pi)) * res * rng.uniform(0.04, 0.15)
            self.jump[2] = rng.uniform(-0.4, 0.4)
            self.jump[3:] = rng.uniform(-0.35, 0.35, len(self.joints))
        cam = rng.random() < 0.5
        self.camera = (unit_vector(rng.uniform(0, 2 * np.pi)) * res * mag * 0.4 * cam,
                       mag * rng.uniform(-0.5, 0.8) * cam, mag * rng.uniform(-0.2, 0.2) * cam)

    def camera_at(self, u: float) -> np.ndarray:
        e = u * u * (3 - 2 * u)
        pan, zoom, roll = self.camera
        c = self.res / 2
        return affine(*(c + pan * e), roll * e, 1 + zoom * e) @ affine(-c, -c)

    def _forward(self, u: float, jumped: bool) -> np.ndarray:
        """Canvas -> frame affine (3x3) at shot time u."""
        e = u * u * (3 - 2 * u) if self.smooth else u
        side = np.array([-self.move[1], self.move[0]]) / (np.linalg.norm(self.move) + 1e-9)
        jump = self.jump * jumped
        pos = self.start + self.move * e + side * self.arc * np.sin(np.pi * u) + jump[:2]
        axis, amount, cycles, phase = self.squash
        sq = 1 + amount * np.sin(2 * np.pi * (cycles * u + phase))
        squash = affine(0, 0, axis) @ np.diag([sq, 1 / sq, 1.0]) @ affine(0, 0, -axis)
        body = affine(*pos, self.rot[0] + self.rot[1] * e + jump[2],
                       self.scale[0] * (1 + self.scale[1] * e))
        flip = np.diag([self.flip, 1.0, 1.0])
        return self.camera_at(u) @ body @ squash @ flip @ affine(*-self.centre)

    def maps(self, u: float, jumped: bool, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """cv2.remap maps: the canvas point each frame pixel shows, computed on every
        ``step``-th pixel and interpolated (the motion is smooth; this is the slow part)."""
        inv = np.linalg.inv(self._forward(u, jumped))
        n = -(-self.res // step)
        g = np.arange(n, dtype=np.float32) * step + (step - 1) / 2
        px, py = np.meshgrid(g, g)
        x = inv[0, 0] * px + inv[0, 1] * py + inv[0, 2]
        y = inv[1, 0] * px + inv[1, 1] * py + inv[1, 2]
        for j, (jx, jy, start, span, ramp, amp, cycles, phase) in enumerate(self.joints):
            dx, dy = x - jx, y - jy
            d = np.mod(np.arctan2(dy, dx) - start, 2 * np.pi)
            w = _smoothstep(d / ramp) * _smoothstep((span - d) / ramp) \
                * _smoothstep(np.hypot(dx, dy) / self.hub)  # no shear singularity at the hub
            ang = amp * np.sin(2 * np.pi * (cycles * u + phase)) + self.jump[3 + j] * jumped
            ang = float(np.clip(ang, -ramp / 3, ramp / 3))  # a jump adds to the swing
            c, s = np.cos(-ang * w), np.sin(-ang * w)
            x, y = jx + c * dx - s * dy, jy + s * dx + c * dy
        ox, oy = x.copy(), y.copy()
        for amp, kx, ky, cycles, phase, ux, uy in self.warp:
            s = amp * np.sin(2 * np.pi * ((kx * ox + ky * oy) / self.canvas + cycles * u + phase))
            x -= s * ux
            y -= s * uy
        x, y = x.astype(np.float32), y.astype(np.float32)
        if step > 1:  # pixel-centre aligned upsampling of the sample grid
            size = (n * step, n * step)
            x = cv2.resize(x, size, interpolation=cv2.INTER_LINEAR)[: self.res, : self.res]
            y = cv2.resize(y, size, interpolation=cv2.INTER_LINEAR)[: self.res, : self.res]
        return x, y


class _Occluder:
    """A foreground object (pole, bush, passer-by) crossing the frame, drawn with an outline."""

    def __init__(self, rng: np.random.Generator, res: int, width: float):
        r = res * rng.uniform(0.12, 0.22)
        if rng.random() < 0.4:
            self.poly = (limb_outline(6.0, 0.5, 0.5, 0.0) - (3.0, 0.0)) * r
        else:
            self.poly = blob(rng, 1.6 * r)
        side = rng.choice([-1, 1])
        self.start = np.array([res / 2 - side * res * rng.uniform(0.4, 0.8),
                               res * rng.uniform(0.2, 0.8)])
        self.move = np.array([side * res * rng.uniform(0.6, 1.4), res * rng.uniform(-0.2, 0.2)])
        self.rot = (rng.uniform(0, np.pi), rng.uniform(-0.3, 0.3))
        self.fill = random_palette(rng, 1)[0].astype(np.float32)
        self.width = width

    def draw(self, color: np.ndarray, cov: np.ndarray, cam: np.ndarray, u: float) -> None:
        m = cam @ affine(*(self.start + self.move * u), self.rot[0] + self.rot[1] * u)
        pts = to_fixed(self.poly @ m[:2, :2].T + m[:2, 2])
        inside = np.zeros(cov.shape, np.uint8)
        cv2.fillPoly(inside, [pts], 255, cv2.LINE_AA, FIXED_SHIFT)
        ring = np.zeros_like(inside)
        thick = max(int(round(self.width)), 1)
        cv2.polylines(ring, [pts], True, 255, thick, cv2.LINE_AA, FIXED_SHIFT)
        a, o = inside.astype(np.float32) / 255, ring.astype(np.float32) / 255
        color += (self.fill - color) * a[..., None]
        color *= 1 - o[..., None]
        cov *= 1 - a
        np.maximum(cov, o, out=cov)


def drawing_for(seed: int, split: str = "train", index: str | os.PathLike | None = None
                ) -> dict:
    """The index entry of the drawing that ``render_drawing_shot(seed, split=split)``
    animates."""
    _, entries = drawings(split, index)
    return entries[int(np.random.default_rng(seed).integers(len(entries)))]


def render_drawing_shot(seed: int, frames: int = 8, size: int = 128, split: str = "train",
                        index: str | os.PathLike | None = None) -> Shot:
    """A shot animating one accepted clip art drawing; the same seed (and index) always gives
    the same shot. ``split='eval'`` draws only from the held-out tenth of the drawings.
    Without ``index`` the default index is used, and built first if missing (minutes: build
    it ahead with ``build_index``, not from several data-loader workers at once)."""
    if not 32 <= size <= 1024 or frames < 1:
        raise InkpaintError(f"drawing shots need 32 <= size <= 1024 and frames >= 1, "
                            f"got size={size}, frames={frames}")
    root, entries = drawings(split, index)
    rng = np.random.default_rng(seed)
    entry = entries[int(rng.integers(len(entries)))]  # as drawing_for picks it
    cache = Path(index) if index is not None else default_index()
    cache = cache.parent / f"{cache.stem}.renders"
    return animate_drawing(
        rng, frames, size, entry["width"],
        lambda canvas: drawing_canvas(str(root / entry["path"]), canvas, str(cache)))


def animate_drawing(rng: np.random.Generator, frames: int, size: int, width: float,
                    canvas_of: Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray]],
                    line_px: tuple[float, float] = LINE_PX) -> Shot:
    """A shot of ``frames`` size x size frames moving one drawing (module docstring), whose
    line width is ``width`` of its canvas size (``measure``); ``canvas_of(res)`` gives its
    renders on a res x res canvas as ``drawing_canvas`` does, ``line_px`` the range of line
    widths (px at 128) it is scaled to. Every source of still drawings shares this, so they
    all move the same way; ``rng`` decides everything."""
    ss = 2
    res = size * ss
    # scale so lines come out line_px wide, within close-up and long-shot limits
    line = rng.uniform(*line_px) * size / 128
    extent = np.clip(line / max(width, 1e-4), 0.55 * size, 1.7 * size)
    canvas = int(max(64, round(extent * ss / 32) * 32))
    prem, cov0, fills = canvas_of(canvas)
    motion = _Motion(rng, canvas, prem[..., 3] / 255, res)

    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    margin = int(size * 1.5)
    backdrop = backdrop_image(rng, kind, margin)
    world = affine(-0.25 * res, -0.25 * res, 0.0, res / (margin - 1) * 1.5)
    occluder = _Occluder(rng, res, line * ss) if rng.random() < 0.25 else None
    keys, u, jump = timeline(rng, frames)

    def draw(k: int) -> tuple[np.ndarray, np.ndarray]:
        cam = motion.camera_at(u[k])
        bg = cv2.warpAffine(backdrop, (cam @ world)[:2], (res, res), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        mx, my = motion.maps(u[k], k >= jump, ss)
        fg = cv2.remap(prem, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        cov = cv2.remap(cov0, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        color = fg[..., :3] + bg * (1 - fg[..., 3:] / 255)
        if occluder is not None:
            occluder.draw(color, cov, cam, u[k])
        color = cv2.resize(color, (size, size), interpolation=cv2.INTER_AREA)
        cov = cv2.resize(cov, (size, size), interpolation=cv2.INTER_AREA)
        return (np.clip(color + 0.5, 0, 255).astype(np.uint8),
                np.clip((1 - cov) * 255 + 0.5, 0, 255).astype(np.uint8))

    drawn = {k: draw(k) for k in sorted(set(keys))}
    extra = [occluder.fill] if occluder is not None else []
    if kind == "flat":
        extra.append(backdrop[0, 0].astype(np.float32))
    palette = np.concatenate([fills.reshape(-1, 3)] + [np.rint(c)[None] for c in extra])
    palette = np.unique(np.clip(palette, 0, 255).astype(np.uint8), axis=0)
    return Shot(np.stack([drawn[k][0] for k in keys]), np.stack([drawn[k][1] for k in keys]),
                palette)
