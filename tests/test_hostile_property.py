"""Property (issue 13): whatever arguments and whatever bytes as images, a run of the CLI
ends one of two ways. Exit 0 with every frame written; or exit 1 with exactly one
``inkpaint: error:`` line, nothing written, the sources unchanged, and the child's peak
memory under a bound. The examples are derandomized (the same ones on every run, so CI is
reproducible) and bounded, so the test takes about a minute."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.imageio import write_image
from tests.hostile import (
    FIRST,
    LAST,
    make_shot,
    png_claiming,
    run_cli,
    tree_digest,
)
from tests.test_hostile import REFUSAL_MB

SHOT = range(FIRST, LAST + 1)


def _damage(path: Path, how: tuple) -> None:
    kind, value = how
    if kind == "random bytes":
        path.write_bytes(value)
    elif kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * value)])
    elif kind == "claims":
        path.write_bytes(png_claiming(*value))
    elif kind == "other size":
        write_image(path, np.ones((value, 64, 3), np.float32))
    elif kind == "fifo":
        path.unlink()
        os.mkfifo(path)


damage = st.one_of(
    st.tuples(st.just("random bytes"), st.binary(max_size=300)),
    st.tuples(st.just("truncated"), st.floats(0.0, 0.99)),
    st.tuples(st.just("claims"), st.tuples(st.integers(1, 200_000), st.integers(1, 200_000))),
    st.tuples(st.just("other size"), st.integers(8, 63)),
    st.tuples(st.just("fifo"), st.none()),
)
frame_text = st.one_of(
    st.none(),
    st.builds(lambda a, b: f"{a}-{b}", st.integers(FIRST - 3, LAST + 3),
              st.integers(FIRST - 3, LAST + 3)),
    st.text("0123456789- ,", max_size=12),
    st.sampled_from(["", "0-99999999999", f"{FIRST}-{10**12}", str(LAST)]),
)

flags = st.lists(st.sampled_from(["--no-temporal", "--no-confidence", "--compose flat",
                                  "--lines fill"]), max_size=2, unique=True)


@st.composite
def wild(draw) -> dict:
    """Anything the argument parser takes, and damaged files."""
    return {
        "command": draw(st.sampled_from(["colorize", "colorize", "plan"])),
        "frames": draw(frame_text),
        "size": draw(st.one_of(st.none(), st.sampled_from([0, 31, 32, 64, 4096, 10**6]),
                               st.integers(-5, 96))),
        "k": draw(st.one_of(st.none(), st.integers(-1, 7))),
        "out": draw(st.sampled_from([".png", ".exr", ".jpg", ".tif", ".bmp", ".webp", "",
                                     "folder"])),
        "bit_depth": draw(st.sampled_from([8, 16])),
        "keys": draw(st.lists(st.integers(FIRST - 2, LAST + 2), min_size=0, max_size=3)),
        "flags": draw(flags),
        "damaged": draw(st.dictionaries(
            st.sampled_from([f"line.{FIRST + 2}.png", f"line.{LAST}.png",
                             f"color.{FIRST}.png", f"color.{LAST}.png"]),
            damage, min_size=1, max_size=2)),
    }


@st.composite
def sound(draw) -> dict:
    """Random but valid: these runs must write every frame."""
    a = draw(st.integers(FIRST, LAST))
    b = draw(st.integers(a, min(a + 3, LAST)))  # short runs keep the test near a minute
    out = draw(st.sampled_from([".png", ".exr", ".jpg", ".tif", "folder"]))
    return {
        "command": draw(st.sampled_from(["colorize", "colorize", "plan"])),
        "frames": draw(st.sampled_from([f"{a}-{b}", str(a), f"{a}-{b}", None])),
        "size": draw(st.integers(32, 80)),
        "k": draw(st.one_of(st.none(), st.integers(1, 3))),
        "out": out,
        "bit_depth": 8 if out == ".jpg" else draw(st.sampled_from([8, 16])),
        "keys": draw(st.lists(st.sampled_from(SHOT), min_size=1, max_size=3, unique=True)),
        "flags": draw(flags),
        "damaged": {},
    }


scenario = st.one_of(wild(), sound())


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> Path:
    return make_shot(tmp_path_factory.mktemp("property") / "shot")


@settings(max_examples=12, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(s=scenario)
def test_every_run_ends_whole_or_refused_in_one_line(shot, lite_weights, s):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = shutil.copytree(shot, tmp / "src")
        for name, how in s["damaged"].items():
            _damage(src / name, how)
        refs = [a for f in s["keys"] for a in ("--ref", f"{f}={src / f'color.{f}.png'}")]
        common = ["--lineart", src / "line.####.png", *refs, "--model", lite_weights]
        if s["frames"] is not None:
            common += ["--frames", s["frames"]]
        out = tmp / "out" if s["out"] == "folder" else tmp / "out" / f"c.####{s['out']}"
        if s["command"] == "plan":
            args = ["farm", "plan", *common]
        else:
            args = ["colorize", *common, "--out", out, "--bit-depth", s["bit_depth"],
                    *(a for f in s["flags"] for a in f.split())]
            args += ["--size", s["size"] if s["size"] is not None else 64]
            if s["k"] is not None:
                args += ["-k", s["k"]]
        before = tree_digest(src)
        r = run_cli(args, timeout=300)
        event(f"{s['command']} exit {r.code}")  # --hypothesis-show-statistics: the mix
        assert tree_digest(src) == before, "a source changed"
        assert r.code in (0, 1), (r.code, r.stderr[-3000:])
        written = sorted(p.name for p in (tmp / "out").rglob("*")) if (tmp / "out").exists() \
            else []
        if r.code == 1:
            others = [ln for ln in r.stderr.splitlines()
                      if not ln.startswith("inkpaint: progress")]
            assert others == r.errors and len(r.errors) == 1, r.stderr[-3000:]
            assert written == [], written
            assert r.peak_mb < REFUSAL_MB or "inkpaint: progress" in r.stderr, r.peak_mb
        elif s["command"] == "colorize":
            a, _, b = (s["frames"] or f"{FIRST}-{LAST}").strip().partition("-")
            frames = range(int(a), int(b or a) + 1)
            suffix = ".png" if s["out"] == "folder" else s["out"]
            stem = "line." if s["out"] == "folder" else "c."
            assert all(f"{stem}{f}{suffix}" in written for f in frames), written


MAGICS = [b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", b"\xff\xd8", b"\x76\x2f\x31\x01\x02\0\0\0",
          b"II*\0", b"MM\0*", b"II+\0", b"BM", b"#?RADIANCE\n", b""]


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(magic=st.sampled_from(MAGICS), body=st.binary(max_size=200))
def test_any_bytes_read_as_an_image_or_one_clear_error(tmp_path_factory, magic, body):
    """In process, many examples: a file that starts like an image and then is anything is
    read or refused with an ``InkpaintError``, never a hang or another exception."""
    from core.errors import InkpaintError
    from core.imageio import read_image

    path = tmp_path_factory.mktemp("bytes") / "x.png"
    path.write_bytes(magic + body)
    try:
        img = read_image(path)
    except InkpaintError as exc:
        assert str(path) in str(exc)
    else:
        assert np.isfinite(img.pixels).all()
