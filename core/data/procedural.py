"""Procedural cel-animation shots: pixel-aligned line art and colour, unlimited, for training.

Real line-art/colour pairs of animation are scarce, so the networks train on synthetic shots that
keep what matters for colour transfer: flat fills from a small palette reused across parts (so
colour is not a function of shape), lines that sit exactly on fill boundaries (computed from the
rendered label map, so occlusion is right), interior detail lines that do not change the fill,
two-tone shading, and the motions found between key frames and in-betweens (articulation,
non-rigid warps, camera moves, occluders, held frames, pose jumps).

Everything is rendered at 2x-4x resolution as an integer label map and area-downsampled, which
gives anti-aliased lines while interior fill pixels stay exact palette colours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import InkpaintError
from ..imageio import write_image
from .lines import extract_lines

STYLES = ("clean", "pencil", "gp", "extracted")
BACKGROUNDS = ("flat", "gradient", "painted", "texture", "paper")
FIXED_SHIFT = 4  # fixed-point bits for sub-pixel cv2 drawing
_ONE = 1 << FIXED_SHIFT


@dataclass
class Shot:
    color: np.ndarray  # uint8 [T, H, W, 3] RGB, painted frames (fills + drawn lines)
    lines: np.ndarray  # uint8 [T, H, W], 255 = paper, 0 = ink
    palette: np.ndarray  # uint8 [P, 3], every flat fill colour of the shot

    def write(self, folder: Path, first: int = 0, colours: Iterable[int] | None = None
              ) -> tuple[dict[int, Path], dict[int, Path]]:
        """The shot as users hand it over: ``line.####.png`` for every frame and
        ``color.####.png`` for the frame indices in ``colours`` (default: all), numbered from
        ``first``. Returns (frame number -> line-art path, frame number -> colour path)."""
        folder.mkdir(parents=True, exist_ok=True)
        lines, color = {}, {}
        for i in range(len(self.lines)):
            lines[first + i] = folder / f"line.{first + i:04d}.png"
            write_image(lines[first + i], np.repeat(self.lines[i, ..., None], 3, -1) / 255.0)
        for i in range(len(self.color)) if colours is None else colours:
            color[first + i] = folder / f"color.{first + i:04d}.png"
            write_image(color[first + i], self.color[i] / 255.0)
        return lines, color


@dataclass
class _Part:
    poly: np.ndarray  # [N, 2] outline in the part's frame (origin = its joint)
    parent: int  # -1 for the root
    joint: np.ndarray  # [2] joint position in the parent's frame
    angle: float  # rest angle about the joint
    fill: int  # palette index
    front: bool = True  # drawn in front of its parent
    swing: np.ndarray = field(default_factory=lambda: np.zeros(3))  # amplitude, cycles, phase
    details: list[tuple[np.ndarray, bool]] = field(default_factory=list)  # (polyline, closed)


@dataclass
class _Actor:
    parts: list[_Part]  # parents before children
    order: list[int]  # back-to-front draw order
    start: np.ndarray  # [2] position (render px) at the first frame
    move: np.ndarray  # [2] displacement over the shot
    arc: float  # sideways bulge of the path (px)
    rot: tuple[float, float]  # start angle, change over the shot
    scale: tuple[float, float]  # px per model unit, relative change over the shot
    smooth: bool  # ease in/out rather than constant speed
    jump: np.ndarray  # [3 + n_parts] dx, dy, rotation, joint angles added after a pose jump


# ---------------------------------------------------------------- geometry


def affine(tx: float, ty: float, angle: float = 0.0, scale: float = 1.0) -> np.ndarray:
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, tx], [s, c, ty], [0.0, 0.0, 1.0]])


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:2, :2].T + m[:2, 2]


def to_fixed(pts: np.ndarray) -> np.ndarray:
    return np.rint(pts * _ONE).astype(np.int32)


def _ellipse(rx: float, ry: float, cx: float = 0.0, cy: float = 0.0, n: int = 28) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def blob(rng: np.random.Generator, r: float, cx: float = 0.0) -> np.ndarray:
    """Smooth closed curve with a few random low-frequency bulges."""
    t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    rad = np.ones_like(t)
    for k in (2, 3, 4):
        rad += rng.uniform(0, 0.22 / k**0.5) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    aspect = rng.uniform(0.75, 1.3)
    return np.stack([cx + r * rad * np.cos(t) * aspect, r * rad * np.sin(t) / aspect], 1)


def _polygon(rng: np.random.Generator, r: float, cx: float = 0.0) -> np.ndarray:
    k = int(rng.integers(3, 8))
    t = (np.arange(k) + rng.uniform(-0.25, 0.25, k)) * 2 * np.pi / k + rng.uniform(0, 2 * np.pi)
    rad = r * rng.uniform(0.75, 1.15, k)
    return np.stack([cx + rad * np.cos(t), rad * np.sin(t)], 1)


def _shape(rng: np.random.Generator, r: float, cx: float = 0.0) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:
        return _ellipse(r * rng.uniform(0.7, 1.3), r * rng.uniform(0.7, 1.3), cx)
    return blob(rng, r, cx) if kind == 1 else _polygon(rng, r, cx)


def _curve(length: float, bend: float, n: int = 12) -> np.ndarray:
    """Quadratic Bezier from the origin to (length, 0) bulging sideways by `bend`."""
    t = np.linspace(0, 1, n)
    return np.stack([t * length, 2 * t * (1 - t) * bend], 1)


def limb_outline(length: float, w0: float, w1: float, bend: float) -> np.ndarray:
    """Outline of a tapered, bent limb with round caps (joint at the origin)."""
    c = _curve(length, bend)
    tan = np.gradient(c, axis=0)
    nrm = np.stack([-tan[:, 1], tan[:, 0]], 1) / np.linalg.norm(tan, axis=1, keepdims=True)
    w = np.linspace(w0, w1, len(c))[:, None]
    a1, a0 = np.arctan2(nrm[-1, 1], nrm[-1, 0]), np.arctan2(nrm[0, 1], nrm[0, 0])
    cap1 = np.linspace(a1, a1 - np.pi, 8)[1:-1]
    cap0 = np.linspace(a0 - np.pi, a0 - 2 * np.pi, 8)[1:-1]
    return np.concatenate([
        c + nrm * w,
        c[-1] + w1 * np.stack([np.cos(cap1), np.sin(cap1)], 1),
        (c - nrm * w)[::-1],
        c[0] + w0 * np.stack([np.cos(cap0), np.sin(cap0)], 1),
    ])


# ---------------------------------------------------------------- characters


def _face(r: float, cx: float, rng: np.random.Generator) -> list[tuple[np.ndarray, bool]]:
    """Eyes and mouth for a head whose +x axis points up, away from the body."""
    er = r * rng.uniform(0.13, 0.22)
    ex, ey = cx + 0.15 * r, r * rng.uniform(0.25, 0.42)
    out = []
    for side in (-1, 1):
        out.append((_ellipse(er * 1.2, er, ex, side * ey, 16), True))
        out.append((_ellipse(er * 0.3, er * 0.3, ex - er * 0.2, side * ey, 8), True))
    if rng.random() < 0.7:
        out.append((_curve(r * 0.5, r * rng.uniform(-0.2, 0.2), 8)[:, ::-1]
                    + [cx - 0.45 * r, -0.25 * r], False))
    return out


def _seam(poly: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """An interior line between two roughly opposite outline points (clothing seam, fold)."""
    c = poly.mean(0)
    i = int(rng.integers(len(poly)))
    j = (i + len(poly) // 2 + int(rng.integers(-2, 3))) % len(poly)
    a, b = c + 0.8 * (poly[i] - c), c + 0.8 * (poly[j] - c)
    mid = c + rng.uniform(-0.3, 0.3) * (poly[i] - c)[::-1]
    t = np.linspace(0, 1, 10)[:, None]
    return ((1 - t) ** 2 * a + 2 * t * (1 - t) * mid + t**2 * b), False


def _draw_order(parts: list[_Part]) -> list[int]:
    def visit(i: int) -> list[int]:
        kids = [j for j, p in enumerate(parts) if p.parent == i]
        back = [k for j in kids if not parts[j].front for k in visit(j)]
        front = [k for j in kids if parts[j].front for k in visit(j)]
        return back + [i] + front

    return visit(0)


def _character(rng: np.random.Generator, n_colors: int) -> list[_Part]:
    """A body with a head, limbs (chains of strokes ending in hands/feet) and extras."""
    target = int(rng.integers(5, 16))
    parts: list[_Part] = []

    def add(poly, parent, joint, angle, front=True, swing=True, details=()) -> int:
        fill = int(rng.integers(n_colors))
        if parent >= 0 and fill == parts[parent].fill and rng.random() < 0.7:
            fill = int(rng.integers(n_colors))
        amp = rng.uniform(0.2, 0.9) if swing else 0.0
        motion = np.array([amp, rng.uniform(0.3, 1.2), rng.uniform(0, 1)])
        parts.append(_Part(poly, parent, np.asarray(joint, float), angle, fill, front, motion,
                           list(details)))
        return len(parts) - 1

    def anchor(i: int) -> tuple[np.ndarray, float]:
        """A point just inside part i's outline and the outward direction there."""
        poly = parts[i].poly
        c = poly.mean(0)
        v = poly[int(rng.integers(len(poly)))] - c
        return c + 0.8 * v, float(np.arctan2(v[1], v[0]))

    add(_shape(rng, 1.0), -1, (0, 0), 0.0, swing=False)
    if rng.random() < 0.85:
        rh = rng.uniform(0.45, 0.85)
        head = blob(rng, rh, 0.8 * rh) if rng.random() < 0.6 else _ellipse(rh, rh * 0.9, 0.8 * rh)
        up = -np.pi / 2 + rng.uniform(-0.4, 0.4)
        add(head, 0, 0.8 * unit_vector(up), up, details=_face(rh, 0.8 * rh, rng))
    for _ in range(int(rng.integers(2, 5))):
        if len(parts) >= target:
            break
        ang = rng.uniform(-0.2, 1.2) * np.pi
        parent, joint, length = 0, 0.75 * unit_vector(ang), rng.uniform(0.6, 1.4)
        w = rng.uniform(0.12, 0.3)
        for seg in range(int(rng.integers(1, 3))):
            if len(parts) >= target:
                break
            w1 = w * rng.uniform(0.6, 1.0)
            poly = limb_outline(length, w, w1, rng.uniform(-0.3, 0.3) * length)
            parent = add(poly, parent, joint, ang if seg == 0 else rng.uniform(-0.9, 0.9),
                         front=rng.random() < 0.5)
            joint, ang, w, length = (length, 0.0), 0.0, w1, length * rng.uniform(0.7, 1.1)
        if len(parts) < target and rng.random() < 0.6:
            add(_shape(rng, w * rng.uniform(1.3, 2.2), w), parent, joint, rng.uniform(-0.5, 0.5))
    while len(parts) < target:
        parent = int(rng.integers(len(parts)))
        size = np.ptp(parts[parent].poly, 0).min()
        if rng.random() < 0.4:  # patch (belly, pocket, spot) inside the parent
            add(_shape(rng, size * rng.uniform(0.15, 0.3)), parent, parts[parent].poly.mean(0),
                rng.uniform(0, 2 * np.pi), swing=False)
        else:  # ear, horn, tail, hair tuft on the outline
            joint, ang = anchor(parent)
            r = size * rng.uniform(0.15, 0.35)
            poly = _polygon(rng, r, r) if rng.random() < 0.5 else limb_outline(
                r * 2.5, r * 0.5, r * 0.2, rng.uniform(-1, 1) * r)
            add(poly, parent, joint, ang, front=rng.random() < 0.4)
    for p in parts:
        if rng.random() < 0.2:
            p.details.append(_seam(p.poly, rng))
    return parts


def unit_vector(a: float) -> np.ndarray:
    return np.array([np.cos(a), np.sin(a)])


def _actor(rng: np.random.Generator, parts: list[_Part], res: int, unit: float, mag: float,
           start: np.ndarray, move: np.ndarray) -> _Actor:
    jump = np.zeros(3 + len(parts))
    if rng.random() < 0.5:
        jump[:2] = unit_vector(rng.uniform(0, 2 * np.pi)) * res * rng.uniform(0.05, 0.25)
        jump[2] = rng.uniform(-0.6, 0.6)
        jump[3:] = rng.uniform(-0.9, 0.9, len(parts))
    return _Actor(parts, _draw_order(parts), start, move, res * mag * rng.uniform(-0.3, 0.3),
                  (rng.uniform(-0.4, 0.4), mag * rng.uniform(-2.0, 2.0)),
                  (unit, mag * rng.uniform(-1.0, 1.0)), bool(rng.random() < 0.6), jump)


def _occluder(rng: np.random.Generator, n_colors: int, res: int) -> _Actor:
    """A foreground object (pole, bush, passer-by) crossing the frame during the shot."""
    r = 1.0
    poly = limb_outline(6.0, r * 0.5, r * 0.5, 0.0) - (3.0, 0.0) if rng.random() < 0.4 else blob(
        rng, r * 1.6)
    part = _Part(poly, -1, np.zeros(2), rng.uniform(0, np.pi), int(rng.integers(n_colors)))
    side = rng.choice([-1, 1])
    start = np.array([0.5 * res - side * res * rng.uniform(0.4, 0.8), res * rng.uniform(0.2, 0.8)])
    move = np.array([side * res * rng.uniform(0.6, 1.4), res * rng.uniform(-0.2, 0.2)])
    return _Actor([part], [0], start, move, 0.0, (0.0, rng.uniform(-0.3, 0.3)),
                  (res * rng.uniform(0.12, 0.25), 0.0), False, np.zeros(4))


def _pose(a: _Actor, u: float, gain: float, jumped: bool) -> list[np.ndarray]:
    """World matrix of every part at shot time u in [0, 1]."""
    e = u * u * (3 - 2 * u) if a.smooth else u
    side = np.array([-a.move[1], a.move[0]]) / (np.linalg.norm(a.move) + 1e-9)
    pos = a.start + a.move * e + side * a.arc * np.sin(np.pi * u)
    jump = a.jump * jumped
    root = affine(*(pos + jump[:2]), a.rot[0] + a.rot[1] * e + jump[2],
                   a.scale[0] * (1 + a.scale[1] * e))
    mats: list[np.ndarray] = []
    for j, p in enumerate(a.parts):
        amp, cycles, phase = p.swing
        ang = p.angle + gain * amp * np.sin(2 * np.pi * (cycles * u + phase)) + jump[3 + j]
        local = affine(*p.joint, ang)
        mats.append((root if p.parent < 0 else mats[p.parent]) @ local)
    return mats


# ---------------------------------------------------------------- colours and backgrounds


def random_palette(rng: np.random.Generator, n: int) -> np.ndarray:
    cols: list[np.ndarray] = []
    while len(cols) < n:
        hsv = np.uint8([[[rng.integers(180), rng.integers(20, 230), rng.integers(70, 256)]]])
        c = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(int)
        if all(np.abs(c - o).sum() > 60 for o in cols):
            cols.append(c)
    return np.array(cols)


def _noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field in roughly [0, 1]."""
    small = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def backdrop_image(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    """A painted backdrop (RGB uint8, size x size) in muted colours, without lines."""
    if kind == "paper":  # characters on blank paper, as Grease Pencil renders and sprites come
        return np.full((size, size, 3), int(rng.integers(240, 256)), np.uint8)
    base = random_palette(rng, 5) * 0.6 + 255 * 0.4 * rng.random()
    if kind == "flat":
        return np.broadcast_to(base[0].astype(np.uint8), (size, size, 3)).copy()
    t = np.linspace(0, 1, size)[:, None, None]
    img = np.broadcast_to(base[0] * (1 - t) + base[1] * t, (size, size, 3)).astype(np.float32)
    if kind == "painted":
        img = np.ascontiguousarray(img)
        for c in base[2:]:
            centre = (int(rng.integers(size)), int(size * rng.uniform(0.5, 1.1)))
            axes = (int(size * rng.uniform(0.2, 0.6)), int(size * rng.uniform(0.1, 0.3)))
            if rng.random() < 0.5:
                cv2.ellipse(img, centre, axes, 0, 0, 360, c.tolist(), -1, cv2.LINE_AA)
            else:
                x, w = int(rng.integers(size)), axes[1]
                cv2.rectangle(img, (x, int(size * rng.uniform(0.2, 0.7))), (x + w, size),
                              c.tolist(), -1)
        img = cv2.GaussianBlur(img, (0, 0), size / 300 + 0.5)
    if kind in ("painted", "texture"):
        amp = 40 if kind == "texture" else 12
        grain = _noise(rng, size, 24) + 0.5 * _noise(rng, size, max(size // 4, 8))
        img = img + amp * (grain - grain.mean())[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- the shot plan


@dataclass
class _Plan:
    size: int
    ss: int  # supersampling factor
    style: str
    actors: list[_Actor]
    gain: float  # articulation strength
    lut: np.ndarray  # [256, 3] label -> fill colour
    owner: np.ndarray  # [256] label -> part id (0 = background)
    kind: np.ndarray  # [256] label -> 0 fill, 1 shadow, 2 highlight
    tone_lut: np.ndarray  # [256, 3] label -> shadow-line colour
    palette: np.ndarray
    backdrop: np.ndarray  # RGB canvas covering the world with a margin
    camera: tuple[np.ndarray, float, float]  # pan (px), zoom change, roll over the shot
    warp: np.ndarray  # [K, 7] amplitude, kx, ky, cycles, phase, dir x, dir y
    light: np.ndarray  # [2] unit vector towards the light
    shade: tuple[float, float, float]  # shadow probability, shadow depth, highlight probability
    shade_seed: int
    ink: np.ndarray  # [3] line colour in the colour frames
    width: float  # line width, output px
    tone_width: float
    tone_ink: float  # how dark shadow lines are in the line art (0 = invisible, 1 = ink)
    tone_colored: bool  # shadow lines drawn in colour (dark tone) in the colour frames
    gaps: float  # mean number of line gaps per frame
    pressure: float  # line width variation
    darkness: float  # ink darkness in the line art
    jitter: float  # per-drawing outline boil (render px)
    paper: np.ndarray | None  # pencil paper texture, output res
    xdog: np.ndarray  # edge extraction: blur spread, tau, sharpness


def _plan(rng: np.random.Generator, size: int, style: str) -> _Plan:
    ss = 4 if size <= 96 else 2
    res = size * ss
    mag = 0.3 * rng.random() ** 1.5  # fraction of the frame moved over the shot
    n_colors = int(rng.integers(4, 17))
    base = random_palette(rng, n_colors)
    n_actors = int(rng.choice([1, 1, 2, 2, 3]))
    actors = []
    for _ in range(n_actors):
        unit = res * rng.uniform(0.08, 0.16) * (1.3 if n_actors == 1 else 1.0)
        start = res * rng.uniform(0.25, 0.75, 2)
        move = unit_vector(rng.uniform(0, 2 * np.pi)) * res * mag * rng.uniform(0.3, 1.0)
        actors.append(_actor(rng, _character(rng, n_colors), res, unit, mag, start, move))
    if rng.random() < 0.25:
        actors.append(_occluder(rng, n_colors, res))

    shade_f, light_f = rng.uniform(0.55, 0.8), rng.uniform(0.4, 0.7)
    lut = np.zeros((256, 3), np.float64)
    tone_lut = np.zeros((256, 3), np.float64)
    owner = np.zeros(256, np.int32)
    kind = np.zeros(256, np.uint8)
    g = 0
    for a in actors:
        for p in a.parts:
            c = base[p.fill].astype(float)
            lab = 1 + 3 * g
            lut[lab: lab + 3] = [c, c * shade_f, c + (255 - c) * light_f]
            tone_lut[lab: lab + 3] = c * shade_f * 0.55
            owner[lab: lab + 3] = g + 1
            kind[lab: lab + 3] = [0, 1, 2]
            g += 1
    lut = np.rint(lut).astype(np.uint8)
    bg_kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    margin = int(size * 1.5)
    backdrop = backdrop_image(rng, bg_kind, margin)
    lut[0] = backdrop[0, 0]
    fills = [lut[1: 1 + 3 * g]] + ([lut[:1]] if bg_kind in ("flat", "paper") else [])
    palette = np.unique(np.concatenate(fills), axis=0)

    cam_move = rng.random() < 0.5
    camera = (unit_vector(rng.uniform(0, 2 * np.pi)) * res * mag * 0.5 * cam_move,
              mag * rng.uniform(-0.5, 1.0) * cam_move, mag * rng.uniform(-0.3, 0.3) * cam_move)
    k = 3
    warp = np.stack([
        res * mag * rng.uniform(0, 0.06, k) * (rng.random() < 0.6),
        rng.uniform(-2, 2, k), rng.uniform(-2, 2, k), rng.uniform(0.2, 1.0, k),
        rng.uniform(0, 1, k), *unit_vector(rng.uniform(0, 2 * np.pi, k)),
    ], 1)
    shaded = rng.random() < 0.7
    shade = (rng.uniform(0.3, 1.0) * shaded, rng.uniform(0.12, 0.3),
             rng.uniform(0.0, 0.6) * shaded * (rng.random() < 0.6))
    ink = np.zeros(3) if rng.random() < 0.7 else rng.uniform(0, 70, 3)
    width = max(rng.uniform(1.0, 4.0) * size / 256, 0.8)
    styles = {  # gaps, pressure, darkness, jitter (output px)
        "clean": (rng.uniform(0, 3), 0.25, 1.0, 0.0),
        "pencil": (rng.uniform(1, 5), 0.5, rng.uniform(0.55, 0.85), rng.uniform(0.2, 0.6)),
        "gp": (0.0, 0.0, 1.0, 0.0),
        "extracted": (rng.uniform(0, 3), 0.2, 1.0, 0.0),
    }
    gaps, pressure, darkness, jitter = styles[style]
    paper = None
    if style == "pencil":
        paper = 1 - 0.05 * _noise(rng, size, max(size // 3, 4)) - 0.02 * rng.random((size, size))
    return _Plan(
        size, ss, style, actors, 2.5 * mag, lut, owner, kind, np.rint(tone_lut).astype(np.uint8),
        palette,
        backdrop, camera, warp, unit_vector(rng.uniform(0, 2 * np.pi)), shade,
        int(rng.integers(2**31)), ink, width, width * rng.uniform(0.5, 0.9),
        float(rng.choice([0.35, 0.5, 1.0])) if shaded else 0.0, bool(rng.random() < 0.6),
        gaps, pressure, darkness, jitter * ss, paper,
        np.array([rng.uniform(0.4, 0.9), rng.uniform(0.97, 0.995), rng.uniform(100, 300)]))


def timeline(rng: np.random.Generator, frames: int) -> tuple[list[int], np.ndarray, int]:
    """Which drawing each frame shows (holds repeat one), and the first frame after a jump."""
    u = np.linspace(0, 1, frames) if frames > 1 else np.zeros(1)
    mode = rng.random()
    if mode < 0.3:  # animated on twos
        keys = [i - i % 2 for i in range(frames)]
    else:
        keys = [0]
        for i in range(1, frames):
            keys.append(keys[-1] if rng.random() < 0.12 else i)
    jump = int(rng.integers(1, frames)) if frames > 1 and rng.random() < 0.2 else frames
    return keys, u, jump


# ---------------------------------------------------------------- rendering


def _shifted(m: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """out[y, x] = m[y - dy, x - dx], zero outside."""
    out = np.zeros_like(m)
    h, w = m.shape
    if abs(dx) < w and abs(dy) < h:
        out[max(dy, 0): h + min(dy, 0), max(dx, 0): w + min(dx, 0)] = \
            m[max(-dy, 0): h - max(dy, 0), max(-dx, 0): w - max(dx, 0)]
    return out


def _paint_part(labels: np.ndarray, detail: np.ndarray, outline: np.ndarray,
                lines: list[tuple[np.ndarray, bool]], base: int, shadow: np.ndarray | None,
                highlight: tuple[np.ndarray, float] | None) -> None:
    """Fill one part (and its shadow/highlight) into the label map, painter's order."""
    res = labels.shape[0]
    pad = 2 + (int(np.abs(shadow).max()) if shadow is not None else 0)
    x0, y0 = np.maximum(np.floor(outline.min(0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(outline.max(0)).astype(int) + pad, res)
    if x1 <= x0 or y1 <= y0:
        return
    origin = np.array([x0, y0])
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [to_fixed(outline - origin)], 1, cv2.LINE_8, FIXED_SHIFT)
    inside = m.astype(bool)
    region = labels[y0:y1, x0:x1]
    region[inside] = base
    if shadow is not None:
        dx, dy = np.rint(shadow).astype(int)
        region[inside & ~_shifted(inside, dx, dy)] = base + 1
    if highlight is not None:
        h = np.zeros_like(m)
        centre, radius = highlight
        cv2.circle(h, tuple(to_fixed(centre - origin)), int(radius * _ONE), 1, -1, cv2.LINE_8,
                   FIXED_SHIFT)
        region[inside & h.astype(bool) & (region == base)] = base + 2
    if lines:
        d = np.zeros_like(m)
        for pts, closed in lines:
            cv2.polylines(d, [to_fixed(pts - origin)], closed, 1, 1, cv2.LINE_8, FIXED_SHIFT)
        detail[y0:y1, x0:x1][inside & d.astype(bool)] = base


def _camera(plan: _Plan, u: float) -> np.ndarray:
    e = u * u * (3 - 2 * u)
    pan, zoom, roll = plan.camera
    c = plan.size * plan.ss / 2
    return affine(*(c + pan * e), roll * e, 1 + zoom * e) @ affine(-c, -c)


def _warp(plan: _Plan, pts: np.ndarray, u: float) -> np.ndarray:
    res = plan.size * plan.ss
    out = pts.copy()
    for amp, kx, ky, cycles, phase, dx, dy in plan.warp:
        s = np.sin(2 * np.pi * ((kx * pts[:, 0] + ky * pts[:, 1]) / res + cycles * u + phase))
        out += amp * s[:, None] * np.array([dx, dy])
    return out


def _labels(plan: _Plan, u: float, jumped: bool, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    res = plan.size * plan.ss
    labels = np.zeros((res, res), np.uint8)
    detail = np.zeros_like(labels)
    cam = _camera(plan, u)
    shade_rng = np.random.default_rng(plan.shade_seed)  # same parts shaded in every frame
    g = 0
    for a in plan.actors:
        mats = _pose(a, u, plan.gain, jumped)
        flags = shade_rng.random((len(a.parts), 2))
        for j in a.order:
            p, m = a.parts[j], mats[j]

            def to_frame(pts: np.ndarray, m=m) -> np.ndarray:
                out = _apply(cam, _warp(plan, _apply(m, pts), u))
                return out + rng.normal(0, plan.jitter, out.shape) if plan.jitter else out

            outline = to_frame(p.poly)
            ext = np.ptp(outline, 0).min()
            depth = max(plan.shade[1] * ext, 3 * plan.width * plan.ss)
            shadow = -plan.light * depth if flags[j, 0] < plan.shade[0] else None
            highlight = None
            if flags[j, 1] < plan.shade[2]:
                highlight = (outline.mean(0) + plan.light * 0.3 * ext, 0.12 * ext)
            lines = [(to_frame(pts), closed) for pts, closed in p.details]
            _paint_part(labels, detail, outline, lines, 1 + 3 * (g + j), shadow, highlight)
        g += len(a.parts)
    return labels, detail


def _skeletons(plan: _Plan, labels: np.ndarray, detail: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """1-px ink lines (region boundaries + visible details) and shadow-line boundaries."""
    own, kind = plan.owner[labels], plan.kind[labels]
    ink = np.zeros(labels.shape, bool)
    tone = np.zeros_like(ink)
    for lo, hi in (((slice(None, -1),), (slice(1, None),)),
                   ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))):
        diff = labels[lo] != labels[hi]
        same = own[lo] == own[hi]
        ink[lo] |= diff & ~same
        tone[lo] |= diff & same & (kind[lo] + kind[hi] == 1)
    ink |= (detail != 0) & (own == plan.owner[detail])
    return ink.astype(np.uint8), tone.astype(np.uint8)


def _coverage(skel: np.ndarray, half_width: np.ndarray | float) -> np.ndarray:
    dist = cv2.distanceTransform(1 - skel, cv2.DIST_L2, 5)
    return np.clip(half_width + 0.5 - dist, 0, 1)


def _add_gaps(skel: np.ndarray, count: int, radius: float, rng: np.random.Generator) -> None:
    ys, xs = np.nonzero(skel)
    if len(xs) == 0:
        return
    for i in rng.integers(len(xs), size=count):
        cv2.circle(skel, (int(xs[i]), int(ys[i])), int(radius * rng.uniform(0.5, 1.2)), 0, -1)


def _xdog(color: np.ndarray, size: int, params: np.ndarray) -> np.ndarray:
    """Lines extracted from a colour frame by the footage extractor, with its blur and
    threshold varied, as when line art is recovered from footage: dark fills give thick
    lines, light edges faint ones."""
    spread, tau, phi = params
    line = extract_lines(color, sigma=0.4 + spread * size / 256, tau=tau, phi=phi)
    return np.clip(line * 255 + 0.5, 0, 255).astype(np.uint8)


def _lookup(labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Label map -> RGB through a [256, 3] uint8 table (cv2.LUT is ~10x numpy indexing)."""
    return cv2.LUT(cv2.merge([labels] * 3), lut.reshape(256, 1, 3))


def _down(img: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _render(plan: _Plan, u: float, jumped: bool, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """One drawing: (colour uint8 [H, W, 3], line art uint8 [H, W])."""
    size, ss = plan.size, plan.ss
    res = size * ss
    labels, detail = _labels(plan, u, jumped, rng)
    ink_skel, tone_skel = _skeletons(plan, labels, detail)
    _add_gaps(ink_skel, rng.poisson(plan.gaps), plan.width * ss, rng)

    half = plan.width * ss / 2
    if plan.pressure:
        half = half * (1 + plan.pressure * (_noise(rng, res, 6) - 0.5) * 2)
    a_ink = _coverage(ink_skel, half)
    a_tone = _coverage(tone_skel, plan.tone_width * ss / 2) if plan.tone_ink or \
        plan.tone_colored else np.zeros_like(a_ink)
    if plan.style == "pencil":
        a_ink *= 0.6 + 0.4 * rng.random(a_ink.shape, np.float32)

    m = res / (plan.backdrop.shape[0] - 1) * 1.5
    world = affine(-0.25 * res, -0.25 * res, 0.0, m)
    bg = cv2.warpAffine(plan.backdrop, (_camera(plan, u) @ world)[:2], (res, res),
                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    fill = _lookup(labels, plan.lut)
    np.copyto(fill, bg, where=(labels == 0)[..., None])
    # Lines are blended at output resolution: identical where the fill is flat (everywhere but
    # under the lines themselves) and 4x cheaper than blending before the downsample.
    color = _down(fill, size).astype(np.float32)
    if plan.tone_colored:
        tone = _down(_lookup(labels, plan.tone_lut), size).astype(np.float32)
        color += (tone - color) * _down(a_tone, size)[..., None]
    a_col = a_ink * plan.darkness
    if not plan.tone_colored:
        a_col = np.maximum(a_col, a_tone)
    color += (plan.ink.astype(np.float32) - color) * _down(a_col, size)[..., None]
    color = np.clip(color + 0.5, 0, 255).astype(np.uint8)

    if plan.style == "extracted":
        return color, _xdog(color, size, plan.xdog)
    cov = np.maximum(a_ink * plan.darkness, a_tone * plan.tone_ink)
    paper = 1 - _down(cov, size)
    if plan.paper is not None:
        paper *= plan.paper
    return color, np.clip(paper * 255 + 0.5, 0, 255).astype(np.uint8)


def render_shot(seed: int, frames: int = 8, size: int = 128, style: str | None = None) -> Shot:
    """A random cel shot; the same seed always gives the same shot (a style override keeps the
    shot and changes only how its lines are drawn)."""
    if not 32 <= size <= 1024 or frames < 1:
        raise InkpaintError(f"procedural shots need 32 <= size <= 1024 and frames >= 1, "
                            f"got size={size}, frames={frames}")
    if style is not None and style not in STYLES:
        raise InkpaintError(f"unknown line style {style!r}; use one of {', '.join(STYLES)}")
    rng = np.random.default_rng(seed)
    pick = STYLES[rng.integers(len(STYLES))]
    plan = _plan(rng, size, style or pick)
    keys, u, jump = timeline(rng, frames)
    seeds = rng.integers(2**63, size=frames)
    drawings = {k: _render(plan, u[k], k >= jump, np.random.default_rng(seeds[k]))
                for k in sorted(set(keys))}
    color = np.stack([drawings[k][0] for k in keys])
    lines = np.stack([drawings[k][1] for k in keys])
    return Shot(color, lines, plan.palette)


def contact_sheet(shot: Shot) -> np.ndarray:
    """Colour frames over line frames, side by side (uint8 RGB) for eyeballing a shot."""
    top = np.concatenate(list(shot.color), 1)
    bottom = np.repeat(np.concatenate(list(shot.lines), 1)[..., None], 3, 2)
    return np.concatenate([top, bottom], 0)
