"""Spectral normalisation as a switch on finished networks.

Modules mark the convolutions the paper normalises (encoders, decoder, discriminators, the
temporal network; not the Embedder, sec. 4.2) with ``mark_sn``. Training wraps the marked
layers with ``spectral_norm_marked``; shipping saves the normalised weights under the plain
names with ``baked_state_dict``, so inference and ONNX export run ordinary convs and
the shipped file has one weight tensor per layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

_FLAG = "_inkpaint_sn"


def mark_sn(module: nn.Module) -> nn.Module:
    setattr(module, _FLAG, True)
    return module


def spectral_norm_marked(net: nn.Module) -> nn.Module:
    for m in net.modules():
        if getattr(m, _FLAG, False) and not parametrize.is_parametrized(m, "weight"):
            spectral_norm(m)
    return net


def baked_state_dict(net: nn.Module) -> dict[str, torch.Tensor]:
    """The state a network without spectral norm loads: each normalised weight W / sigma(W)
    (as evaluated in eval mode, with the stored power-iteration vectors) under its plain name.
    """
    was_training = net.training
    net.eval()
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, m in net.named_modules():
            if "parametrizations" in name.split("."):
                continue  # the SN internals (original weight, u, v) of a layer seen above
            prefix = f"{name}." if name else ""
            if parametrize.is_parametrized(m, "weight"):
                out[f"{prefix}weight"] = m.weight.detach().clone()
            for pname, p in m.named_parameters(recurse=False):
                out[f"{prefix}{pname}"] = p.detach().clone()
            for bname, b in m.named_buffers(recurse=False):
                out[f"{prefix}{bname}"] = b.detach().clone()
    net.train(was_training)
    return out
