import cv2
import numpy as np
import pytest

from core.preprocess import Fit, distance_field, fit, line_art, unfit

H, W = 96, 128


def _drawing(colour=(0, 0, 0), paper=(255, 255, 255), aa=True):
    """A circle and a diagonal stroke, 8-bit RGB, plus where the ink really is."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = paper
    kind = cv2.LINE_AA if aa else cv2.LINE_8
    cv2.circle(img, (40, 48), 25, colour, 2, kind)
    cv2.line(img, (70, 10), (120, 85), colour, 3, kind)
    ink = np.zeros((H, W), np.uint8)
    cv2.circle(ink, (40, 48), 25, 255, 2, cv2.LINE_8)
    cv2.line(ink, (70, 10), (120, 85), 255, 3, cv2.LINE_8)
    core = cv2.erode(ink, np.ones((2, 2), np.uint8)) > 0
    paper_far = cv2.dilate(ink, np.ones((7, 7), np.uint8)) == 0
    return img.astype(np.float32) / 255, core, paper_far


def _check(mask, core, paper_far, on_line=0.9, off_line=0.02):
    assert mask.dtype == np.float32 and mask.shape == (H, W)
    assert mask[core].mean() > on_line
    assert mask[paper_far].max() <= off_line


def test_black_on_white_keeps_antialiasing():
    img, core, far = _drawing()
    line, mask = line_art(img)
    _check(mask, core, far)
    assert np.array_equal(line, 1 - mask) and line.dtype == np.float32
    expected = 1 - img.min(axis=2)  # clean digital art: coverage is exactly the darkness
    assert np.abs(mask - expected).max() < 1e-6
    assert ((mask > 0.05) & (mask < 0.95)).sum() > 50  # fractional edge coverage survives


def test_aliased_lines_are_binary():
    img, core, far = _drawing(aa=False)
    _, mask = line_art(img)
    _check(mask, core, far, on_line=0.999, off_line=0.0)
    assert set(np.unique(mask)) <= {0.0, 1.0}


@pytest.mark.parametrize("colour", [(255, 0, 0), (0, 0, 255), (0, 160, 0)])
def test_coloured_lines_count_as_lines(colour):
    img, core, far = _drawing(colour=colour)
    _check(line_art(img)[1], core, far)


def test_noisy_grey_paper_scan():
    img, core, far = _drawing(colour=(40, 40, 40), paper=(200, 196, 185))
    rng = np.random.default_rng(1)
    scan = np.clip(img + rng.normal(0, 0.02, img.shape).astype(np.float32), 0, 1)
    line, mask = line_art(scan)
    _check(mask, core, far, on_line=0.85, off_line=0.1)
    assert np.median(line[far]) == 1.0
    assert (mask[far] > 0).mean() < 0.01


def test_grayscale_single_channel_and_2d():
    img, core, far = _drawing(paper=(230, 230, 230))
    grey = img[..., :1]
    _check(line_art(grey)[1], core, far)
    _check(line_art(grey[..., 0])[1], core, far)


def test_transparent_grease_pencil_render():
    img, core, far = _drawing()
    rgba = np.zeros((H, W, 4), np.float32)  # black strokes on transparent black
    rgba[..., 3] = 1 - img.min(axis=2)
    _, mask = line_art(rgba)
    _check(mask, core, far)
    rgba[..., :3] = (1.0, 0.0, 0.0)  # red strokes, straight alpha
    rgba[far, :3] = 0.3  # garbage colour under alpha 0 must not matter
    _check(line_art(rgba)[1], core, far)


def test_white_on_black_is_inverted():
    img, core, far = _drawing()
    line, mask = line_art(1 - img)
    _check(mask, core, far)
    assert line[far].min() == 1.0


def test_blank_page_has_no_lines():
    rng = np.random.default_rng(2)
    paper = np.clip(0.9 + rng.normal(0, 0.01, (H, W, 3)), 0, 1).astype(np.float32)
    assert line_art(paper)[1].max() < 0.1
    assert line_art(np.ones((H, W, 3), np.float32))[1].max() == 0.0


def test_distance_field_values():
    mask = np.zeros((32, 40), np.float32)
    mask[:, 10] = 1.0
    mask[0, 30] = 0.4  # below 0.5: not a line
    d = distance_field(mask, max_dist=8.0)
    assert d.dtype == np.float32 and d.shape == mask.shape
    assert d[5, 10] == 0.0
    assert d[5, 13] == pytest.approx(3 / 8, abs=1e-4)
    assert d[5, 7] == pytest.approx(3 / 8, abs=1e-4)
    assert d[5, 30] == 1.0  # 20 px away, clipped
    point = np.zeros((32, 40), np.float32)
    point[16, 20] = 1.0
    assert distance_field(point, 10.0)[19, 24] == pytest.approx(0.5, abs=1e-4)  # 3-4-5


def test_distance_field_without_lines_is_all_ones():
    d = distance_field(np.zeros((5, 6), np.float32), 4.0)
    assert d.dtype == np.float32 and np.all(d == 1.0)


@pytest.mark.parametrize("hw", [(300, 200), (200, 300), (123, 457), (64, 64)])
def test_fit_shapes_and_padding(hw):
    img = np.random.default_rng(3).random(hw + (3,), dtype=np.float32)
    out, spec = fit(img, 256)
    assert out.shape[0] % 8 == 0 and out.shape[1] % 8 == 0 and out.shape[2] == 3
    assert max(spec.scaled) == 256 and spec.source == hw
    assert spec.padded == out.shape[:2]
    ratio = (spec.scaled[0] / spec.scaled[1]) / (hw[0] / hw[1])
    assert abs(ratio - 1) < 0.02
    assert 0 <= spec.top <= out.shape[0] - spec.scaled[0] - spec.top <= spec.top + 1
    assert 0 <= spec.left <= out.shape[1] - spec.scaled[1] - spec.left <= spec.left + 1


def test_fit_pads_with_value_or_edge():
    img = np.zeros((50, 100), np.float32)
    out, spec = fit(img, 100, pad_value=1.0)
    assert spec == Fit(source=(50, 100), scaled=(50, 100), top=3, left=2, padded=(56, 104))
    assert out[:3].min() == 1.0 and out[-3:].min() == 1.0 and out[3:53, 2:102].max() == 0.0
    colour = np.zeros((50, 100, 3), np.float32)
    colour[0, :, 0] = 0.7
    out, _ = fit(colour, 100)
    assert np.all(out[:3, 2:102, 0] == 0.7)  # edge replicated


@pytest.mark.parametrize("hw", [(240, 180), (180, 240), (90, 333)])
def test_fit_unfit_round_trip(hw):
    yy, xx = np.mgrid[0 : hw[0], 0 : hw[1]].astype(np.float32)
    smooth = np.stack([xx / hw[1], yy / hw[0], 0.5 + 0.4 * np.sin(xx / 20)], axis=2)
    for size in (128, 512):  # shrinking and enlarging
        out, spec = fit(smooth, size)
        back = unfit(out, spec)
        assert back.shape == smooth.shape and back.dtype == np.float32
        assert np.abs(back - smooth).mean() < 0.01
        grey, spec = fit(smooth[..., 0], size, pad_value=1.0)
        assert unfit(grey, spec).shape == hw


def test_fit_keeps_channel_axis_of_one_and_thin_lines():
    img = np.ones((400, 400, 1), np.float32)
    img[:, 200] = 0.0  # a one-pixel line must not vanish when shrinking
    out, spec = fit(img, 100, pad_value=1.0)
    assert out.shape == (104, 104, 1)
    assert out.min() < 0.8
    assert unfit(out, spec).shape == (400, 400, 1)


def test_unfit_rejects_wrong_shape():
    _, spec = fit(np.zeros((10, 20), np.float32), 16)
    with pytest.raises(ValueError, match="unfit expects"):
        unfit(np.zeros((5, 5), np.float32), spec)
