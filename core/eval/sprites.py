"""A validation set drawn by artists: Kenney's animated character sprites (CC0), shipped as
PNGs inside the ``arcade`` wheel on PyPI.

Six characters, each with an 8-frame walk cycle, drawn by hand in a flat cel style: the closest
thing to real in-betweens that can be had offline and with a clear licence. The colour frames are
the artist's; the line art is extracted from them by ``core.data.lines.extract_lines`` (an
XDoG extractor, where the paper used SketchKeras, whose weights cannot be had here), so this
set also measures how the model copes with extracted rather than drawn lines. It is an
evaluation set only: nothing in training may read it.

The wheel is installed with ``pip install --no-deps arcade`` (its dependencies, pyglet and
friends, are not needed: only the PNG files are read, and arcade is never imported).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from ..data.lines import extract_lines
from ..data.procedural import Shot
from ..errors import InkpaintError
from ..preprocess import fit

SPRITE_DIR = ("resources", "assets", "images", "animated_characters")
# folder -> file-name prefix, in a fixed order (the clip index of each character)
CHARACTERS = (
    ("female_adventurer", "femaleAdventurer"),
    ("female_person", "femalePerson"),
    ("male_adventurer", "maleAdventurer"),
    ("male_person", "malePerson"),
    ("robot", "robot"),
    ("zombie", "zombie"),
)
WALK_FRAMES = 8
_INSTALL = "pip install --no-deps arcade"
_PALETTE_SIZE = 16


def sprite_root() -> Path:
    """The ``animated_characters`` folder of the installed arcade wheel (not imported)."""
    spec = importlib.util.find_spec("arcade")
    if spec is None or not spec.submodule_search_locations:
        raise InkpaintError(f"the sprite set needs Kenney's sprites from the arcade wheel: "
                            f"{_INSTALL}")
    root = Path(spec.submodule_search_locations[0]).joinpath(*SPRITE_DIR)
    if not root.is_dir():
        raise InkpaintError(f"the installed arcade has no {'/'.join(SPRITE_DIR)} folder: "
                            f"reinstall it ({_INSTALL})")
    return root


def sprite_files() -> list[list[Path]]:
    """Per character, the walk cycle's PNG files in frame order."""
    root = sprite_root()
    out = []
    for folder, prefix in CHARACTERS:
        files = [root / folder / f"{prefix}_walk{i}.png" for i in range(WALK_FRAMES)]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise InkpaintError(f"arcade's sprites lack {folder}/{missing[0]}: reinstall "
                                f"arcade ({_INSTALL})")
        out.append(files)
    return out


def _over_white(path: Path) -> np.ndarray:
    """HxWx3 float32 sRGB [0, 1]: the RGBA sprite composited over white paper."""
    px = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if px is None or px.ndim != 3 or px.shape[2] not in (3, 4):
        raise InkpaintError(f"sprite {path} cannot be decoded: reinstall arcade ({_INSTALL})")
    px = px.astype(np.float32) / 255.0
    rgb = px[..., 2::-1]  # BGR(A) -> RGB
    if px.shape[2] == 4:
        a = px[..., 3:]
        rgb = rgb * a + (1.0 - a)
    return np.ascontiguousarray(rgb)


def pad_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """An HxWx3 float image no larger than size x size, centred on a white size x size frame:
    the evaluation's frames are square, the artists' are not."""
    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    top, left = (size - h) // 2, (size - w) // 2
    return np.pad(rgb, ((top, size - h - top), (left, size - w - left), (0, 0)),
                  constant_values=1.0)


def frequent_colours(color: np.ndarray) -> np.ndarray:
    """The most frequent colours of the clip: the artist's flat fills (anti-aliased edges and
    the white paper are rarer or excluded)."""
    px = color.reshape(-1, 3)
    px = px[(px < 250).any(1)]
    if not len(px):
        return np.zeros((0, 3), np.uint8)
    colours, counts = np.unique(px, axis=0, return_counts=True)
    return colours[np.argsort(-counts, kind="stable")[:_PALETTE_SIZE]]


def sprite_clips(size: int = 256) -> list[Shot]:
    """The six walk cycles as 8-frame shots, letterboxed onto white ``size`` x ``size`` frames
    (the sprites are 96 x 128), with XDoG line art extracted from the letterboxed colour."""
    if size < 32:
        raise InkpaintError(f"sprite clips need size >= 32, got {size}")
    shots = []
    for files in sprite_files():
        colors, lines = [], []
        for path in files:
            rgb, _ = fit(_over_white(path), size, multiple=1, pad_value=1.0)
            rgb = pad_square(rgb, size)  # non-square sizes round the long side: pad exactly
            c8 = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
            line = extract_lines(c8)
            colors.append(c8)
            lines.append(np.clip(line * 255 + 0.5, 0, 255).astype(np.uint8))
        color = np.stack(colors)
        shots.append(Shot(color, np.stack(lines), frequent_colours(color)))
    return shots
