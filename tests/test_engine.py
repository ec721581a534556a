"""The Colorizer on a real (generated) shot: order, sizes, passthrough of references,
backends agreeing, ranges computing exactly what a full run computes, streaming."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.engine.colorizer import THREADED_PIXELS, Colorizer, _threaded
from core.engine.plan import Reference
from core.errors import InkpaintError
from core.frames import FrameSequence
from core.imageio import read_color
from core.limits import MEMORY_ENV
from core.preflight import peak_bytes


def _inputs(shot):
    seq = FrameSequence(shot["lineart"])
    folder = Path(shot["lineart"]).parent
    refs = [Reference(folder / f"color.{f:04d}.png", f) for f in (shot["first"], shot["last"])]
    return {f: seq.path(f) for f in seq.frames}, refs


@pytest.fixture(scope="module")
def torch_colorizer(lite_weights):
    return Colorizer(str(lite_weights), backend="torch", size=64)


def test_frames_in_order_at_native_size_with_refs_passed_through(torch_colorizer, shot):
    lineart, refs = _inputs(shot)
    out = list(torch_colorizer.colorize(lineart, refs))
    assert [c.frame for c in out] == list(range(shot["first"], shot["last"] + 1))
    assert all(c.rgb.shape == (64, 64, 3) and c.rgb.dtype == np.float32 for c in out)
    first = read_color(refs[0].color)[0]
    assert out[0].is_reference and np.array_equal(out[0].rgb, first)
    assert not out[1].is_reference and 0.0 <= out[1].rgb.min() and out[1].rgb.max() <= 1.0


def test_onnx_runtime_matches_pytorch(lite_weights, shot, tmp_path, monkeypatch):
    monkeypatch.setenv("INKPAINT_CACHE", str(tmp_path / "cache"))
    lineart, refs = _inputs(shot)
    frames = range(shot["first"], shot["first"] + 9)
    # the backends, not the composition or the device (fp16 on CUDA), are compared
    kw = {"size": 64, "compose": "network", "device": "cpu"}
    a = list(Colorizer(str(lite_weights), backend="torch", **kw).colorize(lineart, refs, frames))
    b = list(Colorizer(str(lite_weights), backend="onnx", **kw).colorize(lineart, refs, frames))
    diff = max(float(np.abs(x.rgb - y.rgb).max()) for x, y in zip(a, b))
    assert diff <= 1e-3
    # exported at run time into the user's cache, not beside the weights
    assert not list(lite_weights.parent.glob("*.onnx"))
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_in_fp16_colours_what_the_cpu_colours(lite_weights, shot):
    """On CUDA the network runs in fp16 (autocast): its planes may round differently, but a
    user's frames must not change with the machine the render lands on."""
    lineart, refs = _inputs(shot)
    frames = range(shot["first"], shot["first"] + 9)

    def run(device: str, compose: str) -> list[np.ndarray]:
        col = Colorizer(str(lite_weights), backend="torch", device=device, size=64,
                        compose=compose)
        assert col.backend.device == device
        return [c.rgb for c in col.colorize(lineart, refs, frames)]

    net = [np.abs(a - b) for a, b in zip(run("cpu", "network"), run("cuda", "network"))]
    # fp16 keeps 11 significant bits: a few 8-bit steps at most after the decoder's tanh
    assert max(float(d.max()) for d in net) <= 4 / 255
    out = zip(run("cpu", "auto"), run("cuda", "auto"))
    same = [np.all(np.round(a * 255) == np.round(b * 255), axis=-1).mean() for a, b in out]
    assert min(same) >= 0.99  # the product's frames: the same fills, pixel for pixel


def test_onnx_backend_runs_without_torch_and_flash_attention(lite_weights, shot, tmp_path):
    """A fresh process colouring with ONNX Runtime never imports PyTorch (its import alone is
    ~250 MB), and Sim runs as MultiHeadAttention, not as a materialised score matrix."""
    import onnx

    from core.engine.backends import onnx_paths
    from core.engine.export import export_onnx
    from core.weights import sha256

    cache = tmp_path / "cache" / "onnx"
    g_path, _ = export_onnx(str(lite_weights), cache)
    assert g_path == onnx_paths(lite_weights, sha256(lite_weights), cache)[0]
    ops = {n.op_type for n in onnx.load(str(g_path)).graph.node}
    assert "MultiHeadAttention" in ops and "Softmax" not in ops
    code = ("import sys; from pathlib import Path; from core.engine.colorizer import Colorizer; "
            "from core.engine.plan import Reference; from core.frames import FrameSequence; "
            "seq = FrameSequence(sys.argv[2]); d = Path(sys.argv[2]).parent; "
            "refs = [Reference(d / f'color.{f}.png', f) for f in (1001, 1024)]; "
            "c = Colorizer(sys.argv[1], backend='onnx', size=64); "
            "frames = {f: seq.path(f) for f in seq.frames}; "
            "n = sum(1 for _ in c.colorize(frames, refs, range(1001, 1005))); "
            "print(n, 'torch' in sys.modules)")
    env = dict(os.environ, INKPAINT_CACHE=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", code, str(lite_weights), shot["lineart"]],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["4", "False"]


@pytest.mark.parametrize("missing, exported, expected", [
    ((), False, "onnx"),  # exported once on first use, in a child process
    (("onnxruntime",), True, "torch"),
    (("onnx",), False, "torch"),  # PyTorch without the exporter's package: nothing to load
    (("onnx",), True, "onnx"),
    (("torch", "onnx"), False, "onnx"),  # a Blender or Nuke node: onnx's error says what to do
])
def test_auto_backend_picks_onnx_where_it_can_load_the_model(
        lite_weights, onnx_cache, tmp_path, monkeypatch, missing, exported, expected):
    from core.engine.backends import auto_backend, onnx_paths
    from core.engine.export import export_onnx
    from core.weights import sha256

    if exported:
        folder = onnx_cache / "onnx"
        if not onnx_paths(lite_weights, sha256(lite_weights), folder)[0].is_file():
            export_onnx(str(lite_weights), folder)
    else:
        monkeypatch.setenv("INKPAINT_CACHE", str(tmp_path))
    for name in missing:  # as if not installed: find_spec answers None
        monkeypatch.setitem(sys.modules, name, None)
    assert auto_backend(str(lite_weights)) == expected
    if not missing:  # the default of the Colorizer (and so of the CLI, Blender and Nuke)
        col = Colorizer(str(lite_weights), size=64)
        assert col.backend.name == col.settings["backend"] == "onnx"
        assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 2


@pytest.mark.parametrize("temporal", [False, True])  # with it, a frame needs its window
def test_a_range_computes_what_the_full_run_computes(lite_weights, shot, temporal):
    colorizer = Colorizer(str(lite_weights), backend="torch", size=64, temporal=temporal)
    lineart, refs = _inputs(shot)
    full = {c.frame: c.rgb for c in colorizer.colorize(lineart, refs)}
    part = list(colorizer.colorize(lineart, refs, range(1010, 1016)))
    assert [c.frame for c in part] == list(range(1010, 1016))
    for c in part:
        assert np.array_equal(c.rgb, full[c.frame])


@pytest.mark.parametrize("k", [1, 3])
def test_k_and_a_model_sheet(lite_weights, shot, k):
    lineart, refs = _inputs(shot)
    folder = Path(shot["lineart"]).parent
    sheet = Reference(folder / "color.1012.png", None, folder / "line.1012.png")
    col = Colorizer(str(lite_weights), backend="torch", size=64, k=k, temporal=False)
    out = list(col.colorize(lineart, refs + [sheet], range(1002, 1005)))
    assert [c.frame for c in out] == [1002, 1003, 1004]


def test_streams_instead_of_collecting(torch_colorizer, shot):
    lineart, refs = _inputs(shot)
    gen = torch_colorizer.colorize(lineart, refs)
    assert inspect.isgenerator(gen)
    assert next(gen).frame == shot["first"]


def test_bad_inputs_fail_before_any_frame(torch_colorizer, shot):
    lineart, refs = _inputs(shot)
    bad = dict(lineart)
    bad[1013].write_bytes(b"\x89PNG\r\n\x1a\n broken")
    gen = torch_colorizer.colorize(bad, refs)
    with pytest.raises(InkpaintError, match="1013"):
        next(gen)


def test_a_broken_frame_ahead_of_a_range_fails_before_any_frame(torch_colorizer, shot):
    """A range's key flows are chained through the frames up to the later key
    (``core.motion.Paths``): a broken one there, in the range's second segment, is found
    before the first segment's frames are written, not halfway through."""
    lineart, refs = _inputs(shot)
    folder = Path(shot["lineart"]).parent
    refs.insert(1, Reference(folder / "color.1012.png", 1012))
    lineart[1020].write_bytes(b"\x89PNG\r\n\x1a\n broken")
    gen = torch_colorizer.colorize(lineart, refs, range(1002, 1015))
    with pytest.raises(InkpaintError, match="1020"):
        next(gen)


def test_the_memory_check_counts_the_flows_chained_between_keys(torch_colorizer, shot,
                                                                monkeypatch):
    """The chains' cache grows with the key spacing (``core.motion.paths.held_bytes``): a
    budget that fits the shot with a key in the middle refuses it with its keys twice as
    far apart, before any frame, and says how far apart they are."""
    lineart, refs = _inputs(shot)
    c = torch_colorizer
    mid = (shot["first"] + shot["last"]) // 2
    closer = refs[:1] + [Reference(Path(shot["lineart"]).parent / f"color.{mid:04d}.png", mid)] \
        + refs[1:]
    gap = shot["last"] - shot["first"]
    need = peak_bytes((64, 64), c.size, c.cfg.temporal.window - 2, c.k, 3, shot["last"] - mid)
    assert peak_bytes((64, 64), c.size, c.cfg.temporal.window - 2, c.k, 2, gap) > need
    monkeypatch.setenv(MEMORY_ENV, str(need))
    with pytest.raises(InkpaintError, match=f"keys {gap} frames apart"):
        next(c.colorize(lineart, refs))
    assert next(c.colorize(lineart, closer)).frame == shot["first"]


def test_k_out_of_range(lite_weights):
    with pytest.raises(InkpaintError, match="K = 9"):
        Colorizer(str(lite_weights), k=9)


def test_held_cels_take_the_reference_colour_exactly(torch_colorizer, shot, tmp_path):
    import cv2

    lineart, refs = _inputs(shot)
    held = dict(lineart)
    held[1002] = lineart[1001]  # frame 1002 holds the key drawing of 1001 (on twos)
    # and 1004 too, in a file of its own: the same pixels, other bytes (as a re-export makes)
    held[1004] = tmp_path / "line.1004.png"
    pixels = cv2.imread(str(lineart[1001]), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(held[1004]), pixels, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert held[1004].read_bytes() != lineart[1001].read_bytes()
    out = {c.frame: c for c in torch_colorizer.colorize(held, refs, [1002, 1003, 1004])}
    key = read_color(refs[0].color)[0]
    assert np.array_equal(out[1002].rgb, key) and np.array_equal(out[1004].rgb, key)
    assert not np.array_equal(out[1003].rgb, key)
    # the key and the frames that hold it are copies of their own (the key is decoded once
    # a run): a caller that paints over one changes no later frame
    seen = []
    for c in torch_colorizer.colorize(held, refs, [1001, 1002, 1004]):
        seen.append(c.rgb.copy())
        c.rgb[:] = 0
    assert len(seen) == 3 and all(np.array_equal(x, key) for x in seen)


def test_flat_composition_paints_only_reference_palette_and_line_colours(lite_weights, shot):
    lineart, refs = _inputs(shot)
    col = Colorizer(str(lite_weights), backend="torch", size=64, compose="flat", lines="fill")
    out = [c for c in col.colorize(lineart, refs, range(1002, 1006))]
    keys = np.concatenate([np.round(read_color(r.color)[0] * 255).reshape(-1, 3) for r in refs])
    allowed = {tuple(c) for c in np.unique(keys, axis=0)}
    for c in out:
        used = {tuple(p) for p in np.unique(np.round(c.rgb * 255).reshape(-1, 3), axis=0)}
        assert used <= allowed, f"frame {c.frame} has colours no reference has"


def test_frames_read_on_threads_come_back_in_order_with_the_first_error():
    """Production-size frames are decoded on two threads: results keep the frames' order,
    and of two bad frames the earlier one is reported, as a one-by-one read would."""
    big = (THREADED_PIXELS, 1)
    assert _threaded(lambda x: x * x, range(40), big) == [x * x for x in range(40)]

    def read(x: int) -> int:
        if x in (3, 7):
            raise InkpaintError(f"cannot read frame {x}")
        return x

    for shape in (big, (64, 64)):
        with pytest.raises(InkpaintError, match="frame 3"):
            _threaded(read, range(10), shape)
