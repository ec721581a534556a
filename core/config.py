"""Model presets: YAML files in ``core/presets`` turned into typed, frozen configs.

Presets are data, not code, so a new size or an ablation is a YAML edit (as in FUNIT/SPADE).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InkpaintError

PRESET_DIR = Path(__file__).resolve().parent / "presets"


# The paper's Table 1 rows (its "No Line Art" has no switch in this architecture): the
# architecture switches of ``AblationConfig`` and the loss terms of eq. 11 whose lambda is 0.
# "No Temporal" is the full G without T: its run trains G as Full does and ships no T.
ABLATIONS: dict[str, tuple[dict[str, bool], dict[str, float]]] = {
    "no-sim": ({"sim": False}, {}),
    "no-em": ({"em": False}, {}),
    "no-distance": ({"distance": False}, {}),
    "no-perceptual": ({}, {"perc": 0.0}),
    "no-style": ({}, {"style": 0.0}),
    "no-latent": ({}, {"latent": 0.0}),
    "no-temporal": ({"temporal": False}, {}),
}


@dataclass(frozen=True)
class GeneratorConfig:
    enc_channels: tuple[int, int, int]
    sim_reduction: int
    mid_blocks: int
    em_channels: tuple[int, ...]
    style_dim: int
    mlp_dim: int


@dataclass(frozen=True)
class DiscriminatorConfig:
    channels: tuple[int, ...]


@dataclass(frozen=True)
class TemporalConfig:
    channels: tuple[int, int, int]
    dilations: tuple[int, ...]
    window: int
    disc_channels: tuple[int, ...]


@dataclass(frozen=True)
class AblationConfig:
    sim: bool = True
    em: bool = True
    temporal: bool = True
    distance: bool = True


@dataclass(frozen=True)
class ModelConfig:
    name: str
    size: int
    train_size: int
    max_refs: int
    distance_max: float
    generator: GeneratorConfig
    discriminator: DiscriminatorConfig
    temporal: TemporalConfig
    ablation: AblationConfig = field(default_factory=AblationConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_ablation(self, **switches: bool) -> ModelConfig:
        """A copy with parts switched off, for the ablation table."""
        return dataclasses.replace(
            self, ablation=dataclasses.replace(self.ablation, **switches)
        )


def _tupled(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    try:
        return ModelConfig(
            name=str(d["name"]),
            size=int(d["size"]),
            train_size=int(d["train_size"]),
            max_refs=int(d["max_refs"]),
            distance_max=float(d["distance_max"]),
            generator=GeneratorConfig(**_tupled(d["generator"])),
            discriminator=DiscriminatorConfig(**_tupled(d["discriminator"])),
            temporal=TemporalConfig(**_tupled(d["temporal"])),
            ablation=AblationConfig(**d.get("ablation", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InkpaintError(f"model config is incomplete or malformed ({exc!r})") from exc


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str) -> ModelConfig:
    """The preset called ``name`` (``lite``, ``paper``) or a YAML file path."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise InkpaintError(
            f"unknown model preset '{name}': use one of {', '.join(preset_names())} "
            "or a path to a preset .yaml"
        )
    with path.open(encoding="utf-8") as f:
        return config_from_dict(yaml.safe_load(f))
