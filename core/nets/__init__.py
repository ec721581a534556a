"""The paper's networks, named as in the text: EnL, EnD, EnC, Sim, Em, Mid, De, D (colour
transform network, sec. 3.2-3.3) and the LGTSM temporal constraint network."""

from .discriminator import Discriminator
from .generator import ColorTransformGenerator
from .spectral import baked_state_dict, spectral_norm_marked
from .temporal import TemporalDiscriminator, TemporalGenerator

__all__ = [
    "ColorTransformGenerator",
    "Discriminator",
    "TemporalDiscriminator",
    "TemporalGenerator",
    "baked_state_dict",
    "spectral_norm_marked",
]
