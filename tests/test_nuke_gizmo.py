"""The plugin as Nuke loads it: init.py / menu.py, the two gizmo files (knob names, types,
defaults, internal wiring) and the icon, read by the fake nuke's script parser."""

from __future__ import annotations

import cv2
import pytest

from tests.fake_nuke import PLUGIN, install

RGB = ("rgba.red", "rgba.green", "rgba.blue")


@pytest.fixture
def nuke():
    return install(gui=True)


def _user_knobs(node, nuke):
    return {name: k for name, k in node.knobs().items() if name not in nuke._COMMON}


def test_init_adds_plugin_paths_and_menu_adds_the_nodes_with_an_icon(nuke):
    assert {p.replace("\\", "/") for p in nuke.pluginPath()} >= {
        str(PLUGIN / "gizmos"), str(PLUGIN / "icons"), str(PLUGIN / "cattery")}
    menu = nuke.menu("Nodes").findItem("Inkpaint")
    assert menu.icon == "Inkpaint.png"
    colorize = nuke.menu("Nodes").findItem("Inkpaint/Colorize")
    assert colorize.command == "nuke.createNode('InkpaintColorize')"
    assert colorize.icon == "Inkpaint.png"
    cattery = nuke.menu("Nodes").findItem("Inkpaint/Colorize (Cattery)")
    assert cattery.command == "nuke.createNode('InkpaintColorizeCattery')"
    icon = cv2.imread(str(PLUGIN / "icons" / "Inkpaint.png"), cv2.IMREAD_UNCHANGED)
    assert icon.shape == (24, 24, 4)


def test_terminal_mode_runs_init_only():
    nuke = install(gui=False)
    assert nuke.menus == {} and nuke.gizmo_path("InkpaintColorize") is not None


EXPECTED = {  # name: (knob class, default)
    "ref_frames": ("String_Knob", "1001"),
    "frame_range": ("String_Knob", ""),
    "model": ("File_Knob", "lite"),
    "backend": ("Enumeration_Knob", "auto"),
    "device": ("Enumeration_Knob", "auto"),
    "k": ("Int_Knob", 2),
    "temporal": ("Boolean_Knob", False),
    "cache_dir": ("File_Knob", ""),
    "python": ("File_Knob", ""),
    "size": ("Int_Knob", 0),
    "srgb_colorspace": ("String_Knob", ""),
    "result_file": ("String_Knob", ""),
    "result_first": ("Int_Knob", 0),
    "result_last": ("Int_Knob", 0),
    "result_ready": ("Boolean_Knob", False),
}


def test_colorize_gizmo_knobs_and_defaults(nuke):
    node = nuke.createNode("InkpaintColorize")
    knobs = _user_knobs(node, nuke)
    for name, (cls, default) in EXPECTED.items():
        assert knobs[name].Class() == cls, name
        assert knobs[name].value() == default, name
    assert knobs["backend"].values() == ["auto", "torch", "onnx"]
    assert knobs["device"].values() == ["auto", "cpu", "cuda"]
    assert all(not knobs[n].visible() for n in EXPECTED if n.startswith("result_"))
    assert knobs["colorize"].Class() == "PyScript_Knob"
    assert "inkpaint_nuke.nuke_ops.colorize_this()" in knobs["colorize"].value()
    assert knobs["status"].Class() == "Text_Knob"
    assert knobs["status"].value().startswith("not coloured yet")
    assert "inkpaint_nuke.nuke_ops.knob_changed()" in node["knobChanged"].value()
    # every knob a run depends on exists on the gizmo
    from inkpaint_nuke import job

    assert set(job.SETTING_KNOBS) <= set(knobs)


def test_colorize_gizmo_inside(nuke):
    node = nuke.createNode("InkpaintColorize")
    with node:
        line_in, refs_in = nuke.toNode("lineart"), nuke.toNode("refs")
        read, fmt = nuke.toNode("InkpaintResult"), nuke.toNode("MatchFormat")
        switch, output = nuke.toNode("ShowResult"), nuke.toNode("Output1")
        to_working, premult = nuke.toNode("ResultToWorking"), nuke.toNode("ResultPremult")
        line_srgb, refs_srgb = nuke.toNode("LineToSRGB"), nuke.toNode("RefsToSRGB")
        unpremult = nuke.toNode("RefsUnpremult")
    assert (line_in["number"].value(), refs_in["number"].value()) == (0, 1)
    assert output.input(0) is switch
    # the result: sRGB frames -> the working space -> premultiplied -> the line art's format
    assert switch.input(0) is line_in and switch.input(1) is fmt and fmt.input(0) is premult
    assert premult.input(0) is to_working and to_working.input(0) is read
    assert to_working["out_colorspace"].value() == "scene_linear"
    # what the Write nodes render: the inputs in sRGB (the references unpremultiplied first)
    assert line_srgb.input(0) is line_in
    assert refs_srgb.input(0) is unpremult and unpremult.input(0) is refs_in
    assert line_srgb["in_colorspace"].value() == refs_srgb["in_colorspace"].value() == \
        "scene_linear"
    assert switch["which"].value() == 0  # shows the line art until a run finished
    node["result_ready"].setValue(True)
    node["result_file"].setValue("/cache/N/colour.####.exr")
    node["result_first"].setValue(1001)
    node["result_last"].setValue(1048)
    assert switch["which"].value() == 1
    assert read["file"].evaluate() == "/cache/N/colour.####.exr"
    assert (read["first"].value(), read["last"].value()) == (1001, 1048)
    assert read["raw"].value() is True  # sRGB values in the EXR: ResultToWorking converts
    assert (read["before"].value(), read["after"].value(), read["on_error"].value()) == \
        ("black", "black", "black")


def test_cattery_gizmo_knobs_and_packing(nuke):
    node = nuke.createNode("InkpaintColorizeCattery")
    knobs = _user_knobs(node, nuke)
    assert (knobs["ref_a"].value(), knobs["ref_b"].value(), knobs["size"].value()) == \
        (1001, 1024, 256)
    assert knobs["colorspace"].value() == "scene_linear" and knobs["line_alpha"].value() is False
    assert knobs["modelFile"].Class() == "Link_Knob"
    assert knobs["modelFile"].value().startswith("[lsearch -inline [plugins -all "
                                                 "inkpaint_colorize.cat]")
    with node:
        n = {name: nuke.toNode(name) for name in (
            "lineart", "refs", "LineGrey", "Grey", "OverWhite", "HoldLineA", "HoldLineB",
            "HoldColourA", "HoldColourB", "ToSRGB_refs", "PackTargetLine", "PackLineA",
            "PackColourB", "PackLineB", "Inference1", "ToLinear", "KeepRGB", "KeepAlpha",
            "PremultAlpha", "WithAlpha", "Output1")}
    # LineGrey: opaque line art (input 0) unless 'line art has alpha' (input 1)
    assert n["LineGrey"].input(0) is n["Grey"] and n["LineGrey"].input(1) is n["OverWhite"]
    for hold, src, knob in [("HoldLineA", "LineGrey", "ref_a"), ("HoldLineB", "LineGrey",
                                                                  "ref_b"),
                            ("HoldColourA", "ToSRGB_refs", "ref_a"),
                            ("HoldColourB", "ToSRGB_refs", "ref_b")]:
        assert n[hold].input(0) is n[src]
        assert n[hold]["first_frame"].value() == node[knob].value()
    # Copy: B (input 0) is the stream, A (input 1) the channels copied in
    chain = [("PackTargetLine", "HoldColourA", "LineGrey", [("rgba.red", "rgba.alpha")]),
             ("PackLineA", "PackTargetLine", "HoldLineA", [("rgba.red", "depth.Z")]),
             ("PackColourB", "PackLineA", "HoldColourB",
              [("rgba.red", "forward.u"), ("rgba.green", "forward.v"),
               ("rgba.blue", "backward.u")]),
             ("PackLineB", "PackColourB", "HoldLineB", [("rgba.red", "backward.v")])]
    for copy, b, a, pairs in chain:
        assert n[copy].input(0) is n[b] and n[copy].input(1) is n[a], copy
        got = [(n[copy][f"from{i}"].value(), n[copy][f"to{i}"].value())
               for i in range(len(pairs))]
        assert got == pairs, copy
    assert n["Inference1"].input(0) is n["PackLineB"]
    assert n["ToLinear"]["in_colorspace"].value() == "sRGB"  # nuke-default's sRGB
    assert n["ToLinear"]["out_colorspace"].value() == "scene_linear"
    assert n["WithAlpha"].input(0) is n["KeepRGB"] and n["WithAlpha"].input(1) is \
        n["PremultAlpha"]
    assert n["KeepAlpha"].input(0) is n["KeepRGB"] and n["KeepAlpha"].input(1) is n["lineart"]
    assert n["Output1"].input(0) is n["WithAlpha"]


def test_the_packing_matches_the_torchscript_channel_order():
    from core.engine.torchscript import CHANNELS_IN, CHANNELS_OUT

    assert CHANNELS_IN == ("rgba.red", "rgba.green", "rgba.blue", "rgba.alpha", "depth.Z",
                           "forward.u", "forward.v", "backward.u", "backward.v")
    assert CHANNELS_OUT == RGB


def test_cattery_knobs_reach_the_inference_node(nuke):
    node = nuke.createNode("InkpaintColorizeCattery")
    with node:
        inference = nuke.toNode("Inference1")
    node["size"].setValue(128)  # no .cat loaded yet: no size knob to set, no error
    nuke.load_cat(inference, [], [], {"size": ("Int_Knob", 256)})
    node["size"].setValue(192)
    assert inference["size"].value() == 192
    node["colorspace"].setValue("sRGB")
    with node:
        for name, knob in (("ToSRGB_line", "in_colorspace"), ("ToSRGB_refs", "in_colorspace"),
                           ("ToLinear", "out_colorspace")):
            assert nuke.toNode(name)[knob].value() == "sRGB"
    node["size"].setValue(8)
    assert inference["size"].value() == 192 and "too small" in nuke.warnings[-1]
    node["colorspace"].setValue("ACEScg")  # not in this script's config: said, not applied
    assert "'input colour space'" in nuke.warnings[-1]


def test_cattery_gizmo_uses_the_configs_srgb(nuke):
    nuke.root()["colorManagement"].setValue("OCIO")
    nuke.root()["OCIO_config"].setValue("aces_1.2")
    node = nuke.createNode("InkpaintColorizeCattery")
    with node:
        assert nuke.toNode("ToSRGB_refs")["out_colorspace"].value() == "Utility - sRGB - Texture"
        assert nuke.toNode("ToSRGB_refs")["in_colorspace"].value() == "scene_linear"
        assert nuke.toNode("ToLinear")["in_colorspace"].value() == "Utility - sRGB - Texture"


def test_a_knob_the_gizmo_does_not_have_is_an_error(nuke):
    with pytest.raises(Exception, match="no knob 'refframes'"):
        nuke.createNode("InkpaintColorize", "refframes 1001")
