"""Small building blocks shared by the networks (conv + norm + activation, AdaIN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .spectral import mark_sn


def activation(name: str) -> nn.Module:
    return {
        "relu": nn.ReLU(inplace=True),
        "lrelu": nn.LeakyReLU(0.2, inplace=True),
        "tanh": nn.Tanh(),
        "none": nn.Identity(),
    }[name]


class ConvBlock(nn.Sequential):
    """conv -> (instance norm) -> activation; ``sn`` marks the conv for spectral norm."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int,
        stride: int = 1,
        norm: str = "in",
        act: str = "relu",
        sn: bool = True,
    ) -> None:
        conv = nn.Conv2d(cin, cout, k, stride, padding=(k - 1) // 2 if stride == 1 else 1)
        if stride == 1 and k % 2 == 0:
            raise ValueError("stride-1 convs need an odd kernel to keep the size")
        layers: list[nn.Module] = [mark_sn(conv) if sn else conv]
        if norm == "in":
            layers.append(nn.InstanceNorm2d(cout, affine=True))
        layers.append(activation(act))
        super().__init__(*layers)


class AdaIN(nn.Module):
    """Instance norm whose scale and shift come from the style vector (Huang & Belongie)."""

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        x = F.instance_norm(x, eps=1e-5)
        return x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]


class AdaINResBlock(nn.Module):
    """One of the 8 Mid blocks: conv-AdaIN-ReLU-conv-AdaIN plus the skip connection."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.norm = AdaIN()
        self.params_per_block = 4 * c

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        g1, b1, g2, b2 = p.chunk(4, dim=1)
        h = F.relu(self.norm(self.conv1(x), g1, b1))
        return x + self.norm(self.conv2(h), g2, b2)
