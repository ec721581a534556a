"""Training state (networks, optimisers, step) in one safetensors file, so training resumes
across sessions without pickle. Optimiser hyper-parameters go in the JSON metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn


def save_checkpoint(
    path: Path,
    nets: dict[str, nn.Module],
    optims: dict[str, torch.optim.Optimizer],
    meta: dict,
) -> None:
    tensors: dict[str, torch.Tensor] = {}
    groups: dict[str, list] = {}
    for name, net in nets.items():
        for k, v in net.state_dict().items():
            tensors[f"net.{name}.{k}"] = v.detach().cpu().contiguous()
    for name, opt in optims.items():
        sd = opt.state_dict()
        groups[name] = sd["param_groups"]
        for idx, st in sd["state"].items():
            for k, v in st.items():
                tensors[f"opt.{name}.{idx}.{k}"] = torch.as_tensor(v).cpu().contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={"meta": json.dumps(meta), "groups": json.dumps(groups)})
    os.chmod(tmp, 0o644)  # safetensors creates files private to the user
    os.replace(tmp, path)


def checkpoint_meta(path: Path) -> dict:
    """The checkpoint's JSON metadata (step, options) without loading any tensor: what a
    resuming run checks before it loads networks that may not be of its shape."""
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["meta"])


def load_checkpoint(
    path: Path, nets: dict[str, nn.Module], optims: dict[str, torch.optim.Optimizer]
) -> dict:

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata()
    tensors = load_file(str(path))
    for name, net in nets.items():
        prefix = f"net.{name}."
        net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                             if k.startswith(prefix)})
    groups = json.loads(header["groups"])
    for name, opt in optims.items():
        prefix = f"opt.{name}."
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith(prefix):
                idx, key = k[len(prefix):].split(".", 1)
                state.setdefault(int(idx), {})[key] = v
        if name in groups:
            opt.load_state_dict({"state": state, "param_groups": groups[name]})
    return json.loads(header["meta"])
