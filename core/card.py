"""Locating weights and reading their card (the YAML beside the .safetensors) without torch,
so the ONNX Runtime path (Blender, Nuke) can check weights with numpy alone."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import yaml

from .config import ModelConfig, config_from_dict
from .errors import InkpaintError

FORMAT = "inkpaint-weights/1"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve(model: str) -> Path:
    """``lite`` -> weights/lite.safetensors (or $INKPAINT_WEIGHTS/lite.safetensors); a path
    passes through."""
    if model.endswith(".safetensors") or "/" in model or os.sep in model:
        return Path(model)
    root = Path(os.environ.get("INKPAINT_WEIGHTS", WEIGHTS_DIR))
    return root / f"{model}.safetensors"


def card_path(weights: Path) -> Path:
    return Path(weights).with_suffix(".yaml")


def read_card(model: str, expect_preset: str | None = None) -> tuple[Path, dict[str, Any]]:
    """(weights path, card) after checking the file exists, is inkpaint's, is intact and is
    of the expected preset (by default the preset a bare name like ``lite`` promises)."""
    path = resolve(model)
    if expect_preset is None and path.stem == model:
        expect_preset = model
    if not path.is_file():
        raise InkpaintError(
            f"weights file {path} not found: pass --model lite|paper or the path of an "
            "inkpaint .safetensors file"
        )
    side = card_path(path)
    if not side.is_file():
        raise InkpaintError(f"{side} is missing: inkpaint weights come with a .yaml beside them")
    try:
        card = yaml.safe_load(side.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InkpaintError(f"{side} is not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise InkpaintError(f"{side} is not an inkpaint weights card (expected {FORMAT})")
    if sha256(path) != card.get("sha256"):
        raise InkpaintError(
            f"weights file {path} is corrupt (checksum differs from {side.name}): "
            "copy or export it again"
        )
    if expect_preset and card.get("preset") != expect_preset:
        raise InkpaintError(
            f"weights {path} are for preset '{card.get('preset')}' but '{expect_preset}' was "
            "expected: pass the matching --model"
        )
    return path, card


def card_config(card: dict[str, Any]) -> ModelConfig:
    """The network configuration a card records; a card without a usable one is damaged."""
    try:
        return config_from_dict(card["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InkpaintError(f"the weights card has no valid 'config' ({exc.__class__.__name__}:"
                            f" {exc}): export or download the weights again") from exc
