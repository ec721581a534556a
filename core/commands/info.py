"""``inkpaint info``: what is installed, which weights, how big the networks are."""

from __future__ import annotations

import argparse

from .. import __version__
from ..card import read_card
from ..config import ModelConfig, load_preset, preset_names
from ..errors import InkpaintError


def network_cost(cfg: ModelConfig, size: int, k: int = 2, targets: int = 1
                 ) -> dict[str, float]:
    """Parameters (millions) and GFLOPs per frame at ``size``x``size``: G per target when
    ``targets`` targets share their K encoded references (the engine colours the in-betweens
    between two keys in one call), and T per frame of a full window."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..weights import build_generators

    gens = build_generators(cfg)
    x = torch.zeros(targets, 1, size, size)
    refs = (torch.zeros(1, k, 1, size, size), torch.zeros(1, k, 1, size, size),
            torch.zeros(1, k, 3, size, size))
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        gens.G.eval()(x, x, *refs)
    # Sim's attention (q . keys^T, then . vals: 2 FLOPs per multiply-add) runs in PyTorch's CPU
    # flash kernel, which the FLOP counter has no formula for.
    g = cfg.generator
    tokens = (size // 4) ** 2
    sim = 4 * tokens * k * tokens * (g.enc_channels[-1] // g.sim_reduction) if cfg.ablation.sim \
        else 0
    out = {"G_params_M": sum(p.numel() for p in gens.G.parameters()) / 1e6,
           "G_gflop": (fc.get_total_flops() / targets + sim) / 1e9, "T_params_M": 0.0,
           "T_gflop": 0.0}
    if gens.T is not None:
        n = cfg.temporal.window
        s = torch.zeros(1, 1, n, size, size)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            gens.T.eval()(s, torch.zeros(1, 3, n, size, size), s)
        out["T_params_M"] = sum(p.numel() for p in gens.T.parameters()) / 1e6
        out["T_gflop"] = fc.get_total_flops() / 1e9 / n
    return out


def run_info(args: argparse.Namespace) -> int:
    print(f"inkpaint {__version__}")
    print("preset   size  G params  G GFLOP/frame (K=2)  T params  T GFLOP/frame")
    for name in preset_names():
        cfg = load_preset(name)
        c = network_cost(cfg, cfg.size)
        print(f"{name:<8} {cfg.size:>4}  {c['G_params_M']:>6.2f} M  {c['G_gflop']:>19.2f}  "
              f"{c['T_params_M']:>6.2f} M  {c['T_gflop']:>12.2f}")
    try:
        path, card = read_card(args.model)
        training = card.get("training") or {}
        print(f"weights: {path} (preset {card['preset']}, sha256 {card['sha256'][:12]}…)")
        for key, value in training.items():
            print(f"  {key}: {value}")
    except InkpaintError as exc:
        print(f"weights: {exc}")
    try:
        import torch

        print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    except ImportError:
        print("torch: not installed (the onnx backend still works)")
    try:
        import onnxruntime as ort

        providers = ", ".join(ort.get_available_providers())
        print(f"onnxruntime {ort.__version__}, providers: {providers}")
    except ImportError:
        print("onnxruntime: not installed")
    return 0
