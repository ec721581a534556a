"""The CLI end to end, as a user or a farm runs it: a real subprocess, real files.

Every bad input must give one line on stderr, exit 1, no output files, and untouched
sources."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.imageio import read_color, write_image
from tests.conftest import make_weights, write_shot

ROOT = Path(__file__).resolve().parent.parent


def inkpaint(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def shot24(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shot24")
    return write_shot(folder, frames=24, size=64) | {"dir": folder}


def ref_args(shot):
    d = shot["dir"]
    return ["--ref", f"{shot['first']}={d / 'color.1001.png'}",
            "--ref", f"{shot['last']}={d / 'color.1024.png'}"]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_colorize_writes_every_frame(tmp_path, shot24, lite_weights, backend):
    out = tmp_path / "out" / "c.####.png"
    r = inkpaint("colorize", "--lineart", shot24["lineart"], *ref_args(shot24), "--out", out,
                 "--model", lite_weights, "--backend", backend, "--size", 64)
    assert r.returncode == 0, r.stderr
    written = sorted(p.name for p in out.parent.iterdir() if not p.name.startswith("."))
    assert written == sorted([f"c.{f:04d}.png" for f in range(1001, 1025)]
                             + [f"c.confidence.{f:04d}.png" for f in range(1001, 1025)]
                             + ["c.confidence.json"])
    progress = [ln for ln in r.stderr.splitlines() if ln.startswith("inkpaint: progress")]
    assert len(progress) == 24 and progress[-1].startswith("inkpaint: progress 100.0% (24/24)")
    ref = read_color(out.parent / "c.1001.png")[0]
    assert np.array_equal(ref, read_color(shot24["dir"] / "color.1001.png")[0])


def test_retry_skips_complete_frames_and_overwrite_redoes_them(tmp_path, shot24, lite_weights):
    out = tmp_path / "o.%04d.png"
    args = ["colorize", "--lineart", shot24["lineart"], *ref_args(shot24), "--out", out,
            "--model", lite_weights, "--size", 64, "--frames", "1005-1008", "--no-temporal"]
    assert inkpaint(*args).returncode == 0
    (tmp_path / "o.1006.png").unlink()
    before = (tmp_path / "o.1005.png").stat().st_mtime_ns
    r = inkpaint(*args)
    assert r.returncode == 0 and "3 of 4 frames already written" in r.stdout
    assert (tmp_path / "o.1006.png").exists()
    assert (tmp_path / "o.1005.png").stat().st_mtime_ns == before
    r = inkpaint(*args, "--overwrite")
    assert r.returncode == 0 and (tmp_path / "o.1005.png").stat().st_mtime_ns != before


def bad_case(tmp_path, shot24, lite_weights, name):
    """Set up one bad input; returns the argument list."""
    src = tmp_path / "src"
    shutil.copytree(shot24["dir"], src)
    shot = shot24 | {"dir": src, "lineart": str(src / "line.####.png")}
    out = tmp_path / "out" / "c.####.png"
    model = lite_weights
    refs = ref_args(shot)
    lineart = shot["lineart"]
    extra: list = []
    if name == "missing frame":
        (src / "line.1010.png").unlink()
    elif name == "size mismatch":
        write_image(src / "line.1007.png", np.ones((48, 64, 3), np.float32))
    elif name == "ref outside range":
        refs = ["--ref", f"2000={src / 'color.1001.png'}"]
    elif name == "unreadable ref":
        refs = ["--ref", f"1001={src / 'nope.png'}"]
    elif name == "corrupt image":
        (src / "line.1017.png").write_bytes(b"not a png at all")
    elif name == "empty folder":
        (tmp_path / "empty").mkdir()
        lineart = tmp_path / "empty"
    elif name == "overwrite input":
        out = src / "line.####.png"
    elif name == "bad range":
        extra = ["--frames", "1020-1003"]
    elif name == "range outside shot":
        extra = ["--frames", "990-1003"]
    args = ["colorize", "--lineart", lineart, *refs, "--out", out, "--model", model,
            "--size", 64, *extra]
    return args, src, out


BAD = ["missing frame", "size mismatch", "ref outside range", "unreadable ref",
       "corrupt image", "empty folder", "overwrite input", "bad range", "range outside shot"]


@pytest.mark.parametrize("name", BAD)
def test_bad_input(tmp_path, shot24, lite_weights, name):
    args, src, out = bad_case(tmp_path, shot24, lite_weights, name)
    before = digest(src)
    r = inkpaint(*args)
    assert r.returncode == 1, (r.stdout, r.stderr)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("inkpaint: error:")]
    assert len(errors) == 1 and len(errors[0]) < 300, r.stderr
    assert "Traceback" not in r.stderr
    assert digest(src) == before
    assert not out.parent.exists() or not any(
        p for p in out.parent.iterdir() if p.name.startswith("c.")), "partial output"


def test_weights_of_another_preset_are_refused(tmp_path, shot24):
    weights = make_weights(tmp_path / "w")  # named lite.safetensors ...
    card = weights.with_suffix(".yaml")  # ... but its card says it is a paper model
    card.write_text(card.read_text().replace("preset: lite", "preset: paper", 1))
    env_dir = weights.parent
    out = tmp_path / "o.####.png"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INKPAINT_WEIGHTS": str(env_dir)}
    r = subprocess.run([sys.executable, "-m", "core", "colorize", "--lineart",
                        shot24["lineart"], *ref_args(shot24), "--out", str(out), "--model",
                        "lite"], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1
    assert "are for preset 'paper' but 'lite' was expected" in r.stderr
    assert not list(tmp_path.glob("o.*"))
