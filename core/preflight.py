"""The preflight: what a run will cost and whether every input and output is sound, known
before the model loads and before anything is written (issue 13).

Everything here reads file headers and arguments only (no decoding, no torch), so a refused
run costs milliseconds and a few megabytes whatever its inputs claim, and ``colorize``,
``farm plan``/``submit`` and the Blender and Nuke adapters (through the ``Colorizer``) refuse
the same things with the same one line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .card import card_config, read_card
from .config import ModelConfig
from .engine.plan import Reference
from .errors import InkpaintError
from .frames import FrameSequence, parse_frame_range
from .imageio import Reads, image_size
from .limits import MAX_FRAMES, MAX_PIXELS, MAX_SIZE, check_memory
from .motion.paths import held_bytes


def select_frames(seq: FrameSequence, frames: str | None) -> list[int]:
    """``--frames`` (default: the whole shot) as the frames to write; each must exist, and
    there may be at most ``limits.MAX_FRAMES`` of them. An empty ``--frames`` is an error,
    not the whole shot."""
    span = (parse_frame_range(frames) if frames is not None
            else range(seq.frames[0], seq.frames[-1] + 1))
    wanted = seq.select(span)
    MAX_FRAMES.check(len(wanted), f"the shot {seq.pattern} ({span.start}-{span.stop - 1})")
    return wanted


def check_output_folder(folder: Path, writable: bool = True) -> None:
    """The output folder, or the nearest part of it that exists, must be a folder (and, with
    ``writable``, one this user can write to), so a run fails here and not when its first
    frame is done. A farm submission checks it without ``writable``: the farm's user may be
    allowed where the artist is not."""
    probe = folder
    while not probe.exists():
        if probe.is_symlink():  # a dangling link: mkdir would fail on it later
            raise InkpaintError(f"output folder {probe} is a broken link")
        probe = probe.parent
    if not probe.is_dir():
        raise InkpaintError(f"output folder {folder}: {probe} is a file, not a folder")
    if writable and not os.access(probe, os.W_OK | os.X_OK):
        raise InkpaintError(f"output folder {probe} is not writable: check its permissions")


def shot_size(lineart: Mapping[int, Path], frames: Sequence[int],
              refs: Sequence[Reference]) -> tuple[int, int]:
    """(height, width) of the shot from the headers of ``frames`` alone: one size for every
    frame, each key the size of its line art (the shot's, or a model sheet's own), no image
    over ``limits.MAX_PIXELS``."""
    shape, first = None, None
    for f in frames:
        hw = _header(lineart[f])
        if shape is None:
            shape, first = hw, f
        elif hw != shape:
            raise InkpaintError(
                f"line-art frame {f} is {hw[1]}x{hw[0]} but frame {first} is "
                f"{shape[1]}x{shape[0]}: all frames of a shot must have one size"
            )
    for r in refs:
        art = _header(r.lineart) if r.lineart is not None else shape
        hw = _header(r.color)
        if hw != art:
            raise InkpaintError(
                f"key {r.color} is {hw[1]}x{hw[0]} but its line art is {art[1]}x{art[0]}: "
                "paint the key on its own line-art frame, at the same size"
            )
    return shape


def check_k(k: int, cfg: ModelConfig) -> int:
    """References per frame (K) the model takes."""
    if not 1 <= k <= cfg.max_refs:
        raise InkpaintError(f"K = {k} references per frame is not supported: "
                            f"use 1 to {cfg.max_refs}")
    return k


def check_model(model: str, k: int, size: int | None) -> ModelConfig:
    """The model's card (read without torch: a damaged card or missing weights is refused in
    milliseconds, not after the runtime loads), and the K and working size asked of it."""
    cfg = card_config(read_card(model)[1])
    check_k(k, cfg)
    if size is not None:
        check_size(size)
    return cfg


def check_keys(refs: Sequence[Reference], reads: Reads | None = None) -> None:
    """Decode every key and its own line art: readable, finite, not a pipe. Keys are few, so
    this costs little, and it happens before the model loads; ``reads`` keeps what was
    decoded for the run (the ``Colorizer`` given it decodes nothing again)."""
    reads = reads or Reads()
    for r in refs:
        reads.key(r.color)
        if r.lineart is not None:
            reads.digest(r.lineart)


def check_size(size: int) -> int:
    """A working size (long side) the networks can take and the machine can hold."""
    if size < 32:
        raise InkpaintError(f"--size {size} is too small: use 32 or more")
    MAX_SIZE.check(size, f"--size {size}")
    return size


def _header(path: Path) -> tuple[int, int]:
    hw = image_size(path)
    MAX_PIXELS.check(hw[0] * hw[1], f"image {path} ({hw[1]}x{hw[0]})")
    return hw


# Peak memory model, measured with the lite networks on CPU (both presets encode at 1/4):
# --size 256 on a 64 px square shot peaked at 2.36 GB (estimate 2.6), an 8-frame 1920x1080
# shot at --size 64 at 990 MB (estimate 1.4 GB).
_BASE_BYTES = 600 << 20  # the runtime, the weights, the interpreter
# Per working pixel of the network: its activations and Sim, whose attention runs as a
# flash kernel that never holds the score matrix (linear in the positions). Measured with
# `inkpaint bench` at working sizes 256-1024: 1.1 KB on torch, 0.75 KB on onnx; rounded up.
_WORKING_BYTES = 1280
_NATIVE_BYTES = 40  # per native pixel and frame held in a window (pixels, lines, fills)


def check_memory_of(shape: tuple[int, int], size: int, cfg: ModelConfig, k: int,
                    refs: int, gap: int = 0) -> None:
    """Refuse a run whose estimated peak (``peak_bytes``) is over ``limits.memory_budget``;
    a window colours up to ``window - 2`` frames together; ``gap``: the most frames between
    two keys that bracket a frame of the run (0: not known yet)."""
    batch = max(1, cfg.temporal.window - 2)
    apart = f" with keys {gap} frames apart" if gap else ""
    check_memory(peak_bytes(shape, size, batch, k, refs, gap),
                 f"colouring {shape[1]}x{shape[0]} frames at --size {size}{apart}")


def peak_bytes(shape: tuple[int, int], size: int, batch: int, k: int, refs: int,
               gap: int = 0) -> int:
    """Estimated peak memory of a run: the network's working pixels (linear in the working
    area: Sim's attention is a flash kernel), plus the native frames of a window and the
    references, plus the flows chained between keys ``gap`` frames apart (``held_bytes``)."""
    h, w = shape
    scale = size / max(h, w)
    working = max(1, round(h * scale)) * max(1, round(w * scale))
    return int(_BASE_BYTES + _WORKING_BYTES * working * (1 + min(k, refs))
               + _NATIVE_BYTES * h * w * (batch + 2 + refs) + held_bytes(shape, gap))
