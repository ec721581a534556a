"""Shipped weights: ``<name>.safetensors`` (baked generators G and T, never pickled) plus
the card ``<name>.yaml`` beside it naming the preset, the full config and the file's SHA-256
(see ``card.py`` for the checks made before anything is loaded)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .card import FORMAT, card_config, card_path, read_card, sha256
from .config import ModelConfig
from .errors import InkpaintError
from .nets import ColorTransformGenerator, TemporalGenerator, baked_state_dict


@dataclass
class Generators:
    cfg: ModelConfig
    G: ColorTransformGenerator
    T: TemporalGenerator | None  # None when the preset's temporal ablation is off


def build_generators(cfg: ModelConfig) -> Generators:
    t = cfg.temporal
    T = TemporalGenerator(t.channels, t.dilations) if cfg.ablation.temporal else None
    return Generators(cfg, ColorTransformGenerator(cfg), T)


def save_weights(path: Path, gens: Generators, info: dict | None = None) -> None:
    """Write the baked generators and the sidecar YAML, each atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"G.{k}": v.cpu() for k, v in baked_state_dict(gens.G).items()}
    if gens.T is not None:
        tensors.update({f"T.{k}": v.cpu() for k, v in baked_state_dict(gens.T).items()})
    meta = {"format": FORMAT, "preset": gens.cfg.name, "config": json.dumps(gens.cfg.to_dict())}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.chmod(tmp, 0o644)  # safetensors creates files private to the user
    card = {"format": FORMAT, "preset": gens.cfg.name, "sha256": sha256(tmp),
            "config": gens.cfg.to_dict(), "training": info or {}}
    side = card_path(path)
    side_tmp = side.with_name(f".{side.name}.tmp")
    side_tmp.write_text(yaml.safe_dump(card, sort_keys=False), encoding="utf-8")
    os.replace(tmp, path)
    os.replace(side_tmp, side)


def load_weights(model: str, expect_preset: str | None = None) -> Generators:
    """Generators with shipped weights, in eval mode, spectral norm baked."""
    path, card = read_card(model, expect_preset)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise InkpaintError(f"weights file {path} cannot be read ({exc})") from exc
    gens = build_generators(card_config(card))
    _load_into(gens.G, tensors, "G.", path)
    gens.G.eval()
    if gens.T is not None:
        _load_into(gens.T, tensors, "T.", path)
        gens.T.eval()
    return gens


def _load_into(net: nn.Module, tensors: dict[str, torch.Tensor], prefix: str, path: Path):
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise InkpaintError(
            f"weights {path} do not fit the network of their own config ({first})"
        ) from exc
