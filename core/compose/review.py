"""Confidence output: a map beside every frame, one summary line per frame, and the list of
frames an artist should look at (``--review-below X``), so review time goes to the frames
that need it.

The map is written as an 8-bit grey PNG (255 = sure) named after the frame with
``.confidence`` before the frame number (``color.1003.png`` -> ``color.confidence.1003.png``),
so compositing packages read the maps as their own sequence and an input folder scan of
``color.####`` does not pick them up. The same name is used beside EXR frames.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from ..errors import InkpaintError
from ..frames import format_frames
from ..imageio import atomic_write
from .composer import FLAGGED, Composed

_NUMBERED = re.compile(r"^(?P<stem>.*?)(?P<sep>[._-]?)(?P<num>\d+)$")


def confidence_path(frame_path: str | Path) -> Path:
    """``shots/color.1003.exr`` -> ``shots/color.confidence.1003.png``; a name without a
    frame number gets ``.confidence.png``."""
    p = Path(frame_path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    m = _NUMBERED.match(stem)
    if m and m.group("stem"):
        name = f"{m.group('stem')}.confidence{m.group('sep') or '.'}{m.group('num')}.png"
    else:
        name = f"{stem}.confidence.png"
    return p.with_name(name)


def write_confidence(path: str | Path, confidence: np.ndarray) -> Path:
    """Write a confidence map (float HxW in [0, 1]) as an 8-bit grey PNG, atomically."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InkpaintError(f"confidence maps are PNG files; got {path}")
    u8 = cv2.convertScaleAbs(np.asarray(confidence, np.float32), alpha=255.0)
    ok, buf = cv2.imencode(".png", u8)
    if not ok:
        raise InkpaintError(f"cannot encode the confidence map for {path}")
    atomic_write(path, buf.tobytes())
    return path


def write_beside(frame_path: str | Path, composed: Composed) -> Path:
    """The confidence map of a frame, beside it (``confidence_path``)."""
    return write_confidence(confidence_path(frame_path), composed.confidence)


def summary_line(frame: int, composed: Composed) -> str:
    """``inkpaint: confidence 0.87 frame 1003 (2 of 41 regions below 0.50)``."""
    return (f"inkpaint: confidence {composed.score:.2f} frame {frame} "
            f"({composed.flagged} of {composed.regions} regions below {FLAGGED:.2f})")


def frames_below(scores: Mapping[int, float], threshold: float) -> list[int]:
    """The frames whose summary confidence is below ``threshold``, in order."""
    return sorted(f for f, s in scores.items() if s < threshold)


def review_line(scores: Mapping[int, float], threshold: float) -> str:
    """``inkpaint: review 3 of 48 frames below 0.60: 1003-1005`` (or none)."""
    low = frames_below(scores, threshold)
    if not low:
        return f"inkpaint: review none of {len(scores)} frames below {threshold:.2f}"
    return (f"inkpaint: review {len(low)} of {len(scores)} frames below {threshold:.2f}: "
            f"{format_frames(low)}")


def write_scores(path: str | Path, scores: Mapping[int, float]) -> Path:
    """Per-frame summary confidences as JSON (``{"1003": 0.87, ...}``), atomically: the
    small record a review tool or a later ``--review-below`` reads back."""
    path = Path(path)
    data = json.dumps({str(f): round(float(s), 4) for f, s in sorted(scores.items())}, indent=0)
    atomic_write(path, data.encode())
    return path


def read_scores(path: str | Path) -> dict[int, float]:
    try:
        return {int(k): float(v) for k, v in json.loads(Path(path).read_text()).items()}
    except (OSError, ValueError) as exc:
        raise InkpaintError(f"cannot read confidence scores {path}: {exc}") from exc
