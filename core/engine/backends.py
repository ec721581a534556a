"""The two ways to run the generators, with one numpy interface so the engine does not care:
PyTorch (cpu/cuda, fp16 on cuda) and ONNX Runtime (CUDA execution provider when present,
else CPU). The ONNX path imports no torch, so it runs inside Blender and Nuke.

Arrays are float32 in [-1, 1]:
  colour(planes [B,2,H,W], ref_planes [K,2,H,W], ref_colours [K,3,H,W]) -> [B,3,H,W]
  temporal(lines [T,1,H,W], colours [T,3,H,W], is_ref [T]) -> [T,3,H,W]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..card import card_config, read_card
from ..config import ModelConfig
from ..errors import InkpaintError


def _seq(lines: np.ndarray, colours: np.ndarray, is_ref: np.ndarray) -> list[np.ndarray]:
    """[T,C,H,W] frames -> [1,C,T,H,W] sequences, the temporal network's layout."""
    flags = np.broadcast_to(is_ref.astype(np.float32)[:, None, None, None],
                            (len(is_ref), 1, *lines.shape[2:]))
    return [np.ascontiguousarray(a.transpose(1, 0, 2, 3)[None]) for a in (lines, colours, flags)]


def _g_inputs(planes: np.ndarray, ref_planes: np.ndarray, ref_colours: np.ndarray):
    return (planes[:, :1], planes[:, 1:], ref_planes[None, :, :1], ref_planes[None, :, 1:],
            ref_colours[None])


class Backend:
    """The numpy interface both backends share, over each one's own ``_run``."""

    cfg: ModelConfig
    device: str
    G: object
    T: object | None

    def _run(self, net, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def colour(self, planes, ref_planes, ref_colours):
        return self._run(self.G, *_g_inputs(planes, ref_planes, ref_colours))

    def temporal(self, lines, colours, is_ref):
        if self.T is None:
            return colours
        return self._run(self.T, *_seq(lines, colours, is_ref))[0].transpose(1, 0, 2, 3)


class TorchBackend(Backend):
    def __init__(self, model: str, device: str = "auto", expect_preset: str | None = None):
        import torch

        from ..weights import load_weights

        self.torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise InkpaintError("--device cuda was asked for but PyTorch sees no CUDA GPU: "
                                "use --device cpu or auto")
        self.device = device
        gens = load_weights(model, expect_preset)
        self.cfg = gens.cfg
        self.G = gens.G.to(device)
        self.T = gens.T.to(device) if gens.T is not None else None

    def _run(self, net, *arrays: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode(), torch.autocast("cuda", torch.float16,
                                                    enabled=self.device == "cuda"):
            out = net(*(torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
                        for a in arrays))
        return out.float().cpu().numpy()



SHA_KEY = "inkpaint_weights_sha256"


def onnx_paths(weights: Path) -> tuple[Path, Path]:
    """Where the exported G and T of a weights file live: beside it."""
    stem = weights.with_suffix("")
    return Path(f"{stem}.G.onnx"), Path(f"{stem}.T.onnx")


class OnnxBackend(Backend):
    def __init__(self, model: str, device: str = "auto", expect_preset: str | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise InkpaintError("the onnx backend needs onnxruntime: pip install onnxruntime "
                                "(or onnxruntime-gpu for CUDA)") from exc
        path, card = read_card(model, expect_preset)
        self.cfg = card_config(card)
        available = ort.get_available_providers()
        if device == "cuda" and "CUDAExecutionProvider" not in available:
            raise InkpaintError("--device cuda was asked for but ONNX Runtime has no CUDA "
                                "provider: pip install onnxruntime-gpu, or use --device cpu")
        use_cuda = device in ("auto", "cuda") and "CUDAExecutionProvider" in available
        self.device = "cuda" if use_cuda else "cpu"
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        providers = (["CUDAExecutionProvider"] if use_cuda else []) + ["CPUExecutionProvider"]

        def session(p: Path):
            return ort.InferenceSession(str(p), opts, providers=providers)

        g_path, t_path = onnx_paths(path)
        if not g_path.is_file() or _exported_from(session(g_path)) != card["sha256"]:
            _export_now(str(path))
        self.G = session(g_path)
        self.T = session(t_path) if self.cfg.ablation.temporal else None

    def _run(self, sess, *arrays: np.ndarray) -> np.ndarray:
        names = [i.name for i in sess.get_inputs()]
        feed = {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in zip(names, arrays)}
        return sess.run(None, feed)[0]



def _exported_from(sess) -> str | None:
    """The weights checksum that ``export`` recorded in the model's metadata."""
    return sess.get_modelmeta().custom_metadata_map.get(SHA_KEY)


def _export_now(model: str) -> None:
    try:
        from .export import export_onnx
    except ImportError as exc:
        raise InkpaintError(f"no ONNX export of {model} found and PyTorch is not installed to "
                            "make one: run `inkpaint export --model ...` where torch is") from exc
    export_onnx(model)


def make_backend(name: str, model: str, device: str = "auto",
                 expect_preset: str | None = None) -> Backend:
    if name == "torch":
        return TorchBackend(model, device, expect_preset)
    if name == "onnx":
        return OnnxBackend(model, device, expect_preset)
    raise InkpaintError(f"unknown backend '{name}': use torch or onnx")

