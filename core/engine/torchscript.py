"""TorchScript export of the colour transform generator for Nuke's Inference node (Cattery).

Nuke's CatFileCreator turns a TorchScript file into a ``.cat`` that the Inference node runs
on ONE image tensor [1, C, H, W] and that returns ONE tensor. So this module takes every
input of a frame packed into 9 standard Nuke channels and does inside the scripted graph all
the engine does around G for one frame and two references:

    channel  Nuke channel      holds
    0-2      rgba.red/green/blue   reference A colour (sRGB, [0, 1])
    3        rgba.alpha            target line art (one grey channel)
    4        depth.Z               reference A line art
    5-7      forward.u/v, backward.u   reference B colour
    8        backward.v            reference B line art

and returns [1, 3, H, W] sRGB colour (``rgba.red/green/blue``). Per frame it repeats the
engine exactly: a held cel (target line art identical to a reference's) gets the reference's
colour; otherwise ``line_art`` (paper level by median, ink level by the 0.1 % percentile, grain
floor by MAD), ``fit`` (OpenCV's INTER_AREA / INTER_LINEAR / INTER_CUBIC resizes, Python's
round-half-even, symmetric padding), ``line_planes`` (the line mask and its Euclidean distance
field), G, then ``unfit``. The distance field, which the engine gets from OpenCV, is computed
here in torch by the exact separable algorithm restricted to the clip distance (distances past
``distance_max`` clip to 1 anyway), so it equals ``cv2.distanceTransform(DIST_MASK_PRECISE)``
after clipping rather than approximating it.

What the Cattery path does not do: the temporal network (Inference sees one frame at a time)
and more than two references. Scripted (not traced), so any frame size works; the attention is
written out instead of ``scaled_dot_product_attention`` and every created tensor follows the
input's device and dtype, as the Inference node's "Use GPU" and "Optimize for Speed and Memory"
(half precision) switches require. ``size`` (the working resolution) is a model attribute, so a
CatFileCreator ``Int_Knob`` named ``size`` exposes it on the Inference node.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..card import read_card
from ..errors import InkpaintError
from ..weights import load_weights

CHANNELS_IN = ("rgba.red", "rgba.green", "rgba.blue", "rgba.alpha", "depth.Z",
               "forward.u", "forward.v", "backward.u", "backward.v")
CHANNELS_OUT = ("rgba.red", "rgba.green", "rgba.blue")
MODEL_ID = "inkpaint_colorize"

# preprocess.line_art's constants. TorchScript cannot read module-level floats, so the
# functions below spell them as literals; tests check the two stay equal.
LINE_ART_CONSTANTS = {"invert_below": 0.5, "ink_percentile": 0.1, "min_ink_contrast": 0.25,
                      "noise_sigmas": 3.0}


def torchscript_path(weights: Path) -> Path:
    """Where the TorchScript export of a weights file lives: beside it."""
    return Path(f"{Path(weights).with_suffix('')}.torchscript.pt")


class CatteryColorizer(nn.Module):
    """G plus the engine's per-frame pre- and post-processing, in one scripted module."""

    def __init__(self, G: nn.Module, size: int, distance_max: float) -> None:
        super().__init__()
        if not (G.use_sim and G.use_em):
            raise InkpaintError("the TorchScript export needs a model with the Sim and Em "
                                "parts (the lite and paper presets have them)")
        self.size = int(size)
        self.distance_max = float(distance_max)
        self.use_distance = bool(G.use_distance)
        # Only the layers are kept, not Sim and Mid themselves: their forward methods would be
        # compiled into the file too (Sim's uses scaled_dot_product_attention, an op that
        # Nuke 14/15's libtorch 1.12 cannot load).
        self.EnL, self.EnD, self.EnC, self.Em, self.De = G.EnL, G.EnD, G.EnC, G.Em, G.De
        self.mask_m, self.mask_n = G.Sim.mask_m, G.Sim.mask_n
        self.query, self.key, self.value, self.out = G.Sim.query, G.Sim.key, G.Sim.value, G.Sim.out
        self.mid_blocks = G.Mid.blocks
        self.mid_params = int(G.Mid.blocks[0].params_per_block)

    # ---- the one entry point Nuke calls ---------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.size(0) != 1 or x.size(1) != 9:
            raise RuntimeError("inkpaint: expected a [1, 9, H, W] tensor (channels: ref A rgb, "
                               "target line, ref A line, ref B rgb, ref B line)")
        if self.size < 32:
            raise RuntimeError("inkpaint: size must be 32 or more")
        dtype = x.dtype
        img = x[0].float()
        # A held cel (the target's line art pixel-identical to a reference's, e.g. animation
        # on twos) is the reference's colour exactly, as in the engine.
        if torch.equal(img[3], img[4]):
            return img[0:3].clamp(0.0, 1.0)[None].to(dtype)
        if torch.equal(img[3], img[8]):
            return img[5:8].clamp(0.0, 1.0)[None].to(dtype)
        h, w = img.size(1), img.size(2)
        sh, sw, ph, pw, top, left = _fit_spec(h, w, self.size, 8)

        target = self.planes(img[3], sh, sw, ph, pw, top, left)
        ref_planes = torch.stack([self.planes(img[4], sh, sw, ph, pw, top, left),
                                  self.planes(img[8], sh, sw, ph, pw, top, left)])
        ref_colours = torch.stack([
            _fit_colour(img[0:3].clamp(0.0, 1.0), sh, sw, ph, pw, top, left),
            _fit_colour(img[5:8].clamp(0.0, 1.0), sh, sw, ph, pw, top, left),
        ]) * 2.0 - 1.0

        y = self.generate(target[None, :1].to(dtype), target[None, 1:].to(dtype),
                          ref_planes[None, :, :1].to(dtype), ref_planes[None, :, 1:].to(dtype),
                          ref_colours[None].to(dtype))
        rgb = ((y[0].float() + 1.0) * 0.5).clamp(0.0, 1.0)
        crop = rgb[:, top:top + sh, left:left + sw]
        return _resize(crop, h, w, True).clamp(0.0, 1.0)[None].to(dtype)

    # ---- inputs, as core.inputs.line_planes does them -------------------------------------

    def planes(self, grey: torch.Tensor, sh: int, sw: int, ph: int, pw: int, top: int,
               left: int) -> torch.Tensor:
        """[2, ph, pw] in [-1, 1]: the line image and its distance field, letterboxed."""
        line = line_image(grey)
        fitted = _pad(_resize(line[None], sh, sw, False), ph, pw, top, left, 1.0)[0]
        coverage = ((1.0 - fitted) * 2.0).clamp(0.0, 1.0)
        dist = distance_field(coverage, self.distance_max * float(max(ph, pw)))
        return torch.stack([fitted, dist]) * 2.0 - 1.0

    # ---- G, written out so it scripts and runs on older libtorch ---------------------------

    def generate(self, x: torch.Tensor, d: torch.Tensor, xr: torch.Tensor, dr: torch.Tensor,
                 yr: torch.Tensor) -> torch.Tensor:
        if not self.use_distance:
            d = x
            dr = xr
        k = xr.size(1)
        f = self.EnL(x)
        fd = self.EnD(d)
        fdr = self.EnD(dr.flatten(0, 1))
        fyr = self.EnC(yr.flatten(0, 1))
        c, fh, fw = fdr.size(1), fdr.size(2), fdr.size(3)
        f = f + self.similarity(fd, fdr.view(1, k, c, fh, fw), fyr.view(1, k, c, fh, fw))
        p = self.Em(xr, yr)
        params = p.split(self.mid_params, dim=1)
        i = 0
        for block in self.mid_blocks:
            f = block(f, params[i])
            i += 1
        return self.De(f)

    def similarity(self, fd: torch.Tensor, fdr: torch.Tensor, fyr: torch.Tensor) -> torch.Tensor:
        """core.nets.sim.Sim.forward for one target, with the softmax attention spelled out."""
        k, c, h, w = fdr.size(1), fdr.size(2), fdr.size(3), fdr.size(4)
        pair = torch.cat([fdr, fd.unsqueeze(1).expand(1, k, c, h, w)], dim=2).flatten(0, 1)
        m = torch.sigmoid(self.mask_m(pair)).view(1, k, c, h, w)
        n = torch.sigmoid(self.mask_n(pair)).view(1, k, c, h, w)
        q = self.query(fd).flatten(2).transpose(1, 2)
        keys = self.key(fdr.flatten(0, 1))
        vals = self.value(fyr.flatten(0, 1))
        cr = keys.size(1)
        keys = keys.flatten(2).transpose(1, 2).reshape(1, -1, cr)
        vals = vals.flatten(2).transpose(1, 2).reshape(1, -1, cr)
        # softmax(q . keys^T) . vals (no 1/sqrt(d) scaling), in float32 and in blocks of
        # queries so a large working size never holds the whole [hw, K*hw] matrix at once.
        keys_t = keys.float().transpose(1, 2)
        vals_f = vals.float()
        q = q.float()
        rows: list[torch.Tensor] = []
        for i in range(0, q.size(1), 1024):
            attn = torch.softmax(torch.bmm(q[:, i:i + 1024], keys_t), dim=-1)
            rows.append(torch.bmm(attn, vals_f))
        f_mat = torch.cat(rows, dim=1).to(fd.dtype)
        f_mat = self.out(f_mat.transpose(1, 2).reshape(1, cr, h, w)).unsqueeze(1)
        return ((1 - n) * f_mat + fyr * m * n).mean(dim=1)


# ---- preprocess.line_art for one grey channel ------------------------------------------------


def _median(sorted_values: torch.Tensor) -> torch.Tensor:
    """numpy's median (the mean of the two middle values for an even count)."""
    n = sorted_values.numel()
    if n % 2 == 1:
        return sorted_values[n // 2]
    return (sorted_values[n // 2 - 1] + sorted_values[n // 2]) * 0.5


def _percentile(sorted_values: torch.Tensor, q: float) -> torch.Tensor:
    """numpy's default ('linear') percentile of an ascending tensor."""
    n = sorted_values.numel()
    pos = q / 100.0 * float(n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    t = pos - float(lo)
    a, b = sorted_values[lo], sorted_values[hi]
    if t >= 0.5:
        return b - (b - a) * (1.0 - t)
    return a + (b - a) * t


def line_image(grey: torch.Tensor) -> torch.Tensor:
    """``preprocess.line_art(img)[0]`` for a one-channel image (HxW, values as stored)."""
    v = grey.clamp(0.0, 1.0)
    if float(_median(v.flatten().sort()[0])) < 0.5:  # _INVERT_BELOW
        v = 1.0 - v
    paper = max(float(_median(v.flatten().sort()[0])), 0.05)
    v = v / paper
    ordered = v.flatten().sort()[0]
    level = float(_median(ordered))
    ink = float(_percentile(ordered, 0.1))  # _INK_PERCENTILE
    span = level - ink if level - ink >= 0.25 else level
    span = max(span, 1e-6)
    sigma = 1.4826 * float(_median((v - level).abs().flatten().sort()[0]))
    floor = min(3.0 * sigma / span, 0.5)  # _NOISE_SIGMAS
    coverage = ((level - v) / span).clamp(0.0, 1.0)
    mask = ((coverage - floor) / (1.0 - floor)).clamp(0.0, 1.0)
    return 1.0 - mask


# ---- preprocess.distance_field ---------------------------------------------------------------


def distance_field(mask: torch.Tensor, max_dist: float) -> torch.Tensor:
    """Euclidean distance to the nearest pixel with mask >= 0.5, over ``max_dist``, clipped to
    1. Exact (Felzenszwalb's separable squared-distance transform, each pass limited to
    ``ceil(max_dist)`` pixels, which cannot change any distance below the clip)."""
    lines = mask >= 0.5
    h, w = lines.size(0), lines.size(1)
    reach = int(math.ceil(max_dist))
    far = torch.full_like(mask, 1.0e9)  # no line within reach
    g = torch.where(lines, torch.zeros_like(mask), far)
    for dy in range(1, min(reach, h - 1) + 1):
        step = torch.full_like(mask[dy:], float(dy))
        g[: h - dy] = torch.minimum(g[: h - dy], torch.where(lines[dy:], step, far[dy:]))
        g[dy:] = torch.minimum(g[dy:], torch.where(lines[: h - dy], step, far[dy:]))
    g2 = g * g
    d2 = g2.clone()
    for dx in range(1, min(reach, w - 1) + 1):
        cost = float(dx * dx)
        d2[:, : w - dx] = torch.minimum(d2[:, : w - dx], g2[:, dx:] + cost)
        d2[:, dx:] = torch.minimum(d2[:, dx:], g2[:, : w - dx] + cost)
    return (torch.sqrt(d2) / max_dist).clamp(max=1.0)


# ---- preprocess.fit / unfit with OpenCV's resampling -----------------------------------------


def _round_half_even(v: float) -> int:
    r = int(math.floor(v))
    d = v - float(r)
    if d > 0.5 or (d == 0.5 and r % 2 == 1):
        return r + 1
    return r


def _fit_spec(h: int, w: int, size: int, multiple: int) -> tuple[int, int, int, int, int, int]:
    """(scaled h, w, padded h, w, top, left) exactly as ``preprocess.fit`` computes them."""
    scale = float(size) / float(max(h, w))
    sh = max(1, _round_half_even(float(h) * scale))
    sw = max(1, _round_half_even(float(w) * scale))
    ph = (sh + multiple - 1) // multiple * multiple
    pw = (sw + multiple - 1) // multiple * multiple
    return sh, sw, ph, pw, (ph - sh) // 2, (pw - sw) // 2


def _pad(img: torch.Tensor, ph: int, pw: int, top: int, left: int,
         value: float) -> torch.Tensor:
    """[C, h, w] -> [C, ph, pw]; ``value`` < 0 repeats the edge pixels (colour)."""
    pads: list[int] = [left, pw - img.size(2) - left, top, ph - img.size(1) - top]
    if value < 0.0:
        return F.pad(img[None], pads, mode="replicate")[0]
    return F.pad(img, pads, mode="constant", value=value)


def _fit_colour(rgb: torch.Tensor, sh: int, sw: int, ph: int, pw: int, top: int,
                left: int) -> torch.Tensor:
    return _pad(_resize(rgb, sh, sw, True), ph, pw, top, left, -1.0)


def _area_weights(src: int, dst: int, device: torch.device) -> torch.Tensor:
    """[dst, src] box-filter weights of OpenCV's INTER_AREA (computeResizeAreaTab): overlaps
    of each destination cell with the source pixels over the cell width, slivers under 1e-3
    of a pixel dropped."""
    scale = float(src) / float(dst)
    start = torch.arange(dst, dtype=torch.float64, device=device)[:, None] * scale
    end = start + scale
    pix = torch.arange(src, dtype=torch.float64, device=device)[None, :]
    overlap = (torch.minimum(end, pix + 1.0) - torch.maximum(start, pix)).clamp(min=0.0)
    overlap = torch.where(overlap > 1e-3, overlap, torch.zeros_like(overlap))
    cell = torch.clamp(float(src) - start, max=scale)
    return (overlap / cell).float()


def _resize(img: torch.Tensor, h: int, w: int, colour: bool) -> torch.Tensor:
    """``preprocess._resize`` for [C, H, W]: INTER_AREA when shrinking, INTER_CUBIC (colour,
    clipped) or INTER_LINEAR (single-channel maps) when enlarging."""
    if img.size(1) == h and img.size(2) == w:
        return img.clone()
    if h < img.size(1) or w < img.size(2):
        rows = _area_weights(img.size(1), h, img.device)
        cols = _area_weights(img.size(2), w, img.device)
        return torch.matmul(torch.matmul(rows, img), cols.t())
    if colour:
        out = F.interpolate(img[None], size=[h, w], mode="bicubic", align_corners=False)
        return out[0].clamp(0.0, 1.0)
    return F.interpolate(img[None], size=[h, w], mode="bilinear", align_corners=False)[0]


# ---- export ----------------------------------------------------------------------------------


def build_module(model: str) -> torch.jit.ScriptModule:
    """The scripted module for a weights file, on the CPU, in float32."""
    gens = load_weights(model)
    net = CatteryColorizer(gens.G, gens.cfg.size, gens.cfg.distance_max).eval()
    with torch.no_grad(), warnings.catch_warnings():
        # TorchScript is deprecated in PyTorch 2.x, but it is what Nuke's Inference runs.
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(net)


def export_torchscript(model: str, out: Path | None = None) -> Path:
    """Write ``<weights>.torchscript.pt`` (or ``out``) atomically and return its path."""
    path, _ = read_card(model)
    target = Path(out) if out is not None else torchscript_path(path)
    scripted = build_module(model)
    tmp = target.with_name(f".{target.name}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        scripted.save(str(tmp))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
