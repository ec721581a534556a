"""Weights files: round trip, and every way a user can hand over the wrong file."""

from __future__ import annotations

import shutil

import pytest
import torch
import yaml

from core.card import read_card
from core.errors import InkpaintError
from core.weights import load_weights
from tests.conftest import make_weights


def test_round_trip_gives_the_same_network(lite_weights):
    a, b = load_weights(str(lite_weights)), load_weights(str(lite_weights))
    x = torch.randn(1, 1, 32, 32)
    refs = (torch.randn(1, 2, 1, 32, 32), torch.randn(1, 2, 1, 32, 32),
            torch.randn(1, 2, 3, 32, 32))
    with torch.no_grad():
        assert torch.equal(a.G(x, x, *refs), b.G(x, x, *refs))
    assert a.cfg.name == "lite" and a.T is not None


def _copy(src, tmp_path):
    dst = tmp_path / "w.safetensors"
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".yaml"), dst.with_suffix(".yaml"))
    return dst


def test_missing_file(tmp_path):
    with pytest.raises(InkpaintError, match="not found"):
        load_weights(str(tmp_path / "nope.safetensors"))


def test_missing_card(lite_weights, tmp_path):
    dst = _copy(lite_weights, tmp_path)
    dst.with_suffix(".yaml").unlink()
    with pytest.raises(InkpaintError, match="missing"):
        load_weights(str(dst))


def test_corrupt_file_is_caught_by_checksum(lite_weights, tmp_path):
    dst = _copy(lite_weights, tmp_path)
    data = bytearray(dst.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dst.write_bytes(bytes(data))
    with pytest.raises(InkpaintError, match="corrupt"):
        load_weights(str(dst))


def test_truncated_file(lite_weights, tmp_path):
    dst = _copy(lite_weights, tmp_path)
    dst.write_bytes(dst.read_bytes()[:1000])
    with pytest.raises(InkpaintError, match="corrupt"):
        load_weights(str(dst))


def test_weights_of_another_preset(lite_weights):
    with pytest.raises(InkpaintError, match="preset 'lite' but 'paper'"):
        read_card(str(lite_weights), expect_preset="paper")


def test_card_from_another_tool(lite_weights, tmp_path):
    dst = _copy(lite_weights, tmp_path)
    dst.with_suffix(".yaml").write_text(yaml.safe_dump({"format": "something-else"}))
    with pytest.raises(InkpaintError, match="not an inkpaint weights card"):
        load_weights(str(dst))


def test_weights_that_do_not_fit_their_config(tmp_path):
    path = make_weights(tmp_path)
    card = yaml.safe_load(path.with_suffix(".yaml").read_text())
    card["config"]["generator"]["enc_channels"] = [8, 16, 32]  # lies about the sizes
    path.with_suffix(".yaml").write_text(yaml.safe_dump(card))
    with pytest.raises(InkpaintError, match="do not fit"):
        load_weights(str(path))


def test_name_resolves_in_weights_dir(lite_weights, monkeypatch):
    monkeypatch.setenv("INKPAINT_WEIGHTS", str(lite_weights.parent))
    assert load_weights("lite").cfg.name == "lite"
