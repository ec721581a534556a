"""The evaluation sets of real material no one here drew: held-out OpenMoji emoji and Synfig's
eye.sif (issue 12, item 7). They use the real packages: ``build.py test`` installs them."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import build
from core.data import openmoji
from core.errors import InkpaintError
from core.eval import synfig
from core.eval.evaluate import Options, _source

pytest.importorskip("cairosvg", reason="OpenMoji emoji are rendered with cairosvg")
NO_NPM = shutil.which("npm") is None
NO_SYNFIG = not synfig.EYE.is_file() or shutil.which("synfig") is None
needs_npm = pytest.mark.skipif(NO_NPM, reason="npm is absent: openmoji cannot be installed")
needs_synfig = pytest.mark.skipif(NO_SYNFIG, reason=f"synfig is absent: {synfig.INSTALL}")
SIZE = 64  # small frames: each set renders in seconds (synfig-eye once, then from its cache


def _aligned(shot, dark: int) -> float:
    """Share of the line art's ink pixels that are dark (max channel below ``dark``) in the
    colour frame within 1 px: lines drawn where the colour has its outlines."""
    shares = []
    for color, lines in zip(shot.color, shot.lines):
        ink = lines < 64
        dark_px = cv2.dilate((color.max(2) < dark).astype(np.uint8), np.ones((3, 3), np.uint8))
        shares.append((ink & (dark_px > 0)).sum() / max(int(ink.sum()), 1))
    return float(np.min(shares))


# ---------------------------------------------------------------- openmoji


@needs_npm
def test_openmoji_package_is_the_pinned_version():
    root = openmoji.package_root()  # fails, naming the npm command, if build.py did not
    assert json.loads((root / "package.json").read_text())["version"] == "17.0.0"
    assert build.OPENMOJI == f"openmoji@{openmoji.OPENMOJI_VERSION}"


@needs_npm
def test_openmoji_split_is_fixed_disjoint_and_keeps_variants_together():
    train, held = openmoji.emoji("train"), openmoji.emoji("eval")
    names = {f.name for f in train} | {f.name for f in held}
    assert not {f.name for f in train} & {f.name for f in held}
    every = sorted((openmoji.package_root() / "color" / "svg").glob("*.svg"))
    assert names == {f.name for f in every if openmoji.base_name(f.name) == f.name}
    assert 0.08 < len(held) / len(names) < 0.12
    assert openmoji.emoji("eval") == held  # the same order every time
    for f in every:  # skin-tone variants (same line art) lie in their base emoji's split
        assert openmoji.split_of(f.name) == openmoji.split_of(openmoji.base_name(f.name))
    assert openmoji.base_name("1F44D-1F3FD.svg") == "1F44D.svg"
    # the first held-out illustrations: a change here changes every openmoji number
    assert [f.name for f in openmoji.illustrations("eval", 3)] == [
        "1F366.svg", "1F368.svg", "1FA8E.svg"]
    with pytest.raises(InkpaintError, match="split"):
        openmoji.emoji("test")


@needs_npm
def test_openmoji_keeps_illustrations_and_drops_flags_and_symbols():
    from core.data.drawings import accept

    def kept(name: str) -> bool:
        path = openmoji.package_root() / "color" / "svg" / name
        return accept(openmoji.stats(str(path)), openmoji.LIMITS)

    for name in ("1F366.svg", "1F9F8.svg", "1F385.svg"):  # ice cream, teddy bear, Santa
        assert kept(name), name
    for name in ("1F1FA-1F1F3.svg", "002D.svg", "2795.svg"):  # a flag, a dash, a plus sign
        assert not kept(name), name


@needs_npm
def test_openmoji_line_art_is_the_line_group_only():
    svg = (openmoji.package_root() / "color" / "svg" / "1F600.svg").read_bytes()
    text = openmoji.line_group(svg).decode()
    assert 'id="line"' in text and "#FCEA2B" not in text and 'id="color"' not in text
    from core.data.drawings import render_drawing

    color, lines = render_drawing(svg, 128, openmoji.line_group)
    ink = lines < 64
    assert 0.02 < ink.mean() < 0.2 and np.median(lines) == 255  # black lines on white
    assert (color[..., :3][ink].max(1) < 90).mean() > 0.9  # the colour has them too, black
    face = (color[..., 0] > 200) & (color[..., 2] < 100) & (color[..., 3] == 255)  # yellow
    assert face.mean() > 0.2 and (lines[face] > 200).mean() > 0.95  # no fill in the lines


@needs_npm
@pytest.mark.parametrize("frames", [8, 24])
def test_openmoji_set_gives_aligned_clips(frames):
    src = _source("openmoji", Options(clips=2, size=SIZE))
    assert src.count == 2
    shots = list(src.clips(frames))
    assert len(shots) == 2
    for shot in shots:
        assert shot.color.shape == (frames, SIZE, SIZE, 3) and shot.color.dtype == np.uint8
        assert shot.lines.shape == (frames, SIZE, SIZE) and shot.lines.dtype == np.uint8
        assert _aligned(shot, 100) > 0.85
        assert not np.array_equal(shot.color[0], shot.color[-1])  # it moves
    again = next(iter(src.clips(frames)))
    assert np.array_equal(again.color, shots[0].color)  # fixed clips: stable numbers


def test_openmoji_missing_or_other_version_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("INKPAINT_OPENMOJI", str(tmp_path / "nowhere"))
    with pytest.raises(InkpaintError, match=r"npm install --prefix .*openmoji@17\.0\.0"):
        _source("openmoji", Options(clips=1, size=SIZE))
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "package.json").write_text('{"version": "15.0.0"}')
    monkeypatch.setenv("INKPAINT_OPENMOJI", str(tmp_path / "old"))
    with pytest.raises(InkpaintError, match="holds openmoji 15.0.0"):
        openmoji.emoji("eval")


# ---------------------------------------------------------------- synfig eye

SIF = b"""<?xml version="1.0"?>
<canvas version="0.1" width="64" height="36" fps="24.000" begin-time="0f" end-time="1s 2f"
        view-box="-4 2.25 4 -2.25">
  <layer type="region" active="true" desc="skin">
    <param name="amount"><real value="1.0"/></param>
    <param name="color"><color><r>0.58</r><g>0.41</g><b>0.20</b><a>1.0</a></color></param>
  </layer>
  <layer type="region" active="true" desc="freckle">
    <param name="color"><color><r>0.12</r><g>0.02</g><b>0.0</b><a>1.0</a></color></param>
  </layer>
  <layer type="region" active="true" desc="glaze">
    <param name="amount"><real value="0.4"/></param>
    <param name="color"><color><r>0.0</r><g>0.0</g><b>0.1</b><a>1.0</a></color></param>
  </layer>
  <layer type="circle" active="true" desc="soft">
    <param name="feather"><real value="2.3"/></param>
    <param name="color"><color><r>0.0</r><g>0.0</g><b>0.0</b><a>1.0</a></color></param>
  </layer>
  <layer type="rectangle" active="true" desc="mask">
    <param name="color"><color><r>0.0</r><g>0.0</g><b>0.0</b><a>0.0</a></color></param>
  </layer>
  <layer type="PasteCanvas" active="true" desc="group">
    <param name="amount"><real value="1.0"/></param>
    <param name="canvas"><canvas>
      <layer type="outline" active="true" desc="line">
        <param name="color"><color><r>0.3</r><g>0.0</g><b>0.0</b><a>1.0</a></color></param>
      </layer>
      <layer type="shade" active="true" desc="shade"/>
    </canvas></param>
  </layer>
  <layer type="PasteCanvas" active="true" desc="highlights">
    <param name="amount"><real value="0.1"/></param>
  </layer>
</canvas>
"""


def test_outlines_only_whitens_fills_blackens_lines_and_drops_shading():
    from xml.etree import ElementTree as ET

    root = ET.fromstring(synfig.outlines_only(SIF))
    layers = {layer.get("desc"): layer for layer in root.iter("layer")}

    def rgb(name: str) -> list[float]:
        c = layers[name].find("param[@name='color']/color")
        return [float(c.findtext(x)) for x in "rgb"]

    active = {name: layer.get("active") == "true" for name, layer in layers.items()}
    assert rgb("skin") == [1, 1, 1] and active["skin"]  # a fill: white, still hides lines
    assert rgb("freckle") == [0, 0, 0] and active["freckle"]  # near-black: ink
    assert rgb("line") == [0, 0, 0] and active["line"]  # outlines: black, in groups too
    assert rgb("mask") == [0, 0, 0] and active["mask"]  # transparent masks: untouched
    assert not active["glaze"] and not active["soft"] and not active["shade"]
    assert not active["highlights"] and active["group"]
    assert synfig.frame_count(SIF) == (27, 64, 36)


def test_clip_starts_spread_without_overlap():
    assert synfig.clip_starts(359, 24, 16) == [int(i * 359 / 14 + (359 / 14 - 24) / 2)
                                               for i in range(14)]
    for frames, n in ((8, 1), (8, 16), (24, 16), (24, 3), (359, 2)):
        starts = synfig.clip_starts(359, frames, n)
        assert len(starts) == min(n, 359 // frames)
        ends = [s + frames for s in starts]
        assert starts[0] >= 0 and ends[-1] <= 359
        assert all(e <= s for e, s in zip(ends, starts[1:]))
    assert synfig.clip_starts(359, 8, 1) == [175]  # one clip: the middle, not the still start


@needs_synfig
def test_eye_is_the_expected_file():
    assert synfig.frame_count(synfig.eye_file().read_bytes()) == (359, 480, 270)
    assert synfig.eye_file().name == "eye.sif"  # never prologue_kid.sif: an unseen test


@needs_synfig
@pytest.mark.parametrize("frames", [8, 24])
def test_eye_set_gives_aligned_clips_from_the_cache(frames, monkeypatch):
    src = _source("synfig-eye", Options(clips=1, size=SIZE, protocols=(frames,)))
    assert src.count == 1 and src.max_frames == 359
    (shot,) = list(src.clips(frames))
    assert shot.color.shape == (frames, SIZE, SIZE, 3) and shot.lines.shape == (frames, SIZE,
                                                                               SIZE)
    assert _aligned(shot, 150) > 0.8  # dark outlines, dark-red veins, brown freckles
    band = slice(SIZE // 2 - 16, SIZE // 2 + 16)  # the 16:9 picture, white bars around it
    assert (shot.color[:, :10] == 255).all() and shot.color[:, band].std() > 20
    # black lines on white paper: fills and shading (the colour frame is 90 % mid-tones)
    # are gone, what is grey is the anti-aliasing of lines 1-2 px wide at this size
    lines = shot.lines[:, band]
    assert (lines >= 250).mean() > 0.55 and ((lines >= 64) & (lines < 230)).mean() < 0.35
    assert (lines < 64).mean() > 0.02
    assert not np.array_equal(shot.color[0], shot.color[-1])  # the eye moves

    def no_render(*args, **kwargs):
        raise AssertionError("synfig ran although every frame is cached")

    monkeypatch.setattr(subprocess, "Popen", no_render)
    (again,) = list(src.clips(frames))
    assert np.array_equal(again.color, shot.color) and np.array_equal(again.lines, shot.lines)


def test_eye_missing_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(synfig, "EYE", tmp_path / "eye.sif")
    with pytest.raises(InkpaintError, match="apt-get install -y synfig synfig-examples"):
        _source("synfig-eye", Options(clips=1, size=SIZE))


# ---------------------------------------------------------------- end to end


@pytest.mark.slow
@pytest.mark.skipif(NO_NPM or NO_SYNFIG, reason="needs npm (openmoji) and synfig")
def test_evaluate_command_runs_both_sets(tmp_path, lite_weights):
    out = tmp_path / "reports" / "real"
    done = subprocess.run(
        [sys.executable, "-m", "core", "evaluate", "--model", str(lite_weights),
         "--sets", "openmoji,synfig-eye", "--clips", "1", "--protocol", "8",
         "--size", str(SIZE), "--no-fid", "--device", "cpu", "--out", str(out)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(out.with_suffix(".json").read_text())
    assert list(doc["sets"]) == ["openmoji", "synfig-eye"]
    for name, entry in doc["sets"].items():
        assert "skipped" not in entry, entry
        proto = entry["protocols"]["8"]
        for method in ("inkpaint", "copy_nearest"):
            assert proto[method]["clips"] == 1 and proto[method]["frames"] == 6, name
            assert 0 < proto[method]["psnr"] <= 60
    md = out.with_suffix(".md").read_text()
    assert "Held-out animated OpenMoji emoji" in md and "Synfig's eye.sif" in md
