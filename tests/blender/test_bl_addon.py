"""The extension as Blender sees it: manifest, registration, panel drawing."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import bpy
import pytest
from build_ext import blender_ext_cli
from conftest import draw_panel

OPERATORS = ("colorize_strip", "cancel")


def _registered() -> dict[str, bool]:
    return {
        "settings": hasattr(bpy.types.Scene, "inkpaint"),
        "panel": hasattr(bpy.types, "SEQUENCER_PT_inkpaint_colorize"),
        **{op: hasattr(bpy.types, f"INKPAINT_OT_{op}") for op in OPERATORS},
    }


def test_register_unregister_register(addon):
    assert all(_registered().values()), _registered()
    handlers = len(bpy.app.handlers.load_pre)
    addon.unregister()
    try:
        assert not any(_registered().values()), _registered()
        assert len(bpy.app.handlers.load_pre) == handlers - 1
    finally:
        addon.register()
    assert all(_registered().values())
    assert len(bpy.app.handlers.load_pre) == handlers
    # the operator answers through bpy.ops and its settings hang off every scene
    assert bpy.ops.inkpaint.colorize_strip.idname() == "INKPAINT_OT_colorize_strip"
    s = bpy.context.scene.inkpaint
    assert (s.marker_prefix, s.model, s.k, s.temporal, s.file_format) == \
        ("ref", "lite", 2, False, "PNG")


def test_manifest_validates_and_builds_with_blenders_own_tool(ext_dir, tmp_path):
    """Blender's extension CLI (the one behind `blender --command extension ...`)."""
    cli = blender_ext_cli(Path(bpy.utils.system_resource("SCRIPTS")))
    ok = subprocess.run([sys.executable, str(cli), "validate", str(ext_dir)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    out = tmp_path / "inkpaint.zip"
    built = subprocess.run([sys.executable, str(cli), "build", "--source-dir", str(ext_dir),
                            "--output-filepath", str(out)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    names = zipfile.ZipFile(out).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert "core/engine/colorizer.py" in names and "core/train/__init__.py" not in names
    assert not [n for n in names if "__pycache__" in n]

    # installed and enabled the way a user does it (Preferences > Get Extensions > Install
    # from Disk), in a throw-away user folder: imported as bl_ext.user_default.inkpaint
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    installed = subprocess.run([sys.executable, "-c", _INSTALL.format(zip=str(out))],
                               capture_output=True, text=True, env=env, timeout=120)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "INSTALLED bl_ext.user_default.inkpaint panel=True op=True" in installed.stdout


_INSTALL = """
import bpy
assert bpy.ops.extensions.package_install_files(
    filepath={zip!r}, repo="user_default", enable_on_install=True) == {{"FINISHED"}}
import bl_ext.user_default.inkpaint as m
print("INSTALLED", m.__name__, "panel=" + str(hasattr(bpy.types, "SEQUENCER_PT_inkpaint_colorize")),
      "op=" + str(hasattr(bpy.types, "INKPAINT_OT_colorize_strip")))
"""


def test_panel_draw_uses_real_properties_icons_and_operators(addon, tmp_path):
    from bl_scenes import make_gp_shot

    make_gp_shot(tmp_path)
    icons = set(bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"]
                .enum_items.keys())
    panel_cls = bpy.types.SEQUENCER_PT_inkpaint_colorize
    assert (panel_cls.bl_space_type, panel_cls.bl_region_type, panel_cls.bl_category,
            panel_cls.bl_label) == ("SEQUENCE_EDITOR", "UI", "Inkpaint", "Colorize Strip")
    for source_type in ("STRIP", "GPENCIL"):
        bpy.context.scene.inkpaint.source_type = source_type
        log = draw_panel(bpy.context)
        for entry in log:
            if entry[0] == "prop":
                _, data, prop, icon = entry
                assert prop in data.bl_rna.properties, prop
            elif entry[0] == "operator":
                _, idname, icon, _text = entry
                module, name = idname.split(".")
                assert hasattr(getattr(bpy.ops, module), name), idname
            else:
                icon = entry[2]
            assert icon in icons, icon
        labels = " | ".join(e[1] for e in log if e[0] == "label")
        if source_type == "GPENCIL":  # the two markers, found, with their colour source
            assert "ref_a @ 1: Grease Pencil fills" in labels, labels
            assert "ref_b @ 12: Grease Pencil fills" in labels, labels
        else:  # no strips in this file: the panel says what to do
            assert "Sequencer is empty" in labels, labels


def test_device_offers_only_what_onnxruntime_can_use(addon, tmp_path, capsys, monkeypatch):
    """The extension carries ONNX Runtime's CPU build: no GPU choice is offered, the panel
    says so in words, and a script or farm job asking for CUDA gets a sentence, not pip."""
    import onnxruntime
    from bl_scenes import make_gp_shot

    make_gp_shot(tmp_path)
    s = bpy.context.scene.inkpaint
    gpu = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    items = [i[0] for i in addon.props._device_items(s, bpy.context)]  # what the menu lists
    assert items == (["AUTO", "CPU", "CUDA"] if gpu else ["AUTO", "CPU"])
    for device in items:
        s.device = device
    s.device = "AUTO"
    if gpu:
        pytest.skip("this ONNX Runtime has CUDA: the CPU-only answers cannot be seen here")
    with pytest.raises(TypeError):
        s.device = "CUDA"
    labels = [e[1] for e in draw_panel(bpy.context) if e[0] == "label"]
    assert "Runs on the CPU (no GPU support in this install)" in labels
    assert not any("pip" in t or "onnxruntime" in t for t in labels), labels
    headless = importlib.import_module(f"{addon.__name__}.headless")
    with pytest.raises(SystemExit):
        headless.main(["--device", "cuda"])
    err = capsys.readouterr().err
    assert err == ("inkpaint: error: Inkpaint cannot use an NVIDIA GPU on this computer (the "
                   "ONNX Runtime it carries runs on the CPU): set Device to Auto or CPU\n")
    assert s.device == "AUTO"

    # a file set to the GPU on a workstation that has one, opened where there is none (a farm
    # node): no device is shown, the panel says why in words, and the run is refused with it
    monkeypatch.setattr(addon.props, "gpu_available", lambda: True)
    s.device = "CUDA"
    monkeypatch.setattr(addon.props, "gpu_available", lambda: False)
    assert s.device == ""
    text = " ".join(e[1] for e in draw_panel(bpy.context) if e[0] == "label")  # wrapped
    assert "Inkpaint cannot use an NVIDIA GPU on this computer (the ONNX Runtime" in text, text
    with pytest.raises(RuntimeError, match="cannot use an NVIDIA GPU on this computer"):
        bpy.ops.inkpaint.colorize_strip()
    s.device = "AUTO"
