"""The trainer for real, on a tiny budget: stage 1 writes weights, checkpoint and log and
resumes where it stopped; stage 2 trains T on top of a frozen G that it leaves bit-identical."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from core.card import read_card
from core.config import ABLATIONS
from core.errors import InkpaintError
from core.eval.evaluate import ablation_label, trained_ablation
from core.train.trainer import Trainer, TrainOptions
from core.weights import load_weights


def _opts(run, **kw) -> TrainOptions:
    base = dict(preset="lite", run_dir=run, steps=2, batch=1, targets_per_clip=1,
                vgg_side=32, ckpt_every=1, log_every=1, val_every=2, val_clips=1,
                drawings=0.0, clip_frames=4, threads=1)
    return TrainOptions(**{**base, **kw})


def test_stage1_writes_and_resumes_then_stage2_keeps_g(tmp_path):
    run = tmp_path / "run"
    Trainer(_opts(run)).run(progress=lambda line: None)
    log = [json.loads(line) for line in (run / "stage1.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and "val_psnr" in log[-1]
    for name in ("latest.safetensors", "best.safetensors", "stage1.ckpt.safetensors"):
        assert (run / name).is_file()

    resumed = Trainer(_opts(run, steps=3))
    assert resumed.step == 2  # picked up from the checkpoint
    resumed.run(progress=lambda line: None)
    log = [json.loads(line) for line in (run / "stage1.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]

    init = run / "latest.safetensors"
    run2 = tmp_path / "run2"
    Trainer(_opts(run2, stage=2, steps=1, init=str(init))).run(progress=lambda line: None)
    a, b = load_file(str(init)), load_file(str(run2 / "latest.safetensors"))
    assert all(np.array_equal(a[k], b[k]) for k in a if k.startswith("G."))
    assert any(not np.array_equal(a[k], b[k]) for k in a if k.startswith("T."))


@pytest.mark.slow  # two short trainings per ablation: ~5-40 s each on a busy 2-core CPU
@pytest.mark.parametrize("ablation", list(ABLATIONS))
def test_every_ablation_trains_resumes_and_is_recorded(tmp_path, ablation):
    """A few steps of each Table 1 row: the run switches the part off (architecture) or
    zeroes its loss term, resumes from its checkpoint, and its card names the ablation, which
    is how ``inkpaint evaluate --ablation WEIGHTS`` labels the row."""
    run = tmp_path / ablation
    first = Trainer(_opts(run, steps=1, ablation=ablation, train_size=32))
    arch, loss = ABLATIONS[ablation]
    assert all(getattr(first.cfg.ablation, k) == v for k, v in arch.items())
    assert all(getattr(first.weights, k) == v == 0.0 for k, v in loss.items())
    first.run(progress=lambda line: None)
    log = [json.loads(line) for line in (run / "stage1.log.jsonl").read_text().splitlines()]
    assert all(log[-1][k] > 0 for k in ("l1", "perc", "style", "gan"))  # terms still logged

    resumed = Trainer(_opts(run, steps=2, ablation=ablation, train_size=32))
    assert resumed.step == 1
    resumed.run(progress=lambda line: None)
    weights = run / "latest.safetensors"
    assert trained_ablation(str(weights)) == ablation
    assert ablation_label(ablation) in {"No Sim", "No Em", "No Distance", "No Perceptual",
                                        "No Style", "No Latent", "No Temporal"}
    _, card = read_card(str(weights))
    assert card["training"]["step"] == 2 and card["training"]["train_size"] == 32
    assert all(card["config"]["ablation"][k] == v for k, v in arch.items())
    tensors = load_file(str(weights))
    assert any(k.startswith("T.") for k in tensors) == (ablation != "no-temporal")
    gens = load_weights(str(weights))  # loads into the network its card describes
    assert (gens.T is None) == (ablation == "no-temporal")

    with pytest.raises(InkpaintError, match="--ablation"):  # another row's run: refused
        Trainer(_opts(run, steps=3, train_size=32))


def test_same_seed_same_start_and_data(tmp_path):
    """Two runs of one seed start from the same networks and see the same clips, so the
    Table 1 rows differ by their ablation only."""
    a, b = (Trainer(_opts(tmp_path / n, steps=1, train_size=32)) for n in "ab")
    for x, y in zip(a.gens.G.state_dict().values(), b.gens.G.state_dict().values()):
        assert torch.equal(x, y)
    no_sim = Trainer(_opts(tmp_path / "c", steps=1, train_size=32, ablation="no-sim"))
    for x, y in zip(a.disc.state_dict().values(), no_sim.disc.state_dict().values()):
        assert torch.equal(x, y)  # the same D whatever G's architecture drew before it
    clip_a, clip_b = (next(iter(t.loader())) for t in (a, b))
    assert all(torch.equal(clip_a[k], clip_b[k]) for k in clip_a)
    unbroken = iter(a.loader())
    first, second = next(unbroken), next(unbroken)
    assert not torch.equal(first["color"], second["color"])
    b.step = 1  # as if resumed after one step: it goes on with the second clip
    assert all(torch.equal(next(iter(b.loader()))[k], second[k]) for k in second)


def test_stage2_needs_matching_init(tmp_path, lite_weights):
    with pytest.raises(InkpaintError, match="--init"):
        Trainer(_opts(tmp_path / "r", stage=2))
    with pytest.raises(InkpaintError, match="same ablation"):
        Trainer(_opts(tmp_path / "r", stage=2, ablation="no-sim", init=str(lite_weights)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    with pytest.raises(InkpaintError, match="no CUDA GPU"):
        Trainer(_opts(tmp_path / "r", device="cuda"))
    assert not (tmp_path / "r").exists()
