"""Animated shots of real illustrations with their own line art: the OpenMoji emoji (npm
package ``openmoji``, CC BY-SA 4.0, pinned to ``OPENMOJI_VERSION``).

Every OpenMoji SVG draws its paint and its lines apart: ``<g id="color">`` (with ``skin``,
``hair`` ...) holds the fills and ``<g id="line">`` the black outlines on top. Rendered as
drawn, an emoji is the colour frame; rendered with only its ``line`` group, on white, it is the
line art, aligned with the colour pixel for pixel and drawn by the artists rather than
extracted. Each shot moves one emoji exactly as the clip-art drawings move
(``core.data.drawings.animate_drawing``: arcs, joints, warps, camera, occluder, holds).

Only emoji that are illustrations are used: faces, animals, objects with several fill regions,
not flags (stripes without lines), keycaps and text symbols (one or two regions). They are
told apart by measured statistics of their two renders (``core.data.drawings.measure``, limits
in ``LIMITS``).

A fixed tenth of the emoji is held out for evaluation (``split_of``: a hash of the file name
without its skin-tone modifiers, so the skin-tone variants of an emoji, which share its line
art, lie in its split). Skin-tone variants are left out of both splits: each drawing is used
once. The package is installed by ``python3 build.py test`` into the project's ``.npm`` folder
(``npm install --prefix .npm openmoji@17.0.0``); ``$INKPAINT_OPENMOJI`` names another copy
of the package folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from ..cachedir import user_cache
from ..errors import InkpaintError
from .drawings import (
    REF_RES,
    accept,
    animate_drawing,
    drawing_canvas,
    measure,
    render_drawing,
)
from .drawings import split_of as drawing_split
from .procedural import Shot

OPENMOJI_VERSION = "17.0.0"  # the SVGs of another version differ: pinned for stable numbers
NPM_PREFIX = Path(__file__).resolve().parents[2] / ".npm"
INSTALL = f"npm install --prefix {NPM_PREFIX} openmoji@{OPENMOJI_VERSION}"
SKIN_TONES = ("1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF")  # Fitzpatrick modifiers
# measure() key: accepted (low, high). Set by looking at accepted and rejected emoji side by
# side: flags fail "explained" (colour edges without lines) or "regions", keycaps, arrows and
# letters fail "regions" or "colors", black-and-white symbols fail "painted".
LIMITS: dict[str, tuple[float, float]] = {
    "area": (0.15, 1.0),  # fills a good part of its canvas: not a dot or a dash
    "regions": (3, 400),  # several closed fills: a drawing, not a symbol
    "colors": (2, 30),  # more than one big flat colour
    "painted": (0.5, 1.0),  # mostly coloured, not white paper
    "explained": (0.8, 1.0),  # colour edges have a line within 3 px
    "exact": (0.9, 1.0),  # flat fills, not gradients
}
# OpenMoji's lines are 1/36 of the emoji: at the clip art's line widths an emoji would fill a
# third of the frame, so its lines come out wider, as an emoji's do (2-4 px at 128: the emoji
# spans 0.55-1.1 of the frame)
LINE_PX = (2.0, 4.0)
_SVG_NS = "http://www.w3.org/2000/svg"


def package_root() -> Path:
    """The installed ``openmoji`` package folder of the pinned version."""
    env = os.environ.get("INKPAINT_OPENMOJI")
    root = Path(env).expanduser() if env else NPM_PREFIX / "node_modules" / "openmoji"
    try:
        version = json.loads((root / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InkpaintError(f"the openmoji set needs the OpenMoji npm package in {root}: run "
                            f"'{INSTALL}'") from None
    if version != OPENMOJI_VERSION:
        raise InkpaintError(f"{root} holds openmoji {version}, the set is made of "
                            f"{OPENMOJI_VERSION}: run '{INSTALL}'")
    if not (root / "color" / "svg").is_dir():
        raise InkpaintError(f"{root} has no color/svg folder: run '{INSTALL}'")
    return root


def base_name(name: str) -> str:
    """The file name without skin-tone modifiers: ``1F44D-1F3FD.svg`` -> ``1F44D.svg``."""
    stem, _, ext = Path(name).name.partition(".")
    return "-".join(p for p in stem.split("-") if p.upper() not in SKIN_TONES) + "." + ext


def split_of(name: str) -> str:
    """'eval' for a fixed tenth of the emoji, 'train' for the rest (as the clip-art drawings
    split, by a hash of the name, here without skin-tone modifiers)."""
    return drawing_split(base_name(name))


def emoji(split: str) -> list[Path]:
    """The SVG files of one split ('train' or 'eval') without skin-tone variants, in a fixed
    order that mixes the categories (by a hash of the name)."""
    if split not in ("train", "eval"):
        raise InkpaintError(f"unknown openmoji split {split!r}; use 'train' or 'eval'")
    folder = package_root() / "color" / "svg"
    files = [f for f in folder.glob("*.svg")
             if base_name(f.name) == f.name and split_of(f.name) == split]
    return sorted(files, key=lambda f: hashlib.sha1(f.name.encode("utf-8")).hexdigest())


def line_group(svg: bytes) -> bytes:
    """The emoji's line art: only its ``line`` group (black outlines and ink shapes); colour
    groups and the ``line-supplement`` under the colour are dropped."""
    ET.register_namespace("", _SVG_NS)
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as exc:
        raise InkpaintError(f"not a valid OpenMoji SVG: {exc}") from exc
    for child in list(root):
        if child.tag.rsplit("}", 1)[-1] == "g" and child.get("id") != "line":
            root.remove(child)
    return ET.tostring(root)


@lru_cache(maxsize=4096)
def stats(path: str) -> dict[str, float]:
    """``measure`` of one emoji's two renders at the index resolution."""
    try:
        svg = Path(path).read_bytes()
    except OSError as exc:
        raise InkpaintError(f"cannot read {path}: {exc.strerror or exc}; run '{INSTALL}'"
                            ) from exc
    return measure(*render_drawing(svg, REF_RES, line_group))


def illustrations(split: str, n: int) -> list[Path]:
    """The first ``n`` emoji of a split (in ``emoji``'s order) that pass ``LIMITS``; fewer if
    the split has fewer. Measuring takes about 0.1 s an emoji, so only what is asked is."""
    out = []
    for f in emoji(split):
        if len(out) >= n:
            break
        if accept(stats(str(f)), LIMITS):
            out.append(f)
    return out


def emoji_shot(path: Path, seed: int, frames: int = 8, size: int = 256) -> Shot:
    """A shot moving one emoji; the same seed always gives the same shot."""
    if not 32 <= size <= 1024 or frames < 1:
        raise InkpaintError(f"emoji shots need 32 <= size <= 1024 and frames >= 1, "
                            f"got size={size}, frames={frames}")
    width = stats(str(path))["width"]
    cache = str(user_cache() / "openmoji.renders")
    return animate_drawing(np.random.default_rng(seed), frames, size, width,
                           lambda res: drawing_canvas(str(path), res, cache, line_group),
                           LINE_PX)
