"""Shared fixtures: untrained-but-real weights and a generated shot on disk.

Weights here are randomly initialised ``lite`` networks saved through the real
``save_weights`` path (a deterministic seed), so every test exercises the same loading,
checking and export code users run; what the networks output is not what these tests judge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from core.config import load_preset
from core.data.procedural import render_shot
from core.nets import spectral_norm_marked
from core.weights import build_generators, save_weights


def make_weights(folder: Path, preset: str = "lite", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    gens = build_generators(load_preset(preset))
    spectral_norm_marked(gens.G)
    if gens.T is not None:
        spectral_norm_marked(gens.T)
        with torch.no_grad():
            gens.T.gain.fill_(0.5)  # an untrained T is the identity; make it do something
    path = folder / f"{preset}.safetensors"
    save_weights(path, gens, {"note": "random init for tests"})
    return path


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory) -> Iterator[Path]:
    """Where the onnx backend caches its run-time exports during the tests (children
    inherit it): a temporary folder, never the user's own cache."""
    folder = tmp_path_factory.mktemp("inkpaint-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("INKPAINT_CACHE", str(folder))
    yield folder
    mp.undo()


@pytest.fixture(scope="session")
def lite_weights(tmp_path_factory) -> Path:
    return make_weights(tmp_path_factory.mktemp("weights"))


def write_shot(folder: Path, frames: int = 24, size: int = 64, first: int = 1001,
               seed: int = 1_000_000_007) -> dict:
    """Line art ``folder/line.####.png`` and colour ``folder/color.####.png`` of a procedural
    shot; returns the paths and the colour frames."""
    shot = render_shot(seed, frames=frames, size=size)
    shot.write(folder, first)
    return {"lineart": str(folder / "line.####.png"), "first": first,
            "last": first + frames - 1, "color": shot.color}


@pytest.fixture
def shot(tmp_path) -> dict:
    return write_shot(tmp_path / "shot")
