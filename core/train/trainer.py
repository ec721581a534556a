"""Training of the colour transform network (stage 1: G and D) and of the temporal constraint
network (stage 2: T and its discriminator, G frozen), as in sec. 3.5 and 4.1: Adam with
G 1e-4, D 1e-5, betas (0.5, 0.999), 8-frame clips whose first and last frames are the
references. Resumable from the run folder; logs JSON lines; exports baked weights.

Few-shot fine-tuning (sec. 4.4-4.5) is stage 1 started from trained weights on the shots of a
footage data set: ``sequences`` of its shots train (the paper: 32), the rest are held out for
validation, as the paper tests on the remaining sequences of the new animation.

The paper's Table 1 ablations train with ``ablation`` set: an architecture switch of the preset
(``ModelConfig.with_ablation``) or a loss term whose lambda is zeroed. The run's weights card
records the ablation, so ``inkpaint evaluate --ablation`` labels the row from it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import ABLATIONS, ModelConfig, load_preset
from ..data.footage import FootageShots
from ..engine.backends import torch_device
from ..errors import InkpaintError
from ..eval.metrics import psnr
from ..nets import Discriminator, TemporalDiscriminator, spectral_norm_marked
from ..weights import Generators, build_generators, load_weights, save_weights
from .backbone import VGGFeatures
from .checkpoint import checkpoint_meta, load_checkpoint, save_checkpoint
from .clips import EVAL_SEED_BASE, FootageClips, clip_loader, footage_window, shot_tensors
from .losses import LossWeights, gan_d_loss, generator_objective


@dataclass
class TrainOptions:
    preset: str
    run_dir: Path
    stage: int = 1
    steps: int = 10_000
    batch: int = 4
    targets_per_clip: int = 2  # stage 1: in-between frames of each clip coloured per step
    clip_frames: int = 8
    lr_g: float = 1e-4
    lr_d: float = 1e-5
    vgg_side: int | None = None  # area-downsample before VGG (a CPU budget knob)
    ckpt_every: int = 100
    log_every: int = 10
    val_every: int = 100
    val_clips: int = 8
    init: str | None = None  # weights to start G (and T) from: fine-tuning, or stage 2
    threads: int = 2
    seed: int = 0
    drawings: float = 0.5  # share of clips that animate clip-art drawings
    data: Path | None = None  # a footage data set: train on its shots instead (fine-tuning)
    sequences: int = 32  # fine-tuning: shots of ``data`` that train; the rest validate
    weights: LossWeights = field(default_factory=LossWeights)
    ablation: str | None = None  # a key of ABLATIONS: the paper's Table 1 row this run trains
    train_size: int | None = None  # square crop side (default: the preset's; a CPU budget knob)
    device: str = "auto"  # auto: CUDA where PyTorch sees a GPU, else the CPU
    workers: int = 1  # clip-rendering processes; 0 renders in the training process (1 core)


def _adam(params, lr: float) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))


def choose_refs(rng: np.random.Generator, frames: int) -> list[int]:
    """K = 2 (first and last) mostly; K = 1 and K = 3 sometimes, so any K works later."""
    r = rng.random()
    if r < 0.15:
        return [0] if rng.random() < 0.5 else [frames - 1]
    if r < 0.3:
        return sorted([0, frames - 1, int(rng.integers(1, frames - 1))])
    return [0, frames - 1]


def ablated(opts: TrainOptions) -> tuple[ModelConfig, LossWeights]:
    """The run's network config and loss weights: the preset (at ``train_size`` if given)
    with the ablation's parts switched off and its loss terms zeroed."""
    if opts.ablation is not None and opts.ablation not in ABLATIONS:
        raise InkpaintError(f"unknown ablation '{opts.ablation}': use one of "
                            f"{', '.join(ABLATIONS)}")
    arch, loss = ABLATIONS.get(opts.ablation, ({}, {}))
    cfg = load_preset(opts.preset).with_ablation(**arch)
    if opts.train_size is not None:
        if opts.train_size < 32 or opts.train_size % 4:
            raise InkpaintError(f"--train-size {opts.train_size}: use a multiple of 4, "
                                "32 or more (the encoders work at 1/4 size)")
        cfg = dataclasses.replace(cfg, train_size=opts.train_size)
    return cfg, dataclasses.replace(opts.weights, **loss)


class Trainer:
    def __init__(self, opts: TrainOptions) -> None:
        torch.set_num_threads(opts.threads)
        self.opts = opts
        self.cfg, self.weights = ablated(opts)
        self.device = torch.device(torch_device(opts.device))
        self.rng = np.random.default_rng(opts.seed)
        torch.manual_seed(opts.seed)  # the same initial networks for every run of one seed
        self.gens: Generators = self._initial_generators()
        # Spectral norm wraps only the network being trained. The frozen one keeps the weights
        # it was loaded with: re-wrapping baked weights divides them by a fresh estimate of
        # their largest singular value, which is not exactly 1 (the power iteration of
        # training is never fully converged), and would change G under stage 2 by a few %.
        torch.manual_seed(opts.seed + 1)  # and the same D whatever G's ablation built
        if opts.stage == 1:
            self.disc: nn.Module = Discriminator(self.cfg.discriminator.channels)
        else:
            self.disc = TemporalDiscriminator(self.cfg.temporal.disc_channels)
            self.gens.G.eval().requires_grad_(False)
        spectral_norm_marked(self.disc)
        self.net = spectral_norm_marked(self.gens.G if opts.stage == 1 else self.gens.T)
        for net in (self.gens.G, self.gens.T, self.disc):
            if net is not None:
                net.to(self.device)
        self.opt_g = _adam(self.net.parameters(), opts.lr_g)
        self.opt_d = _adam(self.disc.parameters(), opts.lr_d)
        self.vgg = VGGFeatures(max_side=opts.vgg_side).to(self.device)
        self.step = 0
        self.best = -1.0
        self.ckpt = opts.run_dir / f"stage{opts.stage}.ckpt.safetensors"
        self.train_shots, self.val_shots = self._footage_split() if opts.data else ([], [])
        self._val: list[dict[str, torch.Tensor]] | None = None
        if self.ckpt.exists():
            was = checkpoint_meta(self.ckpt).get("options", {}).get("ablation")
            if was != opts.ablation:
                raise InkpaintError(
                    f"{opts.run_dir} holds a run of {was or 'the full network'}: resume it "
                    + (f"with --ablation {was}" if was else "without --ablation"))
            meta = load_checkpoint(self.ckpt, self._nets(), self._optims())
            self.step, self.best = meta["step"], meta.get("best", -1.0)

    def _initial_generators(self) -> Generators:
        """Fresh networks of the run's config (stage 1), or the ``init`` weights (stage 2 and
        fine-tuning), which must be of the same ablation: a run cannot change the network."""
        o = self.opts
        if not o.init:
            if o.stage == 2:
                raise InkpaintError("stage 2 trains T on a frozen G: give --init with the "
                                    "stage-1 weights")
            return build_generators(self.cfg)
        gens = load_weights(o.init, expect_preset=self.cfg.name)
        if gens.cfg.ablation != self.cfg.ablation:
            raise InkpaintError(
                f"--init {o.init} is a network with parts {asdict(gens.cfg.ablation)}, this "
                f"run's ablation wants {asdict(self.cfg.ablation)}: start from weights of "
                "the same ablation")
        if o.stage == 2 and gens.T is None:
            raise InkpaintError("stage 2 trains the temporal network, which this run's "
                                "ablation (no-temporal) does not have")
        gens.cfg = dataclasses.replace(gens.cfg, train_size=self.cfg.train_size)
        return gens

    def _footage_split(self) -> tuple[list[int], list[int]]:
        """A fixed, seeded choice of ``sequences`` training shots; the rest validate."""
        o = self.opts
        data = FootageShots(o.data)
        usable = [i for i in range(len(data)) if int(data.shots[i]["frames"]) >= o.clip_frames]
        if len(usable) <= o.sequences:
            raise InkpaintError(
                f"{o.data} has {len(usable)} shots of {o.clip_frames} frames or more: "
                f"fine-tuning on {o.sequences} needs at least one more to validate on "
                "(add footage to the data set, or lower --sequences)")
        order = [usable[i] for i in np.random.default_rng(o.seed).permutation(len(usable))]
        return sorted(order[:o.sequences]), sorted(order[o.sequences:][:o.val_clips])

    def val_clips(self) -> list[dict[str, torch.Tensor]]:
        """The fixed held-out clips (batch of one each): procedural shots, or the first frames
        of the held-out footage shots when fine-tuning."""
        if self._val is None:
            size, frames, dm = self.cfg.train_size, self.opts.clip_frames, self.cfg.distance_max
            if self.opts.data:
                data = FootageShots(self.opts.data)
                clips = [footage_window(data, i, 0, frames, size, dm) for i in self.val_shots]
            else:
                clips = [shot_tensors(EVAL_SEED_BASE + i, frames, size, dm)
                         for i in range(self.opts.val_clips)]
            self._val = [{k: v[None].to(self.device) for k, v in c.items()} for c in clips]
        return self._val

    def _nets(self) -> dict[str, nn.Module]:
        """What a checkpoint holds: the trained network and its discriminator (the frozen
        network comes from ``--init`` or a fresh build, as when the run started)."""
        return {"G" if self.opts.stage == 1 else "T": self.net, "D": self.disc}

    def _optims(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt_g, "disc": self.opt_d}

    # ---- one step of each stage -------------------------------------------------------------

    def _gan_step(self, real: tuple, fake: tuple) -> float:
        self.opt_d.zero_grad(set_to_none=True)
        d_loss = gan_d_loss(self.disc(*real), self.disc(*(t.detach() for t in fake)))
        d_loss.backward()
        self.opt_d.step()
        return d_loss.item()

    def step_colour(self, clip: dict[str, torch.Tensor]) -> dict[str, float]:
        lines, dist, color = clip["lines"], clip["dist"], clip["color"]
        b, t = lines.shape[:2]
        refs = choose_refs(self.rng, t)
        pool = [i for i in range(t) if i not in refs]
        tg = sorted(self.rng.choice(pool, size=self.opts.targets_per_clip, replace=False))
        n = len(tg)
        rep = lambda a: a[:, refs].repeat_interleave(n, dim=0)  # noqa: E731
        x, d, y = (a[:, tg].flatten(0, 1) for a in (lines, dist, color))
        out = self.gens.G(x, d, rep(lines), rep(dist), rep(color), latents=True)
        d_loss = self._gan_step((x, y), (x, out["y"]))
        self.opt_g.zero_grad(set_to_none=True)
        latents = (out["y_sim"], out["y_mid"]) if "y_sim" in out else None
        total, log = generator_objective(out["y"], y, self.vgg, self.disc(x, out["y"]),
                                         latents, self.weights)
        total.backward()
        self.opt_g.step()
        return {**log, "d": d_loss}

    def _colour_all(self, clip: dict[str, torch.Tensor], refs: list[int]) -> torch.Tensor:
        """G's colours for every frame of the clips, references keeping their own colours."""
        lines, dist, color = clip["lines"], clip["dist"], clip["color"]
        out = color.clone()
        tg = [i for i in range(lines.shape[1]) if i not in refs]
        with torch.no_grad():
            for j in range(lines.shape[0]):
                r = (lines[j:j + 1, refs], dist[j:j + 1, refs], color[j:j + 1, refs])
                out[j, tg] = self.gens.G(lines[j, tg], dist[j, tg], *r)
        return out

    def step_temporal(self, clip: dict[str, torch.Tensor]) -> dict[str, float]:
        lines, color = clip["lines"], clip["color"]
        t = lines.shape[1]
        refs = [0, t - 1]
        g_col = self._colour_all(clip, refs)
        is_ref = torch.zeros_like(lines)
        is_ref[:, refs] = 1.0
        seq = lambda a: a.transpose(1, 2)  # noqa: E731  [B,T,C,H,W] -> [B,C,T,H,W]
        y_hat = self.gens.T(seq(lines), seq(g_col), seq(is_ref))
        d_loss = self._gan_step((seq(lines), seq(color)), (seq(lines), y_hat))
        self.opt_g.zero_grad(set_to_none=True)
        tg = [i for i in range(t) if i not in refs]
        flat = lambda a: a[:, :, tg].transpose(1, 2).flatten(0, 1)  # noqa: E731
        total, log = generator_objective(flat(y_hat), flat(seq(color)), self.vgg,
                                         self.disc(seq(lines), y_hat), None, self.weights)
        total.backward()
        self.opt_g.step()
        return {**log, "d": d_loss}

    # ---- validation, checkpoints, loop ------------------------------------------------------

    def validate(self) -> dict[str, float]:
        """PSNR of the model and of copy-nearest-reference on fixed held-out shots."""
        frames = self.opts.clip_frames
        model, copy = [], []
        self.net.eval()
        for clip in self.val_clips():
            refs = [0, frames - 1]
            pred = self._colour_all(clip, refs)
            if self.opts.stage == 2:
                with torch.no_grad():
                    is_ref = torch.zeros_like(clip["lines"])
                    is_ref[:, refs] = 1.0
                    pred = self.gens.T(*(a.transpose(1, 2) for a in
                                         (clip["lines"], pred, is_ref))).transpose(1, 2)
            img = ((torch.cat([pred, clip["color"]]) + 1) / 2).permute(0, 1, 3, 4, 2)
            img = img.cpu().numpy()
            for f in range(1, frames - 1):
                near = 0 if f < frames / 2 else frames - 1
                model.append(psnr(img[0, f], img[1, f]))
                copy.append(psnr(img[1, near], img[1, f]))
        self.net.train()
        # held frames copy a reference exactly (infinite PSNR): cap at 60 dB before averaging
        return {"val_psnr": float(np.mean(np.minimum(model, 60.0))),
                "copy_ref_psnr": float(np.mean(np.minimum(copy, 60.0)))}

    def save(self, val: dict[str, float] | None) -> None:
        o = self.opts
        info = {"stage": o.stage, "step": self.step, "preset": self.cfg.name,
                "ablation": o.ablation or "full", "train_size": self.cfg.train_size,
                "seed": o.seed, **(val or {})}
        save_weights(o.run_dir / "latest.safetensors", self.gens, info)
        if val and val["val_psnr"] > self.best:
            self.best = val["val_psnr"]
            save_weights(o.run_dir / "best.safetensors", self.gens, info)
        save_checkpoint(self.ckpt, self._nets(), self._optims(),
                        {"step": self.step, "best": self.best,
                         "options": json.loads(json.dumps(asdict(o), default=str))})

    def loader(self) -> torch.utils.data.DataLoader:
        """The training clips from the current step on (``clips.sample_rngs``): runs of one
        seed see the same clips, and a resumed run the ones an unbroken run would have."""
        o = self.opts
        start = self.step * o.batch
        if o.data:
            return torch.utils.data.DataLoader(
                FootageClips(o.data, self.train_shots, o.clip_frames, self.cfg.train_size,
                             self.cfg.distance_max, o.seed, start), batch_size=o.batch)
        return clip_loader(o.clip_frames, self.cfg.train_size, self.cfg.distance_max,
                           o.batch, seed=o.seed, drawings=o.drawings, workers=o.workers,
                           start=start)

    def run(self, progress: Callable[[str], None] = print,
            on_step: Callable[[int], None] | None = None) -> None:
        """Train to ``opts.steps``: ``progress`` gets the log lines, ``on_step`` each step."""
        o = self.opts
        o.run_dir.mkdir(parents=True, exist_ok=True)
        loader = self.loader()
        step_fn = self.step_colour if o.stage == 1 else self.step_temporal
        log_path = o.run_dir / f"stage{o.stage}.log.jsonl"
        self.net.train()
        t0, acc = time.time(), []
        for clip in loader:
            if self.step >= o.steps:
                break
            self.rng = np.random.default_rng([o.seed, self.step])  # refs and targets, by step
            acc.append(step_fn({k: v.to(self.device) for k, v in clip.items()}))
            self.step += 1
            if on_step:
                on_step(self.step)
            val = self.validate() if self.step % o.val_every == 0 else None
            if self.step % o.log_every == 0 or val:
                rec = {"step": self.step, "s_per_step": (time.time() - t0) / len(acc),
                       **{k: float(np.mean([a[k] for a in acc])) for k in acc[0]}, **(val or {})}
                with log_path.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                progress(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in rec.items()))
                t0, acc = time.time(), []
            if self.step % o.ckpt_every == 0:
                self.save(val)
        self.save(self.validate())
