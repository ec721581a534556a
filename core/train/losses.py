"""Loss terms of the paper's section 3.4 (eqs. 6-11).

All terms are means over the batch, so the temporal network's "split the output into several
frames and average the per-frame losses" is done by folding the frames into the batch axis.
Images are NCHW in [-1, 1].
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def l1_loss(y_hat: Tensor, y: Tensor) -> Tensor:
    """Eq. 6, as a mean so the lambdas do not depend on the image size."""
    return F.l1_loss(y_hat, y)


def perceptual_loss(feats_hat: Sequence[Tensor], feats: Sequence[Tensor]) -> Tensor:
    """Eq. 7: sum over layers of (1/N_i) * squared L2 distance, i.e. the per-layer MSE."""
    return sum(F.mse_loss(a, b) for a, b in zip(feats_hat, feats, strict=True))


def gram(feat: Tensor) -> Tensor:
    """Gram matrix normalised by C*H*W (as in Johnson et al.), so layers of any size compare."""
    n, c, h, w = feat.shape
    flat = feat.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def style_loss(feats_hat: Sequence[Tensor], feats: Sequence[Tensor]) -> Tensor:
    """Eq. 8: sum over layers of the L1 distance (a mean over entries) of the Gram matrices."""
    return sum(F.l1_loss(gram(a), gram(b)) for a, b in zip(feats_hat, feats, strict=True))


def latent_loss(y_sim: Tensor, y_mid: Tensor, y: Tensor) -> Tensor:
    """Eq. 9: L1 of the latent decoders' images against the ground truth.

    The latent images may be smaller than ``y`` (they come from 1/4-size feature maps); then
    ``y`` is area-downsampled to their size rather than upsampling the prediction.
    """
    return sum(F.l1_loss(y_lat, _area_resize(y, y_lat.shape[-2:])) for y_lat in (y_sim, y_mid))


def _area_resize(y: Tensor, size: torch.Size) -> Tensor:
    if size == y.shape[-2:]:
        return y
    if size[0] > y.shape[-2] or size[1] > y.shape[-1]:
        raise ValueError(f"latent image {tuple(size)} is larger than y {tuple(y.shape)}")
    return F.interpolate(y, size=size, mode="area")


def gan_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Eq. 10 for the discriminator: -(log D(x, y) + log(1 - D(x, y_hat))).

    Pass ``fake_logits`` computed on a detached y_hat.
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def gan_g_loss(fake_logits: Tensor) -> Tensor:
    """Eq. 10 for the generator, in the non-saturating form -log D(x, y_hat): the literal
    log(1 - D) has no gradient early on, when D rejects every fake confidently."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


@dataclass(frozen=True)
class LossWeights:
    """The lambdas of eq. 11, with the paper's values."""

    perc: float = 1.0
    style: float = 1000.0
    latent: float = 1.0
    gan: float = 1.0
    l1: float = 10.0


def generator_objective(
    y_hat: Tensor,
    y: Tensor,
    vgg: Callable[[Tensor], Sequence[Tensor]],
    fake_logits: Tensor | None = None,
    latents: tuple[Tensor, Tensor] | None = None,
    weights: LossWeights = LossWeights(),
) -> tuple[Tensor, dict[str, float]]:
    """Eq. 11. Returns the weighted total and the unweighted terms (plus "total") for logging.

    ``fake_logits`` (D on the non-detached y_hat) and ``latents`` (y_sim, y_mid) are optional
    so that the same objective serves GAN-free warm-up and the temporal network, which has no
    latent decoders; absent terms are left out of the total and the log.
    """
    feats_hat = vgg(y_hat)
    with torch.no_grad():
        feats = vgg(y)
    terms = {
        "l1": (weights.l1, l1_loss(y_hat, y)),
        "perc": (weights.perc, perceptual_loss(feats_hat, feats)),
        "style": (weights.style, style_loss(feats_hat, feats)),
    }
    if latents is not None:
        terms["latent"] = (weights.latent, latent_loss(*latents, y))
    if fake_logits is not None:
        terms["gan"] = (weights.gan, gan_g_loss(fake_logits))
    total = sum(lam * value for lam, value in terms.values())
    log = {name: value.item() for name, (_, value) in terms.items()}
    log["total"] = total.item()
    return total, log
