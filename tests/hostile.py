"""Hostile inputs for the CLI (issue 13), shared by the tests and the refusal benchmark
(``python -m tests.hostile``): files that lie about their size, damaged or odd files, loose
arguments, and a runner that measures each refused run's peak memory and time.

Every case is a function that damages a fresh copy of a small shot and returns the extra
arguments and environment that make the run refuse.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.imageio import write_image

ROOT = Path(__file__).resolve().parent.parent
FIRST, LAST = 1001, 1008
KEYS = (1001, 1008)


# ---- files that lie or break -----------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_claiming(width: int, height: int, depth: int = 8, colour: int = 2,
                 rows: bool = False) -> bytes:
    """A PNG whose header says ``width`` x ``height``; with ``rows`` its pixel data is really
    there (all zero, so it compresses to almost nothing), else a token IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    if rows:
        per_pixel = {0: 1, 2: 3, 4: 2, 6: 4}[colour] * depth
        row = b"\0" * (1 + (width * per_pixel + 7) // 8)
        z = zlib.compressobj(9)
        data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    else:
        data = zlib.compress(b"\0" * 64)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data)
            + _chunk(b"IEND", b""))


def exr_claiming(path: Path, width: int, height: int) -> None:
    """A real EXR whose dataWindow is rewritten to claim ``width`` x ``height``."""
    write_image(path, np.ones((8, 8, 3), np.float32))
    data = bytearray(path.read_bytes())
    at = data.index(b"dataWindow\0box2i\0") + len(b"dataWindow\0box2i\0") + 4
    data[at:at + 16] = struct.pack("<4i", 0, 0, width - 1, height - 1)
    path.write_bytes(bytes(data))


def jpeg_claiming(path: Path, width: int, height: int) -> None:
    """A real JPEG whose frame header (SOF0) claims ``width`` x ``height``."""
    write_image(path, np.ones((8, 8, 3), np.float32))
    data = bytearray(path.read_bytes())
    at = data.index(b"\xff\xc0") + 5
    data[at:at + 4] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))


def bmp_claiming(width: int, height: int) -> bytes:
    header = struct.pack("<2sIHHI", b"BM", 54, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)
    return header + info + b"\0" * 16


def tiff_claiming(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (262, 3, 1, 1),
               (273, 4, 1, 8), (277, 3, 1, 1), (279, 4, 1, 1)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\0" + struct.pack("<I", 16) + b"\0" * 8 + ifd


def nonfinite_exr(path: Path, value: float, alpha: bool = False) -> None:
    import OpenEXR

    px = np.full((64, 64, 4 if alpha else 3), 0.5, np.float32)
    px[10:20, 10:20, 0] = value
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                 {"RGBA" if alpha else "RGB": px}).write(str(path))


def crc_damaged_png(path: Path) -> None:
    """A PNG whose image data fails its checksum: libpng warns and gives up."""
    data = bytearray(path.read_bytes())
    at = data.index(b"IDAT") + 8
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])


# ---- a run, measured ---------------------------------------------------------------------


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    peak_mb: float  # the child's peak resident memory
    seconds: float

    @property
    def errors(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.startswith("inkpaint: error:")]


# Linux carries a process's peak RSS across fork and exec: a child started straight from the
# test process (hundreds of MB once torch is loaded) reports at least that. So the CLI is
# started from a small launcher, whose own fork copies only the launcher, and the launcher
# reports its child's wait4 peak (KB) on the file descriptor it is given.
_LAUNCHER = """import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
os.write(int(sys.argv[1]), str(usage.ru_maxrss).encode())
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_cli(args: list, env: dict | None = None, cwd: Path | None = None,
            timeout: float = 600) -> Run:
    """``python -m core ARGS`` as a user runs it, with the child's own peak RSS (wait4)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "INKPAINT_PROGRESS": "lines",
                **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryFile() as peak:
        start = time.monotonic()
        fd = peak.fileno()
        p = subprocess.Popen([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(fd),
                              sys.executable, "-m", "core", *map(str, args)], stdout=out,
                             stderr=err, stdin=subprocess.DEVNULL, env=full_env, cwd=cwd,
                             pass_fds=(fd,), start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(p.pid, 9))
        timer.start()
        try:
            p.wait()
        finally:
            timer.cancel()
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        peak.seek(0)
        kb = peak.read().decode() or "0"
        return Run(p.returncode, out.read().decode(errors="replace"),
                   err.read().decode(errors="replace"), int(kb) / 1024, seconds)


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (FIFOs and the like by name only)."""
    found = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink() or not p.exists():
            found[str(p)] = "link"
        elif p.is_file():
            found[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif not p.is_dir():
            found[str(p)] = "special"
    return found


def make_shot(folder: Path) -> Path:
    """Line art and colour frames FIRST-LAST, 64 px."""
    from tests.conftest import write_shot

    write_shot(folder, frames=LAST - FIRST + 1, size=64, first=FIRST)
    return folder


def copy_shot(shot: Path, dest: Path) -> Path:
    shutil.copytree(shot, dest)
    return dest


def main() -> None:
    """The refusal benchmark: every bad-input case of ``tests/test_hostile.py``, its peak
    RSS and time before the error, and the worst of each."""
    from tests.conftest import make_weights
    from tests.test_hostile import CASES, build_case

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = make_weights(tmp / "w")
        shot = make_shot(tmp / "shot")
        worst_mb = worst_s = (0.0, "")
        for i, case in enumerate(CASES):
            if not case.root_can and os.geteuid() == 0:
                continue
            args, env, _ = build_case(case, shot, tmp / f"case{i}", weights, case.commands[0])
            r = run_cli(args, env, timeout=120)
            ok = r.code == 1 and len(r.errors) == 1
            print(f"{case.id:58s} exit {r.code} {r.peak_mb:6.0f} MB {r.seconds:5.1f} s"
                  f"{'' if ok else '  NOT REFUSED AS EXPECTED'}", flush=True)
            worst_mb = max(worst_mb, (r.peak_mb, case.id))
            worst_s = max(worst_s, (r.seconds, case.id))
        print(f"refused inputs: worst peak RSS {worst_mb[0]:.0f} MB "
              f"({worst_mb[1]}), worst time {worst_s[0]:.1f} s ({worst_s[1]})")


if __name__ == "__main__":
    main()
