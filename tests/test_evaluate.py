import argparse
import json
import math
import shutil

import numpy as np
import pytest
import yaml

from core.commands.evaluate import add_arguments, run_evaluate
from core.data.procedural import Shot
from core.errors import InkpaintError
from core.eval.evaluate import (
    PSNR_CAP,
    Job,
    Options,
    Runner,
    Scores,
    bracketing,
    evaluate,
    frechet_distance_lowrank,
    moving_mask,
    nearest_reference,
    parse_ablations,
    reference_frames,
)
from core.eval.metrics import frechet_distance
from tests.conftest import make_weights


def _clip(frames: list[np.ndarray]) -> Shot:
    """A hand-built clip of flat uint8 colour frames (line art: a plain border box)."""
    color = np.stack(frames).astype(np.uint8)
    lines = np.full(color.shape[:3], 255, np.uint8)
    lines[:, 4, 4:-4] = lines[:, -5, 4:-4] = lines[:, 4:-4, 4] = lines[:, 4:-4, -5] = 0
    return Shot(color, lines, np.zeros((0, 3), np.uint8))


def _flat(value, size: int = 32) -> np.ndarray:
    return np.broadcast_to(np.array(value, np.uint8), (size, size, 3)).copy()


def _copy_scores(shot: Shot, refs: tuple[int, ...]) -> dict:
    scores: dict[Job, Scores] = {}
    Runner(Options(fid=False)).clip(shot, [Job(refs)], scores)
    return scores[Job(refs)].summary()


def test_reference_placement_and_nearest_reference():
    assert reference_frames(1, 24) == (0,)
    assert reference_frames(2, 24) == (0, 23)
    assert reference_frames(3, 24) == (0, 12, 23)
    assert reference_frames(5, 24) == (0, 6, 12, 17, 23)
    assert reference_frames(5, 8) == (0, 2, 4, 5, 7)
    with pytest.raises(InkpaintError):
        reference_frames(8, 8)  # nothing left to colour
    assert nearest_reference(3, (0, 7)) == 0
    assert nearest_reference(4, (0, 7)) == 7
    assert nearest_reference(4, (0, 8)) == 0  # tie -> the earlier reference
    assert bracketing(5, (0, 4, 8, 12)) == (4, 8)
    assert bracketing(5, (0,)) == (0,)


def test_copy_nearest_exact_clip_scores_capped_psnr_and_ssim_one():
    # held cels: frames 1-4 hold frame 0, frames 5-7 hold frame 8; frame 4 is a tie (4 from
    # both references), which must copy the earlier one to be exact
    a = _flat((200, 40, 40))
    a[8:20, 8:20] = (20, 200, 90)
    b = _flat((30, 60, 220))
    b[10:30, 2:12] = (250, 250, 0)
    m = _copy_scores(_clip([a] * 5 + [b] * 4), (0, 8))
    assert m["psnr"] == PSNR_CAP
    assert m["ssim"] == pytest.approx(1.0)
    assert m["mse"] == 0.0
    assert m["frames"] == 7
    assert m["moving_frames"] == 0 and m["moving_psnr"] is None  # nothing differs from both


def test_copy_nearest_scores_a_hand_computed_clip():
    black, white, grey = _flat(0), _flat(255), _flat(128)
    m = _copy_scores(_clip([black] + [grey] * 6 + [white]), (0, 7))
    g = 128 / 255
    # frames 1-3 copy black, 4-6 copy white
    expect = (3 * 10 * math.log10(1 / g**2) + 3 * 10 * math.log10(1 / (1 - g) ** 2)) / 6
    assert m["psnr"] == pytest.approx(expect)
    assert m["mse"] == pytest.approx((g**2 + (1 - g) ** 2) / 2)
    assert m["moving_frames"] == 6  # grey differs from black and from white by ~0.5
    assert m["moving_psnr"] == pytest.approx(expect)


def test_moving_mask_on_a_hand_built_example():
    ref_a = np.zeros((2, 3, 3), np.float32)
    ref_b = np.zeros((2, 3, 3), np.float32)
    ref_b[:, :, 0] = 1.0
    target = np.zeros((2, 3, 3), np.float32)
    target[0, 0] = (0.0, 0.0, 0.0)  # equals ref_a: static
    target[0, 1] = (1.0, 0.0, 0.0)  # equals ref_b: copying ref_b works
    target[0, 2] = (0.5, 0.0, 0.0)  # differs from both by 0.5: moving
    target[1, 0] = (0.05, 0.0, 0.5)  # only the blue channel differs much from a, red from b
    target[1, 1] = (0.95, 0.05, 0.0)  # within 0.1 of ref_b in every channel
    target[1, 2] = (0.0, 0.0, 0.2)  # 0.2 from a (blue); from b: red 1.0
    mask = moving_mask(target, [ref_a, ref_b])
    assert mask.tolist() == [[False, False, True], [True, False, True]]
    assert moving_mask(target, [ref_a]).tolist() == [[False, True, True], [True, True, True]]


def test_lowrank_frechet_distance_matches_sqrtm():
    rng = np.random.default_rng(0)
    for n, d in ((200, 16), (30, 64)):  # full rank, and fewer images than dimensions
        a = rng.normal(size=(n, d))
        b = rng.normal(size=(n + 3, d)) * 1.3 + 0.2
        assert frechet_distance_lowrank(a, b) == pytest.approx(frechet_distance(a, b), rel=1e-6)
    assert frechet_distance_lowrank(a, a) == pytest.approx(0.0, abs=1e-8)


def test_parse_ablations():
    assert parse_ablations(None) is None
    assert parse_ablations("") == {}
    assert parse_ablations("no_sim=a.safetensors, no_em=b.safetensors") == {
        "no_sim": "a.safetensors", "no_em": "b.safetensors"}
    for bad in ("no_sim", "=x", "a=1,a=2"):
        with pytest.raises(InkpaintError):
            parse_ablations(bad)


def test_bare_ablation_weights_are_named_by_their_card(lite_weights, tmp_path):
    """``--ablation WEIGHTS`` takes the row's name from what ``inkpaint train --ablation``
    recorded in the card; weights trained without one must be named."""
    for name, ablation in (("a", "no-em"), ("b", "full")):
        path = tmp_path / f"{name}.safetensors"
        shutil.copy(lite_weights, path)
        card = yaml.safe_load(lite_weights.with_suffix(".yaml").read_text(encoding="utf-8"))
        card["training"] = {"ablation": ablation, "step": 3}
        path.with_suffix(".yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    a, b = str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors")
    assert parse_ablations(f"{a}, no_sim={b}") == {"no-em": a, "no_sim": b}
    with pytest.raises(InkpaintError, match="records no ablation"):
        parse_ablations(b)


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> dict:
    """One tiny real run through the command (2 clips of 8 at 48 x 48, random weights, an
    ablation row with other weights, no FID), and a second identical run."""
    root = tmp_path_factory.mktemp("evaluate")
    full = make_weights(root / "full")
    other = make_weights(root / "other", seed=1)
    argv = ["--model", str(full), "--sets", "procedural", "--clips", "2", "--protocol", "8",
            "--size", "48", "--no-fid", "--device", "cpu", "--ablation", f"no_sim={other}",
            "--compose-table"]
    for name in ("a", "b"):
        assert run_evaluate(_args(*argv, "--out", str(root / "reports" / name))) == 0
    return {"root": root, "model": str(full), "other": str(other)}


@pytest.mark.slow  # the fixture colours 2 x 12 frames twice: ~10-60 s on a busy 2-core CPU
def test_report_files_hold_the_tables_and_numbers(small_run):
    reports = small_run["root"] / "reports"
    md = (reports / "a.md").read_text(encoding="utf-8")
    doc = json.loads((reports / "a.json").read_text(encoding="utf-8"))
    assert not [p for p in reports.iterdir() if p.name.startswith(".")]  # no temp files left
    assert ("| Method | MSE↓ | PSNR↑ | SSIM↑ | FID↓ | moving-PSNR↑ | region acc↑ | pixel acc↑ "
            "| flicker↓ |" in md)
    assert f"| Inkpaint ({small_run['model']}) |" in md
    assert "| Copy nearest reference |" in md
    assert "| Flow warp of the keys |" in md
    assert "2 clips, 12 in-between frames scored" in md
    assert "capped at 60 dB" in md
    assert "Ablations (Table 1 analogue)" in md
    for row in ("| Full |", "| No Temporal |", "| No Sim (`"):
        assert row in md
    proto = doc["sets"]["procedural"]["protocols"]["8"]
    for method in ("inkpaint", "copy_nearest", "flow_warp"):
        m = proto[method]
        assert m["clips"] == 2 and m["frames"] == 12
        assert 0 <= m["flicker"] <= 1
        assert 0 <= m["mse"] <= 1 and 0 < m["psnr"] <= PSNR_CAP and -1 <= m["ssim"] <= 1
        assert m["fid"] is None  # --no-fid
        assert 0 <= m["region_acc"] <= 1 and 0 <= m["pixel_acc"] <= 1
    assert f"{proto['copy_nearest']['psnr']:.2f}" in md
    assert f"{proto['inkpaint']['mse']:.4f}" in md
    compose = {r["method"]: r["metrics"]
               for r in doc["sets"]["procedural"]["compose_table"]["rows"]}
    assert list(compose) == ["compose flat", "compose network", "compose auto (default)",
                             "region matcher (no network)",
                             "flow warp of the keys (no network)", "copy nearest reference"]
    assert compose["compose auto (default)"] == proto["inkpaint"]  # one run, one job
    assert compose["copy nearest reference"] == proto["copy_nearest"]
    assert compose["flow warp of the keys (no network)"] == proto["flow_warp"]
    assert len({c["psnr"] for c in compose.values()}) == 6  # six different outputs
    assert compose["region matcher (no network)"]["frames"] == 12
    assert "Composition modes and baselines" in md
    rows = {r["setting"]: r["metrics"] for r in doc["sets"]["procedural"]["ablation"]["rows"]}
    assert rows["Full"] == proto["inkpaint"]  # the same run, not a second one
    alone = {r["setting"]: r["network"] for r in doc["sets"]["procedural"]["ablation"]["rows"]
             if "network" in r}
    assert list(alone) == ["No Sim", "No Temporal", "Full"]  # copying has no network
    # the network alone, one job: the product's default has the temporal network off
    assert alone["No Temporal"] == compose["compose network"]
    assert alone["No Sim"] != alone["Full"] and alone["No Sim"]["frames"] == 12
    assert "| No Sim (`" in md and "| network alone |" in md
    assert list(doc["paper"]["tables"]) == ["table1", "table2"]  # no K table in this run
    assert "## The paper's published rows (its own data set: not comparable)" in md
    assert "| Full | 0.0101 | 22.81 | 0.870 | 26.9 |" in md  # its Table 1, as published
    # separate runs, each of its own weights (on the product path the composition may leave
    # the frames equal: where the warped keys decide every region the network's vote, whose
    # fitted weight is the smallest, changes nothing)
    models = {r["setting"]: r["model"]
              for r in doc["sets"]["procedural"]["ablation"]["rows"]}
    assert models["No Sim"] == small_run["other"] != models["Full"] == small_run["model"]
    assert rows["No Sim"]["frames"] == rows["No Temporal"]["frames"] == rows["Full"]["frames"]
    assert rows["Full"]["frames"] == 12
    s = doc["settings"]
    assert s["size"] == 48 and s["backend"] == "torch" and len(s["model_sha256"]) == 64
    assert s["model_sha256"][:12] in md


@pytest.mark.slow
def test_two_runs_give_the_same_numbers(small_run):
    reports = small_run["root"] / "reports"
    a, b = (json.loads((reports / f"{n}.json").read_text()) for n in ("a", "b"))
    for doc in (a, b):
        del doc["settings"]["date"], doc["settings"]["seconds"]
    assert a == b


def test_bad_inputs_fail_before_running(tmp_path, lite_weights):
    with pytest.raises(InkpaintError, match="protocol"):
        run_evaluate(_args("--model", str(lite_weights), "--protocol", "8,x",
                           "--out", str(tmp_path / "r")))
    with pytest.raises(InkpaintError, match="unknown evaluation set"):
        evaluate(Options(model=str(lite_weights), sets=("cartoons",), fid=False))
    with pytest.raises(InkpaintError, match="--ablation no_em"):
        evaluate(Options(model=str(lite_weights), ablations={"no_em": str(tmp_path / "x")},
                         fid=False))
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # 6 colorize calls
def test_k_table_and_skipped_protocol_on_a_short_set(tmp_path, lite_weights, monkeypatch):
    """K = 1..5 over the longest clips a set has, and a protocol longer than its clips is
    reported as skipped (the sprites' walk cycles, here a stand-in set of 6-frame clips)."""
    import core.eval.evaluate as ev

    rng = np.random.default_rng(3)
    shots = [_clip([_flat(rng.integers(0, 256, 3), 32) for _ in range(6)]) for _ in range(1)]
    real = ev._source

    def fake_source(name, opts):
        if name != "sprites":
            return real(name, opts)
        return ev._Source(name, 1, 6, lambda frames: iter(shots), "stand-in")

    monkeypatch.setattr(ev, "_source", fake_source)
    report = evaluate(Options(model=str(lite_weights), sets=("sprites",), clips=1,
                              protocols=(6, 24), k_table=True, size=32, fid=False,
                              device="cpu"), log=lambda line: None)
    data = report["sets"]["sprites"]
    assert data["protocols"]["24"] == {"skipped": "clips have 6 frames at most"}
    kt = data["k_table"]
    assert kt["frames"] == 6
    assert [r["k"] for r in kt["rows"]] == [1, 2, 3, 4, 5]
    assert [r["inkpaint"]["frames"] for r in kt["rows"]] == [5, 4, 3, 2, 1]
    assert kt["rows"][1]["inkpaint"] == data["protocols"]["6"]["inkpaint"]
    assert [r["network"]["frames"] for r in kt["rows"]] == [5, 4, 3, 2, 1]
    assert list(report["paper"]["tables"]) == ["table5"]


def test_a_set_that_cannot_be_had_is_reported_as_skipped(tmp_path, lite_weights, monkeypatch):
    import core.eval.evaluate as ev
    from core.eval.report import write_report

    def missing(name, opts):
        raise InkpaintError("the sprite set needs Kenney's sprites from the arcade wheel: "
                            "pip install --no-deps arcade")

    monkeypatch.setattr(ev, "_source", missing)
    lines: list[str] = []
    report = evaluate(Options(model=str(lite_weights), sets=("sprites",), fid=False,
                              device="cpu"), log=lines.append)
    assert "pip install --no-deps arcade" in report["sets"]["sprites"]["skipped"]
    assert any("skipping the sprites set" in line for line in lines)
    md, js = write_report(report, tmp_path / "r.md")
    assert (md.name, js.name) == ("r.md", "r.json")
    assert "Not evaluated: the sprite set needs" in md.read_text(encoding="utf-8")
