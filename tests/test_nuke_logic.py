"""The Nuke adapter's pure logic (no nuke, no engine run): knob parsing, frame lists, the
Write nodes a run creates, the job file, colour settings, progress lines, and that the code
Nuke runs is Python 3.7 (Nuke 13) syntax."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

from core.engine.plan import Reference, plan_windows
from core.progress import LINE
from tests.fake_nuke import PLUGIN

sys.path.insert(0, str(PLUGIN))

from inkpaint_nuke import job  # noqa: E402

NUKE_SIDE = sorted(PLUGIN.rglob("*.py"))


def _settings(**over):
    values = {"ref_frames": "1001,1024", "model": "lite", "k": 2, "temporal": True}
    values.update(over)
    return job.read_settings(values)


def test_reference_frames_parse_in_any_separator_and_order():
    assert job.parse_ref_frames("1048, 1001 1024") == [1001, 1024, 1048]
    assert job.parse_ref_frames(" 7 ") == [7]
    for bad, words in [("", "no reference frames"), ("1001,abc", "'abc' is not a frame"),
                       ("1001,1001", "listed twice")]:
        with pytest.raises(job.UserError, match=words):
            job.parse_ref_frames(bad)


def test_frame_range_knob():
    assert job.parse_frame_range("") is None
    assert job.parse_frame_range("1001-1048") == (1001, 1048)
    assert job.parse_frame_range(" 1010 ") == (1010, 1010)
    for bad in ("1048-1001", "a-b", "1001-"):
        with pytest.raises(job.UserError):
            job.parse_frame_range(bad)


def test_settings_defaults_enums_and_errors():
    s = job.read_settings({"ref_frames": "1001", "backend": 2, "device": "cuda", "size": "0"})
    assert (s.model, s.backend, s.device, s.k, s.temporal, s.size) == \
        ("lite", "onnx", "cuda", 2, False, None)
    assert _settings(size=64, temporal=False).size == 64
    for over, words in [({"k": 0}, "K"), ({"size": 16}, "too small"),
                        ({"backend": "tensorrt"}, "use one of auto, torch, onnx"),
                        ({"k": "two"}, "whole number")]:
        with pytest.raises(job.UserError, match=words):
            _settings(**over)


def test_frame_runs_and_format():
    assert job.frame_runs([5, 1, 2, 3, 9, 8]) == [(1, 3), (5, 5), (8, 9)]
    assert job.format_frames([1001, 1002, 1003, 1010]) == "1001-1003, 1010"


def _engine_reads(shot, refs, wanted, window=8):
    """The line-art frames the engine's Colorizer reads for ``wanted`` (its preflight)."""
    frames = list(range(shot[0], shot[1] + 1))
    references = [Reference(Path(f"c{f}.png"), f) for f in refs]
    needed = set(wanted) | set(refs)
    for w in plan_windows(frames, references, window):
        if set(w.targets) & set(wanted):
            needed |= set(w.frames) | set(w.targets)
    return needed


@pytest.mark.parametrize("wanted", [range(1001, 1049), range(1010, 1014), range(1030, 1031),
                                    range(1040, 1049), range(1001, 1003)])
def test_lineart_frames_hold_every_frame_the_engine_reads(wanted):
    shot, refs = (1001, 1048), [1005, 1024, 1040]
    ours = set(job.lineart_frames(shot, refs, list(wanted)))
    assert _engine_reads(shot, refs, list(wanted)) <= ours
    # ...and no more than the segments around the chunk
    assert ours <= set(range(shot[0], shot[1] + 1))
    if list(wanted) == list(range(1010, 1014)):
        assert ours == set(range(1005, 1025)) | {1040}


def test_plan_makes_two_writes_and_a_job(tmp_path):
    settings = _settings(ref_frames="1001,1006", k=3, size=64)
    plan = job.plan_run(settings, "InkpaintColorize1", (1001, 1010), str(tmp_path),
                        frames=(1002, 1004), overwrite=False, lineart_alpha=True)
    line, refs = plan.writes
    # both render the gizmo's own sRGB conversions, raw, as 16-bit PNG
    assert (line.role, line.source, refs.role, refs.source) == \
        ("lineart", "LineToSRGB", "refs", "RefsToSRGB")
    for w in (line, refs):
        assert w.knobs["file_type"] == "png" and w.knobs["datatype"] == "16 bit"
        assert w.knobs["raw"] is True
    assert line.knobs["channels"] == "rgba"
    assert refs.knobs["channels"] == "rgb"  # refs_alpha False: never write a fake alpha
    assert line.frames == list(range(1001, 1007)) and refs.frames == [1001, 1006]
    assert refs.runs == [(1001, 1001), (1006, 1006)]
    assert line.path.endswith("InkpaintColorize1/run.1002-1004/line.####.png")
    j = plan.job
    assert j["frames"] == [1002, 1003, 1004] and j["shot"] == [1001, 1010]
    assert [r["frame"] for r in j["refs"]] == [1001, 1006]
    assert j["refs"][0]["color"].endswith("run.1002-1004/ref.1001.png")
    assert j["out"].endswith("InkpaintColorize1/colour.####.exr")
    assert (j["k"], j["size"], j["overwrite"], j["version"]) == (3, 64, False, job.JOB_VERSION)
    assert "colour" not in j  # the worker never converts colour
    assert job.result_knobs(plan) == {"result_file": j["out"], "result_first": 1001,
                                      "result_last": 1010, "result_ready": True}


@pytest.mark.parametrize("refs,frames,words", [
    ("1001,1020", None, "reference frame 1020 is outside"),
    ("1001", (1000, 1005), "frames 1000-1005 are outside"),
])
def test_plan_refuses_frames_outside_the_input(tmp_path, refs, frames, words):
    with pytest.raises(job.UserError, match=words):
        job.plan_run(_settings(ref_frames=refs), "N", (1001, 1010), str(tmp_path),
                     frames=frames)


def test_cache_root():
    assert job.cache_root("/jobs/cache", "/shots/a.nk", "/tmp") == "/jobs/cache"
    assert job.cache_root("", "/shots/sh010_comp_v3.nk", "/tmp") == \
        os.path.join("/shots", "inkpaint_cache", "sh010_comp_v3")
    assert job.cache_root("", "", "/tmp") == os.path.join("/tmp", "inkpaint_cache", "untitled")


def test_srgb_candidates():
    assert job.srgb_candidates("") == list(job.SRGB_NAMES)
    assert job.srgb_candidates("Output - sRGB") == ["Output - sRGB"]


def test_progress_and_error_lines_are_the_engines():
    line = LINE.format(pct=12.5, done=3, total=24, label="frame 1003")
    assert job.parse_progress(line) == (12.5, 3, 24, "frame 1003")
    assert job.parse_progress("inkpaint: wrote 24 frames") is None
    assert job.parse_error("inkpaint: error: weights file x not found") == \
        "weights file x not found"


def test_status_line():
    plan = job.plan_run(_settings(), "N", (1001, 1030), "/c")
    assert job.status_done(plan, "/w/lite.safetensors", 41.6) == \
        "coloured 1001-1030 (30 frames, lite) in 42 s"
    scores = {1001: 1.0, 1002: 0.3, 1003: 0.49, 1004: 0.5, 1010: 0.1}
    assert job.status_done(plan, "lite", 41.6, scores) == \
        "coloured 1001-1030 (30 frames, lite) in 42 s; review 1002-1003, 1010"
    assert job.review_text(scores) == "3 frames below 0.50 confidence: 1002-1003, 1010"
    assert job.review_text({1001: 0.9}) == "no frame below 0.50 confidence"
    assert job.review_text({}) == ""


def test_confidence_lines_are_the_engines_and_so_is_the_review_level():
    from core.compose.composer import FLAGGED
    from core.compose.review import summary_line

    assert job.REVIEW_BELOW == FLAGGED
    assert job.parse_confidence(summary_line(1003, 0.4271, "2 of 41 regions below 0.50")) == \
        (1003, 0.43)
    assert job.parse_confidence(LINE.format(pct=1, done=1, total=2, label="frame 1")) is None


def test_cattery_knobs():
    assert job.cattery_size("256") == 256
    with pytest.raises(job.UserError):
        job.cattery_size(8)
    # each conversion node has one side on the input colour space and one on sRGB
    assert sorted(n for n, _ in job.CATTERY_COLOURSPACE_KNOBS) == \
        sorted(n for n, _ in job.CATTERY_SRGB_KNOBS)
    assert set(job.CATTERY_COLOURSPACE_KNOBS).isdisjoint(job.CATTERY_SRGB_KNOBS)


# ---- the code that runs inside Nuke -----------------------------------------------------------


class _Py38Plus(ast.NodeVisitor):
    """Syntax ast.parse(feature_version=(3, 7)) accepts but Python 3.7 cannot run: builtin
    generics (list[int]) and X | Y unions evaluated at runtime."""

    def __init__(self):
        self.found = []

    def visit_Subscript(self, node):  # noqa: N802
        if isinstance(node.value, ast.Name) and node.value.id in ("list", "dict", "tuple",
                                                                    "set", "type"):
            self.found.append(f"line {node.lineno}: {node.value.id}[...]")
        self.generic_visit(node)

    def visit_BinOp(self, node):  # noqa: N802
        if isinstance(node.op, ast.BitOr) and any(
                isinstance(s, ast.Constant) and s.value is None for s in (node.left, node.right)):
            self.found.append(f"line {node.lineno}: X | None")
        self.generic_visit(node)


@pytest.mark.parametrize("path", NUKE_SIDE, ids=lambda p: str(p.relative_to(PLUGIN)))
def test_nuke_side_is_python_3_7(path):
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path), feature_version=(3, 7))
    visitor = _Py38Plus()
    visitor.visit(tree)
    assert not visitor.found, f"{path.name}: {visitor.found}"
    assert "from __future__ import annotations" not in source


def test_the_python_3_7_check_catches_3_8_syntax():
    with pytest.raises(SyntaxError):
        ast.parse("if (n := 3):\n    pass\n", feature_version=(3, 7))
    visitor = _Py38Plus()
    visitor.visit(ast.parse("x: list[int] = []\ny = int | None\n"))
    assert len(visitor.found) == 2


@pytest.mark.parametrize("name", ["job", "worker", "runner", "_core"])
def test_logic_modules_do_not_import_nuke(name):
    tree = ast.parse((PLUGIN / "inkpaint_nuke" / f"{name}.py").read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert "nuke" not in imported and "nukescripts" not in imported


def _python37():
    """A real Python 3.7 (Nuke 13's), if this machine has one: $INKPAINT_PYTHON37 or pyenv's."""
    candidates = [os.environ.get("INKPAINT_PYTHON37", "")]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.7*/bin/python"))
    return next((c for c in candidates if c and os.path.isfile(c)), None)


@pytest.mark.skipif(_python37() is None, reason="no Python 3.7 interpreter here")
def test_a_real_python_3_7_compiles_the_plugin_and_runs_its_logic():
    import subprocess

    script = (
        "import pathlib, sys\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).rglob('*.py')):\n"
        "    compile(p.read_text(encoding='utf-8'), str(p), 'exec')\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from inkpaint_nuke import job, runner\n"
        "s = job.read_settings({'ref_frames': '1001,1010', 'k': 2})\n"
        "plan = job.plan_run(s, 'N', (1001, 1020), '/tmp/cache')\n"
        "print(plan.writes[0].runs, job.status_done(plan, 'lite', 3))\n"
    )
    out = subprocess.run([_python37(), "-B", "-c", script, str(PLUGIN)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[(1001, 1020)] coloured 1001-1020 (20 frames, lite) in 3 s"
