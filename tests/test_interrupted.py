"""Interrupted runs (issue 13): a run cancelled (SIGTERM) or killed (SIGKILL) at some point,
then run again after a key was repainted, ends exactly where a clean run ends; a retry right
after a kill clears the killed run's temp files; a disk that fills up never leaves a
confidence map without its frame."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.imageio import read_image, write_image
from tests.hostile import ROOT, make_shot, run_cli

KEYS = (1001, 1005, 1008)


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> Path:
    return make_shot(tmp_path_factory.mktemp("interrupted") / "shot")


def args(src: Path, out: Path, weights: Path, *extra) -> list:
    refs = [a for f in KEYS for a in ("--ref", f"{f}={src / f'color.{f}.png'}")]
    return ["colorize", "--lineart", src / "line.####.png", *refs, "--out",
            out / "c.####.png", "--model", weights, "--size", 64, *extra]


def repaint(src: Path) -> None:
    """The artist corrects key 1008: a different colour everywhere it is painted."""
    px = read_image(src / "color.1008.png").pixels[..., :3]
    write_image(src / "color.1008.png", px[..., ::-1])


def outputs(out: Path) -> dict[str, np.ndarray]:
    """What a user sees: every visible file, decoded (PNG bytes may carry a timestamp-free but
    encoder-dependent layout, so pixels are compared); the scores as text."""
    found = {}
    for p in sorted(out.iterdir()):
        if p.name.startswith("."):
            continue
        found[p.name] = (p.read_text() if p.suffix == ".json"
                         else read_image(p).pixels)
    return found


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] if isinstance(a[k], str) else np.array_equal(a[k], b[k]) for k in a)


def interrupted(cmd: list, sig: int, after_lines: int, delay: float) -> int:
    """Run ``cmd`` and send ``sig`` ``delay`` s after its ``after_lines``-th progress line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INKPAINT_PROGRESS": "lines"}
    p = subprocess.Popen([sys.executable, "-m", "core", *map(str, cmd)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = 0
    for line in p.stderr:
        seen += line.startswith("inkpaint: progress")
        if seen >= after_lines:
            time.sleep(delay)
            p.send_signal(sig)
            break
    p.stderr.read()
    return p.wait(timeout=120)


@pytest.fixture(scope="module")
def clean(shot, lite_weights, tmp_path_factory) -> dict:
    """A clean run with the repainted key."""
    tmp = tmp_path_factory.mktemp("clean")
    src = shutil.copytree(shot, tmp / "src")
    repaint(src)
    r = run_cli(args(src, tmp / "out", lite_weights))
    assert r.code == 0, r.stderr
    return outputs(tmp / "out")


@pytest.mark.parametrize(("sig", "after", "delay"), [
    (signal.SIGTERM, 1, 0.0), (signal.SIGKILL, 1, 0.0), (signal.SIGKILL, 2, 0.1),
    (signal.SIGTERM, 4, 0.05), (signal.SIGKILL, 6, 0.02)])
def test_interrupted_then_rerun_after_a_key_changes_gives_the_clean_result(
        tmp_path, shot, lite_weights, clean, sig, after, delay):
    src = shutil.copytree(shot, tmp_path / "src")
    out = tmp_path / "out"
    code = interrupted(args(src, out, lite_weights), sig, after, delay)
    assert code in (1, -signal.SIGKILL, 0, -signal.SIGTERM), code
    if code in (0, -signal.SIGTERM):
        # The run ended before the signal came: 0 if it came after the exit, the default
        # SIGTERM exit if it came while Python shut down (the run's handler is gone by then,
        # as in any finished program). Either way every frame is already written.
        assert outputs(out).keys() == clean.keys()
    repaint(src)
    r = run_cli(args(src, out, lite_weights))
    assert r.code == 0, r.stderr
    assert same(outputs(out), clean)
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]


def test_retry_right_after_a_kill_removes_its_temp_files(tmp_path, shot, lite_weights):
    src = shutil.copytree(shot, tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    # What a kill -9 a moment ago leaves: the temp files of the frame, map and log it was
    # writing (young: no 60 s grace for the run's own frames).
    left = [out / ".c.1003.0badf00d.tmp.png", out / ".c.confidence.1003.0badf00d.tmp.png",
            out / "..inkpaint-render.c.####.png.1001-1004.0badf00d.tmp.json"]
    for p in left:
        p.write_bytes(b"half")
    r = run_cli(args(src, out, lite_weights, "--frames", "1001-1004"))
    assert r.code == 0, r.stderr
    assert "removed 3 temp files" in r.stdout
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]


def test_full_disk_leaves_no_map_without_its_frame(tmp_path, shot, lite_weights):
    src = shutil.copytree(shot, tmp_path / "src")
    first = tmp_path / "first"
    assert run_cli(args(src, first, lite_weights, "--bit-depth", "16")).code == 0
    maps = [p.stat().st_size for p in first.glob("c.confidence.*.png")]
    frames = [p.stat().st_size for p in first.glob("c.1*.png")]
    assert max(maps) < min(frames)
    limit = (max(maps) + min(frames)) // 2  # a disk with room for a map but not a frame

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INKPAINT_PROGRESS": "lines"}
    r = subprocess.run([sys.executable, "-m", "core",
                        *map(str, args(src, out, lite_weights, "--bit-depth", "16"))],
                       env=env, capture_output=True, text=True, preexec_fn=small_disk,
                       timeout=300)
    assert r.returncode == 1
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("inkpaint: error:")]
    assert len(errors) == 1 and "File too large" in errors[0], r.stderr
    names = {p.name for p in out.iterdir()} if out.exists() else set()
    for m in (n for n in names if n.startswith("c.confidence.") and n.endswith(".png")):
        assert m.replace("confidence.", "") in names, f"{m} without its frame"
    assert not [n for n in names if ".tmp" in n]
