"""Em, the Embedder (sec. 3.2, 3.5): each reference's line art (+) colour goes through 5 convs
to a latent vector; the mean over references is the style embedding vector (SEV); a 2-layer
MLP turns the SEV into the AdaIN parameters P_em of Mid. No spectral norm here: the paper
found it makes the colours dim (sec. 4.2, Fig. 6)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBlock


class Embedder(nn.Module):
    def __init__(self, channels: tuple[int, ...], style_dim: int, mlp_dim: int, n_params: int):
        super().__init__()
        layers: list[nn.Module] = [ConvBlock(4, channels[0], 7, norm="none", sn=False)]
        for cin, cout in zip(channels, channels[1:]):
            layers.append(ConvBlock(cin, cout, 4, stride=2, norm="none", sn=False))
        self.convs = nn.Sequential(*layers)
        self.to_style = nn.Conv2d(channels[-1], style_dim, 1)  # the 5th conv
        self.mlp = nn.Sequential(
            nn.Linear(style_dim, mlp_dim), nn.ReLU(inplace=True), nn.Linear(mlp_dim, n_params)
        )

    def style(self, xr: torch.Tensor, yr: torch.Tensor) -> torch.Tensor:
        """SEV [B, style_dim] from references xr [B, K, 1, H, W], yr [B, K, 3, H, W]."""
        b, k = xr.shape[:2]
        z = self.convs(torch.cat([xr, yr], dim=2).flatten(0, 1)).mean(dim=(2, 3), keepdim=True)
        return self.to_style(z).view(b, k, -1).mean(dim=1)

    def forward(self, xr: torch.Tensor, yr: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.style(xr, yr))
