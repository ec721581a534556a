import cv2
import numpy as np
import pytest

from core.data import procedural
from core.data.procedural import STYLES, Shot, contact_sheet, render_shot
from core.errors import InkpaintError


def _palette_ids(shot: Shot, t: int) -> np.ndarray:
    """Palette index of every pixel of frame t, -1 where the colour is not a palette colour."""
    col = shot.color[t].astype(np.int64)
    pal = shot.palette.astype(np.int64)
    keys = (col[..., 0] << 16) | (col[..., 1] << 8) | col[..., 2]
    pkeys = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
    order = np.argsort(pkeys)
    pos = np.clip(np.searchsorted(pkeys[order], keys), 0, len(pkeys) - 1)
    return np.where(pkeys[order][pos] == keys, order[pos], -1)


@pytest.fixture
def flat_background(monkeypatch):
    monkeypatch.setattr(procedural, "BACKGROUNDS", ("flat",))


def test_same_seed_same_shot():
    a, b = render_shot(11, frames=4, size=64), render_shot(11, frames=4, size=64)
    assert np.array_equal(a.color, b.color)
    assert np.array_equal(a.lines, b.lines)
    assert np.array_equal(a.palette, b.palette)


def test_different_seeds_differ():
    assert not np.array_equal(render_shot(1, 2, 64).color, render_shot(2, 2, 64).color)


@pytest.mark.parametrize("size", [64, 256])
def test_shapes_and_dtypes(size):
    shot = render_shot(5, frames=3, size=size)
    assert shot.color.shape == (3, size, size, 3) and shot.color.dtype == np.uint8
    assert shot.lines.shape == (3, size, size) and shot.lines.dtype == np.uint8
    assert shot.palette.ndim == 2 and shot.palette.shape[1] == 3
    assert shot.palette.dtype == np.uint8 and 4 <= len(shot.palette)
    sheet = contact_sheet(shot)
    assert sheet.shape == (2 * size, 3 * size, 3) and sheet.dtype == np.uint8


@pytest.mark.parametrize("style", STYLES)
def test_every_style_renders_ink_on_paper(style):
    shot = render_shot(3, frames=2, size=64, style=style)
    assert shot.lines.min() < 100 and np.median(shot.lines) > 200


def test_style_override_keeps_the_shot(flat_background):
    clean = render_shot(9, frames=2, size=64, style="clean")
    gp = render_shot(9, frames=2, size=64, style="gp")
    assert np.array_equal(clean.palette, gp.palette)
    assert not np.array_equal(clean.lines, gp.lines)


def test_bad_arguments_raise():
    with pytest.raises(InkpaintError):
        render_shot(0, style="crayon")
    with pytest.raises(InkpaintError):
        render_shot(0, size=8)


@pytest.mark.parametrize("seed", range(4))
def test_fills_are_palette_colours(flat_background, seed):
    shot = render_shot(seed, frames=2, size=96, style="clean")
    for t in range(2):
        far_from_lines = cv2.erode(shot.lines[t], np.ones((5, 5), np.uint8)) == 255
        ids = _palette_ids(shot, t)
        assert far_from_lines.mean() > 0.3
        assert (ids[far_from_lines] >= 0).mean() > 0.97


@pytest.mark.parametrize("seed", range(4))
def test_lines_sit_on_colour_boundaries(flat_background, seed):
    shot = render_shot(seed, frames=2, size=128, style="gp")
    for t in range(2):
        ids = _palette_ids(shot, t)  # anti-aliased line pixels are not palette colours: -1
        win = np.ones((11, 11), np.uint8)
        hi = cv2.dilate(ids.astype(np.float32), win)
        lo = cv2.erode(np.where(ids < 0, 1e6, ids).astype(np.float32), win)
        on_line = shot.lines[t] < 128
        assert on_line.sum() > 50
        # most ink separates two different fills (the rest are eyes, seams)...
        assert (hi[on_line] != lo[on_line]).mean() > 0.75
        # ...and different fills almost never touch without a line between them
        a, b = ids[:, :-1], ids[:, 1:]
        assert ((a >= 0) & (b >= 0) & (a != b)).sum() < 0.03 * on_line.sum()


def test_motion_and_held_frames():
    moving, held = 0, 0
    for seed in range(16):
        c = render_shot(seed, frames=6, size=64).color
        moving += not np.array_equal(c[0], c[-1])
        held += any(np.array_equal(c[i], c[i - 1]) for i in range(1, len(c)))
    assert moving >= 13
    assert held >= 2
