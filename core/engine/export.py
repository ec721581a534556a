"""Export of the generators for runtimes without PyTorch: ONNX (ONNX Runtime in Blender, Nuke
and on farms) with dynamic batch, K, frame count and frame size."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import onnx
import torch

from ..card import read_card
from ..errors import InkpaintError
from ..weights import load_weights
from .backends import SHA_KEY, onnx_paths

OPSET = 17


def _export(net: torch.nn.Module, args: tuple, names: list[str], dynamic: dict, path: Path,
            sha: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        # The tracer warns about control flow it records as constants and about modes it
        # exports as they are (instance norm's statistics); those are the paths the export
        # is meant for, and stderr is for the one error line.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, args, str(tmp), input_names=names, output_names=["y"],
                              dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
        model = onnx.load(str(tmp))
        entry = model.metadata_props.add()
        entry.key, entry.value = SHA_KEY, sha
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        raise InkpaintError(f"cannot write the ONNX export {path}: {exc.strerror or exc}; "
                            "run `inkpaint export --model ...` where the weights folder is "
                            "writable") from exc
    finally:
        tmp.unlink(missing_ok=True)


def export_onnx(model: str) -> tuple[Path, Path | None]:
    """Write ``<weights>.G.onnx`` and ``<weights>.T.onnx`` beside the weights file."""
    path, card = read_card(model)
    g_path, t_path = onnx_paths(path)
    for p in (g_path, t_path):  # before minutes of tracing, not after
        if p.is_dir() or not os.access(p.parent, os.W_OK):
            raise InkpaintError(f"cannot write the ONNX export {p} beside the weights: run "
                                "`inkpaint export --model ...` where the weights folder is "
                                "writable")
    gens = load_weights(str(path))
    h = w = 64
    x = torch.zeros(2, 1, h, w)
    refs = (torch.zeros(1, 2, 1, h, w), torch.zeros(1, 2, 1, h, w), torch.zeros(1, 2, 3, h, w))
    img = {0: "B", 2: "H", 3: "W"}
    ref = {1: "K", 3: "H", 4: "W"}
    _export(gens.G, (x, x, *refs), ["x", "d", "xr", "dr", "yr"],
            {"x": img, "d": img, "xr": ref, "dr": ref, "yr": ref, "y": img}, g_path,
            card["sha256"])
    if gens.T is None:
        return g_path, None
    seq = {2: "T", 3: "H", 4: "W"}
    s = torch.zeros(1, 1, 4, h, w)
    _export(gens.T, (s, torch.zeros(1, 3, 4, h, w), s), ["lines", "colors", "is_ref"],
            {"lines": seq, "colors": seq, "is_ref": seq, "y": seq}, t_path, card["sha256"])
    return g_path, t_path
