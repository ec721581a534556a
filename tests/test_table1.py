"""The Table 1 suite for real, on a tiny budget: every run trained to the same step from the
same seed, one evaluation with a row per ablation (product path and network alone), skipped
runs on a rerun, and an extension that brings every run to the new budget."""

from __future__ import annotations

import json

import pytest

from core.card import read_card
from core.eval.table1 import RUNS, TEMPORAL_RUN, main

TINY = ["--train-size", "32", "--batch", "1", "--vgg-side", "32", "--drawings", "0",
        "--ckpt-every", "1", "--val-clips", "1", "--device", "cpu", "--nice", "0"]


def _step(weights) -> int:
    return read_card(str(weights))[1]["training"]["step"]


@pytest.mark.slow  # 8 short trainings and one evaluation: ~30-120 s on a busy 2-core CPU
def test_suite_trains_equal_budgets_evaluates_resumes_and_extends(tmp_path, capsys):
    root = tmp_path / "t1"
    args = ["--run-root", str(root), "--steps", "2", "--t-steps", "1", *TINY,
            "--sets", "procedural", "--clips", "1", "--size", "48", "--no-fid"]
    assert main(args) == 0
    for name in RUNS:
        card = read_card(str(root / name / "latest.safetensors"))[1]
        assert card["training"]["step"] == 2
        assert card["training"]["ablation"] == ("full" if name == "full" else name)
    assert _step(root / f"{TEMPORAL_RUN}-on-2" / "latest.safetensors") == 1

    doc = json.loads((root / "table1.json").read_text(encoding="utf-8"))
    rows = {r["setting"]: r for r in doc["sets"]["procedural"]["ablation"]["rows"]}
    assert list(rows) == ["No Sim", "No Em", "No Distance", "No Perceptual", "No Style",
                          "No Latent", "No Temporal", "Full", "Copy nearest reference"]
    for name, row in rows.items():
        assert row["metrics"]["frames"] == 6
        assert ("network" in row) == (name != "Copy nearest reference")
    assert rows["Full"]["model"].endswith(f"{TEMPORAL_RUN}-on-2/latest.safetensors")
    assert doc["settings"]["table1"]["steps"] == 2
    assert "Table 1: ablations" in (root / "table1.md").read_text(encoding="utf-8")
    capsys.readouterr()

    assert main([*args, "--train-only"]) == 0  # a rerun trains nothing
    out = capsys.readouterr().out
    assert out.count("skipped") == len(RUNS) + 1 and "training" not in out

    assert main([*args[:3], "3", *args[4:], "--train-only"]) == 0  # extend to 3 steps
    assert all(_step(root / name / "latest.safetensors") == 3 for name in RUNS)
    assert _step(root / f"{TEMPORAL_RUN}-on-3" / "latest.safetensors") == 1
