import json

import cv2
import numpy as np
import pytest

from core.data import footage
from core.data.footage import (
    FootageShots,
    build_dataset,
    frame_feature,
    frame_problem,
    shot_boundaries,
    too_still,
)
from core.data.lines import extract_lines
from core.data.procedural import render_shot
from core.errors import InkpaintError

SIZE = 128


def _shot(seed: int, frames: int) -> np.ndarray:
    """A procedural shot with a flat panel sliding in from the left, so that its colours
    change well beyond the still-shot threshold (procedural shots often move too little)."""
    color = render_shot(seed, frames=frames, size=SIZE, style="clean").color.copy()
    rgb = np.random.default_rng(seed).integers(40, 256, 3)
    for t in range(frames):
        color[t, :, : int(SIZE * 0.6 * t / max(frames - 1, 1))] = rgb
    return color


@pytest.fixture(scope="module")
def clips():
    """Frames of a little 'episode': shot A (12), B (10), a 5-frame flash, a still shot (10),
    shot C (10) whose frames 3-4 are nearly black; and the index of each shot's first frame."""
    a, b, c = _shot(101, 12), _shot(102, 10), _shot(103, 10)
    flash = _shot(104, 5)
    still = np.repeat(_shot(105, 1), 10, axis=0)
    c = c.copy()
    c[3:5] = (c[3:5] * 0.05).astype(np.uint8)
    parts = [a, b, flash, still, c]
    starts = np.cumsum([0] + [len(p) for p in parts[:-1]]).tolist()
    return np.concatenate(parts), starts


def _write_folder(frames: np.ndarray, folder) -> None:
    folder.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"frame.{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))


def test_feature_is_768_root_histograms_per_256x256():
    frame = _shot(1, 1)[0]
    f = frame_feature(frame)
    assert f.shape == (768,)
    assert np.allclose((f.reshape(3, 256) ** 2).sum(1), 512**2)  # any frame size
    big = cv2.resize(frame, (2 * SIZE, 2 * SIZE), interpolation=cv2.INTER_NEAREST)
    assert np.allclose(frame_feature(big), f)


def test_cuts_between_procedural_shots_only(clips):
    frames, starts = clips
    cuts = shot_boundaries(frames)
    # the dimmed frames of shot C are cuts too (they do look like another shot)
    assert cuts[:5] == starts
    assert set(cuts) - set(starts) <= {starts[4] + 3, starts[4] + 5}


def test_still_shot_and_moving_shot():
    still = np.repeat(_shot(7, 1), 6, axis=0)
    still[3, 10:14, 10:14] = 0  # a blink is still still
    assert too_still([frame_feature(f) for f in still])
    feats = [frame_feature(f) for f in _shot(7, 8)]
    assert not too_still(feats)


def test_dark_and_faded_frames():
    frame = _shot(5, 1)[0]
    assert frame_problem(frame) is None
    assert frame_problem((frame * 0.05).astype(np.uint8)) == "dark"
    grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    assert frame_problem(grey) == "faded"


def test_extract_lines_flat_regions_blank_boundaries_inked():
    img = np.zeros((128, 128, 3), np.uint8)
    img[:] = (230, 200, 160)  # light fill
    img[:, 64:] = (60, 90, 200)  # darker fill: a boundary at x = 64
    img[20:40, 10:30] = (20, 20, 20)  # a dark flat patch must not become ink
    rng = np.random.default_rng(0)
    noisy = np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8)
    line = extract_lines(noisy)
    assert line.dtype == np.float32 and line.shape == (128, 128)
    assert line.min() >= 0 and line.max() <= 1
    ink = line < 0.5
    flat = np.ones((128, 128), bool)
    flat[:, 58:70] = False  # around the boundary
    flat[14:46, 4:36] = False  # around the patch
    assert not ink[flat].any()
    cols = np.flatnonzero(ink[60:100].any(0))  # boundary rows away from the patch
    assert cols.min() >= 61 and cols.max() <= 67
    width = ink[60:100].sum(1)
    assert width.min() >= 1 and width.max() <= 3
    assert ink[20:40, 8:32].any()  # the patch outline is found


def test_extract_lines_finds_outline_free_colour_boundaries():
    """Art drawn without outlines: two fills of equal luminance still get a boundary line
    (the colour channels), and no ink elsewhere."""
    img = np.zeros((96, 96, 3), np.uint8)
    img[:] = (200, 90, 90)  # red, luma 0.299*200 + 0.587*90 + 0.114*90 = 123.1
    img[:, 48:] = (60, 165, 64)  # green, luma 122.1: the same brightness
    luma = img.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    assert abs(luma[0, 0] - luma[0, 95]) < 2
    ink = extract_lines(img) < 0.5
    assert ink[:, 44:52].any(1).all()  # every row has the boundary
    flat = np.ones_like(ink)
    flat[:, 42:54] = False
    assert not ink[flat].any()


def test_extract_lines_finds_drawn_lines():
    """Precision and recall (1 px tolerance) against procedural shots' known line art."""
    k = np.ones((3, 3), np.uint8)
    precision, recall = [], []
    for seed in range(20, 24):
        shot = render_shot(seed, frames=1, size=128, style="clean")
        gt = shot.lines[0] < 128
        ink = extract_lines(shot.color[0]) < 0.5
        precision.append((ink & cv2.dilate(gt.astype(np.uint8), k).astype(bool)).sum()
                         / ink.sum())
        recall.append((gt & cv2.dilate(ink.astype(np.uint8), k).astype(bool)).sum() / gt.sum())
    assert np.mean(precision) > 0.95 and np.mean(recall) > 0.95


def test_build_dataset_from_folder(clips, tmp_path):
    frames, starts = clips
    _write_folder(frames, tmp_path / "ep01")
    index = build_dataset([tmp_path / "ep01"], tmp_path / "out", size=SIZE)
    on_disk = json.loads((tmp_path / "out" / "index.json").read_text())
    assert on_disk == index
    shots = index["shots"]
    # A (12) and B (10) kept; the flash is short, the still shot still; C loses its two dark
    # frames, leaving pieces of 3 and 5 frames: too short
    assert [(s["first"], s["frames"]) for s in shots] == [(0, 12), (starts[1], 10)]
    src = index["sources"][0]
    assert src["frames"] == len(frames) and src["kept"] == 2
    assert src["dropped"]["still_shots"] == 1 and src["dropped"]["short_shots"] >= 1
    assert index["settings"]["size"] == SIZE
    folder = tmp_path / "out" / shots[0]["name"]
    assert shots[0]["name"] == "ep01_0000"
    assert sorted(p.name for p in folder.iterdir())[:3] == [
        "color.0000.png", "color.0001.png", "color.0002.png"]
    assert len(list(folder.glob("lines.*.png"))) == 12
    dist = cv2.imread(str(folder / "dist.0000.png"), cv2.IMREAD_UNCHANGED)
    assert dist.dtype == np.uint16 and dist.shape == (SIZE, SIZE)

    data = FootageShots(tmp_path / "out")
    assert len(data) == 2
    assert data.name(1) == shots[1]["name"]
    shot, d = data.shot(1), data.dist(1)
    assert shot.color.shape == (10, SIZE, SIZE, 3) and shot.color.dtype == np.uint8
    assert shot.lines.shape == (10, SIZE, SIZE) and shot.lines.dtype == np.uint8
    assert np.array_equal(shot.color, frames[starts[1]: starts[1] + 10])
    assert d.shape == (10, SIZE, SIZE) and 0 <= d.min() and d.max() <= 1
    assert (d[shot.lines < 64] < 0.05).all()  # zero on the lines


def test_dark_frames_split_a_shot(tmp_path):
    a = _shot(31, 20).copy()
    a[9] = (a[9] * 0.05).astype(np.uint8)
    _write_folder(a, tmp_path / "src")
    shots = build_dataset([tmp_path / "src"], tmp_path / "out", size=SIZE)["shots"]
    assert [(s["first"], s["frames"]) for s in shots] == [(0, 9), (10, 10)]


def test_build_dataset_from_video(tmp_path):
    frames = np.concatenate([_shot(41, 10), _shot(42, 12)])
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24, (SIZE + 32, SIZE))
    assert writer.isOpened()
    for f in frames:  # a wide video: the square crop drops 16 px each side
        wide = cv2.copyMakeBorder(f, 0, 0, 16, 16, cv2.BORDER_REPLICATE)
        writer.write(cv2.cvtColor(wide, cv2.COLOR_RGB2BGR))
    writer.release()
    index = build_dataset([path], tmp_path / "out", size=SIZE)
    assert [(s["name"], s["first"], s["frames"]) for s in index["shots"]] == [
        ("clip_0000", 0, 10), ("clip_0001", 10, 12)]
    shot = FootageShots(tmp_path / "out").shot(0)
    assert np.abs(shot.color.astype(int) - frames[:10]).mean() < 8  # MJPG is lossy


def test_errors(tmp_path):
    with pytest.raises(InkpaintError, match="does not exist"):
        build_dataset([tmp_path / "nope.mp4"], tmp_path / "out")
    with pytest.raises(InkpaintError, match="not a built footage data set"):
        FootageShots(tmp_path)
    with pytest.raises(InkpaintError, match="no footage"):
        build_dataset([], tmp_path / "out")


def test_thresholds_are_the_papers():
    assert footage.CUT_MSE == 200 and footage.STILL_MSE == 10 and footage.MIN_FRAMES == 8
