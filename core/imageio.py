"""Reading and writing frames for the CLI and the Blender and Nuke adapters.

Everything here turns file-level trouble (missing, corrupt, truncated, unknown format) into a
one-line ``InkpaintError`` that names the file, because a render farm log or an artist's
status bar is where these messages end up.

EXR goes through the ``OpenEXR`` package when it is installed: the opencv-python 5 wheels are
built without OpenEXR, so cv2 alone cannot read the scene-linear frames that Blender and Nuke
write. A cv2 build that does have OpenEXR (opencv-python 4.x, for instance) is used as a
fallback, which is why the environment switch below is set.
"""

import hashlib
import io
import os
import re
import secrets
import stat
import struct
import tempfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

# OpenCV builds with OpenEXR refuse to touch EXR files unless this is set before cv2 is
# imported (a guard added after CVE-2019-5063). setdefault keeps a user's explicit "0".
os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

import cv2  # after the switch above: ruff's E402 allows os.environ changes between imports

from .errors import InkpaintError
from .limits import MAX_PIXELS
from .timing import stage

try:
    import OpenEXR
except ImportError:  # optional: the cv2 fallback or a clear error takes over
    OpenEXR = None

_EXR_MAGIC = b"\x76\x2f\x31\x01"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"
_JPEG_MAGIC = b"\xff\xd8"
_HDR_MAGIC = b"#?"
_JPEG_EXTS = (".jpg", ".jpeg")
WRITE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr")


@dataclass(frozen=True, eq=False)
class Image:
    """Pixels exactly as stored, so callers decide about colour space and alpha.

    ``pixels`` is float32 HxWxC in RGB(A) order with C in (1, 3, 4); integer formats are
    scaled to [0, 1], float formats keep their values. ``linear`` is True for EXR and HDR
    (scene-linear by convention), False for display-referred sRGB files.
    """

    pixels: np.ndarray
    linear: bool
    bit_depth: int


def srgb_to_linear(a: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 decoding. Negatives clip to 0; above 1 the power segment simply goes on,
    so the curve stays smooth, monotonic and exactly invertible for HDR values."""
    s = np.maximum(np.asarray(a, dtype=np.float32), np.float32(0))
    high = np.power((s + np.float32(0.055)) / np.float32(1.055), np.float32(2.4))
    return np.where(s <= 0.04045, s / np.float32(12.92), high).astype(np.float32)


def linear_to_srgb(a: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 encoding, the inverse of ``srgb_to_linear`` (same extension above 1)."""
    v = np.maximum(np.asarray(a, dtype=np.float32), np.float32(0))
    high = np.float32(1.055) * np.power(v, np.float32(1 / 2.4)) - np.float32(0.055)
    return np.where(v <= 0.0031308, v * np.float32(12.92), high).astype(np.float32)


def read_image(path: str | os.PathLike) -> Image:
    """Read any supported image; raise ``InkpaintError`` for anything a user must fix.

    The header is checked first (``image_size``: a regular file, a known format, at most
    ``limits.MAX_PIXELS`` pixels), so an oversized image costs nothing to refuse; decoders'
    own warnings (libpng, OpenEXR) are kept off stderr, where the one error line goes; NaN and
    infinite pixels are refused, since they would silently become black or full confidence.
    """
    with stage("read"):
        return _read_image(Path(path))


def _read_image(path: Path) -> Image:
    stored, linear = _decode(path)
    return _scaled(stored, linear)


def pixel_digest(path: str | os.PathLike) -> tuple[tuple[int, int], str]:
    """(height, width) and a SHA-256 of the pixels as stored, of an image ``read_image``
    reads, checked as it checks them: what tells two files of one drawing apart from two
    drawings (held cels), for a quarter of the cost of ``read_image`` plus a digest of its
    float pixels at 8 bits (no scaling, a quarter of the bytes to hash). Files of one
    drawing at different bit depths digest differently."""
    with stage("read"):
        stored, _ = _decode(Path(path))
    return stored.shape[:2], hashlib.sha256(np.ascontiguousarray(stored).data).hexdigest()


class Reads:
    """What a run reads of its inputs, each file version (path, size, mtime) read once. The
    checks before a run decode every input (the CLI checks the keys before the model loads,
    the colorizer checks every file again when it keys the frames and when it colours them),
    and colouring then needs those very results: a line-art file's pixel digest, a key's
    colour. A file changed in between is read again.

    Digests are small and all kept. Keys are full float frames (25 MB at 1080p, 100 MB at
    4K) and a long shot has dozens, so only the ``KEYS_HELD`` used last are kept: a window
    colours from its two bracketing keys (and K - 2 more at most), and a shot walks through
    its keys in order, so each is decoded again at most once more, when the run gets to it."""

    KEYS_HELD = 4

    def __init__(self) -> None:
        self._memo: dict[tuple[str, int, int], tuple[tuple[int, int], str]] = {}
        self._keys: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()

    def digest(self, path: str | os.PathLike) -> tuple[tuple[int, int], str]:
        """``pixel_digest(path)``."""
        key = _version(path)
        if key is None:
            return pixel_digest(path)  # which says what is wrong
        if key not in self._memo:
            self._memo[key] = pixel_digest(path)
        return self._memo[key]

    def key(self, path: str | os.PathLike) -> np.ndarray:
        """``read_key(path)``, read-only: every use shares it (a passthrough copies it)."""
        key = _version(path)
        if key is None:
            return read_key(path)  # which says what is wrong
        if key in self._keys:
            self._keys.move_to_end(key)
            return self._keys[key]
        rgb = read_key(path)
        rgb.flags.writeable = False
        self._keys[key] = rgb
        while len(self._keys) > self.KEYS_HELD:
            self._keys.popitem(last=False)
        return rgb

    def forget_keys(self) -> None:
        """Drop the keys' pixels (a run's end)."""
        self._keys.clear()


def _version(path: str | os.PathLike) -> tuple[str, int, int] | None:
    """A file version's identity (path, size, mtime), or None when it cannot be stat'ed."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return str(path), st.st_size, st.st_mtime_ns


def _decode(path: Path) -> tuple[np.ndarray, bool]:
    """The pixels as stored (uint8, uint16 or float32; HxW or HxWxC, C in 3 or 4, in RGB(A)
    order) after every check ``read_image`` makes, and whether they are scene-linear."""
    h, w = image_size(path)
    MAX_PIXELS.check(h * w, f"image {path} ({w}x{h})")
    data = _read_bytes(path)
    if data[:4] == _EXR_MAGIC:
        stored, linear = _decode_exr(data, path), True
    else:
        if _is_truncated(data):
            raise _unreadable(path, "file is truncated (an interrupted render or copy?)")
        with _quiet_stderr():
            decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is None or decoded.size == 0:
            raise _unreadable(path, "file is corrupt or not an image")
        stored, linear = _rgb_order(decoded, path), data.startswith(_HDR_MAGIC)
    if stored.dtype == np.float32 and not np.isfinite(stored).all():
        raise _unreadable(path, "it has NaN or infinite pixels",
                          "; fix them in the render or the comp (e.g. clamp) and write it again")
    return stored, linear


def read_key(path: str | os.PathLike) -> np.ndarray:
    """A painted key's colour as the networks and composition take it: HxWx3 sRGB in [0, 1].
    A key painted on transparency (a Blender or Nuke render) is composited over white paper,
    as line art is (``preprocess.line_art``), so what is transparent reads as background, not
    as the black stored under it."""
    rgb, alpha = read_color(path)
    if alpha is None:
        return rgb
    a = alpha[..., None]
    return np.ascontiguousarray(rgb * a + (1.0 - a), dtype=np.float32)


def read_color(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour for the network: HxWx3 sRGB in [0, 1] plus straight alpha (HxW) or None.

    Linear files are encoded to sRGB first; values outside [0, 1] are clipped because the
    networks were trained on display-referred colour. Colour under alpha = 0 is kept as stored.
    """
    img = read_image(path)
    px = img.pixels
    alpha = np.clip(px[..., 3], 0.0, 1.0) if px.shape[2] == 4 else None
    rgb = np.repeat(px, 3, axis=2) if px.shape[2] == 1 else px[..., :3]
    if img.linear:
        rgb = linear_to_srgb(rgb)
    return np.ascontiguousarray(np.clip(rgb, 0.0, 1.0), dtype=np.float32), alpha


def write_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    linear_out: bool | None = None,
    bit_depth: int = 8,
    extra: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Write sRGB colour (HxWx3, [0, 1]) atomically; the format follows the extension
    (``encode_image`` says how).
    """
    atomic_write(Path(path), encode_image(path, rgb, alpha, linear_out=linear_out,
                                          bit_depth=bit_depth, extra=extra))


def check_writable_format(path: str | os.PathLike, bit_depth: int = 8,
                          alpha: bool = False) -> None:
    """Refuse, before any work, a file ``encode_image`` could not write."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in WRITE_EXTS:
        what = f"unknown image type '{path.suffix}'" if path.suffix else "no file extension"
        raise InkpaintError(f"cannot write {path}: {what}; use one of {', '.join(WRITE_EXTS)}")
    if ext != ".exr" and (bit_depth not in (8, 16) or (bit_depth == 16 and ext in _JPEG_EXTS)):
        raise InkpaintError(f"cannot write {path}: {bit_depth}-bit is not possible for {ext}")
    if alpha and ext in _JPEG_EXTS:
        raise InkpaintError(f"cannot write {path}: JPEG has no alpha; write .png or .exr")


def encode_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    linear_out: bool | None = None,
    bit_depth: int = 8,
    extra: Mapping[str, np.ndarray] | None = None,
) -> bytes:
    """The bytes ``write_image`` writes to ``path``: known before the file is touched, so a
    render log can record what a frame will be before it is there (``compose.cache``).

    ``linear_out`` converts sRGB to linear before writing; None means "linear for EXR only".
    ``bit_depth`` (8 or 16) applies to PNG and TIFF; JPEG is 8-bit and has no alpha; EXR is
    always float32. Alpha is written straight (not premultiplied) and never converted.
    ``extra`` (EXR only) adds named single-channel planes (HxW) beside the colour, stored as
    they are (data such as a confidence map, not colour), so a compositor gets them in the
    same Read node as the frame.
    """
    path = Path(path)
    ext = path.suffix.lower()
    check_writable_format(path, bit_depth, alpha is not None)
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"encode_image wants HxWx3 colour, got shape {rgb.shape}")
    if ext == ".exr" if linear_out is None else linear_out:
        rgb = srgb_to_linear(rgb)
    if extra and ext != ".exr":
        raise InkpaintError(f"cannot write {path}: only EXR files hold extra channels "
                            f"({', '.join(extra)})")
    px = rgb if alpha is None else np.dstack([rgb, np.asarray(alpha, dtype=np.float32)])
    if ext == ".exr":
        return _encode_exr(px, extra or {})
    return _encode_cv2(px, ext, bit_depth)


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, f"{exc.strerror or exc}; check its permissions", "") from exc
    if not data:
        raise _unreadable(path, "file is empty")
    return data


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Decoders in C (libpng, libjpeg, OpenEXR) print warnings about damaged files straight
    to file descriptor 2; the file is judged by what the decoder returns, and stderr is kept
    for the one error line. Only the calling thread decodes, but the descriptor is the
    process's: keep the redirected stretch to the decode call."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a GUI host): nothing to protect
        yield
        return
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _unreadable(path: Path, why: str, fix: str = "; re-render or replace it") -> InkpaintError:
    return InkpaintError(f"cannot read image {path}: {why}{fix}")


def _is_truncated(data: bytes) -> bool:
    """Some decoder builds return the top of a cut-off file without complaint; the end
    markers tell (a JPEG's last end-of-image must follow its last start-of-scan)."""
    if data.startswith(_PNG_MAGIC):
        return _PNG_IEND not in data
    if data.startswith(_JPEG_MAGIC):
        return data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda")
    return False


_SCALES = {np.uint8: 255.0, np.uint16: 65535.0, np.float32: 1.0}


def _rgb_order(decoded: np.ndarray, path: Path) -> np.ndarray:
    """cv2's BGR(A) as RGB(A), refusing pixel types and channel counts nothing here reads."""
    if decoded.dtype.type not in _SCALES:
        raise _unreadable(path, f"unsupported pixel type {decoded.dtype}", "; save it as PNG")
    if decoded.ndim == 3 and decoded.shape[2] not in (3, 4):
        raise _unreadable(path, f"{decoded.shape[2]}-channel images are not supported", "")
    if decoded.ndim == 3:  # channel order first, on the integers: a quarter of the bytes
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB if decoded.shape[2] == 3
                               else cv2.COLOR_BGRA2RGBA)
    return decoded


def _scaled(stored: np.ndarray, linear: bool) -> Image:
    """Pixels as stored (``_decode``) as float32 HxWxC, integers scaled to [0, 1]."""
    scale = _SCALES[stored.dtype.type]
    px = stored if scale == 1.0 else stored.astype(np.float32) / np.float32(scale)
    if px.ndim == 2:
        px = px[..., None]
    depth = {255.0: 8, 65535.0: 16}.get(scale, 32)
    return Image(np.ascontiguousarray(px), linear=linear, bit_depth=depth)


def _decode_exr(data: bytes, path: Path) -> np.ndarray:
    if OpenEXR is None:
        if not cv2.haveImageReader(str(path)):
            raise _no_exr_support(path)
        with _quiet_stderr():
            decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is None or decoded.size == 0:
            raise _unreadable(path, "EXR file is corrupt or truncated")
        return _scaled(_rgb_order(decoded.astype(np.float32), path), linear=True).pixels
    try:
        with _quiet_stderr():
            channels = OpenEXR.File(io.BytesIO(data)).channels()
        px = _pick_exr_layer({name: ch.pixels for name, ch in channels.items()})
    except (RuntimeError, ValueError) as exc:
        raise _unreadable(path, "EXR file is corrupt or truncated") from exc
    if px is None:
        raise _unreadable(path, f"no RGB, RGBA or Y layer (found {', '.join(channels)})", "")
    return np.ascontiguousarray(px if px.ndim == 3 else px[..., None], dtype=np.float32)


def _pick_exr_layer(layers: dict[str, np.ndarray]) -> np.ndarray | None:
    """Plain RGBA/RGB/Y first, then the first colour layer (Blender's 'ViewLayer.Combined')."""
    for name in ("RGBA", "RGB", "Y"):
        if name in layers:
            return layers[name]
    colour = [a for a in layers.values() if a.ndim == 3 and a.shape[2] in (3, 4)]
    return colour[0] if colour else None


def _encode_exr(px: np.ndarray, extra: Mapping[str, np.ndarray]) -> bytes:
    px = np.ascontiguousarray(px, dtype=np.float32)
    planes = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in extra.items()}
    bad = [name for name, a in planes.items() if a.shape != px.shape[:2]]
    if bad:
        raise ValueError(f"extra EXR channels {bad} are not {px.shape[1]}x{px.shape[0]} planes")
    if OpenEXR is None:
        if not cv2.haveImageWriter(".exr"):
            raise _no_exr_support(None)
        if planes:  # cv2 writes RGB(A) only
            raise InkpaintError(f"writing the EXR channels {', '.join(planes)} needs the OpenEXR "
                                "package: run 'pip install OpenEXR'")
        flags = [cv2.IMWRITE_EXR_TYPE, cv2.IMWRITE_EXR_TYPE_FLOAT]
        return _cv2_encode(".exr", _to_bgr(px), flags)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    stream = io.BytesIO()
    OpenEXR.File(header, {"RGBA" if px.shape[2] == 4 else "RGB": px, **planes}).write(stream)
    return stream.getvalue()


def _no_exr_support(path: Path | None) -> InkpaintError:
    what = f"cannot read image {path}" if path else "cannot write EXR"
    return InkpaintError(f"{what}: EXR support is missing; run 'pip install OpenEXR'")


def _encode_cv2(px: np.ndarray, ext: str, bit_depth: int) -> bytes:
    top = 255.0 if bit_depth == 8 else 65535.0
    ints = np.round(np.clip(px, 0.0, 1.0) * top).astype(np.uint8 if bit_depth == 8 else np.uint16)
    flags = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in _JPEG_EXTS else []
    return _cv2_encode(ext, _to_bgr(ints), flags)


def _to_bgr(px: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(px, cv2.COLOR_RGB2BGR if px.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)


def _cv2_encode(ext: str, px: np.ndarray, flags: list[int]) -> bytes:
    ok, buf = cv2.imencode(ext, px, flags)
    if not ok:
        raise InkpaintError(f"cannot encode a {px.shape[1]}x{px.shape[0]} image as {ext}")
    return buf.tobytes()


def atomic_write(path: Path, data: bytes) -> None:
    """A reader (or a crash) never sees half a frame: write a hidden temp file next to the
    target, then rename it over the target in one step. The temp file is opened with plain
    ``open`` (not mkstemp) so the result gets the user's usual permissions."""
    tmp = path.parent / f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise InkpaintError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)  # gone already after a successful replace


# ---- headers: an image's size before any pixel is decoded ---------------------------------


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) from the file's header alone, so a run can refuse an image that is too
    big (``limits.MAX_PIXELS``) or of the wrong size before it spends memory decoding it: a
    150 KB PNG can claim 30000x30000 pixels. Raises ``InkpaintError`` for a file that is
    missing, not a regular file, or not an image in a format Inkpaint reads."""
    path = Path(path)
    _check_regular(path)
    try:
        with open(path, "rb") as f:
            hw = _header_size(f)
    except OSError as exc:
        raise _unreadable(path, f"{exc.strerror or exc}; check its permissions", "") from exc
    except (struct.error, ValueError, IndexError):  # cut off inside the header
        hw = None
    if hw is None:
        raise _unreadable(path, "file is truncated or corrupt")
    if hw == _UNKNOWN:
        raise _unreadable(path, "file is corrupt or not an image")
    if hw[0] <= 0 or hw[1] <= 0:
        raise _unreadable(path, f"its header claims {hw[1]}x{hw[0]} pixels")
    return hw


def _check_regular(path: Path) -> None:
    """Exists and is a plain file: a FIFO or a device would block or never end."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise _unreadable(path, "file does not exist; check the path and frame number",
                          "") from None
    except OSError as exc:
        raise _unreadable(path, f"{exc.strerror or exc}; check its permissions", "") from exc
    if stat.S_ISDIR(st.st_mode):
        raise _unreadable(path, "it is a folder, not an image file", "")
    if not stat.S_ISREG(st.st_mode):
        raise _unreadable(path, "it is not a regular file (a pipe or a device?)",
                          "; give an image file")
    if st.st_size == 0:
        raise _unreadable(path, "file is empty")


def _header_size(f: BinaryIO) -> tuple[int, int] | None:
    """(height, width) as the header says; None when the header is cut off or damaged,
    ``_UNKNOWN`` when the file is in no format Inkpaint reads."""
    head = f.read(32)
    if head.startswith(_PNG_MAGIC):
        if head[12:16] != b"IHDR":
            return None
        w, h = struct.unpack(">II", head[16:24])
        return h, w
    if head.startswith(_JPEG_MAGIC):
        return _jpeg_size(f)
    if head[:4] == _EXR_MAGIC:
        return _exr_size(f)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff_size(f, head)
    if head[:2] == b"BM":
        w, h = struct.unpack("<ii", head[18:26])
        return abs(h), w
    if head.startswith(_HDR_MAGIC):
        return _hdr_size(f)
    return _UNKNOWN


_UNKNOWN = (-1, -1)  # not a format Inkpaint reads


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers (not DHT, JPG, DAC)


def _jpeg_size(f: BinaryIO) -> tuple[int, int] | None:
    f.seek(2)
    while True:
        byte = f.read(1)
        while byte == b"\xff":  # fill bytes before a marker
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0x01, *range(0xD0, 0xD9)):  # markers without a length
            continue
        length = struct.unpack(">H", f.read(2))[0]
        if length < 2:  # would seek back into the same marker for ever
            return None
        if marker in _SOF:
            h, w = struct.unpack(">xHH", f.read(5))
            return h, w
        f.seek(length - 2, os.SEEK_CUR)
        f.read(1)  # the next marker's 0xFF


def _exr_size(f: BinaryIO) -> tuple[int, int] | None:
    """The dataWindow attribute of the (first part's) header."""
    f.seek(8)
    while True:
        name = _cstring(f)
        if not name:
            return None
        kind = _cstring(f)
        size = struct.unpack("<i", f.read(4))[0]
        if name == b"dataWindow" and kind == b"box2i" and size == 16:
            x0, y0, x1, y1 = struct.unpack("<4i", f.read(16))
            return y1 - y0 + 1, x1 - x0 + 1
        if size < 0:
            return None
        f.seek(size, os.SEEK_CUR)


def _cstring(f: BinaryIO, most: int = 255) -> bytes:
    """A NUL-terminated EXR name (at most 255 bytes by the format, 31 in old files)."""
    out = bytearray()
    while (c := f.read(1)) not in (b"", b"\x00"):
        out += c
        if len(out) > most:
            raise ValueError("not a header string")
    return bytes(out)


def _tiff_size(f: BinaryIO, head: bytes) -> tuple[int, int] | None:
    """ImageLength and ImageWidth of the first image (classic TIFF and BigTIFF)."""
    order = "<" if head[:2] == b"II" else ">"
    big = head[2:4] in (b"+\x00", b"\x00+")
    f.seek(8 if big else 4)
    offset = struct.unpack(order + ("Q" if big else "I"), f.read(8 if big else 4))[0]
    f.seek(offset)
    count = struct.unpack(order + ("Q" if big else "H"), f.read(8 if big else 2))[0]
    entry = 20 if big else 12
    found: dict[int, int] = {}
    for _ in range(min(count, _TIFF_MOST_TAGS)):
        raw = f.read(entry)
        tag, kind = struct.unpack(order + "HH", raw[:4])
        value = raw[12:] if big else raw[8:]
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            found[tag] = struct.unpack(order + ("H" if kind == 3 else "I"),
                                       value[: 2 if kind == 3 else 4])[0]
    if 256 not in found or 257 not in found:
        return None
    return found[257], found[256]


_TIFF_MOST_TAGS = 4096  # a real first IFD has a few dozen; a damaged count must not spin
_HDR_MOST_LINES = 64  # Radiance headers are a handful of lines before the resolution
_HDR_RESOLUTION = re.compile(rb"^[-+]([XY]) ([0-9]+) [-+]([XY]) ([0-9]+)$")


def _hdr_size(f: BinaryIO) -> tuple[int, int] | None:
    """Radiance: text header lines, a blank line, then '-Y H +X W'."""
    f.seek(0)
    for _ in range(_HDR_MOST_LINES):
        m = _HDR_RESOLUTION.match(f.readline(256).strip())  # longer lines are not headers
        if m:
            first, second = int(m[2]), int(m[4])
            return (first, second) if m[1] == b"Y" else (second, first)
    return None
