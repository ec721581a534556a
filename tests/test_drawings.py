import json
import sys

import cv2
import numpy as np
import pytest

from core.data import drawings
from core.data.drawings import (
    CLIPART_ROOT,
    accept,
    build_index,
    default_index,
    drawing_for,
    measure,
    render_drawing,
    render_drawing_shot,
    split_of,
    strokes_only,
)
from core.errors import InkpaintError

pytest.importorskip("cairosvg", reason="drawings need cairosvg")

HAND_WRITTEN = b"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="100" height="100" viewBox="0 0 100 100">
  <defs>
    <linearGradient id="g"><stop offset="0" stop-color="#f00"/><stop offset="1"
      stop-color="#00f"/></linearGradient>
    <filter id="blur"><feGaussianBlur stdDeviation="3"/></filter>
  </defs>
  <rect x="5" y="5" width="40" height="40" fill="#ff0000" stroke="#0000ff" stroke-width="4"/>
  <circle cx="75" cy="25" r="18" style="fill:#00ff00;stroke:rgb(200,0,0);stroke-width:4"/>
  <g fill="yellow" style="stroke:#123456">
    <path d="M5 60 L45 60 L45 95 L5 95 Z" stroke-width="3" filter="url(#blur)"/>
  </g>
  <ellipse cx="75" cy="75" rx="20" ry="15" fill="url(#g)" stroke="purple" stroke-width="3"/>
  <rect x="18" y="70" width="8" height="8" fill="#000"/>
  <rect x="50" y="50" width="50" height="10" fill="#000" fill-opacity="0.3"/>
</svg>
"""


def _cel_svg(seed: int) -> bytes:
    """A cel-like drawing: overlapping flat-filled shapes with black outlines."""
    rng = np.random.default_rng(seed)
    cols = ["#e63946", "#f1c453", "#2a9d8f", "#457b9d", "#f4a261", "#8d5ba6"]
    shapes = []
    for _ in range(6):
        cx, cy = rng.uniform(50, 150, 2)
        rx, ry = rng.uniform(20, 50, 2)
        fill = cols[int(rng.integers(len(cols)))]
        shapes.append(f'<ellipse cx="{cx:.1f}" cy="{cy:.1f}" rx="{rx:.1f}" ry="{ry:.1f}" '
                      f'fill="{fill}" stroke="#111" stroke-width="3"/>')
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" '
            f'viewBox="0 0 200 200">{"".join(shapes)}</svg>').encode()


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """An index over synthetic cel drawings, with drawings in both splits."""
    root = tmp_path_factory.mktemp("clipart")
    splits = {"train": 0, "eval": 0}
    n = 0
    while splits["eval"] < 2 or splits["train"] < 4:
        name = f"drawing_{n:03d}.svg"
        split = split_of(name)
        if splits[split] < (2 if split == "eval" else 4):
            folder = root / ("animals" if n % 2 else "people")
            folder.mkdir(exist_ok=True)
            (folder / name).write_bytes(_cel_svg(n))
            splits[split] += 1
        n += 1
    (root / "people" / "gradient.svg").write_bytes(  # rejected: no lines, a gradient
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><defs>'
        b'<radialGradient id="r"><stop offset="0" stop-color="#fff"/><stop offset="1" '
        b'stop-color="#a0f"/></radialGradient></defs><circle cx="50" cy="50" r="45" '
        b'fill="url(#r)"/></svg>')
    return build_index(root, out=root.parent / "index" / "drawings.json")


def _is_grey(img: np.ndarray) -> bool:
    return bool(np.abs(img[..., :3].astype(int) - img[..., :1]).max() <= 2)


def test_strokes_only_rewrite_makes_black_strokes_on_white():
    text = strokes_only(HAND_WRITTEN).decode()
    assert "#ff0000" not in text and "#00ff00" not in text and "yellow" not in text
    assert "filter" not in text.split("</defs>")[-1]
    color, lines = render_drawing(HAND_WRITTEN, 100)
    assert lines.dtype == np.uint8 and lines.shape == (100, 100)
    assert lines[25, 25] == 255  # red fill -> white
    assert lines[5, 25] < 60 and lines[25, 5] < 60  # blue stroke -> black, width kept
    assert (lines[25, 8:10] > 200).all()  # ... and no wider than 4 px (x 3..7)
    assert lines[25, 75] == 255 and lines[25, 57] < 60  # style="" fill and stroke
    assert lines[88, 35] == 255 and lines[60, 35] < 60  # inherited fill and stroke
    assert lines[75, 75] == 255 and lines[75, 55] < 60  # gradient fill -> white
    assert lines[74, 22] < 30  # opaque black fill = ink
    assert lines[55, 75] == 255  # translucent dark glaze hides nothing, inks nothing
    assert color[25, 25].tolist() == [255, 0, 0, 255]  # colour render is the drawing
    assert color[88, 35].tolist() == [255, 255, 0, 255]  # ... without the blur filter


def test_colour_edges_have_lines():
    color, lines = render_drawing(_cel_svg(3), 256)
    stats = measure(color, lines)
    assert accept(stats), stats
    assert stats["explained"] > 0.95


def test_index_keeps_cel_drawings_and_splits_them(index):
    doc = json.loads(index.read_text())
    paths = [e["path"] for e in doc["drawings"]]
    assert "people/gradient.svg" not in paths and len(paths) == 6
    assert paths == sorted(paths)
    assert {e["category"] for e in doc["drawings"]} == {"animals", "people"}
    train = {e["path"] for e in drawings.drawings("train", index)[1]}
    held = {e["path"] for e in drawings.drawings("eval", index)[1]}
    assert len(train) == 4 and len(held) == 2 and not train & held
    assert all(split_of(p) == "eval" for p in held)
    for seed in range(20):
        assert drawing_for(seed, "eval", index)["path"] in held
        assert drawing_for(seed, "train", index)["path"] in train


def test_split_is_a_fixed_tenth_by_file_name():
    names = [f"clip_{i}.svg" for i in range(2000)]
    share = np.mean([split_of(n) == "eval" for n in names])
    assert 0.08 < share < 0.12
    assert split_of("a/b/x.svg") == split_of("other/x.svg")  # only the name counts
    assert [split_of(n) for n in names[:50]] == [split_of(n) for n in names[:50]]


def test_shot_is_deterministic_with_right_shapes(index):
    a = render_drawing_shot(5, frames=4, size=64, index=index)
    b = render_drawing_shot(5, frames=4, size=64, index=index)
    assert np.array_equal(a.color, b.color) and np.array_equal(a.lines, b.lines)
    assert np.array_equal(a.palette, b.palette)
    assert a.color.shape == (4, 64, 64, 3) and a.color.dtype == np.uint8
    assert a.lines.shape == (4, 64, 64) and a.lines.dtype == np.uint8
    assert a.palette.ndim == 2 and a.palette.shape[1] == 3 and a.palette.dtype == np.uint8
    assert a.lines.min() < 80 and np.median(a.lines) > 200  # ink on paper
    c = render_drawing_shot(6, frames=4, size=64, index=index)
    assert not np.array_equal(a.color, c.color)


def test_shot_lines_lie_on_colour_edges(index, monkeypatch):
    """Colour and lines get the same motion: ink sits where the colour frame has its outlines
    (black strokes in these drawings) and the colour frame has no outline without ink."""
    light = (lambda rng, kind, size: np.full((size, size, 3), 200, np.uint8),
             lambda rng, n: np.full((n, 3), 220))
    monkeypatch.setattr(drawings, "backdrop_image", light[0])  # nothing dark but the outlines
    monkeypatch.setattr(drawings, "random_palette", light[1])  # (occluder fills)
    for seed in range(4):
        shot = render_drawing_shot(seed, frames=3, size=96, index=index)
        for color, lines in zip(shot.color, shot.lines):
            ink = lines < 100
            dark = color.max(2) < 90  # the drawings' outlines are #111
            assert ink.sum() > 50
            near_dark = cv2.dilate(dark.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            assert (ink & near_dark).sum() / ink.sum() > 0.9
            near_ink = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            assert (dark & near_ink).sum() / max(dark.sum(), 1) > 0.85


def test_eval_split_shots(index):
    shot = render_drawing_shot(1, frames=2, size=64, split="eval", index=index)
    assert shot.color.shape == (2, 64, 64, 3)
    with pytest.raises(InkpaintError, match="split"):
        render_drawing_shot(1, split="test", index=index)


def test_bad_arguments_and_missing_things(tmp_path, monkeypatch):
    with pytest.raises(InkpaintError, match="size"):
        render_drawing_shot(0, size=8, index=tmp_path / "x.json")
    with pytest.raises(InkpaintError, match="does not exist"):
        render_drawing_shot(0, index=tmp_path / "x.json")
    with pytest.raises(InkpaintError, match="apt-get install -y openclipart-svg"):
        build_index(tmp_path / "no_clipart", out=tmp_path / "i.json")
    monkeypatch.setitem(sys.modules, "cairosvg", None)  # as if it were not installed
    with pytest.raises(InkpaintError, match="pip install cairosvg"):
        render_drawing(HAND_WRITTEN, 32)


def test_default_index_location(monkeypatch, tmp_path):
    monkeypatch.delenv("INKPAINT_DRAWINGS_INDEX", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_index() == tmp_path / "inkpaint" / "drawings.json"
    monkeypatch.setenv("INKPAINT_DRAWINGS_INDEX", str(tmp_path / "mine.json"))
    assert default_index() == tmp_path / "mine.json"


REAL = ["office/eraser.svg", "people/head5.svg", "food/desserts/candy_10.svg",
        "recreation/toys/simple_teddy_bear_with__01.svg", "tools/broom_nicu_buculei_01.svg",
        "shapes/jigsaw/jigsaw_blue_05.svg"]


@pytest.mark.skipif(not CLIPART_ROOT.is_dir(), reason="openclipart-svg is not installed")
def test_real_clipart(tmp_path):
    """Hand-made drawings from the package: accepted, animated, lines clean and grey."""
    root = tmp_path / "svg"
    for rel in REAL:
        if (CLIPART_ROOT / rel).is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).symlink_to(CLIPART_ROOT / rel)
    index = build_index(root, out=tmp_path / "drawings.json")
    entries = json.loads(index.read_text())["drawings"]
    assert len(entries) >= 4
    shot = render_drawing_shot(2, frames=3, size=64, index=index)
    assert shot.lines.min() < 80 and np.median(shot.lines) > 200
