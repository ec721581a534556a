"""Per-scene settings of the Colorize Strip panel (``scene.inkpaint``), saved in the .blend so
a farm job run with ``blender -b shot.blend`` colours exactly what the artist set up."""

from __future__ import annotations

import os
from pathlib import Path

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
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
        description="Timeline markers whose name starts with this mark the painted reference "
        "frames",
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
        items=[
            ("AUTO", "Auto", "The GPU when ONNX Runtime has CUDA, else the CPU"),
            ("CPU", "CPU", "Run on the CPU"),
            ("CUDA", "CUDA", "Run on an NVIDIA GPU (needs onnxruntime-gpu)"),
        ],
        default="AUTO",
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
        default=True,
        description="Refine frames over time to remove flicker",
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
