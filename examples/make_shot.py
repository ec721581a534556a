"""How ``examples/shot`` was made (run once; the PNGs are committed so the demo needs no
Debian package): a held-out public-domain clip-art drawing (Debian ``openclipart-svg``),
animated by ``core.data.drawings`` over a painted background with a camera move, 24 frames
at 1024 x 1024. Frames 1001 and 1024 are the painted keys; the line art of every frame is
the drawing's own strokes.

    .venv/bin/python examples/make_shot.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from core.data.drawings import drawing_for, render_drawing_shot

SEED, FRAMES, SIZE, FIRST = 507, 24, 1024, 1001

if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "shot"
    shot = render_drawing_shot(SEED, frames=FRAMES, size=SIZE, split="eval")
    if out.exists():
        shutil.rmtree(out)
    lines, colours = shot.write(out / "lineart", first=FIRST, colours=[0, FRAMES - 1])
    for frame, path in colours.items():
        path.rename(out / f"ref.{frame}.png")
    source = drawing_for(SEED, split="eval")
    (out / "SOURCE.txt").write_text(
        f"Drawing: {source['path']} (openclipart, public domain), seed {SEED}, {FRAMES} "
        f"frames at {SIZE}x{SIZE}; made by examples/make_shot.py.\n")
    print(f"wrote {len(lines)} frames to {out}; mean colour {np.mean(shot.color):.1f}")
