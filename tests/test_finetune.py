"""``inkpaint finetune`` end to end: a footage data set built by ``dataset build`` from three
shots, two of which train and one validates; real trainer, real VGG backbone, tiny budget."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from safetensors.numpy import load_file

from core.card import read_card
from core.cli import main
from core.data.footage import build_dataset
from core.data.procedural import render_shot
from tests.conftest import make_weights

SIZE = 64


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """A data set of three 8-frame shots (cut apart by their different colours)."""
    root = tmp_path_factory.mktemp("footage")
    frames = []
    for seed in (11, 12, 13):
        color = render_shot(seed, frames=8, size=SIZE, style="clean").color.copy()
        rgb = np.random.default_rng(seed).integers(40, 256, 3)
        for t in range(8):  # a panel slides in: every shot moves well beyond "still"
            color[t, :, : int(SIZE * 0.6 * t / 7)] = rgb
        frames.extend(color)
    src = root / "episode"
    src.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(src / f"frame.{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    index = build_dataset([src], root / "data", size=SIZE)
    assert len(index["shots"]) == 3
    return root / "data"


def test_finetune_writes_measured_weights_that_colorize(footage, tmp_path, capsys):
    start = make_weights(tmp_path)
    out = tmp_path / "weights" / "myshow.safetensors"
    rc = main(["finetune", "--model", str(start), "--data", str(footage), "--out", str(out),
               "--sequences", "2", "--epochs", "2", "--batch", "2", "--vgg-side", "32",
               "--progress", "lines"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "fine-tuning" in text and "2 shots" in text and "1 held out" in text
    assert "held-out PSNR before" in text and "held-out PSNR after" in text
    _, card = read_card(str(out))
    info = card["training"]
    assert info["finetuned_from"] == str(start) and info["sequences"] == 2
    assert info["held_out"] == 1 and info["steps"] == 2
    assert np.isfinite(info["val_psnr"]) and np.isfinite(info["val_psnr_before"])
    # it trained: G's weights moved away from the starting ones, T was left as it was
    a, b = load_file(str(start)), load_file(str(out))
    assert a.keys() == b.keys()
    assert any(not np.array_equal(a[k], b[k]) for k in a if k.startswith("G."))
    assert all(np.array_equal(a[k], b[k]) for k in a if k.startswith("T."))


def test_finetune_needs_a_held_out_shot(footage, tmp_path, capsys):
    start = make_weights(tmp_path)
    out = tmp_path / "myshow.safetensors"
    rc = main(["finetune", "--model", str(start), "--data", str(footage), "--out", str(out),
               "--sequences", "3"])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at least one more to validate on" in err[0]
    assert not out.exists() and not (tmp_path / "myshow.yaml").exists()


def test_finetune_rejects_a_folder_that_is_not_a_data_set(tmp_path, capsys):
    start = make_weights(tmp_path)
    rc = main(["finetune", "--model", str(start), "--data", str(tmp_path), "--out",
               str(tmp_path / "x.safetensors")])
    assert rc == 1
    assert "dataset build" in capsys.readouterr().err
