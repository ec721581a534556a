import os

import cv2
import numpy as np
import pytest

from core import imageio
from core.errors import InkpaintError
from core.imageio import (
    image_size,
    linear_to_srgb,
    read_color,
    read_image,
    read_key,
    srgb_to_linear,
    write_image,
)


def _rgb(h=6, w=7, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_srgb_linear_round_trip_and_known_values():
    v = np.linspace(0.0, 4.0, 40001, dtype=np.float32)
    assert np.abs(srgb_to_linear(linear_to_srgb(v)) - v).max() < 1e-4
    s = np.linspace(0.0, 1.0, 1001, dtype=np.float32)
    assert np.abs(linear_to_srgb(srgb_to_linear(s)) - s).max() < 1e-4
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-5)
    assert linear_to_srgb(np.float32(0.18)) == pytest.approx(0.46135, abs=1e-5)
    assert linear_to_srgb(np.float32(1.0)) == pytest.approx(1.0, abs=1e-6)
    assert linear_to_srgb(np.float32(-0.5)) == 0.0
    assert srgb_to_linear(np.float32(-0.5)) == 0.0
    assert np.all(np.diff(linear_to_srgb(v)) >= 0)
    assert linear_to_srgb(v).dtype == np.float32


def test_png_8bit_round_trip_is_exact(tmp_path):
    rgb = np.round(_rgb() * 255) / 255
    write_image(tmp_path / "a.png", rgb)
    img = read_image(tmp_path / "a.png")
    assert img.bit_depth == 8 and not img.linear and img.pixels.shape == (6, 7, 3)
    assert np.array_equal(img.pixels, rgb.astype(np.float32))


def test_png_16bit_round_trip_is_exact(tmp_path):
    rgb = np.round(_rgb() * 65535) / 65535
    write_image(tmp_path / "a.png", rgb, bit_depth=16)
    img = read_image(tmp_path / "a.png")
    assert img.bit_depth == 16
    assert np.abs(img.pixels - rgb).max() < 1e-7


def test_rgba_alpha_preserved_and_not_premultiplied(tmp_path):
    rgb = np.round(_rgb() * 255) / 255
    alpha = np.zeros((6, 7), np.float32)
    alpha[2:, :] = 128 / 255
    write_image(tmp_path / "a.png", rgb, alpha)
    colour, got_alpha = read_color(tmp_path / "a.png")
    assert np.array_equal(got_alpha, alpha)
    assert np.array_equal(colour, rgb.astype(np.float32))  # colour under alpha 0 kept


def test_exr_is_linear_on_disk_and_srgb_through_read_color(tmp_path):
    rgb = _rgb()
    alpha = np.full((6, 7), 0.25, np.float32)
    write_image(tmp_path / "a.exr", rgb, alpha)
    img = read_image(tmp_path / "a.exr")
    assert img.linear and img.bit_depth == 32 and img.pixels.shape == (6, 7, 4)
    assert np.abs(img.pixels[..., :3] - srgb_to_linear(rgb)).max() < 1e-6
    colour, got_alpha = read_color(tmp_path / "a.exr")
    assert np.abs(colour - rgb).max() < 1e-3
    assert np.abs(got_alpha - 0.25).max() < 1e-6


def test_exr_hdr_values_survive_and_read_color_clips(tmp_path):
    write_image(tmp_path / "hot.exr", np.full((2, 2, 3), 3.0, np.float32), linear_out=False)
    assert read_image(tmp_path / "hot.exr").pixels.max() == pytest.approx(3.0)
    colour, alpha = read_color(tmp_path / "hot.exr")
    assert alpha is None and colour.max() == 1.0


def test_exr_extra_channels_are_stored_as_data_beside_the_colour(tmp_path):
    import OpenEXR

    rgb, conf = _rgb(), np.linspace(0, 1, 42, dtype=np.float32).reshape(6, 7)
    write_image(tmp_path / "a.exr", rgb, np.full((6, 7), 0.5, np.float32),
                extra={"confidence": conf})
    channels = OpenEXR.File(str(tmp_path / "a.exr")).channels()
    assert sorted(channels) == ["RGBA", "confidence"]
    assert np.array_equal(channels["confidence"].pixels, conf)  # not converted to linear
    assert read_image(tmp_path / "a.exr").pixels.shape == (6, 7, 4)  # readers get the colour
    with pytest.raises(InkpaintError, match="only EXR files hold extra channels"):
        write_image(tmp_path / "a.png", rgb, extra={"confidence": conf})
    with pytest.raises(ValueError, match="planes"):
        write_image(tmp_path / "b.exr", rgb, extra={"confidence": conf[:3]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.exr"]


@pytest.mark.skipif(not cv2.haveImageWriter(".exr"), reason="this cv2 build has no OpenEXR")
def test_exr_through_cv2_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr(imageio, "OpenEXR", None)
    rgb = _rgb()
    write_image(tmp_path / "a.exr", rgb)
    assert np.abs(read_color(tmp_path / "a.exr")[0] - rgb).max() < 1e-3


def test_exr_extra_channels_through_cv2_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(imageio, "OpenEXR", None)
    monkeypatch.setattr(imageio.cv2, "haveImageWriter", lambda ext: True)  # cv2 writes RGB(A)
    with pytest.raises(InkpaintError, match="needs the OpenEXR package"):
        write_image(tmp_path / "a.exr", _rgb(), extra={"confidence": _rgb()[..., 0]})
    assert list(tmp_path.iterdir()) == []


def test_exr_without_any_backend_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(imageio, "OpenEXR", None)
    monkeypatch.setattr(imageio.cv2, "haveImageWriter", lambda ext: False)
    with pytest.raises(InkpaintError, match="pip install OpenEXR"):
        write_image(tmp_path / "a.exr", _rgb())
    assert list(tmp_path.iterdir()) == []


def test_grayscale_stays_one_channel_and_read_color_expands(tmp_path):
    grey = (np.arange(12, dtype=np.uint8) * 20).reshape(3, 4)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    img = read_image(tmp_path / "g.png")
    assert img.pixels.shape == (3, 4, 1)
    colour, alpha = read_color(tmp_path / "g.png")
    assert alpha is None and colour.shape == (3, 4, 3)
    assert np.array_equal(colour[..., 1], grey / np.float32(255))


def test_channel_order_is_rgb(tmp_path):
    rgb = np.zeros((2, 2, 3), np.float32)
    rgb[..., 0] = 1.0
    write_image(tmp_path / "red.png", rgb)
    bgr = cv2.imread(str(tmp_path / "red.png"))
    assert bgr[0, 0].tolist() == [0, 0, 255]
    assert read_image(tmp_path / "red.png").pixels[0, 0].tolist() == [1.0, 0.0, 0.0]


def test_jpeg_and_tiff_write_and_read(tmp_path):
    rgb = np.full((8, 8, 3), 0.5, np.float32)
    write_image(tmp_path / "a.jpg", rgb)
    write_image(tmp_path / "a.tif", rgb, bit_depth=16)
    assert np.abs(read_color(tmp_path / "a.jpg")[0] - 0.5).max() < 0.01
    assert read_image(tmp_path / "a.tif").bit_depth == 16
    with pytest.raises(InkpaintError, match="JPEG has no alpha"):
        write_image(tmp_path / "b.jpg", rgb, np.ones((8, 8), np.float32))


def test_unicode_path(tmp_path):
    path = tmp_path / "セル画" / "カット.0001.png"
    write_image(path, _rgb())
    assert read_image(path).pixels.shape == (6, 7, 3)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(InkpaintError, match=r"a\.0007\.png: file does not exist"):
        read_image(tmp_path / "a.0007.png")


def test_corrupt_and_empty_files(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"this is not an image" * 10)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InkpaintError, match="bad.png: file is corrupt or not an image"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(InkpaintError, match="empty.png: file is empty"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(InkpaintError, match="is a folder"):
        read_image(tmp_path)


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_png_is_detected(tmp_path, keep):
    write_image(tmp_path / "full.png", _rgb(64, 64))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InkpaintError, match="cut.png: file is truncated"):
        read_image(tmp_path / "cut.png")


def test_truncated_png_detected_even_if_decoder_is_lenient(tmp_path, monkeypatch):
    write_image(tmp_path / "full.png", _rgb(64, 64))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:-12])  # drop just the IEND chunk
    monkeypatch.setattr(imageio.cv2, "imdecode", lambda *a: np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(InkpaintError, match="truncated"):
        read_image(tmp_path / "cut.png")


def test_truncated_jpeg_and_exr_are_detected(tmp_path):
    write_image(tmp_path / "a.jpg", _rgb(64, 64))
    write_image(tmp_path / "a.exr", _rgb(64, 64))
    for name in ("a.jpg", "a.exr"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) - 40])
        with pytest.raises(InkpaintError, match=f"{name}: .*(truncated|corrupt)"):
            read_image(tmp_path / name)


def test_write_is_atomic_and_creates_folders(tmp_path):
    path = tmp_path / "out" / "deep" / "a.0001.png"
    write_image(path, _rgb())
    write_image(path, _rgb(seed=1))  # replacing an existing frame
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.0001.png"]
    assert np.abs(read_color(path)[0] - _rgb(seed=1)).max() <= 0.5 / 255 + 1e-6


def test_failed_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a.png"
    target.mkdir()  # a folder where the frame should go: os.replace must fail
    with pytest.raises(InkpaintError, match="cannot write .*a.png"):
        write_image(target, _rgb())
    assert _leftovers(tmp_path) == []


def test_interrupted_write_leaves_no_temp_file_and_keeps_old_frame(tmp_path, monkeypatch):
    target = tmp_path / "a.png"
    write_image(target, _rgb())
    before = target.read_bytes()

    def fail(src, dst):
        assert os.path.basename(src).startswith(".a.") and str(src).endswith(".tmp.png")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(imageio.os, "replace", fail)
    with pytest.raises(InkpaintError, match="No space left on device"):
        write_image(target, _rgb(seed=3))
    assert _leftovers(tmp_path) == [] and target.read_bytes() == before


def test_write_rejects_unknown_extension_and_bad_depth(tmp_path):
    with pytest.raises(InkpaintError, match="unknown image type '.gif'"):
        write_image(tmp_path / "a.gif", _rgb())
    with pytest.raises(InkpaintError, match="12-bit"):
        write_image(tmp_path / "a.png", _rgb(), bit_depth=12)
    assert list(tmp_path.iterdir()) == []


def test_radiance_hdr_is_read_as_linear(tmp_path):
    hot = np.full((4, 4, 3), 2.0, np.float32)
    assert cv2.imwrite(str(tmp_path / "sky.hdr"), hot)
    img = read_image(tmp_path / "sky.hdr")
    assert img.linear and img.bit_depth == 32
    assert np.abs(img.pixels - 2.0).max() < 0.05


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "a.tif", "a.exr", "a.bmp", "a.hdr",
                                  "g.png", "w.tiff"])
def test_image_size_reads_the_header_as_the_decoder_does(tmp_path, name):
    """The header pass (``image_size``, before any decoding) and the decoder agree on every
    format Inkpaint reads, including grey and 16-bit files and TIFF's BigTIFF-free layout."""
    path = tmp_path / name
    px = _rgb(37, 53)
    raw = {"g.png": (px[..., 0] * 255).astype(np.uint8), "a.bmp": (px * 255).astype(np.uint8),
           "a.hdr": px, "w.tiff": (px * 65535).astype(np.uint16)}
    if name in raw:
        assert cv2.imwrite(str(path), raw[name])
    else:
        write_image(path, px)
    assert image_size(path) == read_image(path).pixels.shape[:2] == (37, 53)


def test_header_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    from tests.hostile import png_claiming

    (tmp_path / "big.png").write_bytes(png_claiming(30000, 30000, 1, 0))
    monkeypatch.setattr(imageio.cv2, "imdecode", lambda *a: pytest.fail("decoded"))
    with pytest.raises(InkpaintError, match="900,000,000 pixels.*INKPAINT_MAX_PIXELS"):
        read_image(tmp_path / "big.png")


def test_non_finite_pixels_and_special_files_are_refused(tmp_path):
    from tests.hostile import nonfinite_exr

    nonfinite_exr(tmp_path / "nan.exr", np.nan)
    with pytest.raises(InkpaintError, match="NaN or infinite"):
        read_image(tmp_path / "nan.exr")
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(InkpaintError, match="not a regular file"):
        read_image(tmp_path / "pipe.png")


def test_keys_on_transparency_are_composited_over_white(tmp_path):
    rgb, alpha = _rgb(8, 8), np.zeros((8, 8), np.float32)
    alpha[2:4, 2:4] = 1.0
    write_image(tmp_path / "k.png", rgb, alpha)
    key = read_key(tmp_path / "k.png")
    assert np.allclose(key[alpha == 0], 1.0)
    assert np.abs(key[alpha == 1] - rgb[alpha == 1]).max() <= 0.5 / 255 + 1e-6


def test_reads_keeps_a_long_shots_keys_bounded(tmp_path, monkeypatch):
    """``Reads`` decodes a key once while it is in use, but holds only the last
    ``KEYS_HELD`` keys: a 1,000-frame shot keyed every 24 frames has ~40 keys of 25 MB each
    (1080p, float) that must not all stay in memory for the run."""
    decoded: list[str] = []
    real = imageio.read_color

    def counted(path):
        decoded.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(imageio, "read_color", counted)
    keys = []
    for i in range(imageio.Reads.KEYS_HELD + 3):
        path = tmp_path / f"key.{i}.png"
        cv2.imwrite(str(path), np.full((8, 8, 3), 10 * i, np.uint8))
        keys.append(path)
    reads = imageio.Reads()
    first = reads.key(keys[0])
    assert not first.flags.writeable  # shared: a passthrough copies it
    assert reads.key(keys[0]) is first and decoded == ["key.0.png"]
    for path in keys:  # a shot walking through its keys
        reads.key(path)
    assert decoded == [p.name for p in keys]  # each once
    reads.key(keys[-1])
    assert len(decoded) == len(keys)  # still held
    reads.key(keys[0])  # long evicted: decoded again
    assert decoded[-1] == "key.0.png" and len(decoded) == len(keys) + 1
    assert float(reads.key(keys[2])[0, 0, 0]) == pytest.approx(20 / 255)
