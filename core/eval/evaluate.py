"""The evaluation of the paper's section 4, run through the product path.

Each held-out clip is written to a temporary folder as PNG line art plus the painted reference
frames and coloured by the real ``Colorizer``, so the numbers are what users get (8-bit output
included). Protocol (paper, sec. 4.1-4.2): frames at 256 x 256, clips of 8 with the first and
last frames as references, the 6 in-betweens scored; a harder protocol uses clips of 24.

Scored per in-between frame and averaged over all in-betweens of a set: MSE, PSNR (capped at
60 dB, so a frame that is reproduced exactly, e.g. a held cel, counts as 60 dB instead of
infinity), SSIM, and PSNR over the *moving part* only: the pixels whose true colour differs from
both bracketing references by more than 0.1 (max channel), which is where copying a reference
cannot be right. FID is computed once per set and table row, over all its in-betweens.

Every row is set beside the copy-nearest-reference baseline (each in-between is the colour of
the temporally nearest reference, ties to the earlier one), scored the same way in the same
run: a model that does not beat it has learnt nothing worth shipping.

Next to them, ink-and-paint's own measures (issue 8): region accuracy (share of the true
frame's flat regions whose fill is right) and pixel accuracy (``core.eval.regions``); and, with
``compose_table``, the composition modes side by side (``network``, ``flat``, ``auto``) with
the network-free region matcher and the copy baseline, so the network has to earn its place
against what a paint-bucket tool does.

Also: the Table 5 analogue (K = 1..5 references spread evenly over clips of 24, coloured with
``-k K``) and the Table 1 analogue (ablation weights, and the full model without its temporal
network, on the paper's protocol).

Clips are fixed by their index (procedural seed ``EVAL_SEED_BASE + i``, drawing seed the same
on the held-out drawings), so two runs give the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from ..compose import DEFAULT_MODE, MODES, prepare_reference
from ..data.procedural import Shot
from ..errors import InkpaintError
from ..motion import Guide, Motion, guide, warp_anchor
from ..train.clips import EVAL_SEED_BASE
from .metrics import mse, psnr, ssim
from .regions import pixel_accuracy, region_accuracy
from .shotsets import shot_set

NETWORK = "network"  # the compose mode that is the plain network output (Table 1, 2, 5 rows)
SETS = ("procedural", "drawings", "sprites", "openmoji", "synfig-eye")
PSNR_CAP = 60.0
MOVING_THRESHOLD = 0.1
K_VALUES = (1, 2, 3, 4, 5)
K_TABLE_FRAMES = 24
ABLATION_FRAMES = 8  # Table 1 is on the paper's protocol
PAPER_TABLES = Path(__file__).with_name("paper_tables.yaml")
SET_TITLES = {
    "procedural": "Held-out procedural cel shots",
    "drawings": "Held-out animated drawings (public-domain clip art)",
    "sprites": "Kenney's animated character sprites (CC0; walk cycles, XDoG line art)",
    "openmoji": "Held-out animated OpenMoji emoji (CC BY-SA 4.0; the artists' own line art)",
    "synfig-eye": "Synfig's eye.sif (GPL-2+; vector animation, its own outlines as line art)",
}


@dataclass
class Options:
    model: str = "lite"
    sets: tuple[str, ...] = SETS
    clips: int = 16
    protocols: tuple[int, ...] = (8, 24)
    k_table: bool = False
    ablations: dict[str, str] | None = None  # None: no Table 1; {}: Full and No Temporal only
    size: int = 256
    backend: str = "torch"
    device: str = "auto"
    fid: bool = True
    compose_table: bool = False  # compose modes, matcher and copy side by side (issue 8)


@dataclass(frozen=True)
class Job:
    """One way of colouring a clip: the model (or a baseline) and the reference frames."""

    refs: tuple[int, ...]
    model: str | None = None  # None: a baseline, copy the nearest reference or ``matcher``
    temporal: bool = False  # the product's default (--temporal turns it on)
    k: int = 2
    compose: str = DEFAULT_MODE
    matcher: bool = False  # the network-free region matcher (with model None)
    warp: bool = False  # the optical-flow warp of the keys (with model None)


# ---------------------------------------------------------------- protocol pieces


def reference_frames(k: int, length: int) -> tuple[int, ...]:
    """K reference frames spread evenly over a clip: the first, the last and evenly in between
    (K = 1: the first only)."""
    if not 1 <= k < length:
        raise InkpaintError(f"{k} references leave no in-between in a clip of {length} frames")
    if k == 1:
        return (0,)
    pos = np.floor(np.linspace(0, length - 1, k) + 0.5).astype(int)
    return tuple(sorted({int(p) for p in pos}))


def nearest_reference(frame: int, refs: tuple[int, ...]) -> int:
    """The temporally nearest reference frame; a tie goes to the earlier one."""
    return min(refs, key=lambda r: (abs(r - frame), r))


def bracketing(frame: int, refs: tuple[int, ...]) -> tuple[int, ...]:
    """The nearest reference before and the nearest after the frame (one if only one side
    has any): what a frame is coloured from, and what copying could give."""
    before = [r for r in refs if r < frame]
    after = [r for r in refs if r > frame]
    return tuple(([max(before)] if before else []) + ([min(after)] if after else []))


def anchor_frame(guides: Mapping[int, Guide], rgb: Mapping[int, np.ndarray], frame: int,
                 keys: Sequence[int], motions: Sequence[Motion] | None = None) -> np.ndarray:
    """The flow-warp anchor of ``frame`` (``core.motion.warp_anchor``): the ``keys``' colours
    (float [0, 1]) warped onto it by DIS on the line-art ``guides``, or by ``motions`` (one
    per key, a key may come twice), and blended; 8-bit like the written frames."""
    pred = warp_anchor(guides[frame], [(guides[k], rgb[k], k) for k in keys], frame, motions)
    return np.round(np.clip(pred, 0, 1) * 255) / 255


def moving_mask(target: np.ndarray, references: list[np.ndarray],
                threshold: float = MOVING_THRESHOLD) -> np.ndarray:
    """HxW bool: pixels whose colour differs from every given reference by more than
    ``threshold`` in the max channel absolute difference."""
    target = np.asarray(target, np.float32)
    mask = np.ones(target.shape[:2], bool)
    for ref in references:
        mask &= np.abs(target - np.asarray(ref, np.float32)).max(axis=2) > threshold
    return mask


def capped_psnr(err: float) -> float:
    return PSNR_CAP if err <= 10 ** (-PSNR_CAP / 10) else min(PSNR_CAP, 10 * math.log10(1 / err))


def frame_metrics(pred: np.ndarray, true: np.ndarray, mask: np.ndarray,
                  lines: np.ndarray | None = None, palette: np.ndarray | None = None
                  ) -> dict[str, float]:
    """MSE, capped PSNR, SSIM, capped moving-part PSNR (nan when nothing moves) and, given the
    frame's line art, region and pixel accuracy (``core.eval.regions``)."""
    err = mse(pred, true)
    moving = math.nan
    if mask.any():
        moving = capped_psnr(float(np.mean((np.asarray(pred, np.float64)[mask]
                                            - np.asarray(true, np.float64)[mask]) ** 2)))
    out = {"mse": err, "psnr": min(PSNR_CAP, psnr(pred, true)), "ssim": ssim(pred, true),
           "moving_psnr": moving}
    if lines is not None:
        out["region_acc"] = region_accuracy(pred, true, lines, palette)
        out["pixel_acc"] = pixel_accuracy(pred, true, lines)
    return out


def flicker(prev: np.ndarray, cur: np.ndarray, true_prev: np.ndarray,
            true_cur: np.ndarray) -> float:
    """Temporal flicker between two consecutive in-betweens: the mean of
    |(out_t - out_t-1) - (gt_t - gt_t-1)| (0 to 1 per channel). Change the truth has is not
    flicker; change it lacks is."""
    d = (np.asarray(cur, np.float64) - prev) - (np.asarray(true_cur, np.float64) - true_prev)
    return float(np.mean(np.abs(d)))


def frechet_distance_lowrank(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """The Fréchet distance of ``metrics.frechet_distance``, computed exactly in the sample
    space: with centred, scaled features A and B (covariances A'A and B'B),
    tr sqrt(Sa Sb) is the sum of the singular values of A B'. This takes milliseconds where a
    2048 x 2048 sqrtm takes seconds, and is exact where sqrtm of a singular product (fewer
    images than feature dimensions, always the case here) is fragile."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise InkpaintError("FID needs at least 2 real and 2 generated images")
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca = (a - mu_a) / math.sqrt(len(a) - 1)
    cb = (b - mu_b) / math.sqrt(len(b) - 1)
    nuclear = np.linalg.svd(ca @ cb.T, compute_uv=False).sum()
    diff = mu_a - mu_b
    return float(diff @ diff + (ca * ca).sum() + (cb * cb).sum() - 2 * nuclear)


@dataclass
class Scores:
    """Per-frame scores and Inception features of one table row."""

    frames: list[dict[str, float]] = field(default_factory=list)
    real: list[np.ndarray] = field(default_factory=list)
    fake: list[np.ndarray] = field(default_factory=list)
    flicker: list[float] = field(default_factory=list)  # per consecutive in-between pair
    clips: int = 0

    def summary(self) -> dict[str, float | int | None]:
        def mean(key: str) -> float | None:
            vals = np.array([f[key] for f in self.frames], np.float64)
            vals = vals[np.isfinite(vals)]
            return float(vals.mean()) if len(vals) else None

        fid = None
        if self.fake:
            real, fake = np.concatenate(self.real), np.concatenate(self.fake)
            if len(real) >= 2 and len(fake) >= 2:
                fid = frechet_distance_lowrank(real, fake)
        return {"mse": mean("mse"), "psnr": mean("psnr"), "ssim": mean("ssim"), "fid": fid,
                "moving_psnr": mean("moving_psnr"), "region_acc": mean("region_acc"),
                "pixel_acc": mean("pixel_acc"),
                "flicker": float(np.mean(self.flicker)) if self.flicker else None,
                "clips": self.clips,
                "frames": len(self.frames),
                "moving_frames": int(sum(math.isfinite(f["moving_psnr"]) for f in self.frames)),
                "fid_images": int(sum(len(f) for f in self.fake))}


# ---------------------------------------------------------------- clip sources


@dataclass
class _Source:
    name: str
    count: int  # clips available (at most --clips)
    max_frames: int | None  # longest clip it can give; None: any length
    clips: Callable[[int], Iterator[Shot]]  # frames per clip -> shots, in a fixed order
    detail: str


def _source(name: str, opts: Options) -> _Source:
    """A clip source, or InkpaintError saying why the set cannot be evaluated here."""
    size, n = opts.size, opts.clips
    if name in ("procedural", "drawings"):
        count, clips = shot_set(name, n, size)
        detail = {"procedural": f"render_shot(seed {EVAL_SEED_BASE} + clip index), held out "
                                "from training",
                  "drawings": f"render_drawing_shot(seed {EVAL_SEED_BASE} + clip index, "
                              "split 'eval')"}[name]
        return _Source(name, count, None, clips, detail)
    if name == "sprites":
        from .sprites import CHARACTERS, WALK_FRAMES, sprite_clips, sprite_files

        sprite_files()  # raises if the wheel is missing

        def sprites(frames: int) -> Iterator[Shot]:
            yield from sprite_clips(size)[:n]

        return _Source(name, min(n, len(CHARACTERS)), WALK_FRAMES, sprites,
                       "6 walk cycles of 8 frames, letterboxed onto white, "
                       "line art by core.data.lines.extract_lines (XDoG on luma and RGB)")
    if name == "openmoji":
        count, clips = shot_set(name, n, size)
        return _Source(name, count, None, clips,
                       f"{count} held-out emoji (core.data.openmoji split 'eval'), "
                       f"emoji_shot(seed {EVAL_SEED_BASE} + clip index)")
    if name == "synfig-eye":
        from .synfig import clip_starts, eye_clips, eye_file, frame_count

        total = frame_count(eye_file().read_bytes())[0]  # raises if synfig is missing
        return _Source(name, len(clip_starts(total, min(opts.protocols), n)), total,
                       lambda frames: eye_clips(frames, n, size),
                       f"eye.sif, {total} frames at 24 fps: non-overlapping runs of "
                       "consecutive frames spread over the animation, line art from its "
                       "outline layers (core.eval.synfig)")
    raise InkpaintError(f"unknown evaluation set '{name}': use {', '.join(SETS)}")


# ---------------------------------------------------------------- planning


@dataclass
class _SetPlan:
    protocols: dict[int, str | None]  # frames -> None (run) or why it is skipped
    k_frames: int | None
    jobs: dict[int, list[Job]]  # frames per clip -> jobs on clips of that length


def _plan(src: _Source, opts: Options) -> _SetPlan:
    jobs: dict[int, list[Job]] = {}

    def add(frames: int, *new: Job) -> None:
        lst = jobs.setdefault(frames, [])
        lst.extend(j for j in new if j not in lst)

    def pair(refs: tuple[int, ...], k: int = 2) -> tuple[Job, Job, Job]:
        return Job(refs, opts.model, k=k), Job(refs), Job(refs, warp=True)

    protocols: dict[int, str | None] = {}
    for frames in opts.protocols:
        if src.max_frames is not None and frames > src.max_frames:
            protocols[frames] = f"clips have {src.max_frames} frames at most"
            continue
        protocols[frames] = None
        add(frames, *pair((0, frames - 1)))
        if opts.compose_table and frames == ABLATION_FRAMES:
            refs = (0, frames - 1)
            add(frames, *(Job(refs, opts.model, compose=m) for m in MODES),
                Job(refs, matcher=True))
    k_frames = None
    if opts.k_table:
        k_frames = min(K_TABLE_FRAMES, src.max_frames or K_TABLE_FRAMES)
        for k in K_VALUES:
            if k < k_frames:
                refs = reference_frames(k, k_frames)
                add(k_frames, *pair(refs, k), Job(refs, opts.model, k=k, compose=NETWORK))
    if opts.ablations is not None:
        refs = (0, ABLATION_FRAMES - 1)
        add(ABLATION_FRAMES, *pair(refs))
        # Full and every ablation with their temporal networks (the paper's whole system),
        # No Temporal without
        for path, temporal in [(opts.model, False), (opts.model, True),
                               *((p, True) for p in opts.ablations.values())]:
            add(ABLATION_FRAMES, *(Job(refs, path, temporal, compose=m)
                                   for m in (DEFAULT_MODE, NETWORK)))
    return _SetPlan(protocols, k_frames, jobs)


# ---------------------------------------------------------------- running


class Runner:
    """Scores clips for a set of jobs, loading each model once (and Inception once)."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.colorizers: dict[tuple[str, bool, int], object] = {}
        self.fid = None
        if opts.fid:
            import torch

            from .metrics import FID

            dev = "cuda" if opts.device != "cpu" and torch.cuda.is_available() else "cpu"
            self.fid = FID(dev)

    def colorizer(self, job: Job):
        from ..engine.colorizer import Colorizer

        key = (job.model, job.temporal, job.k, job.compose)
        if key not in self.colorizers:
            o = self.opts
            self.colorizers[key] = Colorizer(job.model, backend=o.backend, device=o.device,
                                             size=o.size, k=job.k, temporal=job.temporal,
                                             compose=job.compose)
        return self.colorizers[key]

    def features(self, images) -> np.ndarray | None:
        return None if self.fid is None else self.fid.features(images)

    def clip(self, shot: Shot, jobs: list[Job], scores: dict[Job, Scores],
             step: Callable[[str], None] = lambda what: None) -> None:
        """Colour one clip for every job (PNG files through the Colorizer, or the copy
        baseline) and add each in-between's scores to ``scores[job]``."""
        from ..engine.plan import Reference

        true = shot.color.astype(np.float32) / 255.0
        length = len(true)
        feats = self.features(true)
        with tempfile.TemporaryDirectory(prefix="inkpaint-eval-") as tmp:
            root = Path(tmp)
            lineart, color = shot.write(root, colours=sorted({r for j in jobs for r in j.refs}))
            for job in jobs:
                targets = [f for f in range(length) if f not in job.refs]
                if job.matcher or job.warp:
                    preds = (self.matcher if job.matcher else self.warped)(shot, job.refs,
                                                                            targets)
                    fake = self.features(np.stack([preds[f] for f in targets]))
                elif job.model is None:
                    src = [nearest_reference(f, job.refs) for f in targets]
                    preds = {f: true[s] for f, s in zip(targets, src)}
                    fake = None if feats is None else feats[src]
                else:
                    refs = [Reference(color[r], r) for r in job.refs]
                    preds = {}
                    for cf in self.colorizer(job).colorize(lineart, refs, targets):
                        if cf.frame in targets:  # 8-bit, as written to the user's PNGs
                            preds[cf.frame] = np.round(np.clip(cf.rgb, 0, 1) * 255) / 255
                    missing = [f for f in targets if f not in preds]
                    if missing:
                        raise InkpaintError(f"the colorizer gave no frame {missing[0]}")
                    fake = self.features(np.stack([preds[f] for f in targets]))
                    step(f"{'temporal' if job.temporal else 'no temporal'}, "
                         f"{len(job.refs)} refs, {job.compose}, {Path(job.model).name}")
                s = scores.setdefault(job, Scores())
                s.clips += 1
                for f in targets:
                    mask = moving_mask(true[f], [true[r] for r in bracketing(f, job.refs)])
                    s.frames.append(frame_metrics(preds[f], true[f], mask, shot.lines[f],
                                                  shot.palette))
                s.flicker += [flicker(preds[f - 1], preds[f], true[f - 1], true[f])
                              for f in targets if f - 1 in preds]
                if feats is not None:
                    s.real.append(feats[targets])
                    s.fake.append(fake)


    @staticmethod
    def warped(shot: Shot, refs: tuple[int, ...], targets: list[int]
               ) -> dict[int, np.ndarray]:
        """The flow-warp anchor's frames (``core.motion.warp_anchor``): the bracketing keys
        warped onto each in-between by DIS flow on line-art guides and blended per pixel by
        warp validity and temporal distance; no regions, no network. 8-bit."""
        from .regions import line_mask

        guides = {f: guide(line_mask(shot.lines[f])) for f in range(len(shot.lines))}
        rgb = {r: shot.color[r].astype(np.float32) / 255 for r in refs}
        return {f: anchor_frame(guides, rgb, f, bracketing(f, refs)) for f in targets}

    @staticmethod
    def matcher(shot: Shot, refs: tuple[int, ...], targets: list[int]
                ) -> dict[int, np.ndarray]:
        """The region matcher's frames, from the bracketing references (nearest first), as
        the colorizer gets them; 8-bit like the written frames."""
        from .regions import match_colours

        cels = {r: prepare_reference(shot.color[r], shot.lines[r]) for r in refs}
        out = {}
        for f in targets:
            near = sorted(bracketing(f, refs), key=lambda r: (abs(r - f), r))
            rgb = match_colours(shot.lines[f], [cels[r] for r in near])
            out[f] = np.round(np.clip(rgb, 0, 1) * 255) / 255
        return out


def parse_ablations(text: str | None) -> dict[str, str] | None:
    """``name=PATH,PATH`` -> {name: path}; a bare PATH is named by the ablation its weights
    card records (``inkpaint train --ablation``). None stays None (no ablation table)."""
    if text is None:
        return None
    out: dict[str, str] = {}
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        name, sep, path = item.partition("=")
        if not sep:
            name, path = trained_ablation(item), item
        if not name.strip() or not path.strip():
            raise InkpaintError(f"bad --ablation entry '{item}': use NAME=WEIGHTS, e.g. "
                                "no_sim=runs/no_sim/best.safetensors")
        if name.strip() in out:
            raise InkpaintError(f"--ablation names '{name.strip()}' twice: keep one")
        out[name.strip()] = path.strip()
    return out


def trained_ablation(model: str) -> str:
    """The ablation a weights file was trained as (its card's ``training.ablation``)."""
    from ..card import read_card

    _, card = read_card(model)
    name = (card.get("training") or {}).get("ablation")
    if not name or name == "full":
        raise InkpaintError(f"--ablation {model}: its card records no ablation (weights "
                            "trained without --ablation): name the row, NAME=WEIGHTS")
    return str(name)


def ablation_label(name: str) -> str:
    """``no_sim`` -> ``No Sim``, like the paper's rows."""
    return " ".join(w.capitalize() for w in name.replace("-", "_").split("_") if w)


def _check(opts: Options) -> None:
    from ..card import read_card

    if opts.clips < 1:
        raise InkpaintError(f"--clips {opts.clips}: use 1 or more")
    if opts.size < 32:
        raise InkpaintError(f"--size {opts.size} is too small: use 32 or more")
    bad = [p for p in opts.protocols if p < 3]
    if bad or not opts.protocols:
        raise InkpaintError("--protocol takes clip lengths of 3 frames or more, e.g. 8,24")
    unknown = [s for s in opts.sets if s not in SETS]
    if unknown or not opts.sets:
        raise InkpaintError(f"unknown evaluation set '{unknown[0] if unknown else ''}': use "
                            f"{', '.join(SETS)}")
    read_card(opts.model)
    for name, path in (opts.ablations or {}).items():
        try:
            read_card(path)
        except InkpaintError as exc:
            raise InkpaintError(f"--ablation {name}: {exc}") from exc


def _drawing_index_exists() -> bool:
    try:
        from ..data.drawings import default_index
    except ImportError:
        return True  # nothing will be built; _source says what is missing
    return default_index().is_file()


def _model_info(model: str) -> dict[str, str]:
    from ..card import read_card, resolve, sha256

    path, card = read_card(model)
    return {"model": model, "path": str(resolve(model)), "preset": str(card.get("preset")),
            "sha256": sha256(path)}


def evaluate(opts: Options, log: Callable[[str], None] = print) -> dict:
    """Run the whole evaluation; returns the report (see ``report.py`` for its layout)."""
    from ..progress import Progress

    opts = dataclasses.replace(opts, sets=tuple(dict.fromkeys(opts.sets)),
                               protocols=tuple(dict.fromkeys(opts.protocols)))
    _check(opts)
    started = time.time()
    info = _model_info(opts.model)
    ablation_shas = {k: _model_info(v)["sha256"][:12] for k, v in (opts.ablations or {}).items()}
    runner = Runner(opts)
    runner.colorizer(Job((0, 1), opts.model))  # load the model before rendering: fail fast
    sources: dict[str, _Source] = {}
    report: dict = {"sets": {}}
    for name in opts.sets:
        try:
            if name == "drawings" and not _drawing_index_exists():
                log("inkpaint: indexing the clip art for the held-out drawings (once; minutes)")
            sources[name] = _source(name, opts)
        except InkpaintError as exc:
            log(f"inkpaint: skipping the {name} set: {exc}")
            report["sets"][name] = {"title": SET_TITLES[name], "skipped": str(exc)}
    plans = {name: _plan(src, opts) for name, src in sources.items()}
    for plan in plans.values():  # every model loaded now, once: weights that a training run
        for jobs in plan.jobs.values():  # replaces meanwhile are not mixed into this report
            for job in jobs:
                if job.model is not None:
                    runner.colorizer(job)
    total = sum(sources[n].count * sum(j.model is not None for js in p.jobs.values() for j in js)
                for n, p in plans.items())
    progress = Progress(total, "evaluate")
    try:
        for name, src in sources.items():
            plan = plans[name]
            scores: dict[int, dict[Job, Scores]] = {}
            for frames, jobs in sorted(plan.jobs.items()):
                got = scores.setdefault(frames, {})
                for i, shot in enumerate(src.clips(frames)):
                    label = f"{name} clip {i + 1}/{src.count} ({frames} frames)"
                    runner.clip(shot, jobs, got,
                                lambda what, label=label: progress.step(f"{label}, {what}"))
            report["sets"][name] = _set_report(name, src, plan, scores, opts)
    finally:
        progress.close()
    report["sets"] = {n: report["sets"][n] for n in opts.sets}  # the order asked for
    report["paper"] = paper_rows(opts)
    dev = runner.colorizer(Job((0, 1), opts.model)).backend.device
    report["settings"] = {
        "model": opts.model, "model_path": info["path"], "preset": info["preset"],
        "model_sha256": info["sha256"], "backend": opts.backend, "device": dev,
        "size": opts.size, "clips": opts.clips, "sets": list(opts.sets),
        "protocols": list(opts.protocols), "k_table": opts.k_table,
        "ablations": ablation_shas, "compose": DEFAULT_MODE,
        "compose_table": opts.compose_table,
        "fid": opts.fid, "psnr_cap_db": PSNR_CAP, "moving_threshold": MOVING_THRESHOLD,
        "eval_seed_base": EVAL_SEED_BASE, "inkpaint": __version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(time.time() - started, 1),
    }
    return report


def paper_rows(opts: Options) -> dict:
    """The paper's published rows of the tables this run makes (Table 1 with the ablations,
    Table 2 with the composition table, Table 5 with the K table), for the report to set
    beside ours, labelled as its own data set."""
    import yaml

    with PAPER_TABLES.open(encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    wanted = {"table1": opts.ablations is not None, "table2": opts.compose_table,
              "table5": opts.k_table}
    return {"source": doc["source"], "columns": doc["columns"],
            "tables": {k: t for k, t in doc["tables"].items() if wanted[k]}}


def _set_report(name: str, src: _Source, plan: _SetPlan,
                scores: dict[int, dict[Job, Scores]], opts: Options) -> dict:
    def row(frames: int, job: Job) -> dict:
        return scores[frames][job].summary()

    out: dict = {"title": SET_TITLES[name], "source": src.detail, "protocols": {}}
    for frames, why in plan.protocols.items():
        if why is not None:
            out["protocols"][str(frames)] = {"skipped": why}
            continue
        refs = (0, frames - 1)
        out["protocols"][str(frames)] = {
            "refs": list(refs),
            "inkpaint": row(frames, Job(refs, opts.model)),
            "copy_nearest": row(frames, Job(refs)),
            "flow_warp": row(frames, Job(refs, warp=True)),
        }
    if opts.compose_table and plan.protocols.get(ABLATION_FRAMES, "") is None:
        refs = (0, ABLATION_FRAMES - 1)
        rows = [{"method": f"compose {m}" + (" (default)" if m == DEFAULT_MODE else ""),
                 "metrics": row(ABLATION_FRAMES, Job(refs, opts.model, compose=m))}
                for m in MODES]
        rows.append({"method": "region matcher (no network)",
                     "metrics": row(ABLATION_FRAMES, Job(refs, matcher=True))})
        rows.append({"method": "flow warp of the keys (no network)",
                     "metrics": row(ABLATION_FRAMES, Job(refs, warp=True))})
        rows.append({"method": "copy nearest reference",
                     "metrics": row(ABLATION_FRAMES, Job(refs))})
        out["compose_table"] = {"frames": ABLATION_FRAMES, "rows": rows}
    if plan.k_frames is not None:
        kf = plan.k_frames
        out["k_table"] = {"frames": kf, "rows": [
            {"k": k, "refs": list(reference_frames(k, kf)),
             "inkpaint": row(kf, Job(reference_frames(k, kf), opts.model, k=k)),
             "network": row(kf, Job(reference_frames(k, kf), opts.model, k=k, compose=NETWORK)),
             "copy_nearest": row(kf, Job(reference_frames(k, kf))),
             "flow_warp": row(kf, Job(reference_frames(k, kf), warp=True))}
            for k in K_VALUES if k < kf]}
    if opts.ablations is not None:
        refs = (0, ABLATION_FRAMES - 1)
        def both(setting: str, model: str, temporal: bool) -> dict:
            return {"setting": setting, "model": model,
                    "metrics": row(ABLATION_FRAMES, Job(refs, model, temporal)),
                    "network": row(ABLATION_FRAMES, Job(refs, model, temporal, compose=NETWORK))}

        rows = [both(ablation_label(n), p, True) for n, p in opts.ablations.items()]
        rows.append(both("No Temporal", opts.model, False))
        rows.append(both("Full", opts.model, True))
        rows.append({"setting": "Copy nearest reference", "model": None,
                     "metrics": row(ABLATION_FRAMES, Job(refs))})
        out["ablation"] = {"frames": ABLATION_FRAMES, "rows": rows}
    return out
