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


# ---- contact sheet ----------------------------------------------------------------------------

SHEET_BACKGROUND = (32, 32, 32)  # dark grey: colour reads truer against it than on white
FLAG_COLOUR = (230, 40, 40)  # red: the frames to look at
KEY_COLOUR = (60, 120, 230)  # blue: painted keys, copied through
LABEL_HEIGHT = 22  # one line of cv2's HERSHEY_SIMPLEX at scale 0.45, with a margin
BORDER = 4  # thick enough to spot a flagged frame on a sheet scaled to fit a screen


def _thumb(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """An image scaled into ``width`` x ``height`` RGB uint8, grey and float [0, 1] accepted."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = cv2.convertScaleAbs(np.clip(a.astype(np.float32), 0.0, 1.0), alpha=255.0)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    a = a[..., :3]
    interp = cv2.INTER_AREA if a.shape[1] > width else cv2.INTER_NEAREST
    return cv2.resize(np.ascontiguousarray(a), (width, height), interpolation=interp)


def contact_sheet(frames: list[np.ndarray], confidences: list[np.ndarray | None],
                  flagged: list[bool], labels: list[str] | None = None,
                  keys: list[bool] | None = None, columns: int = 6,
                  thumb: int = 192) -> np.ndarray:
    """One image of a rendered shot for review: each cell is a frame (HxWx3 sRGB, float [0, 1]
    or uint8) over its confidence map (HxW, white = sure; None: a grey "no map" tile) under a
    label; keys get a blue label, flagged frames a red label and a red border, so the frames
    that need an artist stand out at a glance. Plain arrays in, an RGB uint8 array out, so the
    CLI, the demo and the hosts all draw the same sheet."""
    n = len(frames)
    if n == 0 or len(confidences) != n or len(flagged) != n:
        raise InkpaintError("a contact sheet needs one confidence (or None) and one flag per "
                            f"frame; got {n} frames, {len(confidences)} maps, "
                            f"{len(flagged)} flags")
    labels = list(labels) if labels is not None else [str(i) for i in range(n)]
    keys = list(keys) if keys is not None else [False] * n
    h0, w0 = np.asarray(frames[0]).shape[:2]
    tw = max(16, int(thumb))
    th = max(8, round(tw * h0 / max(1, w0)))
    cols = max(1, min(int(columns), n))
    rows = -(-n // cols)
    cell_w, cell_h = tw + 2 * BORDER, LABEL_HEIGHT + 2 * th + 2 * BORDER
    sheet = np.empty((rows * cell_h, cols * cell_w, 3), np.uint8)
    sheet[:] = SHEET_BACKGROUND
    for i in range(n):
        y, x = (i // cols) * cell_h, (i % cols) * cell_w
        if flagged[i]:
            sheet[y:y + cell_h, x:x + cell_w] = FLAG_COLOUR
        band = FLAG_COLOUR if flagged[i] else KEY_COLOUR if keys[i] else SHEET_BACKGROUND
        sheet[y + BORDER:y + BORDER + LABEL_HEIGHT, x + BORDER:x + BORDER + tw] = band
        cv2.putText(sheet, labels[i], (x + BORDER + 4, y + BORDER + LABEL_HEIGHT - 7),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        top = y + BORDER + LABEL_HEIGHT
        sheet[top:top + th, x + BORDER:x + BORDER + tw] = _thumb(frames[i], tw, th)
        conf = confidences[i]
        tile = sheet[top + th:top + 2 * th, x + BORDER:x + BORDER + tw]
        if conf is None:
            tile[:] = 96
            cv2.putText(tile, "no map", (4, min(th - 4, 16)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (200, 200, 200), 1, cv2.LINE_AA)
        else:
            tile[:] = _thumb(conf, tw, th)
    return sheet


def write_sheet(path: str | Path, sheet: np.ndarray) -> Path:
    """An RGB uint8 sheet as a PNG, atomically."""
    path = Path(path)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InkpaintError(f"cannot encode the contact sheet {path}")
    atomic_write(path, buf.tobytes())
    return path
