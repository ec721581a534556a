"""What every farm job of one shot has in common: the shot, its keys, the render settings, the
chunk plan, and the ``colorize`` command line each task runs."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .chunks import ChunkPlan


@dataclass(frozen=True)
class KeySpec:
    """One ``--ref``: a painted key at ``frame`` (None: a model sheet)."""

    color: str
    frame: int | None = None
    lineart: str | None = None

    @property
    def arg(self) -> str:
        key = "sheet" if self.frame is None else str(self.frame)
        return f"{key}={self.color}" + (f",{self.lineart}" if self.lineart else "")


@dataclass
class JobSpec:
    name: str
    lineart: str  # absolute ####-pattern of the line art
    out: str  # absolute ####-pattern of the output
    keys: list[KeySpec]
    plan: ChunkPlan
    model: str = "lite"
    backend: str = "auto"
    device: str = "auto"
    size: int | None = None
    k: int = 2
    temporal: bool = False
    bit_depth: int = 8
    overwrite: bool = False
    # How a farm node starts inkpaint: the ``inkpaint`` command on the node's PATH (what
    # ``pip install inkpaint`` there gives), never this desk's interpreter or checkout, which
    # a remote worker does not have; ``--command`` replaces it.
    command: list[str] = field(default_factory=lambda: ["inkpaint"])
    env: dict[str, str] = field(default_factory=dict)
    priority: int = 50
    options: dict[str, str] = field(default_factory=dict)  # farm-specific (pool, group, ...)

    @property
    def slug(self) -> str:
        """The name as farms like identifiers: letters, digits, '_' and '-'."""
        return re.sub(r"[^A-Za-z0-9_-]+", "_", self.name).strip("_") or "inkpaint"

    def settings_args(self) -> list[str]:
        """Everything after ``--frames`` that shapes the result (same for every task)."""
        args = ["--model", self.model, "--backend", self.backend, "--device", self.device,
                "-k", str(self.k), "--bit-depth", str(self.bit_depth)]
        if self.size:
            args += ["--size", str(self.size)]
        # Said both ways, so a node whose inkpaint has another default renders the same.
        args.append("--temporal" if self.temporal else "--no-temporal")
        if self.overwrite:
            args.append("--overwrite")
        return args

    def colorize_args(self, frames: str, progress: str, lineart: str | None = None,
                      out: str | None = None, keys: list[str] | None = None) -> list[str]:
        """``colorize`` arguments for one task; the paths can be replaced by a farm's own
        parameter references (OpenJD's ``{{Param.X}}``)."""
        refs = keys if keys is not None else [k.arg for k in self.keys]
        args = ["colorize", "--lineart", lineart or self.lineart]
        for r in refs:
            args += ["--ref", r]
        return args + ["--out", out or self.out, "--frames", frames, *self.settings_args(),
                       "--progress", progress]

    def argv(self, frames: str, progress: str) -> list[str]:
        return [*self.command, *self.colorize_args(frames, progress)]


def shell_join(argv: list[str], windows: bool = False) -> str:
    """One command line for a shell: POSIX quoting, or ``cmd.exe``-style for Windows."""
    if not windows:
        return shlex.join(argv)
    import subprocess

    return subprocess.list2cmdline(argv)


def split_path_pattern(pattern: str) -> tuple[str, str]:
    """``/a/b/name.####.png`` -> (``/a/b``, ``name.####.png``)."""
    p = Path(pattern)
    return str(p.parent), p.name


def is_path(model: str) -> bool:
    return model.endswith(".safetensors") or "/" in model or os.sep in model
