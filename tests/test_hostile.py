"""Hostile input through the real CLI (issue 13): ``colorize``, ``farm plan`` and ``farm
submit`` as subprocesses, each refusing bad input with exactly one ``inkpaint: error:`` line
and exit 1, having written nothing, left the sources alone, and never grown past a memory
bound however much the input claims. ``python -m tests.hostile`` prints what each refusal
costs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from core.imageio import read_image, write_image
from tests.hostile import (
    FIRST,
    KEYS,
    LAST,
    bmp_claiming,
    crc_damaged_png,
    exr_claiming,
    jpeg_claiming,
    make_shot,
    nonfinite_exr,
    png_claiming,
    run_cli,
    tiff_claiming,
    tree_digest,
    truncate,
)

# A refused run imports the CLI, perhaps loads the model, and stops: measured at about
# 60-350 MB; a run that decoded what a hostile header claims would need gigabytes.
REFUSAL_MB = 500

ALL = ("colorize", "plan", "submit")
OUT = ("colorize", "submit")  # the commands that take --out, --size and -k
COLORIZE = ("colorize",)


@dataclass
class Ctx:
    """One case's inputs: a copy of the shot in ``src`` that the case may damage."""

    tmp: Path
    src: Path
    weights: Path
    lineart: str = ""
    refs: list[str] = field(default_factory=list)
    out: str = ""
    extra: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    model: str = ""


@dataclass(frozen=True)
class Case:
    id: str
    commands: tuple[str, ...]
    setup: Callable[[Ctx], None]
    root_can: bool = True  # False: root ignores the permissions the case relies on


def _extra(*args: str) -> Callable[[Ctx], None]:
    return lambda c: c.extra.extend(args)


def _env(**env: str) -> Callable[[Ctx], None]:
    return lambda c: c.env.update(env)


def _out(name: str) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        c.out = str(c.tmp / "out" / name)
    return setup


def _key(frame: int, make: Callable[[Path], None], name: str = "key.png") -> Callable:
    """Replace the key of ``frame`` with a file ``make`` writes."""
    def setup(c: Ctx) -> None:
        path = c.src / name
        make(path)
        c.refs = [r for r in c.refs if not r.startswith(f"{frame}=")] + [f"{frame}={path}"]
    return setup


def _line(frame: int, make: Callable[[Path], None]) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        path = c.src / f"line.{frame}.png"
        path.unlink()
        make(path)
    return setup


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _damaged(how: Callable[[Path], None], source: str = "color.1001.png") -> Callable:
    def make(p: Path) -> None:
        shutil.copy(p.parent / source, p)
        how(p)
    return make


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _stray_far_frame(c: Ctx) -> None:
    shutil.copy(c.src / "line.1001.png", c.src / "line.1700000000.png")


def _stray_in_folder(c: Ctx) -> None:
    lines = c.src / "lines"
    lines.mkdir()
    for f in range(FIRST, LAST + 1):
        shutil.copy(c.src / f"line.{f}.png", lines / f"line.{f}.png")
    shutil.copy(c.src / "line.1001.png", lines / "line.1700000000.png")
    c.lineart = str(lines)


def _key_of_other_size(c: Ctx) -> None:
    write_image(c.src / "small.png", np.ones((48, 64, 3), np.float32))
    c.refs.append(f"1005={c.src / 'small.png'}")


def _ref_on_missing_frame(c: Ctx) -> None:
    (c.src / "line.1005.png").unlink()
    c.refs.append(f"1005={c.src / 'color.1005.png'}")
    c.extra += ["--frames", "1001-1003"]


def _exr_lineart_with(value: float) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        for f in range(FIRST, LAST + 1):
            px = read_image(c.src / f"line.{f}.png").pixels
            if f == 1004:
                px = px.copy()
                px[5, 5, 0] = value
            write_image(c.src / f"line.{f}.exr", px[..., :3], linear_out=False)
        c.lineart = str(c.src / "line.####.exr")
    return setup


def _output_parent_is_file(c: Ctx) -> None:
    (c.tmp / "notafolder").write_text("a file")
    c.out = str(c.tmp / "notafolder" / "c.####.png")


def _card_without_config(c: Ctx) -> None:
    w = c.tmp / "w"
    w.mkdir()
    shutil.copy(c.weights, w / "lite.safetensors")
    card = c.weights.with_suffix(".yaml").read_text()
    (w / "lite.yaml").write_text(card.split("\nconfig:")[0] + "\n")
    c.model = str(w / "lite.safetensors")


def _onnx_export_blocked(c: Ctx) -> None:
    """The run-time ONNX export goes to the user's cache ($INKPAINT_CACHE): make that a
    regular file, so no export can be written there."""
    blocked = c.tmp / "cache-is-a-file"
    blocked.write_text("not a folder")
    c.env["INKPAINT_CACHE"] = str(blocked)
    c.extra += ["--backend", "onnx"]


def _unlistable(c: Ctx) -> None:
    c.src.chmod(0o311)


def _job_dir_is_file(c: Ctx) -> None:
    (c.tmp / "jobfile").write_text("a file")
    c.extra += ["--job-dir", str(c.tmp / "jobfile")]


CASES: list[Case] = [
    # 1. memory that grows with what the input claims
    Case("frames 0-99999999999", ALL, _extra("--frames", "0-99999999999")),
    Case("frames 1001-20000000", ALL, _extra("--frames", "1001-20000000")),
    Case("frames past 10**30", ALL, _extra("--frames", f"{10**30}-{10**30 + 5}")),
    Case("frames 0-10**20 (past 2**63)", ALL, _extra("--frames", f"0-{10**20}")),
    Case("stray frame 1700000000 in the pattern", ALL, _stray_far_frame),
    Case("stray frame 1700000000 in the folder", ALL, _stray_in_folder),
    Case("1-bit PNG of 30000x30000 (real rows)", ALL,
         _line(1004, _bytes(png_claiming(30000, 30000, 1, 0, rows=True)))),
    Case("16-bit RGBA PNG claiming 32000x32000", ALL,
         _line(1003, _bytes(png_claiming(32000, 32000, 16, 6)))),
    Case("PNG claiming 100000x100000", ALL, _line(1005, _bytes(png_claiming(100000, 100000)))),
    Case("key PNG claiming 40000x40000", ALL, _key(1008, _bytes(png_claiming(40000, 40000)))),
    Case("key EXR claiming 50000x50000", ALL,
         _key(1008, lambda p: exr_claiming(p, 50000, 50000), "key.exr")),
    Case("key JPEG claiming 60000x60000", ALL,
         _key(1008, lambda p: jpeg_claiming(p, 60000, 60000), "key.jpg")),
    Case("key BMP claiming 70000x70000", ALL,
         _key(1008, _bytes(bmp_claiming(70000, 70000)), "key.bmp")),
    Case("key TIFF claiming 80000x80000", ALL,
         _key(1008, _bytes(tiff_claiming(80000, 80000)), "key.tif")),
    Case("INKPAINT_MAX_PIXELS below the shot", ALL, _env(INKPAINT_MAX_PIXELS="4095")),
    Case("INKPAINT_MAX_FRAMES below the shot", ALL, _env(INKPAINT_MAX_FRAMES="4")),
    Case("INKPAINT_MAX_PIXELS not a number", ALL, _env(INKPAINT_MAX_PIXELS="lots")),
    Case("--size 4096", OUT, _extra("--size", "4096")),
    Case("--size 100000", OUT, _extra("--size", "100000")),
    Case("memory estimate over INKPAINT_MAX_MEMORY", COLORIZE,
         _env(INKPAINT_MAX_MEMORY="300M")),
    # 2. partial output after bad input
    Case("third key of another size", ALL, _key_of_other_size),
    Case("output .bmp", OUT, _out("c.####.bmp")),
    Case("output .webp", OUT, _out("c.####.webp")),
    Case("output .txt", OUT, _out("c.####.txt")),
    Case("output .gif", OUT, _out("c.####.gif")),
    Case("16-bit JPEG output", OUT,
         lambda c: (_out("c.####.jpg")(c), c.extra.extend(["--bit-depth", "16"]))),
    Case("corrupt line art in the middle", COLORIZE,
         _line(1006, _bytes(b"\x89PNG\r\n\x1a\n" + b"\x13" * 200))),
    Case("truncated line art in the middle", COLORIZE,
         _line(1006, _damaged(lambda p: truncate(p, 0.6), "line.1001.png"))),
    Case("empty line-art file in the middle", ALL, _line(1005, _bytes(b""))),
    Case("line art that is only a PNG signature", ALL, _line(1006, _bytes(b"\x89PNG\r\n\x1a\n"))),
    Case("line art of another size in the middle", ALL,
         _line(1007, lambda p: write_image(p, np.ones((64, 48, 3), np.float32)))),
    # 3. tracebacks instead of one line
    Case("output without an extension", OUT, _out("c.####")),
    Case("output parent is a file", OUT, _output_parent_is_file),
    Case("output over the line art itself", OUT, lambda c: setattr(c, "out", c.lineart)),
    Case("key on a frame missing from the shot, --frames excluding it", ALL,
         _ref_on_missing_frame),
    Case("line-art folder that cannot be listed", ALL, _unlistable, root_can=False),
    Case("weights card without config", ALL, _card_without_config),
    Case("ONNX export cannot be written", COLORIZE, _onnx_export_blocked),
    Case("weights that do not exist", ALL,
         lambda c: setattr(c, "model", str(c.tmp / "none.safetensors"))),
    Case("line art in a folder that does not exist", ALL,
         lambda c: setattr(c, "lineart", str(c.tmp / "nowhere" / "line.####.png"))),
    Case("--job-dir is a file", ("submit",), _job_dir_is_file),
    # 4. silently wrong
    Case("EXR key with NaN", ALL, _key(1008, lambda p: nonfinite_exr(p, np.nan), "key.exr")),
    Case("EXR key with +inf", ALL, _key(1008, lambda p: nonfinite_exr(p, np.inf), "key.exr")),
    Case("EXR RGBA key with -inf", ALL,
         _key(1001, lambda p: nonfinite_exr(p, -np.inf, alpha=True), "key.exr")),
    Case("EXR line art with NaN", COLORIZE, _exr_lineart_with(np.nan)),
    Case("EXR line art with +inf", COLORIZE, _exr_lineart_with(np.inf)),
    # 5. interrupted runs (the signal and disk cases are tests of their own below)
    Case("key is a FIFO", ALL, _key(1008, _fifo)),
    Case("line-art frame is a FIFO", ALL, _line(1004, _fifo)),
    Case("key is a character device", ALL,
         lambda c: c.refs.append("1004=/dev/zero")),
    Case("key is a folder", ALL, lambda c: c.refs.append(f"1004={c.src}")),
    # 6. loose arguments
    Case("--size 0", OUT, _extra("--size", "0")),
    Case("--size -5", OUT, _extra("--size", "-5")),
    Case("--size 31", OUT, _extra("--size", "31")),
    Case("--frames ''", ALL, _extra("--frames", "")),
    Case("--frames ' '", ALL, _extra("--frames", " ")),
    Case("--frames abc", ALL, _extra("--frames", "abc")),
    Case("--frames 1005-1002", ALL, _extra("--frames", "1005-1002")),
    Case("--frames 1001-", ALL, _extra("--frames", "1001-")),
    Case("--out ''", OUT, lambda c: setattr(c, "out", "")),
    Case("--lineart ''", ALL, lambda c: setattr(c, "lineart", "")),
    Case("--lineart ' '", ALL, lambda c: setattr(c, "lineart", " ")),
    Case("-k 0", OUT, _extra("-k", "0")),
    Case("-k -1", OUT, _extra("-k", "-1")),
    Case("-k 99", OUT, _extra("-k", "99")),
    Case("corrupt key", ALL, _key(1008, _bytes(b"not an image at all" * 20))),
    Case("empty key", ALL, _key(1008, _bytes(b""))),
    Case("key that does not exist", ALL, lambda c: c.refs.append(f"1004={c.src / 'no.png'}")),
    Case("--ref 1001=", ALL, lambda c: c.refs.append("1001=")),
    Case("--ref abc=color", ALL, lambda c: c.refs.append(f"abc={c.src / 'color.1001.png'}")),
    Case("--ref with three paths", ALL, lambda c: c.refs.append("1003=a.png,b.png,c.png")),
    Case("two keys for one frame", ALL,
         lambda c: c.refs.append(f"1001={c.src / 'color.1002.png'}")),
    Case("key outside the shot", ALL, lambda c: c.refs.append(f"2000={c.src / 'color.1001.png'}")),
    Case("no keys", ALL, lambda c: c.refs.clear()),
    Case("model sheet without line art", ALL,
         lambda c: c.refs.append(f"sheet={c.src / 'color.1001.png'}")),
    Case("--chunk-size 0", ("plan", "submit"), _extra("--chunk-size", "0")),
    Case("--review-below 2", COLORIZE, _extra("--review-below", "2")),
    Case("--env without =", ("submit",), _extra("--env", "FOO")),
    # 7. more than one stderr line (decoders' warnings)
    Case("truncated PNG key", ALL, _key(1008, _damaged(lambda p: truncate(p, 0.5)))),
    Case("PNG key failing its CRC", ALL, _key(1008, _damaged(crc_damaged_png))),
    Case("PNG line art failing its CRC", COLORIZE,
         _line(1002, _damaged(crc_damaged_png, "line.1001.png"))),
    Case("truncated EXR key", ALL,
         _key(1008, lambda p: (nonfinite_exr(p, 0.5), truncate(p, 0.7)), "key.exr")),
    Case("truncated JPEG key", ALL,
         _key(1008, lambda p: (write_image(p, np.random.default_rng(0).random((64, 64, 3))),
                               truncate(p, 0.5)), "key.jpg")),
]


def build_case(case: Case, shot: Path, tmp: Path, weights: Path,
               command: str = "colorize") -> tuple[list, dict, Path]:
    """The argument list and environment of ``case`` for ``command``, on a fresh copy of
    ``shot`` under ``tmp``; returns them and the folder whose contents must not change."""
    tmp.mkdir(parents=True)
    src = tmp / "src"
    shutil.copytree(shot, src)
    c = Ctx(tmp, src, weights, lineart=str(src / "line.####.png"),
            refs=[f"{f}={src / f'color.{f}.png'}" for f in KEYS],
            out=str(tmp / "out" / "c.####.png"), model=str(weights))
    case.setup(c)
    refs = [a for r in c.refs for a in ("--ref", r)]
    common = ["--lineart", c.lineart, *refs, "--model", c.model]
    if command == "colorize":
        args = ["colorize", *common, "--out", c.out, "--size", "64"]
    elif command == "plan":
        args = ["farm", "plan", *common]
    else:
        args = ["farm", "submit", "--farm", "openjd", "--job-dir", str(tmp / "jobs"),
                *common, "--out", c.out]
    return args + c.extra, c.env, tmp


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> Path:
    return make_shot(tmp_path_factory.mktemp("hostile") / "shot")


PARAMS = [pytest.param(case, cmd, id=f"{cmd}: {case.id}",
                       marks=[pytest.mark.skipif(not case.root_can and os.geteuid() == 0,
                                                 reason="root can list any folder")])
          for case in CASES for cmd in case.commands]


@pytest.mark.parametrize(("case", "command"), PARAMS)
def test_bad_input_is_refused_in_one_line(tmp_path, shot, lite_weights, case, command):
    args, env, folder = build_case(case, shot, tmp_path / "case", lite_weights, command)
    before = tree_digest(folder)
    try:
        r = run_cli(args, env, cwd=folder, timeout=120)
    finally:
        (folder / "src").chmod(0o755)
    assert r.code == 1, (r.code, r.stdout[-2000:], r.stderr[-2000:])
    assert r.stderr.strip().splitlines() == r.errors and len(r.errors) == 1, r.stderr
    assert len(r.errors[0]) < 400, r.errors[0]
    assert tree_digest(folder) == before, "wrote something, or changed a source"
    assert r.peak_mb < REFUSAL_MB, f"{r.peak_mb:.0f} MB before refusing"


def test_there_are_enough_cases():
    assert len(PARAMS) >= 80


# ---- what must still work ---------------------------------------------------------------------


def test_farm_plan_takes_model_sheet_only_references(shot, lite_weights, tmp_path):
    sheet = f"sheet={shot / 'color.1001.png'},{shot / 'line.1001.png'}"
    r = run_cli(["farm", "plan", "--lineart", shot / "line.####.png", "--ref", sheet,
                 "--model", lite_weights, "--format", "json"])
    assert r.code == 0, r.stderr
    import json

    plan = json.loads(r.stdout)
    covered = [f for c in plan["chunks"] for f in range(*map(int, c["frames"].split("-")))]
    assert plan["keys"] == [] and plan["chunks"][0]["frames"].startswith(str(FIRST))
    assert len(covered) + len(plan["chunks"]) == LAST - FIRST + 1


def test_pixel_limit_is_exact_and_raisable(shot, lite_weights):
    base = ["farm", "plan", "--lineart", shot / "line.####.png", "--model", lite_weights,
            *(a for f in KEYS for a in ("--ref", f"{f}={shot / f'color.{f}.png'}"))]
    assert run_cli(base, {"INKPAINT_MAX_PIXELS": str(64 * 64)}).code == 0
    r = run_cli(base, {"INKPAINT_MAX_PIXELS": str(64 * 64 - 1)})
    assert r.code == 1 and "INKPAINT_MAX_PIXELS" in r.errors[0]


def test_rgba_keys_are_composited_over_paper(tmp_path, shot, lite_weights):
    """A key painted on transparency (a cel render): what is transparent is background
    (white paper, like the line art's transparency), not the black stored under it."""
    src = tmp_path / "src"
    shutil.copytree(shot, src)
    rgb = read_image(src / "color.1001.png").pixels[..., :3]
    line = read_image(src / "line.1001.png").pixels[..., :3]
    alpha = (line.min(axis=2) < 0.5).astype(np.float32)  # only the lines are opaque
    write_image(src / "key.png", rgb * alpha[..., None], alpha)  # black under transparency
    out = tmp_path / "out" / "c.####.png"
    r = run_cli(["colorize", "--lineart", src / "line.####.png", "--ref",
                 f"1001={src / 'key.png'}", "--ref", f"1008={src / 'color.1008.png'}",
                 "--out", out, "--model", lite_weights, "--size", 64, "--frames", "1001-1002"])
    assert r.code == 0, r.stderr
    got = read_image(tmp_path / "out" / "c.1001.png").pixels[..., :3]
    want = rgb * alpha[..., None] + (1 - alpha[..., None])
    assert np.abs(got - want).max() <= 1 / 255 + 1e-6
    assert got[alpha == 0].min() > 0.99  # the background is paper, not black


def test_onnx_export_on_first_use_prints_no_warnings(tmp_path, shot, lite_weights):
    """The export the onnx backend makes on first use traces the networks; the tracer's
    warnings are not for users, whose stderr holds progress and at most one error line."""
    w = tmp_path / "w"
    w.mkdir()
    shutil.copy(lite_weights, w / "lite.safetensors")
    shutil.copy(lite_weights.with_suffix(".yaml"), w / "lite.yaml")
    r = run_cli(["colorize", "--lineart", shot / "line.####.png",
                 *(a for f in KEYS for a in ("--ref", f"{f}={shot / f'color.{f}.png'}")),
                 "--out", tmp_path / "out" / "c.####.png", "--model", w / "lite.safetensors",
                 "--backend", "onnx", "--size", 64, "--frames", "1001-1002"],
                {"INKPAINT_CACHE": str(tmp_path / "cache")})
    assert r.code == 0, r.stderr
    assert list((tmp_path / "cache").rglob("*.onnx"))  # exported into the user's cache...
    assert sorted(p.name for p in w.iterdir()) == ["lite.safetensors", "lite.yaml"]  # only
    assert [ln for ln in r.stderr.splitlines() if not ln.startswith("inkpaint: progress")] == []
