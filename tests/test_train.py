"""The trainer for real, on a tiny budget: stage 1 writes weights, checkpoint and log and
resumes where it stopped; stage 2 trains T on top of a frozen G that it leaves bit-identical."""

from __future__ import annotations

import json

import numpy as np
from safetensors.numpy import load_file

from core.train.trainer import Trainer, TrainOptions


def _opts(run, **kw) -> TrainOptions:
    base = dict(preset="lite", run_dir=run, steps=2, batch=1, targets_per_clip=1,
                vgg_side=32, ckpt_every=1, log_every=1, val_every=2, val_clips=1,
                drawings=0.0, clip_frames=4)
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
