"""Confidence output and the correction loop through the real CLI (issue 8): a map beside
every frame (a channel inside EXR frames), one summary line per frame, ``--review-below``,
and re-runs that redo exactly the frames whose inputs changed."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest

from core.compose.cache import RenderRun, log_files, log_path
from core.compose.review import (
    confidence_path,
    confidence_pattern,
    frames_below,
    read_scores,
    review_line,
    scores_path,
)
from core.engine.colorizer import Colorizer
from core.engine.plan import Reference
from core.frames import FrameSequence, OutputPattern
from core.imageio import read_color, read_image, write_image
from core.progress import DEADLINE_REGEX
from tests.conftest import write_shot
from tests.test_cli import inkpaint

KEYS = (1001, 1005, 1010)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """A 10-frame 64 px shot; frame 1002 is key 1001's drawing plus a square no key has,
    frame 1003 the same drawing with one grey dot."""
    folder = tmp_path_factory.mktemp("shot")
    write_shot(folder, frames=10, size=64)
    base = read_image(folder / "line.1001.png").pixels[..., :3]
    square = base.copy()
    cv2.rectangle(square, (6, 6), (22, 22), (0.0, 0.0, 0.0), 1)
    write_image(folder / "line.1002.png", square)
    dot = base.copy()
    dot[60, 60] = 0.5
    write_image(folder / "line.1003.png", dot)
    return folder


def colorize(shot, out, weights, *extra, keys=None):
    keys = keys or {f: shot / f"color.{f}.png" for f in KEYS}
    refs = [a for f, c in keys.items() for a in ("--ref", f"{f}={c}")]
    return inkpaint("colorize", "--lineart", shot / "line.####.png", *refs, "--out", out,
                    "--model", weights, "--size", 64, *extra)


def summaries(stdout: str) -> dict[int, float]:
    found = re.findall(r"^inkpaint: confidence ([0-9.]+) frame ([0-9]+) \(", stdout, re.M)
    return {int(f): float(s) for s, f in found}


def test_confidence_map_beside_each_frame_and_a_summary_line(tmp_path, shot, lite_weights):
    out = tmp_path / "c.####.png"
    r = colorize(shot, out, lite_weights, "--frames", "1001-1005", "--progress",
                 "deadline")
    assert r.returncode == 0, r.stderr
    frames = range(1001, 1006)
    for f in frames:
        m = cv2.imread(str(tmp_path / f"c.confidence.{f}.png"), cv2.IMREAD_UNCHANGED)
        assert m.shape == (64, 64) and m.dtype == np.uint8  # grey 8-bit, the frame's size
    maps = {f: cv2.imread(str(tmp_path / f"c.confidence.{f}.png"), -1) / 255 for f in frames}
    assert (maps[1001] == 1).all() and (maps[1005] == 1).all()  # the keys: as painted
    # the square no key has: unsure inside (its fill is a guess from the keys' background),
    # sure where the key's drawing is unchanged
    new, unchanged = maps[1002][8:14, 8:21].max(), maps[1002][30:, 30:].mean()
    assert new < 0.6 and unchanged > 0.9 and new < unchanged - 0.3
    # the square's corner lies over a part of the key's drawing and cuts a piece off it: the
    # warp shows that part's fill on a fifth of the piece, the counterpart agrees, and the
    # piece is thin, so it is surer than the square's inside (the warp's opinion where little
    # is seen, ``decide.colour_features``; 0.55 against 0.56 before it)
    assert maps[1002][18:22, 14:21].min() > new + 0.1
    # one summary line per frame, on stdout beside Deadline's progress lines, which stay
    # the only lines its pattern matches
    scores = summaries(r.stdout)
    assert sorted(scores) == list(frames) and scores[1001] == scores[1005] == 1.0
    assert scores[1002] < scores[1003] and scores[1003] > 0.95  # a grey dot: nearly as drawn
    progress = [ln for ln in r.stdout.splitlines() if re.search(DEADLINE_REGEX, ln)]
    assert len(progress) == 5 and all(ln.startswith("inkpaint: progress") for ln in progress)
    # the scores beside the sequence; the maps are no frames of it
    assert read_scores(tmp_path / "c.confidence.json") == pytest.approx(scores, abs=0.006)
    assert FrameSequence(out).frames == list(frames)


def test_exr_frames_carry_the_map_as_a_channel(tmp_path, shot, lite_weights):
    out = tmp_path / "c.####.exr"
    r = colorize(shot, out, lite_weights, "--frames", "1001-1002", "--no-temporal")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.glob("*.exr")) == ["c.1001.exr", "c.1002.exr"]
    assert not list(tmp_path.glob("*.confidence.*.png"))  # inside the EXR, not beside it
    channels = OpenEXR.File(str(tmp_path / "c.1002.exr")).channels()
    conf = channels["confidence"].pixels
    assert conf.shape == (64, 64) and conf.dtype == np.float32
    assert 0.0 <= conf.min() and conf.max() <= 1.0 and conf.min() < conf.max()
    assert (OpenEXR.File(str(tmp_path / "c.1001.exr")).channels()["confidence"].pixels
            == 1.0).all()
    assert read_image(tmp_path / "c.1002.exr").pixels.shape == (64, 64, 3)  # colour as before
    key = read_color(shot / "color.1001.png")[0]
    assert np.abs(read_color(tmp_path / "c.1001.exr")[0] - key).max() < 1e-4


def test_no_confidence_writes_frames_only(tmp_path, shot, lite_weights):
    out = tmp_path / "c.####.exr"
    r = colorize(shot, out, lite_weights, "--frames", "1002", "--no-temporal",
                 "--no-confidence")
    assert r.returncode == 0, r.stderr
    assert list(OpenEXR.File(str(tmp_path / "c.1002.exr")).channels()) == ["RGB"]
    assert "inkpaint: confidence" in r.stdout  # the summary line still comes


def test_review_below_lists_the_frames_and_a_rerun_recomputes_it(tmp_path, shot, lite_weights):
    out = tmp_path / "c.####.png"
    r = colorize(shot, out, lite_weights, "--review-below", "0.99")
    assert r.returncode == 0, r.stderr
    scores = summaries(r.stdout)
    low = frames_below(scores, 0.99)
    assert 1002 in low and not set(KEYS) & set(low)
    last = r.stdout.strip().splitlines()[-1]
    assert last == review_line(scores, 0.99)
    assert last.startswith(f"inkpaint: review {len(low)} of 10 frames below 0.99: 1002")
    # nothing to redo: the list comes from the render log
    again = colorize(shot, out, lite_weights, "--review-below", "0.99")
    assert again.returncode == 0, again.stderr
    assert "inkpaint: confidence" not in again.stdout
    assert again.stdout.strip().splitlines()[-1] == last


@pytest.mark.parametrize("value", ["1.5", "-0.1", "often", "nan"])
def test_bad_review_below_is_one_error_line(tmp_path, shot, lite_weights, value):
    r = colorize(shot, tmp_path / "o" / "c.####.png", lite_weights, "--review-below",
                 value)
    assert r.returncode == 1
    errors = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert errors == [f"inkpaint: error: bad --review-below '{value}': give a confidence "
                      "from 0 to 1, e.g. --review-below 0.6"]
    assert not (tmp_path / "o").exists()


def test_review_below_needs_composition(tmp_path, shot, lite_weights):
    r = colorize(shot, tmp_path / "o" / "c.####.png", lite_weights, "--review-below",
                 "0.5", "--compose", "network", "--lines", "keep")
    assert r.returncode == 1 and "--review-below needs confidence" in r.stderr
    assert not (tmp_path / "o").exists()


def test_a_confidence_map_never_overwrites_a_source(tmp_path, shot, lite_weights):
    out = tmp_path / "c.####.png"
    src = tmp_path / "c.confidence.1001.png"  # a key painted where a map would go
    shutil.copy(shot / "color.1001.png", src)
    r = colorize(shot, out, lite_weights, keys={1001: src, 1010: shot / "color.1010.png"})
    assert r.returncode == 1 and "is one of the input files" in r.stderr
    assert src.read_bytes() == (shot / "color.1001.png").read_bytes()
    assert not list(tmp_path.glob("c.1*.png"))


@pytest.mark.slow
def test_a_corrected_key_redoes_only_the_frames_it_reaches(tmp_path, shot, lite_weights):
    out = tmp_path / "c.####.png"
    assert colorize(shot, out, lite_weights).returncode == 0

    def stamps() -> dict[int, int]:
        return {f: (tmp_path / f"c.{f}.png").stat().st_mtime_ns for f in range(1001, 1011)}

    before = stamps()
    # the artist repaints key 1010 and hands it back
    fixed = tmp_path / "fixed.1010.png"
    rgb = read_color(shot / "color.1010.png")[0].copy()
    rgb[:16, :16] = (1.0, 0.0, 0.0)
    write_image(fixed, rgb)
    keys = {1001: shot / "color.1001.png", 1005: shot / "color.1005.png", 1010: fixed}
    r = colorize(shot, out, lite_weights, keys=keys)
    assert r.returncode == 0, r.stderr
    after = stamps()
    redone = [f for f in before if after[f] != before[f]]
    assert redone == [1006, 1007, 1008, 1009, 1010]  # the frames between 1005 and 1010
    assert "5 of 10 frames already written, skipping them (their inputs did not change" \
        in r.stdout
    assert "5 of 10 frames are redone: their inputs changed" in r.stdout
    assert np.array_equal(read_color(tmp_path / "c.1010.png")[0], read_color(fixed)[0])
    # nothing changed: nothing redone
    r = colorize(shot, out, lite_weights, keys=keys)
    assert r.returncode == 0 and "10 of 10 frames already written" in r.stdout
    assert stamps() == after
    # --overwrite redoes everything
    r = colorize(shot, out, lite_weights, "--overwrite", keys=keys)
    assert r.returncode == 0 and all(t != after[f] for f, t in stamps().items())


def test_a_frame_is_keyed_on_its_references_window_and_held_key(shot, lite_weights):
    seq = FrameSequence(shot / "line.####.png")
    lineart = {f: seq.path(f) for f in seq.frames}
    lineart[1004] = lineart[1005]  # frame 1004 holds key 1005's drawing
    refs = [Reference(shot / f"color.{f}.png", f) for f in KEYS]
    line = {f: shot / f"line.{f}.png" for f in range(1001, 1011)}
    paint = {f: shot / f"color.{f}.png" for f in KEYS}
    src = Colorizer(str(lite_weights), size=64, temporal=True).sources(lineart, refs)
    assert src[1001] == (line[1001], paint[1001])  # a key: its own paint
    assert src[1004] == (line[1005], paint[1005])  # a held cel: the key it holds
    # its line art, its keys nearest first, then its temporal window (1005-1010)
    assert src[1007][:5] == (line[1007], paint[1005], line[1005], paint[1010], line[1010])
    window = {paint[1005], paint[1010], *(line[f] for f in range(1005, 1011))}
    assert set(src[1007]) == window and len(src[1007]) == len(window)
    plain = Colorizer(str(lite_weights), size=64, temporal=False).sources(lineart, refs, [1007])
    # without the temporal network: no window, but the frames before it in its segment (the
    # shot memory colours 1007 with 1006 in view) and those up to its later key (the flow to
    # that key starts from the chain of neighbour flows through them)
    assert plain == {1007: (*src[1007][:5], line[1006], line[1008], line[1009])}


def test_names_beside_the_sequence(tmp_path):
    out = OutputPattern(tmp_path / "c.####.png")
    assert confidence_pattern(out).path(1003) == confidence_path(out.path(1003)) == \
        tmp_path / "c.confidence.1003.png"
    out = OutputPattern(tmp_path / "sh010_####_v2.exr")  # the frame number inside the name
    assert confidence_pattern(out).path(7).name == "sh010.confidence_0007_v2.png"
    assert scores_path(out.pattern).name == "sh010_v2.confidence.json"
    assert scores_path(OutputPattern(tmp_path / "c.%04d.png").pattern).name == \
        "c.confidence.json"
    assert log_path(out.pattern, [1003, 1001]).name == \
        ".inkpaint-render.sh010_####_v2.exr.1001-1003.json"


def test_parallel_logs_keep_every_entry_and_a_hand_made_frame_is_kept(tmp_path):
    """Two chunks log one sequence at the same time, each into its own file; a re-run reads
    both. An output replaced by hand is no longer the logged one: it is kept, not redone."""
    pattern = str(tmp_path / "c.####.png")
    src = {f: tmp_path / f"line.{f}.png" for f in range(1, 7)}
    for f, p in src.items():
        p.write_bytes(b"line %d" % f)
    out = {f: tmp_path / f"c.{f:04d}.png" for f in src}

    def run(frames: Iterable[int]) -> RenderRun:
        return RenderRun({f: [src[f]] for f in frames}, {"k": 2}, pattern,
                         {f: out[f] for f in frames})

    chunks = [run([1, 2, 3]), run([4, 5, 6])]
    for f in (1, 4, 2, 5, 3, 6):  # interleaved, as parallel processes write
        data = b"frame %d" % f
        with chunks[(f - 1) // 3].writing(f, data, f / 10) as path:
            path.write_bytes(data)
    assert len(log_files(pattern)) == 2
    whole = run(src)
    assert whole.plan.unchanged == [1, 2, 3, 4, 5, 6] and whole.plan.todo == []
    assert whole.log.scores(out) == {f: f / 10 for f in src}
    out[2].write_bytes(b"painted over by hand")
    src[5].write_bytes(b"line 5, redrawn")
    plan = run(src).plan
    assert plan.unlogged == [2] and plan.todo == plan.changed == [5]


def test_a_run_decodes_each_key_once(tmp_path, shot, lite_weights, monkeypatch):
    """``inkpaint colorize`` checks the keys before the model loads, the colorizer checks
    them again when it keys the frames and when it colours them, and then colours with
    them: one decode serves all four (``imageio.Reads``)."""
    import core.imageio
    from core.cli import main

    decoded: list[str] = []
    real = core.imageio.read_color

    def counted(path):
        decoded.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(core.imageio, "read_color", counted)
    refs = [a for f in KEYS for a in ("--ref", f"{f}={shot / f'color.{f}.png'}")]
    assert main(["colorize", "--lineart", str(shot / "line.####.png"), *refs, "--out",
                 str(tmp_path / "c.####.png"), "--model", str(lite_weights), "--size", "64",
                 "--temporal"]) == 0
    assert sorted(decoded) == [f"color.{f}.png" for f in KEYS]
    assert len(list(tmp_path.glob("c.1*.png"))) == 10
