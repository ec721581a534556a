"""Per-scene settings of the Colorize Strip panel (``scene.inkpaint``), saved in the .blend so
a farm job run with ``blender -b shot.blend`` colours exactly what the artist set up."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from . import compat

ADDON_DIR = Path(__file__).resolve().parent


def weights_dirs() -> list[Path]:
    """Where named models are looked up, in the order core resolves them."""
    env = os.environ.get("INKPAINT_WEIGHTS")
    return [Path(env)] if env else [ADDON_DIR / "weights"]


def model_names() -> list[str]:
    names: set[str] = set()
    for folder in weights_dirs():
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.safetensors"))
    return sorted(names)


def check_model(settings) -> tuple[str, str | None]:
    """(what to pass to the engine, a problem sentence or None) for the Model setting; the
    engine's own lookup is the same (``$INKPAINT_WEIGHTS`` or the extension's weights)."""
    model = settings.model.strip() or "lite"
    if model.endswith(".safetensors") or "/" in model or "\\" in model:
        path = Path(bpy.path.abspath(model))
        if not path.is_file():
            return str(path), (f"Model file {path} does not exist: pick a model name or an "
                               "inkpaint .safetensors file")
        return str(path), None
    names = model_names()
    if model in names:
        return model, None
    where = " or ".join(str(d) for d in weights_dirs())
    choice = (f"pick one of {', '.join(names)}" if names
              else "this installation carries no weights yet")
    return model, (f"Model '{model}' is not in {where}: {choice}, or give the path of an "
                   "inkpaint .safetensors file")


@functools.lru_cache(maxsize=1)
def gpu_available() -> bool:
    """Whether the ONNX Runtime Blender loaded can run on an NVIDIA GPU. The extension ships
    the CPU build (PyPI's GPU build exists for Linux and Windows only and is several hundred
    MB), so this is True only where a studio put onnxruntime-gpu in Blender's Python."""
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


# Fixed numbers, so a file saved with CUDA keeps it where CUDA exists and reads as no device
# (then refused with NO_GPU) where it does not. The lists stay referenced: Blender keeps
# pointers into the strings of an items callback's result.
_AUTO = ("AUTO", "Auto", "The NVIDIA GPU when this computer's Inkpaint can use one, else the "
         "CPU", 0)
_CPU = ("CPU", "CPU", "Run on the processor", 1)
_CUDA = ("CUDA", "NVIDIA GPU", "Run on the NVIDIA GPU (CUDA)", 2)
_DEVICES = {False: [_AUTO, _CPU], True: [_AUTO, _CPU, _CUDA]}
NO_GPU = ("Inkpaint cannot use an NVIDIA GPU on this computer (the ONNX Runtime it carries runs "
          "on the CPU): set Device to Auto or CPU")


def _device_items(self, context):
    return _DEVICES[gpu_available()]


def check_device(value: str) -> tuple[str, str | None]:
    """(what to pass to the engine, a problem sentence or None) for the Device setting."""
    if value not in ("AUTO", "CPU") and not (value == "CUDA" and gpu_available()):
        return "cpu", NO_GPU
    return value.lower(), None


def _search_models(self, context, edit_text):
    return [n for n in model_names() if edit_text.lower() in n.lower()] or ["lite"]


def _poll_gp(self, obj) -> bool:
    return compat.is_grease_pencil(obj)


class InkpaintSettings(bpy.types.PropertyGroup):
    source_type: EnumProperty(
        name="Source",
        items=[
            ("STRIP", "Image Strip", "Line-art frames in an image strip of the Sequencer"),
            ("GPENCIL", "Grease Pencil", "A Grease Pencil object, rendered as line art"),
        ],
        default="STRIP",
    )
    source_strip: StringProperty(
        name="Strip",
        description="Image strip of line-art frames (empty: the active strip)",
    )
    gp_object: PointerProperty(
        name="Object",
        type=bpy.types.Object,
        poll=_poll_gp,
        description="Grease Pencil object to colour (empty: the active object)",
    )
    marker_prefix: StringProperty(
        name="Marker Prefix",
        default="ref",
        description="Timeline markers whose name starts with this (in any case: Ref1, REF2) "
        "mark the painted reference frames",
    )
    model: StringProperty(
        name="Model",
        default="lite",
        description="Weights name in the extension's weights folder (lite, paper) or the path "
        "of an inkpaint .safetensors file",
        search=_search_models,
    )
    device: EnumProperty(
        name="Device",
        items=_device_items,  # only the devices this computer's ONNX Runtime can use
        default=0,
    )
    k: IntProperty(
        name="References per Frame",
        default=2,
        min=1,
        max=8,
        description="How many reference frames colour each frame (K)",
    )
    temporal: BoolProperty(
        name="Temporal Smoothing",
        default=False,  # measured no gain in the product (weights/MODEL_CARD.md)
        description="Refine frames over time to remove flicker",
    )
    review_below: FloatProperty(
        name="Review Below",
        default=0.6,  # the level the README's CLI example uses: one level for both
        min=0.0,
        max=1.0,
        description="After a run, list the frames whose confidence (how sure Inkpaint is of "
        "each region's colour) is below this, so review time goes to those",
    )
    output_dir: StringProperty(
        name="Output Folder",
        subtype="DIR_PATH",
        default="",
        description="Where the coloured frames go (empty: //inkpaint/<source>/ beside the "
        ".blend)",
    )
    file_format: EnumProperty(
        name="Format",
        items=[
            ("PNG", "PNG", "8-bit sRGB PNG"),
            ("EXR", "OpenEXR", "32-bit float, scene-linear EXR"),
        ],
        default="PNG",
    )


CLASSES = (InkpaintSettings,)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.inkpaint = PointerProperty(type=InkpaintSettings)


def unregister() -> None:
    del bpy.types.Scene.inkpaint
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
