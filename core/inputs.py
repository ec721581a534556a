"""The one place where images become network inputs, shared by inference and training so
the networks see identical preprocessing in both."""

from __future__ import annotations

import numpy as np

from .preprocess import distance_field


def to_net(a: np.ndarray) -> np.ndarray:
    """[0, 1] -> [-1, 1], float32."""
    return (np.asarray(a, np.float32) * 2.0 - 1.0).astype(np.float32, copy=False)


def from_net(a: np.ndarray) -> np.ndarray:
    return np.clip((np.asarray(a, np.float32) + 1.0) * 0.5, 0.0, 1.0)


def line_planes(line: np.ndarray, distance_max: float) -> np.ndarray:
    """[2, H, W] network planes (line image x, distance field d) for a line image at the
    working size; ``distance_max`` is the clip distance as a fraction of the long side.
    Pixels a quarter covered by ink count as line, so thin lines that shrank to partial
    coverage when the frame was scaled down still shape the field."""
    coverage = np.clip((1.0 - line) * 2.0, 0.0, 1.0)
    dist = distance_field(coverage, distance_max * max(line.shape))
    return to_net(np.stack([line, dist]))
