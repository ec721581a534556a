"""``inkpaint bench`` end to end on a tiny shot: each row comes from its own process and the
table and the memory-budget line are printed. Nothing here is timed or compared with a
target: the numbers are the benchmark's to print."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from core.cli import main
from core.timing import STAGES

ROOT = Path(__file__).resolve().parent.parent


def test_bench_prints_rows_sizes_and_the_memory_budget(capsys):
    assert main(["bench", "--presets", "lite", "--backends", "onnx", "--size", "64",
                 "--frames", "3", "--repeat", "1", "--sizes", "64,96"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| lite | onnx | cpu |"))
    imported, loaded, peak = map(float, re.search(r"\| (\S+) / (\S+) / (\S+) \|", row).groups())
    assert 0 < imported <= loaded <= peak
    # the GPU column is a dash where no GPU was used
    assert re.search(r"^\| 96 \| onnx \| \d+ / \d+ \| \d+ / \d+ \| \d+ \| – \|$", out, re.M)
    cold, warm = map(float, re.search(r"\| ([\d.]+) % / ([\d.]+) % \|$", row).groups())
    assert cold > 0 and warm > 0
    assert re.search(r"bytes of RAM per working pixel at 96; largest working size within 8 "
                     r"GB: about \d+x\d+", out)


def test_end_to_end_bench_times_every_stage_of_the_real_colorize(tmp_path):
    """``bench --shot``: every stage row and the anchor are printed with positive numbers,
    and the frames it coloured are, byte for byte, those ``inkpaint colorize`` writes for the
    same shot (what is timed is the product, not a copy of it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def inkpaint(*args) -> str:
        r = subprocess.run([sys.executable, "-m", "core", *args], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr
        return r.stdout

    kept = tmp_path / "bench"
    out = inkpaint("bench", "--shot", "320x180", "--frames", "6", "--backends", "onnx",
                   "--repeat", "1", "--out", str(kept))
    rows = {name: cells for name, *cells in re.findall(
        r"^\| ([^|]+?) \| ([\d.]+)(?: \(([\d.]+)\))? \|$", out, re.M)}
    for name in [*STAGES, "**total**", "load, once per run (s)"]:  # wall (CPU)
        assert all(float(v) > 0 for v in rows[name]), (name, out)
    assert float(rows["peak RSS MB"][0]) > 0
    anchor = re.search(r"flow-warp anchor .* ([\d.]+) \(([\d.]+)\) s per in-between", out)
    assert float(anchor[1]) > 0 and float(anchor[2]) > 0
    shot = kept / "shot"
    inkpaint("colorize", "--lineart", str(shot / "line.####.png"),
             "--ref", f"1001={shot / 'color.1001.png'}", "--ref", f"1006={shot / 'color.1006.png'}",
             "--out", str(tmp_path / "cli" / "out.####.png"), "--backend", "onnx")
    written = sorted(p.name for p in (tmp_path / "cli").glob("*.png"))
    assert len(written) == 12  # 6 frames and their confidence maps
    for name in written:
        assert (kept / "onnx" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
