"""The InkpaintColorize gizmo end to end in the fake nuke: the Write nodes it makes render
the comp's real pixels, the real engine (random-init lite weights) colours the shot in
process or in a worker subprocess, and the gizmo then shows exactly the engine's frames,
scene-linear; progress, cancel, errors, alpha and farm mode (nuke -t) included."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.engine.colorizer import Colorizer
from core.engine.plan import Reference
from core.imageio import read_image, srgb_to_linear, write_image
from tests.conftest import write_shot
from tests.fake_nuke import PLUGIN, comp, install

FIRST, LAST = 1001, 1006
RGB = ("rgba.red", "rgba.green", "rgba.blue")


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("nuke_shot")
    write_shot(folder, frames=LAST - FIRST + 1, size=64, first=FIRST)
    # the same line art drawn on transparency: black ink, alpha = coverage
    for f in range(FIRST, LAST + 1):
        grey = read_image(folder / f"line.{f:04d}.png").pixels[..., 0]
        write_image(folder / f"ink.{f:04d}.png", np.zeros(grey.shape + (3,), np.float32),
                    1.0 - grey)
    return folder


@pytest.fixture(scope="module")
def engine_frames(lite_weights, shot_dir):
    """What the engine itself makes of the shot's files (sRGB), the reference result."""
    colorizer = Colorizer(str(lite_weights), backend="torch", device="cpu", size=64)
    lineart = {f: shot_dir / f"line.{f:04d}.png" for f in range(FIRST, LAST + 1)}
    refs = [Reference(shot_dir / f"color.{f:04d}.png", f) for f in (FIRST, LAST)]
    return {cf.frame: cf.rgb for cf in colorizer.colorize(lineart, refs)}


@pytest.fixture(scope="module")
def engine_scores(lite_weights, shot_dir):
    """The engine's per-frame confidence for the shot (what the review knob lists)."""
    colorizer = Colorizer(str(lite_weights), backend="torch", device="cpu", size=64)
    lineart = {f: shot_dir / f"line.{f:04d}.png" for f in range(FIRST, LAST + 1)}
    refs = [Reference(shot_dir / f"color.{f:04d}.png", f) for f in (FIRST, LAST)]
    return {cf.frame: round(cf.score, 2) for cf in colorizer.colorize(lineart, refs)}


@pytest.fixture
def nuke():
    fake = install(gui=False)
    yield fake
    fake.ProgressTask.cancel_after = None


def _setup(nuke, shot_dir, weights, cache, **knobs):
    node, line, colour = comp(nuke, shot_dir, FIRST, LAST, **knobs.pop("names", {}))
    values = {"ref_frames": f"{FIRST},{LAST}", "model": str(weights), "size": 64,
              "device": "cpu", "cache_dir": str(cache)}
    values.update(knobs)
    for name, value in values.items():
        node[name].setValue(value)
    return node, line, colour


def _rgb(image):
    return np.stack([image[c] for c in RGB], axis=2)


BLOCK_LIMIT_S = 0.1  # the longest the UI may stall: a frame at 10 fps still feels live


def _press_colorize(nuke, node):
    """The artist presses Colorize; Nuke's event loop then runs until the job is over.
    Returns the longest the main thread was busy with one call during the job."""
    from inkpaint_nuke import nuke_ops

    del nuke.main_thread_calls[:]
    node["colorize"].execute()
    nuke.main_loop(lambda: not nuke_ops.running())
    return max(seconds for _, seconds in nuke.main_thread_calls)


def test_colorize_renders_inputs_runs_the_engine_and_shows_its_frames(
        nuke, shot_dir, lite_weights, engine_frames, tmp_path):
    from inkpaint_nuke import nuke_ops

    node, line, colour = _setup(nuke, shot_dir, lite_weights, tmp_path)
    plan = nuke_ops.colorize(node)

    # the Write nodes it made, inside the gizmo: the line art over the frames the engine
    # reads and the references at the reference frames, both through the gizmo's own
    # OCIOColorSpace conversions to sRGB, as raw 16-bit PNG
    writes = {name: [] for name, *_ in nuke.executed}
    for name, first, last, knobs, source in nuke.executed:
        writes[name].append((first, last, knobs, source))
    line_w, ref_w = writes["Write1"], writes["Write2"]
    assert [(a, b) for a, b, *_ in line_w] == [(FIRST, LAST)]
    for w in (line_w[0], ref_w[0]):
        assert w[2]["file_type"] == "png" and w[2]["datatype"] == "16 bit" and w[2]["raw"]
    assert line_w[0][2]["channels"] == "rgb"
    assert line_w[0][3].name() == "LineToSRGB" and line_w[0][3].input(0).name() == "lineart"
    assert [(a, b) for a, b, *_ in ref_w] == [(FIRST, FIRST), (LAST, LAST)]
    assert ref_w[0][3].name() == "RefsToSRGB"
    assert ref_w[0][3]["out_colorspace"].value() == "sRGB"
    with node:
        assert nuke.allNodes("Write") == []  # temporary: deleted after rendering
    assert nuke.allNodes("Write") == []  # temporary: deleted after rendering

    # the result: scene-linear EXR frames, the Read inside the gizmo pointing at them
    assert all(Path(plan.result_pattern.replace("####", f"{f:04d}")).is_file()
               for f in range(FIRST, LAST + 1))
    assert node["result_file"].value() == plan.result_pattern
    assert node["result_ready"].value() is True
    with node:
        assert nuke.toNode("InkpaintResult")._reloads == 1
    assert node["status"].value().startswith(f"coloured {FIRST}-{LAST} (6 frames, lite)")
    assert not list(Path(plan.folder).glob("line.*"))  # rendered inputs cleaned up

    # the gizmo's output is the engine's result on the original files, in linear
    for f in range(FIRST, LAST + 1):
        out = _rgb(node.image(f))
        assert np.abs(out - srgb_to_linear(engine_frames[f])).max() <= 1e-5, f
    # reference frames come back as they went in: linear -> sRGB -> linear
    for f in (FIRST, LAST):
        assert np.abs(_rgb(node.image(f)) - _rgb(colour.image(f))).max() <= 1e-4


@pytest.mark.slow
def test_line_art_alpha_is_kept_and_premultiplied(nuke, shot_dir, lite_weights, tmp_path):
    from inkpaint_nuke import nuke_ops

    node, line, _ = _setup(nuke, shot_dir, lite_weights, tmp_path, frame_range="1003-1004",
                           names={"line": "ink"})
    nuke_ops.colorize(node)
    assert nuke.executed[0][3]["channels"] == "rgba"
    for f in (1003, 1004):
        out, src = node.image(f), line.image(f)
        assert np.abs(out["rgba.alpha"] - src["rgba.alpha"]).max() <= 1e-4
        assert (_rgb(out) <= out["rgba.alpha"][..., None] + 1e-6).all()  # premultiplied
    assert np.abs(_rgb(node.image(1003))).max() > 0


@pytest.mark.slow
def test_subprocess_worker_with_progress_task(nuke, shot_dir, lite_weights, tmp_path):
    """The Colorize button with a configured Python: a ProgressTask follows the worker's
    progress lines, and the worker's log is kept."""
    nuke.env["gui"] = True
    node, _, _ = _setup(nuke, shot_dir, lite_weights, tmp_path, python=sys.executable,
                        frame_range="1002-1005")
    blocked = _press_colorize(nuke, node)
    print(f"main thread blocked at most {1000 * blocked:.1f} ms (subprocess worker)")
    assert blocked < BLOCK_LIMIT_S
    assert nuke.messages == [], nuke.messages
    task = nuke.progress_tasks[-1]
    assert task.title == f"Inkpaint: {node.name()}"
    assert task.progress == sorted(task.progress) and task.progress[-1] == 100
    assert any(m == "frame 1005" for m in task.messages)
    log = (tmp_path / node.name() / "run.1002-1005" / "worker.log").read_text()
    assert "inkpaint: progress 100.0% (4/4) frame 1005" in log
    assert node["status"].value().startswith("coloured 1002-1005")


def test_cancel_keeps_finished_frames_and_removes_the_writes(nuke, shot_dir, lite_weights,
                                                             tmp_path):
    nuke.env["gui"] = True
    node, _, _ = _setup(nuke, shot_dir, lite_weights, tmp_path, temporal=False)
    # 8 frames of Write renders (6 line art, 2 refs) + the "colouring" step + 2 frames, then
    # the artist presses Cancel
    nuke.ProgressTask.cancel_after = 11
    _press_colorize(nuke, node)
    assert node["status"].value().startswith("cancelled")
    assert nuke.messages == [] and nuke.allNodes("Write") == []
    written = sorted(p.name for p in (tmp_path / node.name()).glob("colour.*.exr"))
    assert written == ["colour.1001.exr", "colour.1002.exr"]
    assert node["result_ready"].value() is False


@pytest.mark.parametrize("problem,words", [
    ("no refs", "connect the painted reference frames"),
    ("outside", "reference frame 2000 is outside the line-art input"),
    ("weights", "not found"),
])
def test_errors_reach_the_status_line_and_a_message(nuke, shot_dir, lite_weights, tmp_path,
                                                    problem, words):
    nuke.env["gui"] = True
    node, _, _ = _setup(nuke, shot_dir, lite_weights, tmp_path)
    if problem == "no refs":
        node.setInput(1, None)
    elif problem == "outside":
        node["ref_frames"].setValue("1001,2000")
    else:
        node["model"].setValue(str(tmp_path / "missing.safetensors"))
    _press_colorize(nuke, node)
    assert len(nuke.messages) == 1 and words in nuke.messages[0]
    assert node["status"].value().startswith("error:") and words in node["status"].value()
    assert nuke.allNodes("Write") == []


class _Spy(dict):
    """The line-art mapping the engine gets, recording which frames it reads."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def __getitem__(self, frame):
        self.read.add(frame)
        return super().__getitem__(frame)


def test_the_rendered_line_art_covers_what_the_engine_reads(nuke, lite_weights, shot_dir):
    from inkpaint_nuke import job

    refs, wanted = [1001, 1003, 1006], [1004]
    spy = _Spy({f: shot_dir / f"line.{f:04d}.png" for f in range(FIRST, LAST + 1)})
    engine = Colorizer(str(lite_weights), backend="torch", device="cpu", size=32)
    list(engine.colorize(spy, [Reference(shot_dir / f"color.{f:04d}.png", f) for f in refs],
                         wanted))
    rendered = set(job.lineart_frames((FIRST, LAST), refs, wanted))
    assert spy.read <= rendered
    assert rendered == {1001, 1003, 1004, 1005, 1006}


def test_a_changed_setting_marks_the_result_stale(nuke):
    node = nuke.createNode("InkpaintColorize")
    node["ref_frames"].setValue("1001,1010")
    assert node["status"].value().startswith("not coloured yet")
    node["result_ready"].setValue(True)
    node["k"].setValue(3)
    assert node["status"].value().startswith("settings changed since the last run")


@pytest.mark.slow
def test_farm_mode_chunks_retries_and_saves(nuke, shot_dir, lite_weights, tmp_path, capsys):
    from inkpaint_nuke import farm

    node, _, _ = _setup(nuke, shot_dir, lite_weights, tmp_path / "cache")
    script = tmp_path / "comp.nk"
    nuke.scriptSave(str(script))
    nuke = install(gui=False)  # a fresh `nuke -t` session

    assert farm.main([str(script), "--frames", "1003-1004", "--save"]) == 0
    out = capsys.readouterr().out
    assert "inkpaint: progress 50.0% (1/2) frame 1003" in out
    assert "inkpaint: progress 100.0% (2/2) frame 1004" in out
    done = sorted(p.name for p in (tmp_path / "cache" / "InkpaintColorize1").glob("colour.*"))
    assert done == ["colour.1003.exr", "colour.1004.exr"]
    # the chunk rendered the line art of its whole segment (the references bound it)
    assert [(a, b) for name, a, b, *_ in nuke.executed if name == "Write1"] == [(FIRST, LAST)]
    # --save stored where the result is; a dependent `nuke -x` render reads it from there
    install(gui=False).scriptOpen(str(script))
    saved = nuke.toNode("InkpaintColorize1")
    assert saved["result_file"].value().endswith("InkpaintColorize1/colour.####.exr")
    assert saved["result_ready"].value() is True
    assert np.abs(_rgb(saved.image(1003))).max() > 0

    # a retried task skips finished frames (and a comp already pointing at the results is
    # not rewritten); an unknown node fails with exit status 1
    saved_bytes = script.read_bytes()
    assert farm.main([str(script), "--frames", "1003-1004", "--save"]) == 0
    out = capsys.readouterr().out
    assert ("2 of 2 frames already written, skipping them (their inputs did not change; "
            "--overwrite redoes them)") in out and "not saved again" in out
    assert script.read_bytes() == saved_bytes
    assert farm.main([str(script), "--node", "Nope"]) == 1
    assert "inkpaint: error: no node named Nope" in capsys.readouterr().err


@pytest.mark.slow
def test_farm_retry_after_a_key_changed_redoes_the_frames_it_reaches(nuke, shot_dir,
                                                                     lite_weights, tmp_path,
                                                                     capsys):
    from inkpaint_nuke import farm

    shot = tmp_path / "shot"
    shutil.copytree(shot_dir, shot)
    _setup(nuke, shot, lite_weights, tmp_path / "cache", temporal=False)
    script = tmp_path / "comp.nk"
    nuke.scriptSave(str(script))
    install(gui=False)
    assert farm.main([str(script), "--frames", "1002-1005"]) == 0
    capsys.readouterr()
    result = tmp_path / "cache" / "InkpaintColorize1"
    before = {f: read_image(result / f"colour.{f}.exr").pixels for f in range(1002, 1006)}
    # the artist repaints key 1006 and the task is retried
    key = read_image(shot / "color.1006.png").pixels
    write_image(shot / "color.1006.png", key[..., ::-1].copy())
    install(gui=False)
    assert farm.main([str(script), "--frames", "1002-1005"]) == 0
    out = capsys.readouterr().out
    assert "frames are redone: their inputs changed" in out
    after = {f: read_image(result / f"colour.{f}.exr").pixels for f in range(1002, 1006)}
    assert any(np.abs(after[f] - before[f]).max() > 1e-3 for f in before)  # not stale


def test_save_waits_for_another_tasks_lock_and_replaces_the_script_whole(nuke, tmp_path):
    import threading

    from inkpaint_nuke import farm

    nuke.createNode("InkpaintColorize")
    script = tmp_path / "comp.nk"
    script.write_text("old\n")
    lock = Path(str(script) + ".inkpaint-lock")
    lock.write_text("")  # another chunk is saving; it is done half a second later
    threading.Timer(0.5, lock.unlink).start()
    start = time.monotonic()
    farm.save_script(str(script))
    assert time.monotonic() - start >= 0.4  # it waited for the lock
    assert not lock.exists()
    assert "InkpaintColorize" in script.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["comp.nk"]  # no temp file left


def test_the_farm_script_is_what_nuke_t_runs():
    source = (PLUGIN / "inkpaint_farm.py").read_text(encoding="utf-8")
    assert "farm.main(sys.argv[1:])" in source


def test_gui_run_leaves_the_main_thread_free(nuke, shot_dir, lite_weights, engine_frames,
                                             engine_scores, tmp_path):
    """In-process worker (the engine in a thread of Nuke's own Python): the button returns at
    once, every main-thread call during the job is short, and the result is the engine's."""
    from inkpaint_nuke import job

    nuke.env["gui"] = True
    node, _, _ = _setup(nuke, shot_dir, lite_weights, tmp_path)
    blocked = _press_colorize(nuke, node)
    print(f"main thread blocked at most {1000 * blocked:.1f} ms over "
          f"{len(nuke.main_thread_calls)} calls (in-process worker)")
    assert blocked < BLOCK_LIMIT_S
    assert nuke.messages == [], nuke.messages
    # the thread handed the main thread every node operation: each frame render separately
    handed = [what for what, _ in nuke.main_thread_calls]
    assert handed.count("execute") == 8 and "_finish" in handed
    assert node["status"].value().startswith(f"coloured {FIRST}-{LAST}")
    for f in range(FIRST, LAST + 1):
        assert np.abs(_rgb(node.image(f)) - srgb_to_linear(engine_frames[f])).max() <= 1e-5
    # the flagged frames, as the engine scored them, in the review knob
    scores = engine_scores
    assert node["review"].value() == job.review_text(scores) and scores
    low = job.flagged_frames(scores)
    assert (f"review {job.format_frames(low)}" in node["status"].value()) == bool(low)


def test_the_fake_refuses_node_work_off_the_main_thread(nuke):
    """What makes the measurement above mean something: a thread that touched a node
    directly would fail here, as it would crash Nuke."""
    import threading

    node = nuke.createNode("InkpaintColorize")
    errors = []

    def touch():
        try:
            node["k"].setValue(3)
        except RuntimeError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=touch)
    t.start()
    t.join()
    assert errors and "main thread" in errors[0]
    assert node["k"].value() == 2


class _Killed(BaseException):
    """The worker's process dies (SIGKILL, a lost farm node): nothing catches it."""


def test_a_worker_killed_between_writing_a_frame_and_logging_it_loses_nothing(
        nuke, shot_dir, lite_weights, tmp_path, monkeypatch):
    """The worker is killed right after a frame lands on disk. Were the frame logged only
    after it is written, the re-run would find it unlogged and keep it, whatever its inputs
    have become since: here the artist takes the repaint back, and the frame coloured from
    the repaint would stay. ``RenderRun.writing`` logs it first, so the re-run redoes it and
    the sequence is again exactly the first run's."""
    from inkpaint_nuke import worker
    from inkpaint_nuke.job import JOB_VERSION

    import core.imageio

    shot = tmp_path / "shot"
    shutil.copytree(shot_dir, shot)
    out = tmp_path / "out" / "colour.####.exr"
    job = {"version": JOB_VERSION, "out": str(out), "lineart": str(shot / "line.####.png"),
           "shot": [FIRST, LAST], "frames": list(range(FIRST, LAST + 1)),
           "refs": [{"color": str(shot / f"color.{f}.png"), "frame": f} for f in (FIRST, LAST)],
           "model": str(lite_weights), "backend": "torch", "device": "cpu", "size": 64}

    def files() -> dict[int, bytes]:
        return {f: Path(str(out).replace("####", str(f))).read_bytes()
                for f in range(FIRST, LAST + 1)}

    assert worker.run(job) == LAST - FIRST + 1
    first = files()
    key = shot / f"color.{LAST}.png"
    painted = key.read_bytes()
    write_image(key, read_image(key).pixels[..., 2::-1].copy())  # the artist repaints it
    real_write = core.imageio.atomic_write

    def killed_after_1003(path: Path, data: bytes) -> None:
        real_write(path, data)
        if path.name == "colour.1003.exr":
            raise _Killed()

    monkeypatch.setattr(core.imageio, "atomic_write", killed_after_1003)
    with pytest.raises(_Killed):
        worker.run(job)
    monkeypatch.undo()
    assert files()[1003] != first[1003]  # 1003 is there, coloured from the repaint
    key.write_bytes(painted)  # the artist takes the repaint back
    assert worker.run(job) == 2  # 1002 and 1003, coloured from the repaint, are redone
    assert files() == first
