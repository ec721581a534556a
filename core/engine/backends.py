"""The two ways to run the generators, with one numpy interface so the engine does not care:
PyTorch (cpu/cuda, fp16 on cuda) and ONNX Runtime (CUDA execution provider when present,
else CPU). The ONNX path imports no torch, so it runs inside Blender and Nuke.

Arrays are float32 in [-1, 1]:
  colour(planes [B,2,H,W], ref_planes [K,2,H,W], ref_colours [K,3,H,W]) -> [B,3,H,W]
  temporal(lines [T,1,H,W], colours [T,3,H,W], is_ref [T]) -> [T,3,H,W]
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..cachedir import user_cache
from ..card import card_config, read_card
from ..config import ModelConfig
from ..errors import InkpaintError

# Target pixels per G call: a whole window's in-betweens (6) up to 512 px, where batching
# them saves per-call overhead; fewer above, where activations (about 0.75 KB per target
# pixel for lite on ONNX Runtime) would dominate the peak RSS and batching gains nothing.
PIXELS_PER_CALL = 6 * 512 * 512


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

    name: str  # "torch" or "onnx": what ``auto`` resolved to, in frame keys and log lines
    cfg: ModelConfig
    device: str
    G: object
    T: object | None

    def _run(self, net, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def colour(self, planes: np.ndarray, ref_planes: np.ndarray,
               ref_colours: np.ndarray) -> np.ndarray:
        """G over a batch of targets sharing one reference set, in calls of at most
        ``PIXELS_PER_CALL`` target pixels: each target is coloured independently, so the
        split changes no result, and it bounds the activations at large working sizes."""
        n = max(1, PIXELS_PER_CALL // (planes.shape[2] * planes.shape[3]))
        return np.concatenate([self._run(self.G, *_g_inputs(planes[i:i + n], ref_planes,
                                                            ref_colours))
                               for i in range(0, len(planes), n)])

    def temporal(self, lines, colours, is_ref):
        if self.T is None:
            return colours
        return self._run(self.T, *_seq(lines, colours, is_ref))[0].transpose(1, 0, 2, 3)


def torch_device(device: str) -> str:
    """``auto`` -> ``cuda`` where PyTorch sees a GPU, else ``cpu``; ``cuda`` without one is
    the user's error, said in one line rather than as a CUDA traceback later."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InkpaintError("--device cuda was asked for but PyTorch sees no CUDA GPU: "
                            "use --device cpu or auto")
    return device


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, model: str, device: str = "auto", expect_preset: str | None = None):
        import torch

        from ..weights import load_weights

        self.torch = torch
        self.device = device = torch_device(device)
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
# Bumped when the exported graph changes for the same weights (2: Sim's attention as ONNX
# Runtime's flash MultiHeadAttention; 3: the temporal network's per-frame convs as 2D convs on
# frames folded into the batch), so exports made by an older version are redone.
FORMAT_KEY, EXPORT_FORMAT = "inkpaint_export_format", "3"


def onnx_paths(weights: Path, sha: str | None = None,
               folder: Path | None = None) -> tuple[Path, Path]:
    """Where the exported G and T of a weights file live: beside it, or in ``folder`` named
    by the weights' checksum (so one cache serves any number of weights files)."""
    stem = weights.with_suffix("") if folder is None else Path(folder) / sha[:16]
    return Path(f"{stem}.G.onnx"), Path(f"{stem}.T.onnx")


def cache_dir() -> Path:
    """The cache for ONNX exports made at run time: $INKPAINT_CACHE, else the user's cache
    (``cachedir.user_cache``), never beside the weights."""
    if os.environ.get("INKPAINT_CACHE"):
        return Path(os.environ["INKPAINT_CACHE"])
    return user_cache()


class OnnxBackend(Backend):
    name = "onnx"

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
        # The CPU arena would keep each call's buffers for the next instead of returning them
        # to the OS. Measured (lite, quiet machine): it makes a run's first call faster
        # (~160 ms of a 256 px window's 880), once per run, and none of the calls after it,
        # while raising the run's peak RSS by 95 MB at 256 px and 400-800 MB at 1024 px. The
        # memory pattern planner, which reuses buffers within a call, stays on.
        opts.enable_cpu_mem_arena = False
        providers = (["CUDAExecutionProvider"] if use_cuda else []) + ["CPUExecutionProvider"]

        def session(p: Path):
            return ort.InferenceSession(str(p), opts, providers=providers)

        sha = card["sha256"]
        for folder in (None, cache_dir() / "onnx"):  # shipped beside the weights, or cached
            g_path, t_path = onnx_paths(path, sha, folder)
            if g_path.is_file() and _current(g := session(g_path), sha):
                break
        else:
            _export_now(str(path), g_path.parent)
            g = session(g_path)
        self.G = g
        self.T = session(t_path) if self.cfg.ablation.temporal else None

    def _run(self, sess, *arrays: np.ndarray) -> np.ndarray:
        names = [i.name for i in sess.get_inputs()]
        feed = {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in zip(names, arrays)}
        return sess.run(None, feed)[0]


def _current(sess, sha: str) -> bool:
    """Whether a session's model is an export of the weights with checksum ``sha`` in this
    version's format (the metadata ``export`` records)."""
    meta = sess.get_modelmeta().custom_metadata_map
    return meta.get(SHA_KEY) == sha and meta.get(FORMAT_KEY) == EXPORT_FORMAT


def _export_now(model: str, folder: Path) -> None:
    """Export in a child process: PyTorch and the exporter cost several hundred MB that the
    process running ONNX Runtime would otherwise keep to its end. The child imports this
    package from the folder it lives in, whatever its name there (core only imports itself
    relatively), and not through the caller's main script."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("torch") is None:
        raise InkpaintError(f"no ONNX export of {model} found and PyTorch is not installed to "
                            "make one: run `inkpaint export --model ...` where torch is")
    package = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(package.parent), *filter(None, [os.environ.get("PYTHONPATH")])]))
    code = (f"import sys; from {package.name}.engine.export import export_onnx; "
            "export_onnx(sys.argv[1], sys.argv[2])")
    r = subprocess.run([sys.executable, "-c", code, model, str(folder)], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise InkpaintError(f"exporting {model} to ONNX failed ({last}): run `inkpaint "
                            "export --model ...` to see the whole error")


# What ``--backend`` takes everywhere (CLI, farm jobs, Blender, Nuke); ``auto`` first, the
# default: see ``auto_backend``.
BACKENDS = ("auto", "torch", "onnx")


def auto_backend(model: str) -> str:
    """``auto``: ONNX Runtime where it is installed and the model's ONNX files are shipped
    beside the weights, already in the cache, or can be exported once (PyTorch and the
    ``onnx`` package are there), since it runs lite's network about 5x faster on CPU (0.2 s
    against 1.1 s per 1080p frame, README "Speed and memory") and in a fraction of the
    memory; PyTorch otherwise. Where neither the files nor PyTorch are there (a Blender or
    Nuke node without an export), onnx still, whose error says what to run."""
    from importlib.util import find_spec

    if find_spec("onnxruntime") is None:
        return "torch"
    if find_spec("torch") is None or find_spec("onnx") is not None:
        return "onnx"
    path, card = read_card(model)
    shipped = (onnx_paths(path, card["sha256"], folder)[0].is_file()
               for folder in (None, cache_dir() / "onnx"))
    return "onnx" if any(shipped) else "torch"


def make_backend(name: str, model: str, device: str = "auto",
                 expect_preset: str | None = None) -> Backend:
    if name == "auto":
        name = auto_backend(model)
    if name == "torch":
        return TorchBackend(model, device, expect_preset)
    if name == "onnx":
        return OnnxBackend(model, device, expect_preset)
    raise InkpaintError(f"unknown backend '{name}': use {', '.join(BACKENDS)}")

