"""What the fake's nodes compute: each class as Nuke documents it, on real pixels.

An image is a dict ``{"rgba.red": HxW float32, ...}`` (rows top-down, as files store them);
a channel the stream lacks reads as 0, as in Nuke. Colour conversions are the IEC sRGB
transfer (Nuke's legacy "sRGB" curve); other curves raise, so a gizmo cannot silently rely on
something the fake does not model.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from functools import lru_cache

import numpy as np

from core.imageio import linear_to_srgb, read_image, srgb_to_linear, write_image

RGBA = ("rgba.red", "rgba.green", "rgba.blue", "rgba.alpha")
RGB = RGBA[:3]
SHORT = {"red": "rgba.red", "green": "rgba.green", "blue": "rgba.blue", "alpha": "rgba.alpha",
         "r": "rgba.red", "g": "rgba.green", "b": "rgba.blue", "a": "rgba.alpha"}
CHANNEL_SETS = {"rgb": RGB, "rgba": RGBA, "alpha": ("rgba.alpha",), "none": (), "all": None}


class Image(dict):
    def __init__(self, shape: tuple[int, int], channels: dict | None = None):
        super().__init__(channels or {})
        self.shape = shape

    def get_channel(self, name: str) -> np.ndarray:
        name = SHORT.get(name, name)
        if name in self:
            return self[name]
        return np.zeros(self.shape, np.float32)

    def copy(self) -> Image:
        return Image(self.shape, {k: v.copy() for k, v in self.items()})


def channel_set(value: str, image: Image | None = None) -> tuple[str, ...]:
    value = str(value).strip()
    if value in CHANNEL_SETS:
        chosen = CHANNEL_SETS[value]
        return tuple(image) if chosen is None and image is not None else (chosen or ())
    return tuple(SHORT.get(v, v) for v in value.split())


def frame_path(pattern: str, frame: int) -> str:
    """``a.####.exr`` / ``a.%04d.exr`` -> the file of one frame."""
    m = re.search(r"#+", pattern)
    if m:
        return pattern[: m.start()] + f"{frame:0{len(m.group(0))}d}" + pattern[m.end():]
    m = re.search(r"%0?(\d*)d", pattern)
    if m:
        return pattern[: m.start()] + f"{frame:0{int(m.group(1) or 1)}d}" + pattern[m.end():]
    return pattern


def convert(rgb: np.ndarray, cs_in: str, cs_out: str) -> np.ndarray:
    def to_linear(a, cs):
        if cs in ("linear", "default", "raw"):
            return a
        if cs == "sRGB":
            return srgb_to_linear(a)
        raise NotImplementedError(f"fake nuke: colour space {cs!r}")

    def from_linear(a, cs):
        if cs in ("linear", "default", "raw"):
            return a
        if cs == "sRGB":
            return linear_to_srgb(a)
        raise NotImplementedError(f"fake nuke: colour space {cs!r}")

    return from_linear(to_linear(rgb, cs_in), cs_out)


# OCIO configs the fake knows: colour space (or role) -> (3x3 matrix to linear Rec.709 / sRGB
# primaries, encoding). ACEScg's matrix is the Bradford-adapted AP1 -> Rec.709 one the ACES
# 1.x configs use, so an ACES script's working space really differs from linear sRGB here.
_AP1_TO_709 = np.array([[1.70505, -0.62179, -0.08326],
                        [-0.13026, 1.14080, -0.01055],
                        [-0.02400, -0.12897, 1.15297]], np.float64)
_I3 = np.eye(3)
OCIO_CONFIGS = {
    "nuke-default": {"linear": (_I3, "linear"), "sRGB": (_I3, "srgb"),
                     "scene_linear": (_I3, "linear"), "color_picking": (_I3, "srgb"),
                     "rec709": (_I3, "rec709")},
    "aces_1.2": {"ACES - ACEScg": (_AP1_TO_709, "linear"),
                 "Utility - Linear - sRGB": (_I3, "linear"),
                 "Utility - sRGB - Texture": (_I3, "srgb"),
                 "scene_linear": (_AP1_TO_709, "linear"),
                 "texture_paint": (_I3, "srgb")},
}


def ocio_names(config: str) -> tuple[str, ...]:
    return tuple(OCIO_CONFIGS[config])


def ocio_convert(rgb: np.ndarray, config: str, cs_in: str, cs_out: str) -> np.ndarray:
    """What an OCIOColorSpace node does in ``config``: decode, to linear Rec.709 primaries,
    to the target's primaries, encode."""
    spaces = OCIO_CONFIGS[config]
    m_in, enc_in = spaces[cs_in]
    m_out, enc_out = spaces[cs_out]
    lin = srgb_to_linear(rgb) if enc_in == "srgb" else rgb
    if enc_in == "rec709" or enc_out == "rec709":
        raise NotImplementedError("fake nuke: rec709 encoding")
    lin = (lin.astype(np.float64) @ m_in.T) @ np.linalg.inv(m_out).T
    out = linear_to_srgb(lin.astype(np.float32)) if enc_out == "srgb" else lin
    return np.ascontiguousarray(out, dtype=np.float32)


# ---- sources and sinks -----------------------------------------------------------------------


def read_file(path: str, raw: bool, colorspace: str) -> Image:
    img = read_image(path)
    px = img.pixels
    h, w = px.shape[:2]
    out = Image((h, w))
    rgb = np.repeat(px[..., :1], 3, axis=2) if px.shape[2] < 3 else px[..., :3]
    if not raw:
        default = "linear" if img.linear else "sRGB"  # Nuke's defaults by file type
        cs = default if colorspace in ("default", "") else colorspace
        rgb = convert(rgb, cs, "linear")
    for i, name in enumerate(RGB):
        out[name] = np.ascontiguousarray(rgb[..., i], dtype=np.float32)
    if px.shape[2] == 4:
        out["rgba.alpha"] = np.ascontiguousarray(px[..., 3], dtype=np.float32)
    return out


def write_file(image: Image, path: str, file_type: str, channels: str, datatype: str,
               raw: bool, colorspace: str, create_directories: bool) -> None:
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        if not create_directories:
            raise RuntimeError(f"Write: can't open {path}: the folder does not exist")
        os.makedirs(folder, exist_ok=True)
    chans = channel_set(channels, image)
    rgb = np.stack([image.get_channel(c) for c in RGB], axis=2)
    alpha = image.get_channel("rgba.alpha") if "rgba.alpha" in chans else None
    ftype = file_type or os.path.splitext(path)[1][1:]
    if not raw:
        default = "linear" if ftype == "exr" else "sRGB"
        cs = default if colorspace in ("default", "") else colorspace
        rgb = convert(rgb, "linear", cs)
    depth = {"8 bit": 8, "16 bit": 16}.get(datatype, 8)
    write_image(path, rgb, alpha, linear_out=False,
                bit_depth=depth if ftype != "exr" else 8)


# ---- the Inference node ----------------------------------------------------------------------


@lru_cache(maxsize=4)
def _load_torchscript(path: str, mtime: float):
    import torch

    return torch.jit.load(path, map_location="cpu").eval()


def inference(image: Image, model_file: str, channels_in, channels_out,
              attrs: dict | None = None) -> Image:
    """What Nuke's Inference does with a .cat: the named channels as one [1, C, H, W]
    tensor in, the output tensor's channels written to ``channels_out``. (The fake loads the
    TorchScript file itself; CatFileCreator only wraps it.)"""
    import torch

    if not model_file or not os.path.isfile(model_file):
        raise RuntimeError(f"Inference: model file {model_file!r} not found")
    model = _load_torchscript(model_file, os.path.getmtime(model_file))
    for name, value in (attrs or {}).items():  # the Inference node's custom knobs
        setattr(model, name, value)
    x = np.stack([image.get_channel(c) for c in channels_in])[None]
    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))[0].numpy()
    if y.shape[0] != len(channels_out) or y.shape[1:] != image.shape:
        raise RuntimeError(f"Inference: model returned {tuple(y.shape)}, expected "
                           f"{len(channels_out)} channels of {image.shape}")
    out = image.copy()
    for c, plane in zip(channels_out, y):
        out[c] = plane.astype(np.float32)
    return out


# ---- Tcl in file knobs -----------------------------------------------------------------------


def plugins_matching(paths: list[str], name: str) -> list[str]:
    found = []
    for p in paths:
        found += sorted(glob.glob(os.path.join(p, name)))
    return found


def lsearch_inline(items: list[str], pattern: str) -> str:
    return next((i for i in items if fnmatch.fnmatch(i, pattern)), "")
