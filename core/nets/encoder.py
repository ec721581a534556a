"""EnL, EnD and EnC: three identically built encoders (sec. 3.5) for line art, distance
fields and colour images: 3 convs with instance norm, ReLU and spectral norm, down to 1/4."""

from __future__ import annotations

from torch import nn

from .blocks import ConvBlock


class Encoder(nn.Sequential):
    def __init__(self, cin: int, channels: tuple[int, int, int]) -> None:
        c0, c1, c2 = channels
        super().__init__(
            ConvBlock(cin, c0, 7),
            ConvBlock(c0, c1, 4, stride=2),
            ConvBlock(c1, c2, 4, stride=2),
        )
