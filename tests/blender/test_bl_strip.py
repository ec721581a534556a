"""An image-strip source: line art on channel 1, painted frames on channel 2, markers on them.

The painted frames are written as 8-bit PNGs and the engine passes references through
unchanged, so on the reference frames the result must equal the painted file to within one
8-bit step (PNG -> float -> PNG)."""

from __future__ import annotations

import importlib

import bpy
import numpy as np
import pytest
from bl_scenes import HEIGHT, WIDTH, make_strip_shot
from conftest import listing


def _strips(scene):
    sed = scene.sequence_editor
    return list(sed.strips if hasattr(sed, "strips") else sed.sequences)


def test_strip_source_result_above_it_on_the_same_frames(addon, weights, tmp_path):
    shot = make_strip_shot(tmp_path)
    scene = bpy.context.scene
    found = addon.references.survey(bpy.context)
    assert found.ok, found.problems
    assert [(r.marker, r.frame, r.origin) for r in found.refs] == [
        ("ref1", 101, "strip 'Paint 101'"), ("ref2", 108, "strip 'Paint 108'")]

    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    (result,) = [s for s in _strips(scene) if s.get("inkpaint_source") == "STRIP:Lines"]
    assert result.name == "Lines (Inkpaint)"
    # channel 2 holds the painted frames inside the range, so the first free one is 3
    assert result.channel == 3
    assert (result.frame_final_start, result.frame_final_end) == (101, 109)
    assert len(result.elements) == shot["frames"] == 8
    out = tmp_path / "inkpaint" / "Lines"
    assert listing(out) == [f"Lines.{f:04d}.png" for f in range(101, 109)]
    read_color = importlib.import_module(f"{addon.__name__}.core.imageio").read_color
    for f in range(101, 109):
        rgb, _ = read_color(out / f"Lines.{f:04d}.png")
        assert rgb.shape == (HEIGHT, WIDTH, 3) and np.isfinite(rgb).all()
        if f in shot["paints"]:
            assert np.abs(rgb - shot["paints"][f]).max() <= 1 / 255 + 1e-6
        else:
            assert rgb.std() > 0.02

    # the active strip is still the source: running again replaces the result in place
    assert scene.sequence_editor.active_strip.name == "Lines"
    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    results = [s for s in _strips(scene) if s.get("inkpaint_source") == "STRIP:Lines"]
    assert [(s.name, s.channel) for s in results] == [("Lines (Inkpaint)", 3)]


def test_markers_without_paint_and_wrong_sources_are_explained(addon, tmp_path):
    make_strip_shot(tmp_path)
    scene = bpy.context.scene
    scene.timeline_markers.new("ref3", frame=104)  # no painted frame there
    scene.timeline_markers.new("ref_far", frame=500)  # another shot's: shown, ignored
    scene.timeline_markers.new("note", frame=105)  # not a reference marker
    found = addon.references.survey(bpy.context)
    by_marker = {r.marker: r for r in found.refs}
    assert set(by_marker) == {"ref1", "ref2", "ref3", "ref_far"}
    assert "outside the source's frames 101-108" in by_marker["ref_far"].ignored
    assert by_marker["ref3"].problem.startswith("no colour frame at frame 104: put the painted "
                                                "frame as an image strip on another channel")
    before = sorted((s.name, s.channel) for s in _strips(scene))
    with pytest.raises(RuntimeError, match="Marker 'ref3' \\(frame 104\\): no colour frame"):
        bpy.ops.inkpaint.colorize_strip()
    assert sorted((s.name, s.channel) for s in _strips(scene)) == before

    # a strip that is not there, then no strip at all
    scene.inkpaint.source_strip = "Nope"
    assert addon.references.survey(bpy.context).problems == [
        "There is no strip named 'Nope': pick the line-art strip under Strip"]
    scene.inkpaint.source_strip = ""
    scene.sequence_editor.active_strip = None
    assert addon.references.survey(bpy.context).problems[0].startswith("No strip is active")
