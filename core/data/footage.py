"""Training shots from real animation footage, built the way the paper's sec. 4.1 built its
data set: split the video into shots by colour-histogram differences, drop shots that are too
short or too still and frames that are too dark or too faded, extract line art from every
colour frame and store colour, lines and distance field per frame.

Shot splitting (paper: "a 768-dimensional feature vector of histograms of R, G, B channels ...
when the difference between the neighboring frames is greater than 200, it is considered to
belong to different shots ... we remove shots in which the mean square errors between all
pairs of frames are less than 10"). The paper does not say how the histograms are scaled, and
the scale decides what 200 and 10 mean. Here a bin holds ``512 * sqrt(share)``, the square
root of the pixel count the frame would have at 512 x 512 (``share`` = the bin's fraction of
the frame's pixels), which makes the MSE 2048 times the mean squared Hellinger distance of
the three channels' colour distributions (so MSE is in [0, 2048] whatever the frame size).
Measured on 80 procedural cel shots of 16 frames at 128 and 256 px: neighbouring frames of
one shot differ by at most 48 (99th percentile 30), frames of different shots by 606 or more
(5th percentile 907), so the paper's 200 sits in the middle of the gap (geometric mean of 48
and 907 is 209). Min-max scaled histograms, which one big flat fill's spike rescales, gave
false cuts up to 450; raw or summed-to-one counts separated the groups by less than 2x; a
256 x 256 scale put different shots as close as 151. A shot is too still when all its frame
pairs are below 10 (mean H^2 < 0.005: hardly any colour appears or disappears; this drops 8-35
% of the procedural shots, those that move without revealing new colours; pass a lower
``still_mse`` to keep more). Small frames give noisier histograms (neighbours reach 150 at
64 px), so build at 128 px or more.

Frame filters (paper: "we filter out video frames that are too dark or too faded in color"):
a frame is too dark when its mean Rec. 601 luma is below ``DARK_LUMA`` (0.12: night scenes
and fades to black, whose line extraction is mostly noise) and too faded when its mean HSV
saturation is below ``FADED_SAT`` (0.08: grey flashbacks, fades to white, title cards),
which leaves too little colour to learn from. Dropped frames split a shot; the pieces are
kept when they still have ``MIN_FRAMES`` (8) frames.

Line art: ``core.data.lines.extract_lines`` (a classical extractor standing in for the paper's
SketchKeras, whose weights cannot be had offline).

Frames are scaled so the short side is ``size`` and centre-cropped to a square: training
uses square clips, and cropping keeps the aspect (no squashing) and adds no letterbox bars,
which would be fake flat regions with fake edges.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InkpaintError
from ..frames import IMAGE_EXTS, FrameSequence
from ..imageio import atomic_write, read_color
from ..preprocess import distance_field
from .lines import LUMA, extract_lines
from .procedural import Shot

CUT_MSE = 200.0  # neighbouring frames further apart than this are in different shots
STILL_MSE = 10.0  # a shot whose every frame pair is closer than this is dropped
MIN_FRAMES = 8  # shorter shots are dropped
MAX_FRAMES = 240  # longer shots are cut into pieces (bounded memory, 10 s at 24 fps)
DARK_LUMA = 0.12  # mean luma (0-1) below this: too dark
FADED_SAT = 0.08  # mean HSV saturation (0-1) below this: too faded
DISTANCE_MAX = 0.0625  # distance fields clipped at this fraction of the size (the presets')
VIDEO_EXTS = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg",
                        ".wmv", ".flv", ".ts", ".m2ts", ".ogv"})
INDEX = "index.json"


# ---------------------------------------------------------------- shots


def frame_feature(rgb: np.ndarray) -> np.ndarray:
    """The paper's 768-d frame feature: 256-bin R, G and B histograms, each bin
    ``512 * sqrt(share of the frame's pixels)`` (see the module docstring). ``rgb`` is uint8
    HxWx3 (float in [0, 1] is converted)."""
    rgb = _as_uint8(rgb)
    hist = np.stack([np.bincount(rgb[..., c].ravel(), minlength=256) for c in range(3)])
    return 512.0 * np.sqrt(hist.ravel() / (rgb.shape[0] * rgb.shape[1]))


def feature_mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


def shot_boundaries(frames: Sequence[np.ndarray] | np.ndarray, cut_mse: float = CUT_MSE
                    ) -> list[int]:
    """Index of the first frame of every shot (always starting with 0): frame i starts a
    shot when its feature differs from frame i-1's by an MSE above ``cut_mse``."""
    feats = [frame_feature(f) for f in frames]
    cuts = [i for i in range(1, len(feats)) if feature_mse(feats[i - 1], feats[i]) > cut_mse]
    return [0] + cuts if feats else []


def too_still(feats: Sequence[np.ndarray], still_mse: float = STILL_MSE) -> bool:
    """True when every pair of frames differs by less than ``still_mse``."""
    f = np.asarray(feats, np.float64)
    sq = (f * f).sum(1)
    d = (sq[:, None] + sq[None, :] - 2 * f @ f.T) / f.shape[1]  # pairwise MSE
    return bool(d.max() < still_mse)


def frame_problem(rgb: np.ndarray) -> str | None:
    """'dark', 'faded' or None for a usable frame (thresholds in the module docstring)."""
    x = _as_uint8(rgb).astype(np.float32) / 255
    if float((x @ LUMA).mean()) < DARK_LUMA:
        return "dark"
    hi, lo = x.max(2), x.min(2)
    sat = np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-6), 0)
    return "faded" if float(sat.mean()) < FADED_SAT else None


# ---------------------------------------------------------------- lines


def _distance(line: np.ndarray, distance_max: float) -> np.ndarray:
    """Exactly what core.inputs.line_planes computes for the network."""
    coverage = np.clip((1.0 - line) * 2.0, 0.0, 1.0)
    return distance_field(coverage, distance_max * max(line.shape))


# ---------------------------------------------------------------- reading sources


def _as_uint8(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        return rgb[..., :3]
    return np.clip(rgb[..., :3].astype(np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)


def square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Short side to ``size``, long side centre-cropped: uint8 size x size x 3."""
    rgb = _as_uint8(rgb)
    h, w = rgb.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = rgb[top: top + s, left: left + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp) if s != size else crop.copy()


def _frames(source: Path) -> tuple[int, Iterator[np.ndarray]]:
    """(frame count, or 0 if unknown; RGB uint8 frames) of a video file or frame folder."""
    if source.is_dir():
        seq = FrameSequence(source)
        return len(seq), (_as_uint8(read_color(seq.path(f))[0]) for f in seq)
    if not source.is_file():
        raise InkpaintError(f"footage source {source} does not exist")
    if source.suffix.lower() in IMAGE_EXTS:
        raise InkpaintError(f"footage source {source} is a single image; give a video file or "
                            "a folder of numbered frames")
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise InkpaintError(f"cannot open video {source}; convert it to .mp4 (H.264) or "
                            "export its frames to a folder")
    count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)

    def read() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()

    return count, read()


def _name(source: Path, taken: set[str]) -> str:
    stem = source.name if source.is_dir() else source.stem
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "source"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


# ---------------------------------------------------------------- building


@dataclass
class _Stats:
    frames: int = 0
    shots: int = 0  # shots found by the cut detector
    kept: int = 0
    dark: int = 0  # frames
    faded: int = 0  # frames
    short: int = 0  # shot pieces
    still: int = 0  # shot pieces


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise InkpaintError(f"cannot encode a {img.shape[1]}x{img.shape[0]} PNG")
    return buf.tobytes()


def _write_shot(folder: Path, frames: list[np.ndarray], distance_max: float) -> None:
    if folder.is_dir():  # frames of an earlier, longer build of this shot
        for kind in ("color", "lines", "dist"):
            for old in folder.glob(f"{kind}.[0-9][0-9][0-9][0-9].png"):
                old.unlink(missing_ok=True)
    for i, rgb in enumerate(frames):
        line = extract_lines(rgb)
        dist = _distance(line, distance_max)
        atomic_write(folder / f"color.{i:04d}.png", _png(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)))
        atomic_write(folder / f"lines.{i:04d}.png",
                      _png(np.clip(line * 255 + 0.5, 0, 255).astype(np.uint8)))
        atomic_write(folder / f"dist.{i:04d}.png",
                      _png(np.clip(dist * 65535 + 0.5, 0, 65535).astype(np.uint16)))


def build_dataset(sources: Sequence[str | os.PathLike], out: str | os.PathLike,
                  size: int = 256, distance_max: float = DISTANCE_MAX,
                  min_frames: int = MIN_FRAMES, max_frames: int = MAX_FRAMES,
                  cut_mse: float = CUT_MSE, still_mse: float = STILL_MSE) -> dict:
    """Build a training set from videos (anything cv2.VideoCapture reads) and/or folders of
    numbered frames. Writes ``out/<source>_<nnnn>/{color,lines,dist}.####.png`` per kept
    shot (colour RGB 8-bit, line image 8-bit grey, distance field 16-bit grey scaled to
    [0, 1]) and ``out/index.json``; returns the index. Shots are processed as they stream by,
    so memory holds at most ``max_frames`` frames whatever the video length.

    index.json: ``{"version", "settings": {...}, "sources": [{"path", "name", "frames",
    "shots", "kept", "dropped": {...}}], "shots": [{"name", "source", "first", "frames"}]}``
    where ``first`` is the shot's first frame in its source (0-based)."""
    from ..progress import Progress

    if not sources:
        raise InkpaintError("no footage given; pass one or more video files or frame folders")
    if not 32 <= size <= 2048:
        raise InkpaintError(f"dataset frame size must be 32-2048 px, got {size}")
    if min_frames < 2 or max_frames < min_frames:
        raise InkpaintError(f"need 2 <= min_frames <= max_frames, got {min_frames}, "
                            f"{max_frames}")
    out = Path(out)
    paths = [Path(s) for s in sources]
    opened = [(p, *_frames(p)) for p in paths]
    progress = Progress(sum(n for _, n, _ in opened) or len(opened), "building dataset")
    taken: set[str] = set()
    shots: list[dict] = []
    summary = []
    for path, _, frames in opened:
        name = _name(path, taken)
        st = _Stats()

        def flush(buf: list[tuple[np.ndarray, np.ndarray, int]], name=name, st=st) -> None:
            """Filter one detected shot and write what survives."""
            st.shots += 1
            run: list[tuple[np.ndarray, np.ndarray, int]] = []
            for item in buf + [None]:
                problem = frame_problem(item[0]) if item is not None else "end"
                if problem is None:
                    run.append(item)
                    continue
                if problem in ("dark", "faded"):
                    setattr(st, problem, getattr(st, problem) + 1)
                if not run:
                    continue
                if len(run) < min_frames:
                    st.short += 1
                elif too_still([f for _, f, _ in run], still_mse):
                    st.still += 1
                else:
                    shot_name = f"{name}_{st.kept:04d}"
                    _write_shot(out / shot_name, [rgb for rgb, _, _ in run], distance_max)
                    shots.append({"name": shot_name, "source": name, "first": run[0][2],
                                  "frames": len(run)})
                    st.kept += 1
                run = []

        buf: list[tuple[np.ndarray, np.ndarray, int]] = []
        for i, frame in enumerate(frames):
            rgb = square(frame, size)
            feat = frame_feature(rgb)
            if buf and (feature_mse(buf[-1][1], feat) > cut_mse or len(buf) >= max_frames):
                flush(buf)
                buf = []
            buf.append((rgb, feat, i))
            st.frames += 1
            progress.step(f"{name} {i}")
        if buf:
            flush(buf)
        summary.append({"path": str(path), "name": name, "frames": st.frames, "shots": st.shots,
                        "kept": st.kept, "dropped": {"dark_frames": st.dark,
                                                     "faded_frames": st.faded,
                                                     "short_shots": st.short,
                                                     "still_shots": st.still}})
    progress.close()
    index = {
        "version": 1,
        "settings": {"size": size, "crop": "centre square", "distance_max": distance_max,
                     "cut_mse": cut_mse, "still_mse": still_mse, "min_frames": min_frames,
                     "max_frames": max_frames, "dark_luma": DARK_LUMA, "faded_sat": FADED_SAT,
                     "lines": "DoG on luma and on R, G, B (core.data.lines), sigma 0.8 px "
                              "per 256 px, tau 0.98, eps 0.005 (colour 0.02), phi 200",
                     "histogram": "256 bins per channel, 512 * sqrt(pixel share)"},
        "sources": summary,
        "shots": shots,
    }
    atomic_write(out / INDEX, json.dumps(index, indent=1).encode("utf-8"))
    return index


# ---------------------------------------------------------------- reading a built set


class FootageShots:
    """The shots of a data set written by ``build_dataset``; torch-free, so training and
    evaluation code can wrap it as they like."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        path = self.root / INDEX
        try:
            self.index = json.loads(path.read_text(encoding="utf-8"))
            self.shots: list[dict] = list(self.index["shots"])
        except FileNotFoundError as exc:
            raise InkpaintError(f"{self.root} is not a built footage data set (no {INDEX}); "
                                "build it with 'inkpaint dataset build'") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InkpaintError(f"footage index {path} is unreadable ({exc}); rebuild the "
                                "data set") from exc

    def __len__(self) -> int:
        return len(self.shots)

    def _read(self, path: Path, flags: int) -> np.ndarray:
        img = cv2.imread(str(path), flags)
        if img is None:
            raise InkpaintError(f"cannot read {path}; the data set is incomplete, rebuild it")
        return img

    def name(self, i: int) -> str:
        """Shot i's folder name, ``<source>_<nnnn>``."""
        return self.shots[i]["name"]

    def shot(self, i: int, start: int = 0, count: int | None = None) -> Shot:
        """Shot i (or ``count`` of its frames from ``start``): colour uint8 [T, H, W, 3],
        lines uint8 [T, H, W] (255 = paper), and the exact colours covering 1 % or more of
        its first frame as the palette."""
        folder, n = self.root / self.name(i), int(self.shots[i]["frames"])
        frames = range(start, n if count is None else min(n, start + count))
        color = np.stack([cv2.cvtColor(self._read(folder / f"color.{t:04d}.png",
                                                  cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                          for t in frames])
        lines = np.stack([self._read(folder / f"lines.{t:04d}.png", cv2.IMREAD_GRAYSCALE)
                          for t in frames])
        return Shot(color, lines, _dominant(color[0]))

    def dist(self, i: int) -> np.ndarray:
        """Shot i's stored distance fields, float32 [T, H, W] in [0, 1]."""
        folder, n = self.root / self.name(i), int(self.shots[i]["frames"])
        return np.stack([self._read(folder / f"dist.{t:04d}.png", cv2.IMREAD_UNCHANGED)
                         for t in range(n)]).astype(np.float32) / 65535


def _dominant(rgb: np.ndarray, share: float = 0.01) -> np.ndarray:
    """Exact colours covering at least ``share`` of a frame: the flat fills of cel frames
    (footage has no known palette; this stands in for Shot.palette)."""
    flat = rgb.reshape(-1, 3).astype(np.int32)
    keys, counts = np.unique((flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2],
                             return_counts=True)
    keys = keys[counts >= share * len(flat)]
    return np.stack([keys >> 16, (keys >> 8) & 255, keys & 255], 1).astype(np.uint8)
