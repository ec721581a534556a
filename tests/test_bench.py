"""``inkpaint bench`` end to end on a tiny shot: each row comes from its own process and the
table and the memory-budget line are printed. Nothing here is timed or compared with a
target: the numbers are the benchmark's to print."""

from __future__ import annotations

import re

from core.cli import main


def test_bench_prints_rows_sizes_and_the_memory_budget(capsys):
    assert main(["bench", "--presets", "lite", "--backends", "onnx", "--size", "64",
                 "--frames", "3", "--repeat", "1", "--sizes", "64,96"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| lite | onnx | cpu |"))
    imported, loaded, peak = map(float, re.search(r"\| (\S+) / (\S+) / (\S+) \|", row).groups())
    assert 0 < imported <= loaded <= peak
    assert re.search(r"^\| 96 \| onnx \| \d+ \| \d+ \| \d+ \|$", out, re.M)
    assert re.search(r"largest working size within 8 GB: about \d+x\d+", out)
