"""A validation set animated by an artist in a vector animation package: ``eye.sif`` from
Debian's ``synfig-examples`` (GPL-2+), an eye blinking and looking around (480 x 270, 24 fps,
359 frames), rendered by the ``synfig`` command-line renderer.

It is rendered twice: as drawn (the colour frames: fills, gradients, skin texture, soft
shading) and as its outlines only (the line art, ``outlines_only``). The line art is the
artist's own outline layers, so it sits exactly where the colour frame's outlines are. Fills
cannot simply be switched off, or lines they hide would show; they are painted white instead
(near-black fills, such as the pupil and the freckles, are ink and stay black), and the layers
that only shade (gradients, noise, shade, feathered or see-through fills and groups) are
switched off. Outlines become black.

Clips are runs of consecutive frames: as many as fit without overlapping (up to ``--clips``),
each centred in an equal share of the animation, so they sample all of it. Frames are
rendered at the evaluation size (``size`` wide, the height keeping 16:9) and centred on white
square frames as the sprites are. Rendering is slow (about 1-7 s a frame at 256 px, most of it
the skin texture and the eye's blurs), so every rendered frame is kept in
``$XDG_CACHE_HOME/inkpaint/synfig/<hash of the rendered file>-<width>x<height>/`` and only the
frames of the clips asked for are ever rendered.

``prologue_kid.sif`` from the same package is kept out on purpose: it stays a test no one here
has looked at. The set is for evaluation only: nothing in training may read it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import cv2
import numpy as np

from ..cachedir import user_cache
from ..data.procedural import Shot
from ..errors import InkpaintError
from .sprites import frequent_colours, pad_square

EYE = Path("/usr/share/doc/synfig-examples/examples/eye.sif")
INSTALL = "apt-get install -y synfig synfig-examples"
# Layers that only shade or texture: they have no counterpart in line art.
SHADING = frozenset({"shade", "noise", "bevel", "blur", "radial_blur", "motion_blur",
                     "linear_gradient", "radial_gradient", "conical_gradient",
                     "spiral_gradient", "curve_gradient"})
OUTLINES = frozenset({"outline", "advanced_outline"})
# Blend methods of paint that covers what is under it (composite, straight, behind, onto);
# the others (multiply, screen, ...) tint and are shading.
COVERING = frozenset({0, 1, 12, 13})
GLAZE = 0.9  # fills and groups less opaque than this are glazes: they hide no lines
SOFT = 0.1  # feather (synfig units, 6 px at 480 wide) beyond which a fill is soft shading
INK = 0.25  # fills darker than this in every channel are ink (as the drawings' outlines)
_TIME = re.compile(r"([0-9.]+)\s*([hmsf])")


def eye_file() -> Path:
    """``eye.sif``, after checking that it and the renderer are installed."""
    if not EYE.is_file():
        raise InkpaintError(f"the synfig-eye set needs {EYE}: run '{INSTALL}'")
    if shutil.which("synfig") is None:
        raise InkpaintError(f"the synfig-eye set needs the synfig renderer: run '{INSTALL}'")
    return EYE


def _param(layer: ET.Element, name: str) -> ET.Element | None:
    p = layer.find(f"param[@name='{name}']")
    return p[0] if p is not None and len(p) else None


def _real(layer: ET.Element, name: str, default: float) -> float:
    v = _param(layer, name)
    try:
        return float(v.get("value")) if v is not None else default
    except (TypeError, ValueError):
        return default  # animated or linked: take the layer as drawn


def outlines_only(sif: bytes) -> bytes:
    """The line art of a Synfig file: black outlines, white fills, no shading (module
    docstring). Every layer of every canvas is rewritten, inline and in ``<defs>``."""
    try:
        root = ET.fromstring(sif)
    except ET.ParseError as exc:
        raise InkpaintError(f"not a valid Synfig file: {exc}") from exc
    for layer in root.iter("layer"):
        kind = layer.get("type")
        if kind in SHADING:
            layer.set("active", "false")
            continue
        amount = _real(layer, "amount", 1.0)
        if kind == "PasteCanvas":  # a group: see-through groups are glazes
            if amount < GLAZE:
                layer.set("active", "false")
            continue
        colour = _param(layer, "color")
        if colour is None or colour.tag != "color":
            continue
        rgba = [float(colour.findtext(c, "0")) for c in "rgba"]
        if kind in OUTLINES:
            ink = True
        elif rgba[3] == 0:
            continue  # a transparent mask: it cuts, it does not paint
        elif (amount < GLAZE or _real(layer, "feather", 0.0) > SOFT
              or int(_real(layer, "blend_method", 0)) not in COVERING):
            layer.set("active", "false")
            continue
        else:
            ink = max(rgba[:3]) < INK
        for c in "rgb":
            node = colour.find(c)
            if node is not None:
                node.text = "0.000000" if ink else "1.000000"
    return ET.tostring(root)


def _seconds(text: str, fps: float) -> float:
    """A Synfig time ('14s 22f', '1m 2s', '0f') in seconds."""
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "f": 1.0 / fps}
    return sum(float(n) * scale[u] for n, u in _TIME.findall(text))


def frame_count(sif: bytes) -> tuple[int, int, int]:
    """(frames, width, height) of a Synfig file's root canvas."""
    try:
        canvas = ET.fromstring(sif)
        fps = float(canvas.get("fps", "24"))
        begin = _seconds(canvas.get("begin-time", "0f"), fps)
        end = _seconds(canvas.get("end-time", "0f"), fps)
        return int(round((end - begin) * fps)) + 1, int(canvas.get("width")), \
            int(canvas.get("height"))
    except (ET.ParseError, TypeError, ValueError) as exc:
        raise InkpaintError(f"not a valid Synfig file: {exc}") from exc


def render(sif: bytes, frames: range, width: int, height: int) -> list[np.ndarray]:
    """Frames of a Synfig file as uint8 RGB on white, width x height, rendered once and then
    read from the cache (module docstring)."""
    key = hashlib.sha1(sif).hexdigest()[:16]
    cache = user_cache() / "synfig" / f"{key}-{width}x{height}"
    files = [cache / f"frame.{f:04d}.png" for f in frames]
    missing = [f for f, p in zip(frames, files) if not p.is_file()]
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache, prefix=".render-") as tmp:
            src = Path(tmp) / "scene.sif"
            src.write_bytes(sif)
            first, last = missing[0], missing[-1]
            cmd = ["synfig", str(src), "-t", "png", "-w", str(width), "-h", str(height),
                   "-q", "-o", str(Path(tmp) / "frame.png")]
            cmd += (["--time", f"{first}f"] if first == last
                    else ["--begin-time", f"{first}f", "--end-time", f"{last}f"])
            out = {f: Path(tmp) / f"frame.{f:04d}.png" for f in range(first, last + 1)}
            if first == last:
                out = {first: Path(tmp) / "frame.png"}
            code, why = _run(cmd, list(out.values()))
            if code or not all(p.is_file() for p in out.values()):
                raise InkpaintError(f"synfig failed to render frames {first}-{last}: {why}")
            for f, p in out.items():
                os.replace(p, cache / f"frame.{f:04d}.png")
    images = []
    for p in files:
        px = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if px is None or px.shape[:2] != (height, width):
            raise InkpaintError(f"cached render {p} is unreadable: delete {p.parent}")
        rgb = px[..., 2::-1].astype(np.float32)
        if px.shape[2] == 4:  # synfig writes straight alpha: composite over white paper
            a = px[..., 3:].astype(np.float32) / 255
            rgb = rgb * a + 255 * (1 - a)
        images.append(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))
    return images


def _run(cmd: list[str], files: list[Path]) -> tuple[int, str]:
    """Run synfig, one progress step per frame file it has written; (exit code, last line
    of its messages)."""
    from ..progress import Progress

    progress = Progress(len(files), "rendering eye.sif")
    seen = 0
    with tempfile.TemporaryFile("w+") as log:
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=log, text=True)
        except OSError as exc:
            raise InkpaintError(f"cannot run synfig ({exc}): run '{INSTALL}'") from exc
        try:
            while True:
                try:
                    code = proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    code = None
                while seen < len(files) and files[seen].is_file():
                    progress.step(files[seen].name)
                    seen += 1
                if code is not None:
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            progress.close()
        log.seek(0)
        lines = [ln for ln in log.read().splitlines() if ln.strip()]
    return code, lines[-1] if lines else "no frames written"


def clip_starts(total: int, frames: int, n: int) -> list[int]:
    """First frames of up to ``n`` non-overlapping clips of ``frames`` frames, each centred in
    an equal share of ``total`` frames."""
    count = min(n, total // frames)
    share = total / max(count, 1)
    return [int(i * share + (share - frames) / 2) for i in range(count)]


def eye_clips(frames: int, n: int, size: int = 256) -> Iterator[Shot]:
    """Up to ``n`` clips of ``frames`` consecutive frames of ``eye.sif`` on size x size white
    frames: colour as drawn, line art from ``outlines_only``."""
    sif = eye_file().read_bytes()
    lines_sif = outlines_only(sif)
    total, w, h = frame_count(sif)
    width, height = (size, max(1, round(size * h / w))) if w >= h else \
        (max(1, round(size * w / h)), size)
    for start in clip_starts(total, frames, n):
        span = range(start, start + frames)
        color = np.stack([_square(c, size) for c in render(sif, span, width, height)])
        lines = [cv2.cvtColor(_square(c, size), cv2.COLOR_RGB2GRAY)
                 for c in render(lines_sif, span, width, height)]
        yield Shot(color, np.stack(lines), frequent_colours(color))


def _square(rgb: np.ndarray, size: int) -> np.ndarray:
    return np.clip(pad_square(rgb.astype(np.float32) / 255, size) * 255 + 0.5, 0,
                   255).astype(np.uint8)
