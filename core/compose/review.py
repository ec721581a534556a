"""Confidence output: a map beside every frame, one summary line per frame, and the list of
frames an artist should look at (``--review-below X``), so review time goes to the frames
that need it.

The map is written as an 8-bit grey PNG (255 = sure) named after the frame with
``.confidence`` before the frame number (``color.1003.png`` -> ``color.confidence.1003.png``),
so compositing packages read the maps as their own sequence and a scan for ``color.####``
does not pick them up. EXR frames carry the map inside, as a float channel named
``confidence`` beside R, G, B (``imageio.write_image(extra=...)``): one Read node gives a
compositor both, and readers that only know RGB(A) are not confused by a layer name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from ..errors import InkpaintError
from ..frames import OutputPattern, format_frames
from ..imageio import atomic_write
from .composer import FLAGGED, Composed

_NUMBERED = re.compile(r"^(?P<stem>.*?)(?P<sep>[._-]?)(?P<num>\d+)$")
_TOKEN = re.compile(r"^(?P<stem>.*?)(?P<sep>[._-]?)(?P<num>#+)(?P<rest>[^#]*)$")


def _map_name(stem: str, sep: str, num: str, rest: str = "") -> str:
    if not stem:
        return f"{num}{rest}.confidence.png"
    return f"{stem}.confidence{sep or '.'}{num}{rest}.png"


def _base(p: Path) -> str:
    return p.name[: -len(p.suffix)] if p.suffix else p.name


def confidence_path(frame_path: str | Path) -> Path:
    """``shots/color.1003.exr`` -> ``shots/color.confidence.1003.png`` (the frame number
    taken to be the name's last digits); a name without one gets ``.confidence.png``."""
    p = Path(frame_path)
    m = _NUMBERED.match(_base(p))
    return p.with_name(_map_name(**m.groupdict()) if m else f"{_base(p)}.confidence.png")


def confidence_pattern(out: OutputPattern) -> OutputPattern:
    """The maps of an output sequence as a sequence of their own, named by the same rule as
    ``confidence_path`` but around the pattern's frame token, wherever it is:
    ``sh010_####_v2.exr`` -> ``sh010.confidence_####_v2.png``. Being an ``OutputPattern``, the
    checks that guard output frames (``frames.check_no_overwrite``) guard the maps too."""
    p = Path(out.pattern)
    return OutputPattern(p.with_name(_map_name(**_TOKEN.match(_base(p)).groupdict())))


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


def region_note(composed: Composed) -> str:
    """What a composed frame's score rests on: ``2 of 41 regions below 0.50``."""
    return f"{composed.flagged} of {composed.regions} regions below {FLAGGED:.2f}"


def summary_line(frame: int, score: float, note: str) -> str:
    """``inkpaint: confidence 0.87 frame 1003 (2 of 41 regions below 0.50)``; one line per
    frame that farm logs keep and that no farm's progress pattern matches."""
    return f"inkpaint: confidence {score:.2f} frame {frame} ({note})"


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


def scores_path(pattern: str | os.PathLike) -> Path:
    """Where the scores of an output sequence go: ``out/color.####.png`` (an
    ``OutputPattern.pattern``) -> ``out/color.confidence.json``, beside the maps and named
    like them."""
    p = Path(pattern)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    stem = re.sub(r"[._-]?#+(?!.*#)", "", stem)
    return p.with_name(f"{stem}.confidence.json" if stem else "confidence.json")


def write_scores(path: str | Path, scores: Mapping[int, float]) -> Path:
    """Per-frame summary confidences as JSON (``{"1003": 0.87, ...}``), atomically: the
    small record a review tool reads back (``read_scores``) to list frames below any level."""
    path = Path(path)
    data = json.dumps({str(f): round(float(s), 4) for f, s in sorted(scores.items())}, indent=0)
    atomic_write(path, data.encode())
    return path


def read_scores(path: str | Path) -> dict[int, float]:
    try:
        return {int(k): float(v) for k, v in json.loads(Path(path).read_text()).items()}
    except (OSError, ValueError) as exc:
        raise InkpaintError(f"cannot read confidence scores {path}: {exc}") from exc
