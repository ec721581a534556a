"""The Cattery path: the TorchScript export (one [1, 9, H, W] tensor in, [1, 3, H, W] out)
loads with torch.jit.load and matches the engine, and the InkpaintColorizeCattery gizmo's
FrameHold/Copy packing feeds it the right channels (run by the fake Inference node).

What is compared: the engine (``Colorizer(temporal=False, k=2, compose="network")``: the
Cattery path has no temporal network and no native-resolution composition) on the shot's PNG
files against the scripted module on the same files' pixels packed into 9 channels. Working
sizes at or below the frame size (the Nuke case: plates are larger than the networks' 256 px)
are compared end to end; the building blocks (OpenCV's resizes, the distance transform,
line_art) are compared one by one, enlarging included.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import preprocess
from core.engine import torchscript as ts
from core.engine.colorizer import Colorizer
from core.engine.plan import Reference
from core.imageio import linear_to_srgb, read_color, read_image, write_image
from tests.conftest import write_shot
from tests.fake_nuke import install


@pytest.fixture(scope="module")
def exported(lite_weights, tmp_path_factory):
    path = ts.export_torchscript(str(lite_weights), tmp_path_factory.mktemp("ts") / "ink.pt")
    return path


@pytest.fixture(scope="module")
def loaded(exported):
    return torch.jit.load(str(exported)).eval()


def _pack(line, ref_a, ref_b, line_a, line_b):
    """The 9 channels as the Cattery gizmo packs them (CHANNELS_IN order)."""
    grey = [read_image(p).pixels[..., 0] for p in (line, line_a, line_b)]
    ca, cb = read_color(ref_a)[0], read_color(ref_b)[0]
    x = np.concatenate([ca.transpose(2, 0, 1), grey[0][None], grey[1][None],
                        cb.transpose(2, 0, 1), grey[2][None]])
    return torch.from_numpy(np.ascontiguousarray(x[None], dtype=np.float32))


def test_export_loads_and_takes_one_tensor(exported, loaded):
    assert exported.is_file() and not list(exported.parent.glob(".*tmp"))
    forward = loaded.forward.schema
    assert len(forward.arguments) == 2 and forward.arguments[1].type.kind() == "TensorType"
    assert len(forward.returns) == 1
    loaded.size = 64  # the model attribute CatFileCreator exposes as the 'size' knob
    with torch.no_grad():
        y = loaded(torch.rand(1, 9, 37, 50))
    assert y.shape == (1, 3, 37, 50) and 0.0 <= float(y.min()) and float(y.max()) <= 1.0
    with pytest.raises(Exception, match="expected a \\[1, 9, H, W\\] tensor"):
        loaded(torch.rand(1, 4, 37, 50))


def test_the_file_holds_no_ops_newer_than_nukes_libtorch(loaded):
    code = "\n".join(m.code for _, m in loaded.named_modules() if hasattr(m, "code"))
    assert "forward" in code
    assert "scaled_dot_product_attention" not in code


@pytest.mark.slow
@pytest.mark.parametrize("crop,work", [(None, 64), ((96, 70), 64), ((61, 96), 80)],
                         ids=["same-size", "shrink-portrait", "shrink-landscape-padded"])
def test_matches_the_engine(lite_weights, loaded, tmp_path, crop, work):
    size = 64 if crop is None else 96
    write_shot(tmp_path, frames=5, size=size)
    if crop is not None:
        for p in tmp_path.glob("*.png"):
            write_image(p, read_image(p).pixels[: crop[0], : crop[1], :3])
    line = {f: tmp_path / f"line.{f:04d}.png" for f in range(1001, 1006)}
    refs = [Reference(tmp_path / "color.1001.png", 1001),
            Reference(tmp_path / "color.1005.png", 1005)]
    engine = Colorizer(str(lite_weights), backend="torch", device="cpu", size=work, k=2,
                       temporal=False, compose="network")
    frames = [1002, 1003, 1004]
    expected = {c.frame: c.rgb for c in engine.colorize(line, refs, frames)}
    pixels = {f: read_image(line[f]).pixels for f in line}
    held = [f for f in frames if any(np.array_equal(pixels[f], pixels[r]) for r in (1001, 1005))]
    assert len(held) < len(frames)  # the network itself is compared, not only held cels
    loaded.size = work
    for f in frames:
        x = _pack(line[f], refs[0].color, refs[1].color, line[1001], line[1005])
        with torch.no_grad():
            got = loaded(x)[0].numpy().transpose(1, 2, 0)
        assert got.shape == expected[f].shape
        assert np.abs(got - expected[f]).max() <= 1e-3, f


def test_building_blocks_match_opencv_and_preprocess():
    rng = np.random.default_rng(3)
    for (h, w), out in [((128, 96), (64, 48)), ((100, 70), (64, 45)), ((64, 64), (128, 128)),
                        ((37, 50), (61, 83))]:
        grey = rng.random((h, w)).astype(np.float32)
        colour = rng.random((h, w, 3)).astype(np.float32)
        a = ts._resize(torch.from_numpy(grey)[None], *out, False)[0].numpy()
        assert np.abs(a - preprocess._resize(grey, out)).max() <= 1e-5
        c = ts._resize(torch.from_numpy(colour.transpose(2, 0, 1).copy()), *out, True)
        assert np.abs(c.numpy().transpose(1, 2, 0) - preprocess._resize(colour, out)).max() \
            <= 1e-5
    for density, reach in [(0.002, 16.0), (0.02, 5.5), (0.0, 8.0), (0.3, 1.0)]:
        mask = (rng.random((90, 70)) < density).astype(np.float32)
        got = ts.distance_field(torch.from_numpy(mask), reach).numpy()
        # the exact transform: equal up to the last bit of the final division
        assert np.abs(got - preprocess.distance_field(mask, reach)).max() <= 1e-6
    paper = 0.85 + 0.03 * rng.standard_normal((80, 80)).astype(np.float32)
    paper[20:24, :] = 0.2  # a scanned grey-ink line on cream paper
    for img in (paper, 1.0 - paper, np.clip(paper * 0.5 + 0.5, 0, 1)):
        want = preprocess.line_art(img[..., None])[0]
        got = ts.line_image(torch.from_numpy(img.astype(np.float32))).numpy()
        assert np.abs(got - want).max() <= 1e-5
    for size in ((1080, 1920), (1001, 700), (64, 64), (333, 77)):
        spec = preprocess.fit(np.ones(size, np.float32), 256)[1]
        assert ts._fit_spec(*size, 256, 8) == (*spec.scaled, *spec.padded, spec.top,
                                                spec.left)
    consts = ts.LINE_ART_CONSTANTS
    assert (consts["invert_below"], consts["ink_percentile"], consts["min_ink_contrast"],
            consts["noise_sigmas"]) == (preprocess._INVERT_BELOW, preprocess._INK_PERCENTILE,
                                        preprocess._MIN_INK_CONTRAST, preprocess._NOISE_SIGMAS)


@pytest.mark.slow
def test_the_cattery_gizmo_feeds_the_model_what_the_engine_reads(
        lite_weights, exported, tmp_path):
    """Read -> OCIOColorSpace -> FrameHold/Copy packing -> Inference -> back to linear, in the
    fake nuke, against the engine on the same files."""
    write_shot(tmp_path, frames=5, size=64)
    nuke = install(gui=False)
    line = nuke.nodes.Read(file=str(tmp_path / "line.####.png"), first=1001, last=1005)
    colour = nuke.nodes.Read(file=str(tmp_path / "color.####.png"), first=1001, last=1005)
    node = nuke.createNode("InkpaintColorizeCattery")
    node.setInput(0, line)
    node.setInput(1, colour)
    with node:
        inference = nuke.toNode("Inference1")
    nuke.load_cat(inference, ts.CHANNELS_IN, ts.CHANNELS_OUT, {"size": ("Int_Knob", 256)})
    node["modelFile"].setValue(str(exported))
    for name, value in (("ref_a", 1001), ("ref_b", 1005), ("size", 64)):
        node[name].setValue(value)
    out = node.image(1003)
    assert sorted(out) == ["rgba.blue", "rgba.green", "rgba.red"]
    got = linear_to_srgb(np.stack([out[c] for c in ("rgba.red", "rgba.green", "rgba.blue")],
                                  axis=2))
    engine = Colorizer(str(lite_weights), backend="torch", device="cpu", size=64, k=2,
                       temporal=False, compose="network")
    lineart = {f: tmp_path / f"line.{f:04d}.png" for f in range(1001, 1006)}
    refs = [Reference(tmp_path / f"color.{f}.png", f) for f in (1001, 1005)]
    want = next(iter(engine.colorize(lineart, refs, [1003]))).rgb
    assert np.abs(got - want).max() <= 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_half_precision_on_the_gpu_like_optimize_for_speed(loaded):
    model = loaded.cuda().half()
    model.size = 64
    x = torch.rand(1, 9, 48, 64, device="cuda").half()
    with torch.no_grad():
        y = model(x)
        ref = loaded.float()(x.float())
    assert y.dtype == torch.float16 and y.device.type == "cuda"
    assert (y.float() - ref).abs().max() < 0.05
