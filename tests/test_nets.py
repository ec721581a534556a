"""The paper's networks: shapes, the Sim layer against a literal reading of eqs. 3-5,
reference-order invariance, any K, ablations and spectral-norm placement."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from core.config import load_preset
from core.nets import (
    ColorTransformGenerator,
    Discriminator,
    TemporalDiscriminator,
    TemporalGenerator,
    baked_state_dict,
    spectral_norm_marked,
)
from core.nets.sim import Sim, attention
from core.nets.temporal import GatedLGTSMConv, TemporalShift, _Up


def _refs(b: int, k: int, h: int, w: int):
    return torch.randn(b, k, 1, h, w), torch.randn(b, k, 1, h, w), torch.randn(b, k, 3, h, w)


@pytest.mark.parametrize("preset", ["lite", "paper"])
def test_generator_shapes(preset):
    cfg = load_preset(preset)
    g = ColorTransformGenerator(cfg).eval()
    x = torch.randn(2, 1, 32, 48)
    out = g(x, x, *_refs(2, 2, 32, 48), latents=True)
    assert out["y"].shape == (2, 3, 32, 48)
    assert out["y_sim"].shape == out["y_mid"].shape == (2, 3, 8, 12)
    assert out["y"].abs().max() <= 1.0
    d = Discriminator(cfg.discriminator.channels)
    assert d(x, out["y"]).shape[:2] == (2, 1)


@pytest.mark.parametrize("preset", ["lite", "paper"])
def test_temporal_shapes(preset):
    t = load_preset(preset).temporal
    gen, disc = TemporalGenerator(t.channels, t.dilations), TemporalDiscriminator(t.disc_channels)
    lines, cols = torch.randn(1, 1, 6, 32, 40), torch.rand(1, 3, 6, 32, 40) * 2 - 1
    flags = torch.zeros(1, 1, 6, 32, 40)
    assert gen(lines, cols, flags).shape == (1, 3, 6, 32, 40)
    assert disc(lines, cols).shape[:3] == (1, 1, 6)


def test_untrained_temporal_is_identity():
    t = load_preset("lite").temporal
    gen = TemporalGenerator(t.channels, t.dilations)
    cols = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    assert torch.equal(gen(torch.randn(1, 1, 5, 16, 16), cols, torch.zeros(1, 1, 5, 16, 16)),
                       cols)


def naive_sim(sim: Sim, fd, fdr, fyr):
    """Eqs. 3-5 written out position by position."""
    b, k, c, h, w = fdr.shape
    out = torch.zeros(b, c, h, w)
    for n in range(b):
        m = [torch.sigmoid(sim.mask_m(torch.cat([fdr[n, i], fd[n]])[None]))[0] for i in range(k)]
        nn_ = [torch.sigmoid(sim.mask_n(torch.cat([fdr[n, i], fd[n]])[None]))[0]
               for i in range(k)]
        q = sim.query(fd[n:n + 1])[0]
        keys = [sim.key(fdr[n, i][None])[0] for i in range(k)]
        vals = [sim.value(fyr[n, i][None])[0] for i in range(k)]
        f_mat = torch.zeros(q.shape[0], h, w)
        for y, x in itertools.product(range(h), range(w)):
            scores = [(q[:, y, x] * keys[i][:, yy, xx]).sum()
                      for i in range(k) for yy in range(h) for xx in range(w)]
            weights = torch.softmax(torch.stack(scores), 0)  # one softmax over all K refs
            colours = torch.stack([vals[i][:, yy, xx]
                                   for i in range(k) for yy in range(h) for xx in range(w)])
            f_mat[:, y, x] = (weights[:, None] * colours).sum(0)
        f_mat = sim.out(f_mat[None])[0]
        out[n] = sum((1 - nn_[i]) * f_mat + fyr[n, i] * m[i] * nn_[i] for i in range(k)) / k
    return out


@pytest.mark.parametrize("k", [1, 2, 3])
def test_sim_matches_equations(k):
    torch.manual_seed(k)
    sim = Sim(16, reduction=8)
    fd = torch.randn(2, 16, 4, 5)
    fdr, fyr = torch.randn(2, k, 16, 4, 5), torch.randn(2, k, 16, 4, 5)
    with torch.no_grad():
        assert torch.allclose(sim(fd, fdr, fyr), naive_sim(sim, fd, fdr, fyr), atol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_any_k_and_reference_order_invariance(k):
    torch.manual_seed(0)
    g = ColorTransformGenerator(load_preset("lite")).eval()
    x = torch.randn(3, 1, 32, 32)
    xr, dr, yr = _refs(1, k, 32, 32)
    with torch.no_grad():
        y = g(x, x, xr, dr, yr)
        perm = torch.randperm(k) if k > 1 else torch.tensor([0])
        if k > 1:
            while torch.equal(perm, torch.arange(k)):
                perm = torch.randperm(k)
        y_perm = g(x, x, xr[:, perm], dr[:, perm], yr[:, perm])
    assert y.shape == (3, 3, 32, 32)
    assert torch.allclose(y, y_perm, atol=1e-5)


def test_shared_references_equal_per_target_references():
    g = ColorTransformGenerator(load_preset("lite")).eval()
    x = torch.randn(3, 1, 32, 32)
    refs = _refs(1, 2, 32, 32)
    with torch.no_grad():
        shared = g(x, x, *refs)
        repeated = g(x, x, *(r.expand(3, -1, -1, -1, -1) for r in refs))
    assert torch.allclose(shared, repeated, atol=1e-5)


@pytest.mark.parametrize("off", ["sim", "em", "distance"])
def test_ablations_build_and_change_the_network(off):
    cfg = load_preset("lite").with_ablation(**{off: False})
    g = ColorTransformGenerator(cfg).eval()
    x = torch.randn(1, 1, 32, 32)
    out = g(x, torch.randn(1, 1, 32, 32), *_refs(1, 2, 32, 32), latents=True)
    assert out["y"].shape == (1, 3, 32, 32)
    names = {n.split(".")[0] for n, _ in g.named_parameters()}
    if off == "sim":
        assert "Sim" not in names and "y_sim" not in out
    if off == "em":
        assert "Em" not in names and "P_const" in names
    if off == "distance":  # d is ignored: matching runs on the line art
        y2 = g(x, torch.randn(1, 1, 32, 32), *_refs(1, 2, 32, 32))
        assert y2.shape == (1, 3, 32, 32)


def test_spectral_norm_where_the_paper_puts_it():
    cfg = load_preset("lite")
    g = spectral_norm_marked(ColorTransformGenerator(cfg))
    sn = {n for n, m in g.named_modules() if parametrize.is_parametrized(m, "weight")}
    assert any(n.startswith("EnL") for n in sn) and any(n.startswith("De") for n in sn)
    assert not any(n.startswith("Em") for n in sn)  # sec. 4.2: no SN in the Embedder
    d = spectral_norm_marked(Discriminator(cfg.discriminator.channels))
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(parametrize.is_parametrized(c, "weight") for c in convs[:-1])
    assert not parametrize.is_parametrized(convs[-1], "weight")


def test_baked_weights_reproduce_the_normalised_network():
    cfg = load_preset("lite")
    g = spectral_norm_marked(ColorTransformGenerator(cfg))
    x = torch.randn(1, 1, 32, 32)
    refs = _refs(1, 1, 32, 32)
    g.train()
    g(x, x, *refs)  # a power-iteration step, as in training
    g.eval()
    plain = ColorTransformGenerator(cfg).eval()
    plain.load_state_dict(baked_state_dict(g))
    with torch.no_grad():
        assert torch.allclose(g(x, x, *refs), plain(x, x, *refs), atol=1e-5)


def test_sim_attention_kernel_equals_plain_softmax():
    """The flash kernel Sim runs (on a transposed, non-contiguous query, as Sim passes it)
    gives the paper's softmax(q . k^T) . v, unscaled."""
    q = torch.randn(2, 4, 300).transpose(1, 2)
    kk, v = torch.randn(2, 600, 4), torch.randn(2, 600, 4)
    plain = torch.softmax(q @ kk.transpose(1, 2), -1) @ v
    assert torch.allclose(attention(q, kk, v), plain, atol=1e-5)


def _lgtsm_3d(m: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One layer of the temporal networks as the paper states it, on [B, C, T, H, W]: the
    learnable shift as a depthwise (3, 1, 1) conv3d, x2 nearest upsampling in 5-D, the
    per-frame convs as (1, k, k) conv3ds."""
    if isinstance(m, TemporalShift):
        return F.conv3d(x, m.weight, padding=(1, 0, 0), groups=x.shape[1])
    if isinstance(m, _Up):
        return F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
    if isinstance(m, GatedLGTSMConv):
        x = _lgtsm_3d(m.shift, x)
        return m.act(m.feature(x)) * torch.sigmoid(m.gate(x))
    return m(x)  # the (1, k, k) Conv3d and LeakyReLU of the discriminator


def test_temporal_networks_compute_the_3d_definition():
    """The temporal networks run per frame on frames folded into the batch, with one conv for
    feature and gate and the decoder's shift before its upsampling: with random weights (the
    gain too) they give what the 3-D formulation gives, within float rounding."""
    torch.manual_seed(0)
    gen, disc = TemporalGenerator((8, 16, 32), (2, 4)), TemporalDiscriminator((8, 16, 32, 32))
    for net in (gen, disc):
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn_like(p) * 0.3)
    lines, colors, is_ref = torch.randn(2, 1, 7, 64, 48), torch.randn(2, 3, 7, 64, 48), \
        torch.randn(2, 1, 7, 64, 48)
    with torch.no_grad():
        x = torch.cat([lines, colors, is_ref], dim=1)
        for m in gen.net:
            x = _lgtsm_3d(m, x)
        want = torch.clamp(colors + gen.gain * x, -1.0, 1.0)
        torch.testing.assert_close(gen(lines, colors, is_ref), want, atol=1e-5, rtol=1e-5)
        x = torch.cat([lines, colors], dim=1)
        for m in disc.net:
            x = _lgtsm_3d(m, x)
        torch.testing.assert_close(disc(lines, colors), x, atol=1e-4, rtol=1e-4)
