"""Each shipped weights file still produces the evaluation recorded beside it.

``weights/eval-<name>-check.json`` is a small ``inkpaint evaluate`` run of ``<name>`` (one
held-out procedural clip of 8 at 128 x 128, the composition table: the network alone, the
product's default composition and the baselines), recorded from the code and weights of the
commit that shipped them:

    inkpaint evaluate --model NAME --sets procedural --clips 1 --protocol 8 --size 128 \\
        --no-fid --compose-table --device cpu --out weights/eval-NAME-check

The test runs the same evaluation again and compares the rows. A weights file without its
check, or whose check was made from other weights (SHA-256), fails: re-record it with the
command above when the weights are meant to change. Tolerance: 0.1 dB PSNR and 0.003 SSIM per
row, room for another CPU's float rounding (a region decision that flips on a near tie moves a
1-clip row by a few hundredths of a dB); a changed network or composition moves them by more.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.card import WEIGHTS_DIR, sha256
from core.eval.evaluate import Options, evaluate

SHIPPED = sorted(WEIGHTS_DIR.glob("*.safetensors"))
PSNR_TOL_DB = 0.1
SSIM_TOL = 0.003


def _rows(report: dict) -> dict[str, dict]:
    rows = report["sets"]["procedural"]["compose_table"]["rows"]
    return {r["method"]: r["metrics"] for r in rows}


def test_weights_are_shipped():
    assert SHIPPED, f"no .safetensors in {WEIGHTS_DIR}"


@pytest.mark.slow  # one clip through five colourings at 128 px: ~10-40 s on a busy CPU
@pytest.mark.parametrize("weights", SHIPPED, ids=lambda p: p.stem)
def test_shipped_weights_reproduce_their_recorded_row(weights: Path):
    check = weights.with_name(f"eval-{weights.stem}-check.json")
    assert check.is_file(), f"{weights.name} has no recorded check: record {check.name}"
    recorded = json.loads(check.read_text(encoding="utf-8"))
    s = recorded["settings"]
    assert s["model_sha256"] == sha256(weights), (
        f"{check.name} was recorded from other weights than {weights.name}: re-record it")
    report = evaluate(Options(model=str(weights), sets=tuple(s["sets"]), clips=s["clips"],
                              protocols=tuple(s["protocols"]), size=s["size"],
                              fid=s["fid"], compose_table=True, device="cpu"),
                      log=lambda line: None)
    got, want = _rows(report), _rows(recorded)
    assert got.keys() == want.keys()
    for method, m in want.items():
        assert got[method]["frames"] == m["frames"] == 6
        assert got[method]["psnr"] == pytest.approx(m["psnr"], abs=PSNR_TOL_DB), method
        assert got[method]["ssim"] == pytest.approx(m["ssim"], abs=SSIM_TOL), method
