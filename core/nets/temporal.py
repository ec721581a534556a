"""The temporal constraint network (sec. 3.2, 3.5) built from learnable gated temporal shift
modules (LGTSM, Chang et al. 2019): a 2D conv preceded by a learnable temporal shift gives
the effect of a 3D conv at 2D cost.

Sequences are [B, C, T, H, W] in chronological order: the references and the targets
between them. Each frame carries line art (1), colour (3: the reference's own, or G's y^)
and a reference flag (1). The generator predicts a correction added to the input colours,
scaled by a learned gain that starts at 0, so an untrained network leaves G's result exactly
as it is (the paper predicts the colour directly; the residual form trains in far fewer steps
on a CPU and can never make a shot worse before it has learned anything).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .spectral import mark_sn


class TemporalShift(nn.Module):
    """Learnable per-channel temporal kernel of size 3, initialised as TSM's shift: a quarter
    of the channels look one frame back, a quarter one frame ahead, the rest stay.

    Works on frames folded into the batch ([B*T, C, H, W], see ``TemporalGenerator``): a
    weighted sum of each frame and its zero-padded neighbours, the arithmetic of the depthwise
    (3, 1, 1) conv3d its weight is shaped for."""

    def __init__(self, c: int) -> None:
        super().__init__()
        w = torch.zeros(c, 1, 3, 1, 1)
        q = c // 4
        w[:q, 0, 0] = 1.0  # from t-1
        w[q : 2 * q, 0, 2] = 1.0  # from t+1
        w[2 * q :, 0, 1] = 1.0
        self.weight = nn.Parameter(w)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        bt, c, h, w = x.shape
        seq = F.pad(x.reshape(bt // frames, frames, c, h, w), (0, 0, 0, 0, 0, 0, 1, 1))
        k = self.weight.reshape(1, 1, c, 3, 1, 1)
        out = seq[:, :-2] * k[..., 0, :, :] + seq[:, 1:-1] * k[..., 1, :, :] \
            + seq[:, 2:] * k[..., 2, :, :]
        return out.reshape(bt, c, h, w)


def _conv(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1) -> nn.Conv3d:
    """A (1, k, k) conv3d, the per-frame 2D conv of an LGTSM. Kept as a Conv3d so weights and
    checkpoints keep the paper's 3D layout; ``_frame_conv`` applies it."""
    pad = dilation * (k - 1) // 2 if stride == 1 else 1
    return mark_sn(
        nn.Conv3d(cin, cout, (1, k, k), (1, stride, stride), (0, pad, pad), (1, dilation, dilation))
    )


def _frame_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                like: nn.Conv3d) -> torch.Tensor:
    """``like``'s (1, k, k) conv on frames folded into the batch, as the 2D conv it is: the
    same sums, but runtimes have blocked, well-tuned 2D kernels and generic 3D ones (ONNX
    Runtime ran the temporal network at a quarter of the CPU's matmul rate through Conv3d)."""
    return F.conv2d(x, weight[:, :, 0], bias, like.stride[1:], like.padding[1:],
                    like.dilation[1:])


class GatedLGTSMConv(nn.Module):
    """Gated convolution (feature * sigmoid(gate)) after a learnable temporal shift."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1,
                 act: bool = True) -> None:
        super().__init__()
        self.shift = TemporalShift(cin)
        self.feature = _conv(cin, cout, k, stride, dilation)
        self.gate = _conv(cin, cout, k, stride, dilation)
        self.act = nn.LeakyReLU(0.2) if act else nn.Identity()

    def forward(self, x: torch.Tensor, frames: int, up: bool = False) -> torch.Tensor:
        """``up``: enlarge x2 (nearest) between the shift and the conv. The shift is per pixel,
        so shifting before enlarging is the same result on a quarter of the pixels (the
        decoder's shifts took most of the network's time when they ran after it)."""
        x = self.shift(x, frames)
        if up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        # feature and gate read the same input: one conv with both filter banks does the
        # work of two in one pass over it
        both = _frame_conv(x,
                           torch.cat([self.feature.weight, self.gate.weight]),
                           torch.cat([self.feature.bias, self.gate.bias]), self.feature)
        feature, gate = both.chunk(2, dim=1)
        return self.act(feature) * torch.sigmoid(gate)


class _Up(nn.Module):
    """x2 nearest-neighbour upsampling in space, done by the gated conv that follows it (see
    ``GatedLGTSMConv.forward``); a parameter-free entry that keeps the layer indices, and so
    the names of the weights, of the published network."""


def _fold(seq: torch.Tensor) -> torch.Tensor:
    """[B, C, T, H, W] -> [B*T, C, H, W]: every layer of the temporal networks but the shift
    is per frame, so frames travel in the batch and only the shift looks across them."""
    b, c, t, h, w = seq.shape
    return seq.transpose(1, 2).reshape(b * t, c, h, w)


def _unfold(x: torch.Tensor, frames: int) -> torch.Tensor:
    bt, c, h, w = x.shape
    return x.reshape(bt // frames, frames, c, h, w).transpose(1, 2)


class TemporalGenerator(nn.Module):
    """Encoder of 3 gated LGTSM convs (each halves the size), 4 dilated ones, and a decoder of
    3 whose inputs are first enlarged x2 by nearest-neighbour upsampling."""

    def __init__(self, channels: tuple[int, int, int], dilations: tuple[int, ...]) -> None:
        super().__init__()
        c0, c1, c2 = channels
        self.net = nn.ModuleList([
            GatedLGTSMConv(5, c0, 4, stride=2),
            GatedLGTSMConv(c0, c1, 4, stride=2),
            GatedLGTSMConv(c1, c2, 4, stride=2),
            *(GatedLGTSMConv(c2, c2, 3, dilation=d) for d in dilations),
            _Up(), GatedLGTSMConv(c2, c1, 3),
            _Up(), GatedLGTSMConv(c1, c0, 3),
            _Up(), GatedLGTSMConv(c0, 3, 3, act=False),
        ])
        self.gain = nn.Parameter(torch.zeros(1))

    def forward(self, lines: torch.Tensor, colors: torch.Tensor, is_ref: torch.Tensor):
        """lines [B,1,T,H,W], colors [B,3,T,H,W] in [-1,1], is_ref [B,1,T,H,W] in {0,1}:
        the refined colours [B,3,T,H,W]. H and W must be multiples of 8."""
        frames = lines.shape[2]
        x = _fold(torch.cat([lines, colors, is_ref], dim=1))
        up = False
        for layer in self.net:
            if isinstance(layer, _Up):
                up = True
            else:
                x, up = layer(x, frames, up), False
        return torch.clamp(colors + self.gain * _unfold(x, frames), -1.0, 1.0)


class TemporalDiscriminator(nn.Module):
    """The 5-layer 3D patch discriminator over (line art, colour) sequences, built from LGTSM
    convs with spectral norm."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 4
        for cout in channels:
            layers += [TemporalShift(cin), _conv(cin, cout, 4, stride=2), nn.LeakyReLU(0.2)]
            cin = cout
        layers += [TemporalShift(cin), _conv(cin, 1, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, lines: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
        """Patch scores [B, 1, T, h, w]."""
        frames = lines.shape[2]
        x = _fold(torch.cat([lines, colors], dim=1))
        for m in self.net:
            if isinstance(m, TemporalShift):
                x = m(x, frames)
            elif isinstance(m, nn.Conv3d):
                x = _frame_conv(x, m.weight, m.bias, m)
            else:
                x = m(x)
        return _unfold(x, frames)
