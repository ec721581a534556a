"""Export of the generators for runtimes without PyTorch: ONNX (ONNX Runtime in Blender, Nuke
and on farms) with dynamic batch, K, frame count and frame size."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from ..card import read_card
from ..errors import InkpaintError
from ..weights import load_weights
from .backends import EXPORT_FORMAT, FORMAT_KEY, SHA_KEY, onnx_paths

OPSET = 17


def _flash_attention(model: onnx.ModelProto) -> None:
    """Run Sim's attention as ONNX Runtime's MultiHeadAttention (one head, scale 1): the
    exporter writes ``sim.attention`` as MatMul-Softmax-MatMul, which holds the whole
    [B, hw, K*hw] score matrix (0.8 GB for 6 targets at 256 px, 13 GB per target at 1024 px),
    while that op's CPU kernel is a flash kernel that never does, and takes half the time.
    The match is strict (one softmax, fed by q * 1 against transpose(k) * 1): anything else
    is a change to Sim this rewrite does not know, and fails the export."""
    g = model.graph
    softmax = [n for n in g.node if n.op_type == "Softmax"]
    if not softmax:
        return  # the "No Sim" ablation
    made = {o: n for n in g.node for o in n.output}
    used = {}
    for n in g.node:
        for i in n.input:
            used.setdefault(i, []).append(n)

    def scaled_by_one(name: str) -> onnx.NodeProto:
        mul = made[name]
        const = made.get(mul.input[1])
        ok = (mul.op_type == "Mul" and const is not None and const.op_type == "Constant"
              and np.all(numpy_helper.to_array(const.attribute[0].t) == 1.0))
        if not ok:
            raise RuntimeError("Sim's exported attention is not the expected pattern")
        return made[mul.input[0]]

    (sm,) = softmax
    scores = made[sm.input[0]]
    (mix,) = used[sm.output[0]]
    q4, kt = (scaled_by_one(i) for i in scores.input)
    k4, v4 = made[kt.input[0]], made[mix.input[1]]
    if ({scores.op_type, mix.op_type} != {"MatMul"} or kt.op_type != "Transpose"
            or {n.op_type for n in (q4, k4, v4)} != {"Unsqueeze"}):
        raise RuntimeError("Sim's exported attention is not the expected pattern")
    axis = numpy_helper.from_array(np.array([1], np.int64), "sim_attention_axis")
    g.initializer.append(axis)
    at = list(g.node).index(mix)
    g.node.insert(at, helper.make_node(
        "MultiHeadAttention", [q4.input[0], k4.input[0], v4.input[0]], ["sim_attention"],
        domain="com.microsoft", num_heads=1, scale=1.0))
    g.node.insert(at + 1, helper.make_node("Unsqueeze", ["sim_attention", axis.name],
                                           [mix.output[0]]))
    g.node.remove(mix)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    _prune(g)


def _prune(g: onnx.GraphProto) -> None:
    """Drop the nodes no graph output depends on any more."""
    made = {o: i for i, n in enumerate(g.node) for o in n.output}
    live, todo = set(), [o.name for o in g.output]
    while todo:
        i = made.get(todo.pop())
        if i is not None and i not in live:
            live.add(i)
            todo.extend(g.node[i].input)
    kept = [n for i, n in enumerate(g.node) if i in live]
    del g.node[:]
    g.node.extend(kept)


def _export(net: torch.nn.Module, args: tuple, names: list[str], dynamic: dict, path: Path,
            sha: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with warnings.catch_warnings():
            # Known and harmless here: ``latents`` is a Python flag, constant in a trace, and
            # instance norm always uses the input's statistics, train mode or not; stderr is
            # for the one error line.
            warnings.simplefilter("ignore")
            torch.onnx.export(net, args, str(tmp), input_names=names, output_names=["y"],
                              dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
        model = onnx.load(str(tmp))
        _flash_attention(model)
        for key, value in ((SHA_KEY, sha), (FORMAT_KEY, EXPORT_FORMAT)):
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        raise InkpaintError(f"cannot write the ONNX export {path}: {exc.strerror or exc}; "
                            "run `inkpaint export --model ...` where the weights folder is "
                            "writable") from exc
    finally:
        tmp.unlink(missing_ok=True)


def export_onnx(model: str, folder: Path | None = None) -> tuple[Path, Path | None]:
    """Write ``<weights>.G.onnx`` and ``<weights>.T.onnx`` beside the weights file (what
    ``build.py dist`` ships), or into ``folder`` under the weights' checksum (the run-time
    cache of ``OnnxBackend``)."""
    path, card = read_card(model)
    g_path, t_path = onnx_paths(path, card["sha256"], folder and Path(folder))
    try:
        g_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InkpaintError(f"cannot create {g_path.parent}: {exc.strerror or exc}") from exc
    for p in (g_path, t_path):  # before minutes of tracing, not after
        if p.is_dir() or not os.access(p.parent, os.W_OK):
            raise InkpaintError(f"cannot write the ONNX export {p}: run `inkpaint export "
                                "--model ...` where the folder is writable")
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
