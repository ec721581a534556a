"""Training clips: procedural shots turned into network tensors, streamed without end.

Seeds below EVAL_SEED_BASE train; seeds from it up are the held-out evaluation shots, so the
evaluation never sees a training shot.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from ..data.procedural import render_shot
from ..inputs import line_planes, to_net
from ..preprocess import line_art

EVAL_SEED_BASE = 1_000_000_000


def shot_tensors(seed: int, frames: int, size: int, distance_max: float) -> dict[str, torch.Tensor]:
    """lines, dist [T, 1, H, W] and color [T, 3, H, W] in [-1, 1] for one procedural shot."""
    shot = render_shot(seed, frames=frames, size=size)
    planes = []
    for lines in shot.lines:
        line, _ = line_art(lines.astype(np.float32)[..., None] / 255.0)
        planes.append(line_planes(line, distance_max))
    p = torch.from_numpy(np.stack(planes))
    color = torch.from_numpy(to_net(shot.color.astype(np.float32) / 255.0)).permute(0, 3, 1, 2)
    return {"lines": p[:, :1], "dist": p[:, 1:], "color": color.contiguous()}


class ProceduralClips(IterableDataset):
    def __init__(self, frames: int, size: int, distance_max: float, seed: int) -> None:
        self.frames, self.size, self.distance_max, self.seed = frames, size, distance_max, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0, os.getpid()])
        while True:
            seed = int(rng.integers(0, EVAL_SEED_BASE))
            yield shot_tensors(seed, self.frames, self.size, self.distance_max)


def clip_loader(frames: int, size: int, distance_max: float, batch: int, seed: int,
                workers: int = 1) -> DataLoader:
    return DataLoader(ProceduralClips(frames, size, distance_max, seed), batch_size=batch,
                      num_workers=workers, persistent_workers=workers > 0)
