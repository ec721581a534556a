"""Training clips: procedural shots and animated clip-art drawings turned into network
tensors, streamed without end; and, for few-shot fine-tuning, windows of the shots of a
footage data set (``inkpaint dataset build``).

Procedural seeds below EVAL_SEED_BASE train; seeds from it up are the held-out evaluation
shots. Drawings have their own fixed held-out tenth (``split="eval"``), never trained on.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from ..data.drawings import render_drawing_shot
from ..data.footage import FootageShots
from ..data.procedural import Shot, render_shot
from ..inputs import line_planes, to_net
from ..preprocess import line_art

EVAL_SEED_BASE = 1_000_000_000


def shot_tensors(seed: int, frames: int, size: int, distance_max: float,
                 source: str = "procedural") -> dict[str, torch.Tensor]:
    """lines, dist [T, 1, H, W] and color [T, 3, H, W] in [-1, 1] for one training shot."""
    if source == "drawings":
        shot = render_drawing_shot(seed, frames=frames, size=size, split="train")
    else:
        shot = render_shot(seed, frames=frames, size=size)
    return shot_to_tensors(shot, distance_max)


def shot_to_tensors(shot: Shot, distance_max: float) -> dict[str, torch.Tensor]:
    planes = []
    for lines in shot.lines:
        line, _ = line_art(lines.astype(np.float32)[..., None] / 255.0)
        planes.append(line_planes(line, distance_max))
    p = torch.from_numpy(np.stack(planes))
    color = torch.from_numpy(to_net(shot.color.astype(np.float32) / 255.0)).permute(0, 3, 1, 2)
    return {"lines": p[:, :1], "dist": p[:, 1:], "color": color.contiguous()}


def sample_rngs(seed: int, start: int) -> Iterator[np.random.Generator]:
    """One generator per sample index from ``start`` on (this data-loader worker's share): a
    clip is a function of (seed, index) alone, so runs of one seed see the same clips, and a
    run resumed at sample ``start`` continues the stream an unbroken run would have seen."""
    info = torch.utils.data.get_worker_info()
    worker, workers = (info.id, info.num_workers) if info else (0, 1)
    for i in itertools.count(start + worker, workers):
        yield np.random.default_rng([seed, i])


class TrainingClips(IterableDataset):
    """Endless clips; a share ``drawings`` of them animate clip-art drawings (when the
    drawings index and cairosvg are available), the rest are procedural shots."""

    def __init__(self, frames: int, size: int, distance_max: float, seed: int,
                 drawings: float, start: int = 0) -> None:
        self.frames, self.size, self.distance_max, self.seed = frames, size, distance_max, seed
        self.drawings, self.start = drawings, start

    def __iter__(self):
        for rng in sample_rngs(self.seed, self.start):
            seed = int(rng.integers(0, EVAL_SEED_BASE))
            source = "drawings" if rng.random() < self.drawings else "procedural"
            yield shot_tensors(seed, self.frames, self.size, self.distance_max, source)


def clip_loader(frames: int, size: int, distance_max: float, batch: int, seed: int,
                drawings: float = 0.0, workers: int = 1, start: int = 0) -> DataLoader:
    return DataLoader(TrainingClips(frames, size, distance_max, seed, drawings, start),
                      batch_size=batch, num_workers=workers, persistent_workers=workers > 0)


def footage_window(data: FootageShots, shot: int, start: int, frames: int, size: int,
                   distance_max: float) -> dict[str, torch.Tensor]:
    """``frames`` frames of a footage shot from ``start``, at the training size, as tensors."""
    sh = data.shot(shot, start, frames)
    color, lines = sh.color, sh.lines
    if color.shape[1] != size:
        color = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA)
                          for c in color])
        lines = np.stack([cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA)
                          for m in lines])
    return shot_to_tensors(Shot(color, lines, sh.palette), distance_max)


class FootageClips(IterableDataset):
    """Endless random ``frames``-frame windows of the given shots of a footage data set."""

    def __init__(self, root: str | os.PathLike, shots: Sequence[int], frames: int, size: int,
                 distance_max: float, seed: int, start: int = 0) -> None:
        self.root, self.shots, self.frames = root, list(shots), frames
        self.size, self.distance_max, self.seed, self.start = size, distance_max, seed, start

    def __iter__(self):
        data = FootageShots(self.root)
        for rng in sample_rngs(self.seed, self.start):
            i = self.shots[int(rng.integers(len(self.shots)))]
            start = int(rng.integers(int(data.shots[i]["frames"]) - self.frames + 1))
            yield footage_window(data, i, start, self.frames, self.size, self.distance_max)
