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


@pytest.mark.parametrize("first, number, markers", [
    (101, 101, ("ref1", "ref2")),
    # files line.1001... shown from scene frame 1: the output keeps the files' numbers, and
    # the marker prefix matches whatever the case
    (1, 1001, ("Ref1", "REF2")),
])
def test_strip_source_result_above_it_on_the_same_frames(addon, weights, tmp_path, first,
                                                         number, markers):
    shot = make_strip_shot(tmp_path, first=first, number=number, markers=markers)
    scene = bpy.context.scene
    last = first + 7
    found = addon.references.survey(bpy.context)
    assert found.ok, found.problems
    assert [(r.marker, r.frame, r.origin) for r in found.refs] == [
        (markers[0], first, f"strip 'Paint {first}'"), (markers[1], last, f"strip 'Paint {last}'")]

    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    (result,) = [s for s in _strips(scene) if s.get("inkpaint_source") == "STRIP:Lines"]
    assert result.name == "Lines (Inkpaint)"
    # channel 2 holds the painted frames inside the range, so the first free one is 3
    assert result.channel == 3
    assert (result.frame_final_start, result.frame_final_end) == (first, last + 1)
    names = [f"line.{number + i:04d}.png" for i in range(8)]
    assert [e.filename for e in result.elements] == names
    out = tmp_path / "inkpaint" / "Lines"
    maps = [f"line.confidence.{number + i:04d}.png" for i in range(8)]
    assert [n for n in listing(out) if not n.startswith(".")] == sorted(
        ["line.confidence.json", *maps, *names])
    read_color = importlib.import_module(f"{addon.__name__}.core.imageio").read_color
    for i, name in enumerate(names):
        rgb, _ = read_color(out / name)
        assert rgb.shape == (HEIGHT, WIDTH, 3) and np.isfinite(rgb).all()
        if first + i in shot["paints"]:
            assert np.abs(rgb - shot["paints"][first + i]).max() <= 1 / 255 + 1e-6
        else:
            assert rgb.std() > 0.02

    # the active strip is still the source: running again replaces the result in place
    assert scene.sequence_editor.active_strip.name == "Lines"
    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    results = [s for s in _strips(scene) if s.get("inkpaint_source") == "STRIP:Lines"]
    assert [(s.name, s.channel) for s in results] == [("Lines (Inkpaint)", 3)]

    # the line art's own folder is refused as the output folder: nothing there is touched
    scene.inkpaint.output_dir = str(tmp_path / "lines")
    before = listing(tmp_path / "lines")
    with pytest.raises(RuntimeError, match="holds the line art itself"):
        bpy.ops.inkpaint.colorize_strip()
    assert listing(tmp_path / "lines") == before


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
