"""A Grease Pencil shot coloured end to end in real Blender: blocking (background mode), the
modal operator's timer logic, cancelling, and the refusals that must leave the scene alone.

Colour and drawing checks: ``bl_scenes.check_frames`` (and why its tolerances are what
they are).
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path
from types import SimpleNamespace

import bpy
import numpy as np
import OpenEXR
import pytest
from bl_scenes import (
    FRAMES,
    HEIGHT,
    REF_FRAMES,
    SHAPES,
    WIDTH,
    centre_colour,
    check_drawing,
    check_frames,
    make_gp_shot,
)
from conftest import draw_panel, listing
from mathutils import Vector

SOURCE_KEY = "GPENCIL:Drawing"


def _imageio(addon):
    return importlib.import_module(f"{addon.__name__}.core.imageio")


def _result_strips(scene):
    sed = scene.sequence_editor
    if sed is None:
        return []
    strips = sed.strips if hasattr(sed, "strips") else sed.sequences
    return [s for s in strips if s.get("inkpaint_source") == SOURCE_KEY]


def _state(scene) -> dict:
    """What the tests require to be unchanged by a refused or cancelled run."""
    sed = scene.sequence_editor
    strips = [] if sed is None else (sed.strips if hasattr(sed, "strips") else sed.sequences)
    return {
        "strips": sorted((s.name, s.channel) for s in strips),
        "scenes": sorted(s.name for s in bpy.data.scenes),
        "objects": sorted(o.name for o in bpy.data.objects),
        "materials": sorted(m.name for m in bpy.data.materials),
        "worlds": sorted(w.name for w in bpy.data.worlds),
        "images": sorted(i.name for i in bpy.data.images if i.type != "RENDER_RESULT"),
    }


def _check_frames(addon, scene, folder, ext: str) -> dict:
    return check_frames(_imageio(addon).read_color, scene, folder, ext)


def _no_leftovers(addon):
    names = [n for coll in (bpy.data.scenes, bpy.data.objects, bpy.data.materials,
                            bpy.data.worlds) for n in coll.keys() if n.startswith(".inkpaint")]
    assert not names, names
    last = addon.job.last_job()
    assert last is not None and not last.tmp.exists()


def _visible(folder) -> list[str]:
    """The files an artist sees; the hidden ones may only be the render logs."""
    names = listing(folder)
    hidden = [n for n in names if n.startswith(".")]
    assert all(n.startswith(".inkpaint-render.Drawing.####.") for n in hidden), hidden
    return [n for n in names if not n.startswith(".")]


def _mtimes(folder) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()
            if p.name.startswith("Drawing.0")}


def _review_drawn(job) -> list[str]:
    return [e[3] for e in draw_panel(bpy.context) if e[0] == "operator"
            and e[1] == "inkpaint.show_frame"]


def test_gp_shot_blocking_then_reruns_and_exr_replace_the_strip(addon, weights, tmp_path,
                                                                record_property):
    obj = make_gp_shot(tmp_path)
    scene = bpy.context.scene
    out = tmp_path / "inkpaint" / "Drawing"
    frames = [f"Drawing.{f:04d}.png" for f in FRAMES]
    maps = [f"Drawing.confidence.{f:04d}.png" for f in FRAMES]

    scene.inkpaint.temporal = True  # the paper's whole system first; the default (off) below
    t0 = time.monotonic()
    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    record_property("png_run_seconds", round(time.monotonic() - t0, 1))
    (strip,) = _result_strips(scene)
    assert strip.name == "Drawing (Inkpaint)"
    assert len(strip.elements) == len(FRAMES) == 12
    assert (strip.frame_final_start, strip.frame_final_end) == (FRAMES[0], FRAMES[-1] + 1)
    assert strip.channel == 1  # the lowest free channel: nothing else is in the Sequencer
    assert strip.directory == "//inkpaint/Drawing/"
    # frames, their confidence maps, the scores; no staging, no temp
    assert _visible(out) == sorted(["Drawing.confidence.json", *maps, *frames])
    assert [e.filename for e in strip.elements] == frames
    stats = _check_frames(addon, scene, out, ".png")
    record_property("png_worst_ref_error_255", stats["worst_ref_error_255"])
    read_image = _imageio(addon).read_image
    scores = {int(k): v for k, v in json.loads((out / "Drawing.confidence.json").read_text())
              .items()}
    assert sorted(scores) == list(FRAMES)
    assert all(scores[f] == 1.0 for f in REF_FRAMES)  # the painted frames themselves
    for f in FRAMES:
        conf = read_image(out / f"Drawing.confidence.{f:04d}.png").pixels
        assert conf.shape[:2] == (HEIGHT, WIDTH) and 0.0 <= conf.min() <= conf.max() <= 1.0
    job = addon.job.last_job()
    assert job.review == [(f, scores[f]) for f in FRAMES if scores[f] < 0.6]
    _no_leftovers(addon)

    # again, nothing changed: every frame is kept as it is, with its score; the panel lists
    # the frames below the review level (set just above the in-betweens' scores)
    before = _mtimes(out)
    scene.inkpaint.review_below = max(v for f, v in scores.items()
                                      if f not in REF_FRAMES) + 1e-6
    level = scene.inkpaint.review_below  # as Blender keeps it: float32, at most 1 (an
    # in-between the composition is fully sure of is then not flagged)
    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    job = addon.job.last_job()
    assert job.message.startswith("Coloured 0 of 12 frames of 'Drawing' (12 unchanged since "
                                  "the last run, kept)"), job.message
    assert _mtimes(out) == before
    flagged = [f for f, _ in job.review]
    # the scores file keeps 4 decimals: frames within that of the level may go either way
    assert {f for f in FRAMES if scores[f] < level - 1e-3} <= set(flagged)
    assert not {f for f in FRAMES if scores[f] > level + 1e-3} & set(flagged)
    assert set(flagged) <= set(FRAMES) - set(REF_FRAMES) and len(flagged) >= 5
    assert _review_drawn(job) == [f"Frame {f}: {scores[f]:.2f}  (Drawing.{f:04d}.png)"
                                  for f in flagged]

    # the correction loop: one frame's drawing changes, and the in-betweens of its segment
    # are coloured again: the frames after it (each in-between is coloured with the one
    # before it in view: the shot memory) and the frames before it (their flows to the
    # later key are chained through it: ``core.motion.Paths``); the keys are kept
    scene.inkpaint.temporal = False
    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}  # other settings: all redone
    assert addon.job.last_job().frames_done == 12
    before = _mtimes(out)
    drawing = next(fr for fr in obj.data.layers[0].frames if fr.frame_number == 6).drawing
    for point in drawing.strokes[0].points:
        point.position = point.position + Vector((0.3, 0.0, 0.0))
    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    job = addon.job.last_job()
    assert (job.frames_done, job.kept) == (10, 2), job.message  # 2-11 redone
    after = _mtimes(out)
    assert [n for n in frames if after[n] != before[n]] == [f"Drawing.{f:04d}.png"
                                                             for f in range(2, 12)]

    scene.inkpaint.file_format = "EXR"
    scene.inkpaint.temporal = True
    t0 = time.monotonic()
    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    record_property("exr_run_seconds", round(time.monotonic() - t0, 1))
    (again,) = _result_strips(scene)  # replaced, not stacked
    assert again.name == "Drawing (Inkpaint)" and again.channel == 1
    assert [e.filename for e in again.elements] == [f"Drawing.{f:04d}.exr" for f in FRAMES]
    # the PNGs and their maps were replaced (an EXR carries its map as a channel)
    assert _visible(out) == sorted(["Drawing.confidence.json",
                                    *(f"Drawing.{f:04d}.exr" for f in FRAMES)])
    drawing = next(fr for fr in obj.data.layers[0].frames if fr.frame_number == 6).drawing
    for point in drawing.strokes[0].points:  # back as it was, so every frame can be checked
        point.position = point.position - Vector((0.3, 0.0, 0.0))
    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    stats = _check_frames(addon, scene, out, ".exr")
    record_property("exr_worst_ref_error_255", stats["worst_ref_error_255"])
    for f in FRAMES:  # each EXR carries its confidence map as a channel beside R, G, B
        assert "confidence" in OpenEXR.File(str(out / f"Drawing.{f:04d}.exr")).channels()
    _no_leftovers(addon)


def test_a_run_killed_between_moving_a_frame_and_logging_it_loses_nothing(addon, weights,
                                                                         tmp_path,
                                                                         monkeypatch):
    """The run dies right after a frame is moved into the output folder. Were the frame
    logged only after the move, the next run would find it unlogged and keep it, whatever
    its inputs have become since: here the artist takes the change back, and the frame
    coloured from the change would stay. ``RenderRun.writing`` logs it first, so the next
    run redoes it and the frames are again exactly the first run's."""
    obj = make_gp_shot(tmp_path)
    out = tmp_path / "inkpaint" / "Drawing"
    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    first = {p.name: p.read_bytes() for p in out.glob("Drawing.0*.png")}
    drawing = next(fr for fr in obj.data.layers[0].frames if fr.frame_number == 6).drawing
    for point in drawing.strokes[0].points:
        point.position = point.position + Vector((0.3, 0.0, 0.0))
    job_os = addon.job.os
    real_replace = job_os.replace

    def killed_after_frame_6(src, dst):
        real_replace(src, dst)
        if Path(dst) == out / "Drawing.0006.png":  # moved into place, not staged
            raise RuntimeError("killed")

    monkeypatch.setattr(job_os, "replace", killed_after_frame_6)
    with pytest.raises(RuntimeError, match="unexpected RuntimeError"):  # reported, failed
        bpy.ops.inkpaint.colorize_strip()
    monkeypatch.undo()
    assert (out / "Drawing.0006.png").read_bytes() != first["Drawing.0006.png"]
    for point in drawing.strokes[0].points:  # the artist takes the change back
        point.position = point.position - Vector((0.3, 0.0, 0.0))
    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    job = addon.job.last_job()
    # 2-6 were written from the changed drawing (6 moved in before the kill): redone
    assert (job.frames_done, job.kept) == (5, 7), job.message
    assert {p.name: p.read_bytes() for p in out.glob("Drawing.0*.png")} == first


def test_line_art_pass_is_black_strokes_on_white_and_leaves_the_drawing_alone(addon,
                                                                             tmp_path):
    """Fills off, and the artist's vertex colours and layer tint do not reach the line art;
    the reference pass shows the fills as painted; nothing of the artist's data changes."""
    gpencil = importlib.import_module(f"{addon.__name__}.gpencil")
    read_color = _imageio(addon).read_color
    obj = make_gp_shot(tmp_path)
    scene = bpy.context.scene
    layer = obj.data.layers[0]
    for point in layer.frames[0].drawing.strokes[0].points:
        point.vertex_color = (1.0, 0.0, 0.0, 1.0)
    layer.tint_color, layer.tint_factor = (0.0, 1.0, 0.0), 0.5
    scene.frame_set(5)  # where the artist left the playhead: no pass may be drawn there
    before = _state(scene)
    renderer = gpencil.PassRenderer(scene, obj)
    try:
        for f in FRAMES:
            renderer.render(f, False, tmp_path / f"line.{f}.png")
        renderer.render(12, True, tmp_path / "ref.png")
        renderer.render(3, False, tmp_path / "again.png")
    finally:
        renderer.cleanup()
    assert scene.frame_current == 5
    # the same drawing, the same bytes (no render date or time in the file): what lets a
    # re-run tell that a frame's line art did not change
    assert (tmp_path / "again.png").read_bytes() == (tmp_path / "line.3.png").read_bytes()
    for f in FRAMES:  # every frame is its own drawing, not the playhead's
        lines, _ = read_color(tmp_path / f"line.{f}.png")
        assert lines.shape == (HEIGHT, WIDTH, 3)
        assert float((lines.max(axis=2) - lines.min(axis=2)).max()) < 0.02  # grey only
        assert lines.min() < 0.5 and np.median(lines) > 0.99  # dark lines on white paper
        check_drawing(lines[..., 0], scene, f)
        for shape in SHAPES:
            assert centre_colour(lines, *shape.pixel(scene, f)).min() > 0.98  # no fill
    ref, _ = read_color(tmp_path / "ref.png")  # frame 12: no vertex colour; tint is there
    tinted = {s.name: centre_colour(ref, *s.pixel(scene, 12)) for s in SHAPES}
    assert all(np.abs(tinted[s.name] - s.fill_srgb).max() > 10 / 255 for s in SHAPES)
    # the artist's drawing is as it was, and nothing made for the passes is left
    assert "vertex_color" in obj.data.layers[0].frames[0].drawing.attributes
    assert layer.tint_factor == 0.5
    assert all(m.grease_pencil.show_fill for m in obj.data.materials)
    assert _state(scene) == before
    names = [n for coll in (bpy.data.scenes, bpy.data.objects, bpy.data.materials,
                            bpy.data.worlds) for n in coll.keys() if n.startswith(".inkpaint")]
    assert not names


def _fake_operator(job):
    reports = []
    return SimpleNamespace(_job=job, _timer=None,
                           report=lambda kind, msg: reports.append((set(kind), msg))), reports


def test_modal_timer_steps_colour_the_shot_without_blocking(addon, weights, tmp_path,
                                                            record_property):
    """The bpy module has no event loop (INVOKE_DEFAULT runs ``execute``), so the modal
    operator's per-event function is driven here the way the timer drives it."""
    make_gp_shot(tmp_path)
    scene = bpy.context.scene
    job = addon.job.Job(addon.job.plan_job(bpy.context)).start()
    op, reports = _fake_operator(job)
    ctx = bpy.context
    assert addon.operators.modal_step(op, ctx, "MOUSEMOVE", "NOTHING") == {"PASS_THROUGH"}
    assert not bpy.ops.inkpaint.colorize_strip.poll()  # one job at a time
    slowest = {"RENDER": 0.0, "COLOUR": 0.0}
    phases, ticks, t0 = [], 0, time.monotonic()
    result = {"RUNNING_MODAL"}
    while result == {"RUNNING_MODAL"}:
        phase = job.phase
        if not phases or phases[-1] != phase:
            phases.append(phase)
        t = time.monotonic()
        result = addon.operators.modal_step(op, ctx, "TIMER", "NOTHING")
        if phase in slowest:
            slowest[phase] = max(slowest[phase], time.monotonic() - t)
        ticks += 1
        time.sleep(addon.operators.TIMER_SECONDS)
        assert time.monotonic() - t0 < 300
    assert result == {"FINISHED"}, reports
    assert phases == ["RENDER", "COLOUR"]
    assert reports and reports[-1][0] == {"INFO"} and "Coloured 12 frames" in reports[-1][1]
    # the network runs on the worker: a timer tick in the colouring phase only drains messages
    # (measured 0.01-0.05 s on a loaded 2-core machine; one window of frames takes seconds)
    assert slowest["COLOUR"] < 0.5, slowest
    record_property("modal_ticks", ticks)
    record_property("modal_seconds", round(time.monotonic() - t0, 1))
    record_property("slowest_tick_seconds", {k: round(v, 3) for k, v in slowest.items()})
    (strip,) = _result_strips(scene)
    assert len(strip.elements) == 12
    _check_frames(addon, scene, tmp_path / "inkpaint" / "Drawing", ".png")
    _no_leftovers(addon)

    # INVOKE_DEFAULT in background mode runs the blocking path and replaces the strip
    scene.inkpaint.temporal, scene.inkpaint.k = False, 1  # (quicker; same code path)
    assert bpy.ops.inkpaint.colorize_strip("INVOKE_DEFAULT") == {"FINISHED"}
    assert len(_result_strips(scene)) == 1


@pytest.mark.parametrize("when", ["rendering", "colouring"])
def test_esc_cancels_leaving_no_strip_and_no_files(addon, weights, tmp_path, when):
    make_gp_shot(tmp_path)
    scene = bpy.context.scene
    scene.inkpaint.temporal, scene.inkpaint.k = False, 1  # frames come out one by one
    before = _state(scene)
    job = addon.job.Job(addon.job.plan_job(bpy.context)).start()
    op, reports = _fake_operator(job)
    ctx = bpy.context
    result = addon.operators.modal_step(op, ctx, "TIMER")
    if when == "colouring":  # wait until the worker has written frames into staging
        while job.frames_done < 1:
            result = addon.operators.modal_step(op, ctx, "TIMER")
            assert result == {"RUNNING_MODAL"}
            time.sleep(0.02)
        assert job.staging is not None and any(job.staging.iterdir())
    assert result == {"RUNNING_MODAL"}
    result = addon.operators.modal_step(op, ctx, "ESC", "PRESS")
    t0 = time.monotonic()
    while result == {"RUNNING_MODAL"}:  # the worker finishes its current frame, then stops
        time.sleep(0.02)
        result = addon.operators.modal_step(op, ctx, "TIMER")
        assert time.monotonic() - t0 < 60
    assert result == {"CANCELLED"}
    assert reports[-1] == ({"WARNING"}, "Colouring cancelled: no strip was made")
    assert _state(scene) == before
    assert not _result_strips(scene)
    assert listing(tmp_path) == ["shot.blend"]  # no //inkpaint/ folder, no staging, no frames
    _no_leftovers(addon)


def test_cancel_keeps_what_was_in_the_output_folder(addon, weights, tmp_path):
    make_gp_shot(tmp_path)
    out = tmp_path / "inkpaint" / "Drawing"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    job = addon.job.Job(addon.job.plan_job(bpy.context)).start()
    while job.phase == "RENDER":
        job.step()
    job.cancel()
    while not job.finished:
        job.step(wait=0.1)
    assert job.phase == "CANCELLED"
    assert listing(out) == ["notes.txt"]


def test_no_markers_is_refused_with_a_clear_report_and_an_unchanged_scene(addon, tmp_path):
    make_gp_shot(tmp_path, markers=())
    scene = bpy.context.scene
    before, files = _state(scene), listing(tmp_path)
    with pytest.raises(RuntimeError, match="No reference markers: add timeline markers named "
                                           "'ref…'"):
        bpy.ops.inkpaint.colorize_strip()
    assert _state(scene) == before and listing(tmp_path) == files
    assert addon.job.active_job() is None

    # markers there but nothing painted on their frames: said per marker, still nothing done
    scene.timeline_markers.new("ref_a", frame=3)
    for mat in bpy.data.materials:
        mat.grease_pencil.show_fill = False
    with pytest.raises(RuntimeError, match="Marker 'ref_a' \\(frame 3\\): the drawing has no "
                                           "visible fills at frame 3"):
        bpy.ops.inkpaint.colorize_strip()
    assert _state(scene) == before and listing(tmp_path) == files


def test_missing_model_is_refused_before_anything_runs(addon, weights, tmp_path):
    make_gp_shot(tmp_path)
    scene = bpy.context.scene
    before, files = _state(scene), listing(tmp_path)
    scene.inkpaint.model = "paper"  # a real preset whose weights this build does not carry
    with pytest.raises(RuntimeError, match="Model 'paper' is not in .*weights: pick one of "
                                           "lite, or give the path"):
        bpy.ops.inkpaint.colorize_strip()
    scene.inkpaint.model = "//models/mine.safetensors"
    with pytest.raises(RuntimeError, match="models/mine.safetensors does not exist"):
        bpy.ops.inkpaint.colorize_strip()
    assert _state(scene) == before and listing(tmp_path) == files


def test_headless_main_prints_progress_lines(addon, weights, tmp_path, capsys):
    """What ``blender -b shot.blend --python-expr "...headless.main()" -- ARGS`` runs."""
    headless = importlib.import_module(f"{addon.__name__}.headless")
    format_frames = importlib.import_module(f"{addon.__name__}.core.frames").format_frames
    make_gp_shot(tmp_path)
    bpy.context.scene.inkpaint.gp_object = None
    headless.main(["--gp-object", "Drawing", "-k", "1", "--temporal", "--format", "exr"])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("inkpaint:")]
    progress = [ln for ln in lines if ln.startswith("inkpaint: progress ")]
    assert len(progress) == 12 + 2 + 12  # line-art renders, reference renders, frames
    assert progress[0] == "inkpaint: progress 3.8% (1/26) line art 1"
    assert progress[-1] == "inkpaint: progress 100.0% (26/26) frame 12"
    assert lines[-2].startswith("inkpaint: Coloured 12 frames")
    # the CLI's review line, over the frames' scores as written beside them
    scores = json.loads((tmp_path / "inkpaint" / "Drawing" / "Drawing.confidence.json")
                        .read_text())
    low = [int(f) for f, v in scores.items() if v < 0.6]
    assert lines[-1] == (f"inkpaint: review {len(low)} of 12 frames below 0.60: "
                         f"{format_frames(low)}" if low else
                         "inkpaint: review none of 12 frames below 0.60")
    s = bpy.context.scene.inkpaint
    assert (s.k, s.temporal, s.file_format, s.gp_object.name) == (1, True, "EXR", "Drawing")
    out = tmp_path / "inkpaint" / "Drawing"
    assert len([n for n in listing(out) if n.startswith("Drawing.0")]) == 12

    # a farm retry of the same task: the passes are rendered, every frame is kept (an item of
    # progress each, so the count still ends at 100%)
    headless.main([])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("inkpaint:")]
    progress = [ln for ln in lines if ln.startswith("inkpaint: progress ")]
    assert len(progress) == 12 + 2 + 12
    assert progress[14] == "inkpaint: progress 57.7% (15/26) frame 1 kept"
    assert progress[-1] == "inkpaint: progress 100.0% (26/26) frame 12 kept"
    assert lines[-2].startswith("inkpaint: Coloured 0 of 12 frames of 'Drawing' (12 unchanged")

    with pytest.raises(SystemExit) as exit_info:
        headless.main(["--gp-object", "Nope"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "inkpaint: error: there is no object 'Nope'\n"
    bpy.context.scene.timeline_markers.clear()
    with pytest.raises(SystemExit):
        headless.main([])
    assert capsys.readouterr().err.startswith("inkpaint: error: No reference markers")
