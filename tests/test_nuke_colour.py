"""Colour in the InkpaintColorize gizmo: the script's own OCIOColorSpace nodes, inside the
gizmo, turn the working space into the networks' sRGB on the way to the worker and back on
the way out, whatever the OCIO config (the fake knows nuke-default and an ACES 1.2 config whose
ACEScg working space really differs from linear sRGB), so the worker never converts colour."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.colorizer import Colorizer
from core.engine.plan import Reference
from tests.conftest import write_shot
from tests.fake_nuke import install, nuke_pixels

FIRST, LAST = 1001, 1004
ACES_SRGB = "Utility - sRGB - Texture"


@pytest.fixture
def nuke():
    return install(gui=False)


def _aces(nuke):
    nuke.root()["colorManagement"].setValue("OCIO")
    nuke.root()["OCIO_config"].setValue("aces_1.2")


@pytest.mark.parametrize("config,srgb", [("nuke-default", "sRGB"), ("aces_1.2", ACES_SRGB)])
def test_the_gizmo_finds_the_configs_srgb_on_create_and_on_load(nuke, tmp_path, config, srgb):
    if config == "aces_1.2":
        _aces(nuke)
    node = nuke.createNode("InkpaintColorize")
    with node:
        for name, knob in (("LineToSRGB", "out_colorspace"), ("RefsToSRGB", "out_colorspace"),
                           ("ResultToWorking", "in_colorspace")):
            assert nuke.toNode(name)[knob].value() == srgb
        assert nuke.toNode("RefsToSRGB")["in_colorspace"].value() == "scene_linear"
        assert nuke.toNode("ResultToWorking")["out_colorspace"].value() == "scene_linear"
    script = tmp_path / "comp.nk"
    nuke.scriptSave(str(script))
    nuke = install(gui=False)
    nuke.scriptOpen(str(script))  # the internals are rebuilt from the .gizmo: synced again
    with nuke.toNode("InkpaintColorize1"):
        assert nuke.toNode("RefsToSRGB")["out_colorspace"].value() == srgb


def test_a_colour_space_the_config_lacks_is_one_clear_error(nuke, tmp_path):
    from inkpaint_nuke import nuke_ops

    node = nuke.createNode("InkpaintColorize")
    node["srgb_colorspace"].setValue("Output - sRGB")  # not in nuke-default
    assert any("Output - sRGB" in w for w in nuke.warnings)
    with pytest.raises(nuke_ops.job.UserError, match="type one in the node's 'sRGB colour"):
        nuke_ops.sync_colour(node)


def test_an_aces_script_feeds_the_worker_srgb_and_gets_acescg_back(nuke, tmp_path,
                                                                    lite_weights):
    """An ACEScg comp: Reads of sRGB files converted into the working space, as an artist has
    them. The worker must see the files' own sRGB (so the engine's frames are the ones it
    makes from the files), and the node must give them back in ACEScg."""
    from inkpaint_nuke import nuke_ops

    shot_dir = tmp_path / "shot"
    write_shot(shot_dir, frames=LAST - FIRST + 1, size=64, first=FIRST)
    _aces(nuke)

    def working(pattern):
        read = nuke.nodes.Read(file=str(shot_dir / pattern), first=FIRST, last=LAST)
        to_aces = nuke.nodes.OCIOColorSpace(in_colorspace="Utility - Linear - sRGB",
                                            out_colorspace="scene_linear")
        to_aces.setInput(0, read)
        return to_aces

    node = nuke.createNode("InkpaintColorize")
    node.setInput(0, working("line.####.png"))
    node.setInput(1, working("color.####.png"))
    for name, value in {"ref_frames": f"{FIRST},{LAST}", "model": str(lite_weights),
                        "size": 64, "device": "cpu", "cache_dir": str(tmp_path / "cache"),
                        "temporal": False}.items():
        node[name].setValue(value)
    nuke_ops.colorize(node)
    # the Writes rendered the gizmo's own conversions to the config's sRGB
    assert {src.name() for *_, src in nuke.executed} == {"LineToSRGB", "RefsToSRGB"}
    assert all(src["out_colorspace"].value() == ACES_SRGB for *_, src in nuke.executed)
    # the node's output is the engine's frames made from the files themselves, in ACEScg
    colorizer = Colorizer(str(lite_weights), backend="torch", device="cpu", size=64,
                          temporal=False)
    lineart = {f: shot_dir / f"line.{f}.png" for f in range(FIRST, LAST + 1)}
    refs = [Reference(shot_dir / f"color.{f}.png", f) for f in (FIRST, LAST)]
    engine = {cf.frame: cf.rgb for cf in colorizer.colorize(lineart, refs)}
    for f in range(FIRST, LAST + 1):
        img = node.image(f)
        out = np.stack([img[c] for c in ("rgba.red", "rgba.green", "rgba.blue")], axis=2)
        want = nuke_pixels.ocio_convert(engine[f], "aces_1.2", ACES_SRGB, "scene_linear")
        assert np.abs(out - want).max() <= 2e-3, f  # 16-bit PNG inputs on the way in
        assert np.abs(want - nuke_pixels.ocio_convert(engine[f], "nuke-default", "sRGB",
                                                      "scene_linear")).max() > 0.05
