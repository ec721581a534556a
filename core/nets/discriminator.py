"""D, the colour transform network's discriminator (sec. 3.2, 3.5): a patch classifier of
(line art, colour) pairs, 5 convs, LeakyReLU, spectral norm on all but the last conv."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBlock


class Discriminator(nn.Module):
    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        strides = [2] * (len(channels) - 1) + [1]
        layers: list[nn.Module] = []
        cin = 4
        for cout, s in zip(channels, strides):
            k = 4 if s == 2 else 3
            layers.append(ConvBlock(cin, cout, k, stride=s, norm="none", act="lrelu"))
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 3, padding=1))  # no spectral norm on the last conv
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Patch logits for line art x [B, 1, H, W] and colour y [B, 3, H, W]."""
        return self.net(torch.cat([x, y], dim=1))
