"""Farm chunks rendered for real, in separate processes, as a farm runs them: a 48-frame shot
with 3 painted keys at 64 px.

- chunks rendered in parallel give bit-identical frames to one run of the whole shot;
- a chunk killed mid-run (SIGKILL after its first progress line) and rerun completes with
  every frame whole, and a cancelled one (SIGTERM) stops cleanly with one error line;
- the Open Job Description job runs under ``openjd run`` and writes every frame.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.compose.review import read_scores
from core.farm.chunks import plan_chunks
from core.frames import FrameSequence
from core.imageio import read_color
from tests.conftest import make_weights, write_shot

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
KEYS = (1001, 1024, 1048)
# One thread per process: the same arithmetic in every process (and polite on small CI boxes).
# The venv's bin on PATH: farm jobs start 'inkpaint' from the node's PATH.
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


@pytest.fixture(scope="module")
def shot48(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shot48")
    shot = write_shot(folder / "shot", frames=48, size=64)
    weights = make_weights(folder)
    return shot | {"dir": folder / "shot", "weights": weights, "root": folder}


def colorize_argv(shot, out, *extra) -> list[str]:
    keys = [a for f in KEYS for a in ("--ref", f"{f}={shot['dir'] / f'color.{f}.png'}")]
    return [sys.executable, "-m", "core", "colorize", "--lineart", shot["lineart"], *keys,
            "--out", str(out), "--model", str(shot["weights"]), "--size", "64", *extra]


def digests(folder: Path) -> dict[str, str]:
    """Every frame and confidence map by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.glob("c.*.png"))}


def frames_in(folder: Path) -> list[int]:
    return sorted(int(p.name.split(".")[1]) for p in folder.glob("c.[0-9]*.png"))


@pytest.fixture(scope="module")
def single_run(shot48):
    out = shot48["root"] / "single"
    r = subprocess.run(colorize_argv(shot48, out / "c.####.png"), env=ENV,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    d = digests(out)
    assert len(d) == 2 * 48  # frames and their confidence maps
    return d


def test_parallel_chunks_match_a_single_run(shot48, single_run, tmp_path):
    plan = plan_chunks(1001, 1048, KEYS, 12, 6)
    assert len(plan.chunks) == 5
    out = tmp_path / "c.####.png"
    procs = [subprocess.Popen(colorize_argv(shot48, out, "--frames", c.range, "--progress",
                                            "lines"),
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in plan.chunks]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    for (rc, _, err), c in zip(results, plan.chunks):
        assert rc == 0, (c.range, err)
        lines = [ln for ln in err.splitlines() if ln.startswith("inkpaint: progress")]
        assert len(lines) == c.size  # one progress line per frame of the chunk
    assert digests(tmp_path) == single_run  # bit-identical, frame for frame
    # each chunk logged its own frames: a re-run of the whole shot finds nothing to redo
    r = subprocess.run(colorize_argv(shot48, out), env=ENV, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert "48 of 48 frames already written, skipping them (their inputs did not change" \
        in r.stdout
    assert sorted(read_scores(tmp_path / "c.confidence.json")) == list(range(1001, 1049))


def _start_and_wait_for_progress(argv) -> subprocess.Popen:
    p = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.monotonic() + 300
    for line in p.stderr:
        if line.startswith("inkpaint: progress") or time.monotonic() > deadline:
            break
    return p


def _assert_whole_sequence(folder: Path, frames: range, single_run) -> None:
    """Every frame there decodes, matches the single run, and no temp file poses as a frame."""
    seq = FrameSequence(folder / "c.####.png")
    assert seq.frames == list(frames)
    visible = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    images = [f"c.{f}.png" for f in frames] + [f"c.confidence.{f}.png" for f in frames]
    assert [n for n in visible if n != "c.confidence.json"] == sorted(images)
    for f in frames:
        rgb, _ = read_color(seq.path(f))
        assert rgb.shape == (64, 64, 3) and np.isfinite(rgb).all()
    got = digests(folder)
    assert got == {k: v for k, v in single_run.items() if k in got}


def test_killed_chunk_rerun_completes_without_corrupt_frames(shot48, single_run, tmp_path):
    argv = colorize_argv(shot48, tmp_path / "c.####.png", "--frames", "1002-1024",
                         "--progress", "lines")
    p = _start_and_wait_for_progress(argv)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    p.stderr.close()
    done = frames_in(tmp_path)
    assert 1 <= len(done) < 23
    # What a kill in the middle of a write leaves: a hidden temp file (here an old one, and
    # the killed run's own if the kill landed while it wrote a frame).
    orphan = tmp_path / ".c.1020.deadbeef.tmp.png"
    orphan.write_bytes(b"\x89PNG\r\n\x1a\n half a frame")
    os.utime(orphan, (time.time() - 3600,) * 2)
    temps = [q for q in tmp_path.iterdir() if q.name.startswith(".") and ".tmp." in q.name]
    r = subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"{len(done)} of 23 frames already written" in r.stdout
    assert f"removed {len(temps)} temp files" in r.stdout
    assert not any(q.exists() for q in temps)
    assert not orphan.exists()
    _assert_whole_sequence(tmp_path, range(1002, 1025), single_run)


def test_cancelled_chunk_stops_with_one_error_line(shot48, single_run, tmp_path):
    argv = colorize_argv(shot48, tmp_path / "c.####.png", "--frames", "1025-1048",
                         "--progress", "openjd")
    p = subprocess.Popen(argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    for line in p.stdout:
        if line.startswith("openjd_progress:"):
            break
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1
    errors = [ln for ln in err.splitlines() if ln.strip()]
    assert errors[-1].startswith("inkpaint: error: cancelled (SIGTERM)")
    assert "openjd_fail: cancelled (SIGTERM)" in out
    assert not list(tmp_path.glob(".*.tmp*"))  # the frame being written left no temp file
    frames = frames_in(tmp_path)
    _assert_whole_sequence(tmp_path, range(1025, 1025 + len(frames)), single_run)


def test_openjd_job_runs_under_openjd_run(shot48, single_run, tmp_path):
    openjd = Path(sys.executable).parent / "openjd"
    if not openjd.exists():
        pytest.skip("openjd-cli is not installed (pip install openjd-cli)")
    out = tmp_path / "out"
    keys = [a for f in KEYS for a in ("--ref", f"{f}={shot48['dir'] / f'color.{f}.png'}")]
    r = subprocess.run([sys.executable, "-m", "core", "farm", "submit", "--farm", "openjd",
                        "--lineart", shot48["lineart"], *keys, "--out", str(out / "c.####.png"),
                        "--model", str(shot48["weights"]), "--size", "64",
                        "--job-dir", str(tmp_path / "bundle"), "--env", "OMP_NUM_THREADS=1"],
                       env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    bundle = tmp_path / "bundle"
    import yaml

    steps = [s["name"] for s in yaml.safe_load((bundle / "template.yaml").read_text())["steps"]]
    assert steps == ["Key 1001", "Colorize 1002-1024", "Colorize 1025-1048"]
    for step in steps:
        r = subprocess.run([str(openjd), "run", str(bundle / "template.yaml"), "-p",
                            f"file://{bundle / 'job_params.json'}", "--step", step,
                            "--output", "json"],
                           env=ENV, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        result = json.loads(r.stdout[r.stdout.index("{"):])
        assert result["status"] == "success", result
    _assert_whole_sequence(out, range(1001, 1049), single_run)
    assert digests(out) == single_run
