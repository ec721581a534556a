"""G, the colour transform generator (sec. 3.2, eq. 2):

    f_sim  = Sim(EnD(d), {EnD(d_ri); EnC(y_ri)})
    P_em   = Em(x_ri (+) y_ri)
    y^     = De(Mid(EnL(x) + f_sim, P_em))

Tensors are in [-1, 1]. Targets x, d: [B, 1, H, W]; references xr, dr: [Br, K, 1, H, W] and
yr: [Br, K, 3, H, W] with Br = B, or Br = 1 to share one reference set across a batch of
targets (how the engine colours a run of frames between the same keys).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .blocks import AdaINResBlock, ConvBlock
from .embedder import Embedder
from .encoder import Encoder
from .sim import Sim


class Mid(nn.Module):
    """8 AdaIN residual blocks whose norm parameters come from Em."""

    def __init__(self, c: int, n_blocks: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(AdaINResBlock(c) for _ in range(n_blocks))
        self.n_params = sum(b.params_per_block for b in self.blocks)

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        for block, pb in zip(self.blocks, p.split(self.blocks[0].params_per_block, dim=1)):
            x = block(x, pb)
        return x


class De(nn.Sequential):
    """4 convs with instance norm and ReLU; nearest-neighbour x2 upsampling before the convs
    that grow the map, which avoids GAN checkerboard artefacts (sec. 3.5)."""

    def __init__(self, c: int) -> None:
        super().__init__(
            ConvBlock(c, c, 3),
            nn.Upsample(scale_factor=2, mode="nearest"),
            ConvBlock(c, c // 2, 3),
            nn.Upsample(scale_factor=2, mode="nearest"),
            ConvBlock(c // 2, c // 4, 3),
            ConvBlock(c // 4, 3, 7, norm="none", act="tanh"),
        )


class ColorTransformGenerator(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        g, ab = cfg.generator, cfg.ablation
        c = g.enc_channels[-1]
        self.use_sim, self.use_em, self.use_distance = ab.sim, ab.em, ab.distance
        self.EnL = Encoder(1, g.enc_channels)
        self.Mid = Mid(c, g.mid_blocks)
        self.De = De(c)
        self.latent_mid = ConvBlock(c, 3, 3, norm="none", act="tanh", sn=False)
        if self.use_sim:
            self.EnD = Encoder(1, g.enc_channels)
            self.EnC = Encoder(3, g.enc_channels)
            self.Sim = Sim(c, g.sim_reduction)
            self.latent_sim = ConvBlock(c, 3, 3, norm="none", act="tanh", sn=False)
        if self.use_em:
            self.Em = Embedder(g.em_channels, g.style_dim, g.mlp_dim, self.Mid.n_params)
        else:  # "No Emb" ablation: one learned set of norm parameters for every shot
            self.P_const = nn.Parameter(torch.zeros(1, self.Mid.n_params))

    def forward(
        self,
        x: torch.Tensor,
        d: torch.Tensor,
        xr: torch.Tensor,
        dr: torch.Tensor,
        yr: torch.Tensor,
        latents: bool = False,
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        """The coloured target in [-1, 1]; with ``latents`` also y_sim and y_mid (1/4 size)
        from the latent decoders, for the latent constraint loss (eq. 9)."""
        b = x.shape[0]
        if not self.use_distance:  # "No Distance" ablation: match on the line art itself
            d, dr = x, xr
        f = self.EnL(x)
        out: dict[str, torch.Tensor] = {}
        if self.use_sim:
            fdr, fyr = self._encode_refs(self.EnD, dr), self._encode_refs(self.EnC, yr)
            f_sim = self.Sim(self.EnD(d), fdr, fyr)
            f = f + f_sim
            if latents:
                out["y_sim"] = self.latent_sim(f_sim)
        p = self.Em(xr, yr) if self.use_em else self.P_const
        f_mid = self.Mid(f, p.expand(b, -1))
        y = self.De(f_mid)
        if not latents:
            return y
        out["y"] = y
        out["y_mid"] = self.latent_mid(f_mid)
        return out

    @staticmethod
    def _encode_refs(enc: nn.Module, r: torch.Tensor) -> torch.Tensor:
        f = enc(r.flatten(0, 1))
        return f.view(r.shape[0], r.shape[1], *f.shape[1:])

