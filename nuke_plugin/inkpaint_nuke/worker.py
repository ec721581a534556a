"""The heavy half of a Colorize run, in a Python that has Inkpaint's engine (numpy, OpenCV,
PyTorch or ONNX Runtime): ``python -m inkpaint_nuke.worker job.json``, or ``run(job)`` in
Nuke's own Python when it has them.

It reads what the gizmo's Write nodes rendered (line art and references as sRGB PNG: the
gizmo's OCIOColorSpace nodes converted them, so no colour management happens here), colours
the frames with the engine and writes them as the engine makes them (sRGB, straight colour,
with the line art's alpha, 1 where it has none) into EXR files, which the gizmo converts back
to its working space and premultiplies. Frames are written atomically and logged in the
correction loop's render log (``core.compose.cache``), so a cancelled or failed run never
leaves half a frame and a retried farm task only does what is missing or stale (unless
``overwrite``).

Progress goes to stderr as the engine's CLI prints it (``inkpaint: progress 12.5% (3/24)
frame 1003``), errors as ``inkpaint: error: <one line>`` with exit status 1.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from . import _core
from .job import JOB_VERSION


class Cancelled(Exception):
    """The artist pressed Cancel."""


def _alpha(path):
    """The line art's alpha, or 1 everywhere (the gizmo's Premult then keeps the colour)."""
    px = _core.module("imageio").read_image(path).pixels
    return np.clip(px[..., 3], 0.0, 1.0) if px.shape[2] == 4 else np.ones(px.shape[:2],
                                                                             np.float32)


def run(job, progress=None, should_cancel=None, log=None):
    """Colour the job's frames; returns how many frames were written.

    ``progress(done, total, frame)`` is called after each written frame, ``should_cancel()``
    before each (True raises ``Cancelled``), ``log(line)`` gets one-line notes."""
    log = log or (lambda line: None)
    frames_mod = _core.module("frames")
    plan_mod = _core.module("engine.plan")
    colorizer_mod = _core.module("engine.colorizer")
    imageio = _core.module("imageio")
    errors = _core.module("errors")
    if job.get("version") != JOB_VERSION:
        raise errors.InkpaintError(f"job file version {job.get('version')!r} is not supported "
                                   "by this worker; update the Nuke plugin and Inkpaint "
                                   "together")
    cache = _core.module("compose.cache")
    review = _core.module("compose.review")
    out = frames_mod.OutputPattern(job["out"])
    wanted = list(job["frames"])
    refs = [plan_mod.Reference(color=Path(r["color"]), frame=int(r["frame"]))
            for r in job["refs"]]
    line = frames_mod.OutputPattern(job["lineart"])
    first, last = job["shot"]
    # The whole shot, so the engine plans its windows as a full run would; only the frames
    # the Write node rendered (job["lineart_frames"]) are ever read.
    lineart = {f: line.path(f) for f in range(int(first), int(last) + 1)}
    colorizer = colorizer_mod.Colorizer(
        model=job["model"], backend=job.get("backend", "auto"),
        device=job.get("device", "auto"), size=job.get("size"), k=int(job.get("k", 2)),
        temporal=bool(job.get("temporal", False)))
    # The correction loop's render log, as the CLI keeps it: a frame is skipped only when it
    # was written from the same inputs (rendered line art, the references as the gizmo
    # rendered them) and settings, so a retried farm task after a key changed redoes the
    # frames that key reaches instead of keeping stale ones.
    run = cache.RenderRun(colorizer.sources(lineart, refs, wanted),
                          dict(colorizer.settings, out="exr-srgb-straight-alpha"), out.pattern,
                          {f: out.path(f) for f in wanted}, overwrite=bool(job.get("overwrite")))
    todo = run.plan.todo
    for line in run.plan.report(len(wanted), "--overwrite"):
        log(line)
    if not todo:
        return 0
    log(f"inkpaint: {colorizer.cfg.name}, {colorizer.backend.name} on {colorizer.backend.device}")
    done = 0
    for cf in colorizer.colorize(lineart, refs, todo):
        if should_cancel is not None and should_cancel():
            raise Cancelled()
        data = imageio.encode_image(run.outputs[cf.frame], cf.rgb, _alpha(lineart[cf.frame]),
                                    linear_out=False)
        with run.writing(cf.frame, data, cf.score) as path:
            imageio.atomic_write(path, data)
        if cf.score is not None:
            log(review.summary_line(cf.frame, cf.score, cf.note))
        done += 1
        if progress is not None:
            progress(done, len(todo), cf.frame)
    return done


def main(argv=None):
    """``python -m inkpaint_nuke.worker JOB.json``: exit 0 when every frame is written."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m inkpaint_nuke.worker JOB.json", file=sys.stderr)
        return 2
    progress_mod = _core.module("progress")
    errors = _core.module("errors")

    def log(line):
        print(line, file=sys.stderr, flush=True)

    bar = []

    def progress(done, total, frame):
        if not bar:
            bar.append(progress_mod.Progress(total, "colorize", stream=sys.stderr, bar=False))
        bar[0].step(f"frame {frame}")

    start = time.time()
    try:
        with open(argv[0], encoding="utf-8") as f:
            job = json.load(f)
        written = run(job, progress=progress, log=log)
    except errors.InkpaintError as exc:
        log(f"inkpaint: error: {exc}")
        return 1
    except (OSError, ValueError, KeyError) as exc:
        why = " ".join(str(exc).split())
        log(f"inkpaint: error: {type(exc).__name__}: {why}")
        return 1
    except KeyboardInterrupt:
        log("inkpaint: interrupted")
        return 130
    log(f"inkpaint: wrote {written} frames to {job['out']} in {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
