"""Farm chunk planning, progress formats and job generators (fast: no rendering here; the
rendering tests are in test_farm_run.py)."""

from __future__ import annotations

import io
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from core.engine.plan import Reference, plan_windows
from core.errors import InkpaintError
from core.farm import apps, deadline, flamenco, openjd
from core.farm.chunks import aligned_chunk_size, plan_chunks, split_units
from core.farm.job import JobSpec, KeySpec
from core.farm.retry import orphaned_temps, remove_orphaned_temps
from core.progress import DEADLINE_REGEX, LINE, Progress, resolve_mode

ROOT = Path(__file__).resolve().parent.parent


def inkpaint(*args, env=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)


# ---- chunk planning -------------------------------------------------------------------------

@pytest.mark.parametrize("keys", [[1001, 1024, 1048], [1010, 1030], [1048], [1001],
                                  [1001, 1002, 1003, 1040]])
@pytest.mark.parametrize("max_size", [1, 5, 6, 12, 24, 100])
def test_chunks_never_split_a_temporal_window(keys, max_size):
    window = 8  # lite: 6 in-betweens per window
    plan = plan_chunks(1001, 1048, keys, max_size, window - 2)
    covered = [f for c in plan.chunks for f in c.frames]
    assert covered == list(range(1001, 1049))  # every frame once, in order
    assert all(c.size <= max_size for c in plan.chunks)
    refs = [Reference(Path(f"k{k}.png"), k) for k in keys]
    chunk_of = {f: i for i, c in enumerate(plan.chunks) for f in c.frames}
    for w in plan_windows(range(1001, 1049), refs, window):
        if max_size >= window - 2:
            assert len({chunk_of[f] for f in w.targets}) == 1, (w.targets, plan.text())
    for c in plan.chunks:  # no chunk reaches past a key into the next unit
        unit = plan.units[c.unit]
        assert unit.start <= c.start <= c.end <= unit.end


def test_units_close_on_their_key():
    units = split_units(1001, 1048, [1001, 1024, 1048])
    assert [(u.start, u.end, u.keys) for u in units] == [
        (1001, 1001, (1001,)), (1002, 1024, (1024,)), (1025, 1048, (1048,))]
    assert units[0].key_only and not units[1].key_only
    assert [(u.start, u.end) for u in split_units(1001, 1048, [1010])] == [
        (1001, 1010), (1011, 1048)]


def test_chunk_size_is_whole_windows():
    assert aligned_chunk_size(24, 6) == 24
    assert aligned_chunk_size(20, 6) == 18
    assert aligned_chunk_size(4, 6) == 4
    assert aligned_chunk_size(20, 0) == 20
    with pytest.raises(InkpaintError, match="too small"):
        aligned_chunk_size(0, 6)
    plan = plan_chunks(1001, 1048, [1010], 4, 6)
    assert plan.notes and "smaller than one temporal window" in plan.notes[0]


def test_pickup_range_keeps_the_full_plans_cuts():
    full = plan_chunks(1001, 1048, [1001, 1024, 1048], 12, 6)
    part = plan_chunks(1001, 1048, [1001, 1024, 1048], 12, 6, frames=range(1010, 1031))
    assert [c.range for c in part.chunks] == ["1010-1013", "1014-1024", "1025-1030"]
    edges = {c.start for c in full.chunks}
    assert all(c.start in edges or c.start == 1010 for c in part.chunks)
    with pytest.raises(InkpaintError, match="not inside the shot"):
        plan_chunks(1001, 1048, [1001], 12, 6, frames=range(990, 1000))


def test_plan_rejects_bad_keys():
    with pytest.raises(InkpaintError, match="outside the shot"):
        plan_chunks(1001, 1010, [1020], 12, 6)


def test_plan_without_timed_keys_is_one_unit():
    """Model sheets only (no key in the shot), as colorize takes them: windows run from the
    shot's first frame, so the chunks do too."""
    plan = plan_chunks(1001, 1010, [], 12, 6)
    assert [(u.start, u.end) for u in plan.units] == [(1001, 1010)]
    assert [c.range for c in plan.chunks] == ["1001-1010"]
    assert "keys none" in plan.text()


# ---- progress formats -----------------------------------------------------------------------

def lines_of(mode: str, n: int = 4) -> list[str]:
    buf = io.StringIO()
    p = Progress(n, "colorize", stream=buf, mode=mode)
    for i in range(n):
        p.step(f"frame {1001 + i}")
    p.finish(f"wrote {n} frames")
    p.close()
    return buf.getvalue().splitlines()


def test_progress_formats_one_line_per_frame():
    assert lines_of("lines") == [LINE.format(pct=25.0 * i, done=i, total=4,
                                             label=f"frame {1000 + i}") for i in range(1, 5)]
    assert lines_of("deadline") == lines_of("lines")
    assert lines_of("tractor") == ["TR_PROGRESS 025%", "TR_PROGRESS 050%", "TR_PROGRESS 075%",
                                   "TR_PROGRESS 100%"]
    jd = lines_of("openjd")
    assert jd[0].startswith("openjd_status: ") and jd[-1] == "openjd_status: wrote 4 frames"
    assert jd[1:-1] == ["openjd_progress: 25.0", "openjd_progress: 50.0",
                        "openjd_progress: 75.0", "openjd_progress: 100.0"]


def test_deadline_regex_reads_the_progress_line():
    m = re.search(DEADLINE_REGEX, "inkpaint: progress 12.5% (3/24) frame 1003")
    assert m and m.groups() == ("12.5", "3", "24")
    assert re.search(DEADLINE_REGEX, "inkpaint: progress 100.0% (24/24) frame 1024")


def test_auto_mode(monkeypatch):
    monkeypatch.delenv("INKPAINT_PROGRESS", raising=False)
    monkeypatch.delenv("TR_ENV_JID", raising=False)
    assert resolve_mode("auto", io.StringIO()) == "lines"
    monkeypatch.setenv("TR_ENV_JID", "42")
    assert resolve_mode("auto", io.StringIO()) == "tractor"
    monkeypatch.setenv("INKPAINT_PROGRESS", "openjd")
    assert resolve_mode(None) == "openjd"
    assert resolve_mode("lines") == "lines"
    monkeypatch.setenv("INKPAINT_PROGRESS", "fancy")
    with pytest.raises(InkpaintError, match="INKPAINT_PROGRESS"):
        resolve_mode("auto")


def test_orphaned_temp_files_are_found_and_removed(tmp_path):
    target = tmp_path / "c.1003.png"
    old = tmp_path / ".c.1003.0123abcd.tmp.png"
    fresh = tmp_path / ".c.1003.89abcdef.tmp.png"
    other = tmp_path / ".c.1004.0123abcd.tmp.png"
    for p in (old, fresh, other):
        p.write_bytes(b"half a png")
    past = time.time() - 3600
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    assert orphaned_temps([target]) == [old]
    assert remove_orphaned_temps([target]) == 1
    assert not old.exists() and fresh.exists() and other.exists()


# ---- job generators -------------------------------------------------------------------------

@pytest.fixture
def spec(tmp_path) -> JobSpec:
    shot = tmp_path / "shot"
    keys = [KeySpec(str(shot / f"color.{f}.png"), f) for f in (1001, 1024, 1048)]
    keys.append(KeySpec(str(shot / "sheet color.png"), None, str(shot / "sheet line.png")))
    plan = plan_chunks(1001, 1048, [1001, 1024, 1048], 12, 6)
    return JobSpec(name="sh010 inkpaint", lineart=str(shot / "line.####.png"),
                   out=str(tmp_path / "out dir" / "c.####.png"), keys=keys, plan=plan,
                   size=64, env={"INKPAINT_WEIGHTS": "/farm/weights"}, options={"pool": "gpu"})


def test_openjd_template_is_valid_and_chunked(spec, tmp_path):
    pytest.importorskip("openjd.model")
    from openjd.model import DocumentType, decode_job_template, document_string_to_object

    files = openjd.write_bundle(spec, tmp_path / "bundle")
    text = files[0].read_text()
    template = decode_job_template(template=document_string_to_object(
        document=text, document_type=DocumentType.YAML), supported_extensions=["TASK_CHUNKING"])
    assert [s.name for s in template.steps] == ["Key 1001", "Colorize 1002-1024",
                                                "Colorize 1025-1048"]
    doc = yaml.safe_load(text)
    assert doc["extensions"] == ["TASK_CHUNKING"]
    step = doc["steps"][1]
    param = step["parameterSpace"]["taskParameterDefinitions"][0]
    assert param["type"] == "CHUNK[INT]" and param["range"] == "1002-1024"
    assert param["chunks"] == {"defaultTaskCount": "{{Param.ChunkSize}}",
                               "rangeConstraint": "CONTIGUOUS"}
    args = step["script"]["actions"]["onRun"]["args"]
    assert args[args.index("--frames") + 1] == "{{Task.Param.Frame}}"
    assert args[args.index("--progress") + 1] == "openjd"
    assert "sheet={{Param.Sheet1}},{{Param.Sheet1LineArt}}" in args
    values = json.loads(files[2].read_text())
    assert values["ChunkSize"] == 12 and values["Key1024"].endswith("color.1024.png")
    bundle = yaml.safe_load(files[1].read_text())["parameterValues"]
    assert {"name": "deadline:priority", "value": 50} in bundle
    assert doc["jobEnvironments"][0]["variables"] == {"INKPAINT_WEIGHTS": "/farm/weights"}


def test_deadline_job_per_unit(spec, tmp_path):
    files = deadline.write_job(spec, tmp_path / "dl")
    infos = sorted(p for p in files if p.name.startswith("job_info."))
    assert [p.name for p in infos] == ["job_info.1001-1001.job", "job_info.1002-1024.job",
                                       "job_info.1025-1048.job"]
    info = dict(ln.split("=", 1) for ln in infos[1].read_text().splitlines())
    assert info["Plugin"] == "CommandLine" and info["Frames"] == "1002-1024"
    assert info["ChunkSize"] == "12" and info["BatchName"] == "sh010 inkpaint"
    assert info["Pool"] == "gpu" and info["OutputFilename0"] == "c.####.png"
    assert info["EnvironmentKeyValue0"] == "INKPAINT_WEIGHTS=/farm/weights"
    plugin = dict(ln.split("=", 1) for ln in (tmp_path / "dl" / "plugin_info.1002-1024.job")
                  .read_text().splitlines())
    assert plugin["Executable"] == "inkpaint"  # from the node's PATH, not this desk's venv
    assert "--frames <STARTFRAME>-<ENDFRAME>" in plugin["Arguments"]
    assert "--progress deadline" in plugin["Arguments"]
    assert '"' + spec.out + '"' in plugin["Arguments"]  # a path with a space stays one argument
    submit = (tmp_path / "dl" / "submit_args.txt").read_text().splitlines()
    assert submit[0] == "-SubmitMultipleJobs" and submit.count("-job") == 3
    py_compile.compile(str(tmp_path / "dl" / "Inkpaint" / "Inkpaint.py"), doraise=True)
    assert DEADLINE_REGEX in (tmp_path / "dl" / "Inkpaint" / "Inkpaint.py").read_text()


def test_opencue_outline_serialises(spec, tmp_path):
    pytest.importorskip("outline")
    from core.farm import opencue

    xml = opencue.write_job(spec, tmp_path / "cue")[0].read_text()
    layers = re.findall(r'<layer name="([^"]+)" type="Render">', xml)
    assert layers == ["key_1001_1001", "colorize_1002_1024", "colorize_1025_1048"]
    assert re.findall(r"<range>([^<]+)</range>", xml) == ["1001-1001", "1002-1024", "1025-1048"]
    assert re.findall(r"<chunk>([^<]+)</chunk>", xml) == ["12", "12", "12"]
    assert "--frames '#FRAME_START#-#FRAME_END#'" in xml
    assert "&apos;" in xml or "'" + spec.out + "'" in xml  # quoted for RQD's shell
    assert '<key name="INKPAINT_WEIGHTS">/farm/weights</key>' in xml


def test_opencue_owner_is_the_account_or_refused(spec, tmp_path, monkeypatch):
    pytest.importorskip("outline")
    import getpass

    from core.farm import opencue

    monkeypatch.delenv("USER", raising=False)
    monkeypatch.delenv("LOGNAME", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "ann")
    xml = opencue.write_job(spec, tmp_path / "cue")[0].read_text()
    assert "<user>ann</user>" in xml and "<email>" not in xml
    assert sorted(p.name for p in (tmp_path / "cue").iterdir()) == [f"{spec.slug}.cuejob.xml"]

    def no_user():
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_user)
    with pytest.raises(InkpaintError, match="pass --user NAME"):
        opencue.write_job(spec, tmp_path / "cue2")
    assert not (tmp_path / "cue2").exists()
    spec.options["user"] = "bob"
    assert "<user>bob</user>" in opencue.write_job(spec, tmp_path / "cue3")[0].read_text()


def test_deadline_failures_repeat_the_error_on_stdout():
    from core.progress import DEADLINE_ERROR_REGEX, fail_line

    line = fail_line("deadline", "key file /k.png\n does not exist")
    assert re.search(DEADLINE_ERROR_REGEX, line).group(1) == "key file /k.png does not exist"
    assert fail_line("lines", "x") is None


def test_job_names_come_from_the_shot_not_the_folder(tmp_path):
    from core.commands.farm import job_name
    from core.frames import FrameSequence

    names = set()
    for shot in ("sh010", "sh020"):
        folder = tmp_path / shot / "lineart"
        folder.mkdir(parents=True)
        (folder / "line.1001.png").write_bytes(b"")
        names.add(job_name(FrameSequence(folder / "line.####.png")))
    assert names == {"inkpaint sh010/lineart/line", "inkpaint sh020/lineart/line"}


NODE_HARNESS = r"""
const fs = require("fs");
const src = fs.readFileSync(process.argv[2], "utf8");
const job = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const tasks = [];
const author = {
  Task: (name, type) => ({ name, type, commands: [],
                           addCommand(c) { this.commands.push(c); } }),
  Command: (type, params) => ({ type, params }),
};
function frameChunker(frames, size) {  // Flamenco's, for a plain A-B range
  const [a, b] = frames.split("-").map(Number); const out = [];
  for (let s = a; s <= b; s += size) out.push(`${s}-${Math.min(s + size - 1, b)}`);
  return out;
}
const print = () => {};
job.addTask = (t) => tasks.push(t);
const compileJob = new Function("author", "frameChunker", "print", "job",
                                src + "\nreturn compileJob(job);");
compileJob(author, frameChunker, print, job);
console.log(JSON.stringify(tasks));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("planned", [True, False])
def test_flamenco_job_type_compiles_the_planned_chunks(spec, tmp_path, planned):
    js, body = flamenco.write_job(spec, tmp_path / "fl")
    subprocess.run(["node", "--check", str(js)], check=True, capture_output=True)
    job = json.loads(body.read_text())
    assert job["type"] == "inkpaint-colorize"
    if not planned:
        job["settings"]["chunks"] = ""
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "harness.js").write_text(NODE_HARNESS)
    r = subprocess.run(["node", str(tmp_path / "harness.js"), str(js), str(tmp_path / "job.json")],
                       capture_output=True, text=True, check=True)
    tasks = json.loads(r.stdout)
    want = ([c.range for c in spec.plan.chunks] if planned
            else ["1001-1012", "1013-1024", "1025-1036", "1037-1048"])
    assert [t["name"] for t in tasks] == [f"colorize-{w}" for w in want]
    cmd = tasks[1]["commands"][0]
    assert cmd["type"] == "exec" and cmd["params"]["exe"] == "inkpaint"
    assert cmd["params"]["args"] == spec.command[1:] + spec.colorize_args(want[1], "lines")
    assert tasks[0]["type"] == "misc"


def test_blender_and_nuke_command_lines(spec, tmp_path):
    files = apps.write_commands(spec, tmp_path / "bl", "blender", "/opt/blender/blender")
    tasks = json.loads(files[-1].read_text())["tasks"]
    assert [t["frames"] for t in tasks] == [c.range for c in spec.plan.chunks]
    argv = tasks[1]["argv"]
    assert argv[:5] == ["/opt/blender/blender", "-b", "--python-exit-code", "1", "--python-expr"]
    assert "bl_ext.user_default.inkpaint.core.cli" in argv[5]
    assert repr(spec.colorize_args("1002-1013", "lines")) in argv[5]
    compile(argv[5], "<python-expr>", "exec")
    files = apps.write_commands(spec, tmp_path / "nk", "nuke", "Nuke15.1")
    script = tmp_path / "nk" / "inkpaint_nuke_task.py"
    py_compile.compile(str(script), doraise=True)
    argv = json.loads(files[-1].read_text())["tasks"][0]["argv"]
    assert argv[:3] == ["Nuke15.1", "-t", str(script)]
    assert argv[3:] == spec.colorize_args("1001-1001", "lines")
    assert "inkpaint_nuke.core" in script.read_text()
    files = apps.write_commands(spec, tmp_path / "comp", "nuke", comp="/shots/sh010/comp.nk")
    argv = json.loads(files[-1].read_text())["tasks"][1]["argv"]
    assert argv[1:] == ["-t", str(tmp_path / "comp" / "inkpaint_nuke_task.py"), "comp",
                        "/shots/sh010/comp.nk", "--frames", "1002-1013"]


def test_nuke_task_script_runs_the_engine_or_the_comp_entry(tmp_path):
    """The generated task script, run by a plain Python with a stand-in inkpaint_nuke."""
    pkg = tmp_path / "plugin" / "inkpaint_nuke"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "farm.py").write_text("def main(argv):\n    print('farm', argv)\n    return 3\n")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "cli.py").write_text("def main(argv):\n    print('cli', argv)\n"
                                         "    return 0\n")
    (pkg / "core" / "__main__.py").write_text("import sys\nfrom .cli import main\n"
                                              "sys.exit(main(sys.argv[1:]))\n")
    script = tmp_path / "task.py"
    script.write_text(apps.NUKE_TASK_PY)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "plugin")}
    env.pop("INKPAINT_PYTHON", None)
    run = [sys.executable, str(script)]
    r = subprocess.run([*run, "comp", "a.nk", "--frames", "1-2"], env=env, capture_output=True,
                       text=True)
    assert r.returncode == 3 and "farm ['a.nk', '--frames', '1-2']" in r.stdout
    r = subprocess.run([*run, "colorize", "--frames", "1-2"], env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0 and "cli ['colorize', '--frames', '1-2']" in r.stdout
    r = subprocess.run([*run, "colorize", "--frames", "1-2"], capture_output=True, text=True,
                       env={**env, "INKPAINT_PYTHON": sys.executable})
    assert r.returncode == 0 and "cli ['colorize', '--frames', '1-2']" in r.stdout


# ---- the commands, as a user runs them ------------------------------------------------------

@pytest.fixture(scope="module")
def small_shot(tmp_path_factory):
    from tests.conftest import write_shot

    folder = tmp_path_factory.mktemp("farmshot")
    return write_shot(folder, frames=48, size=32) | {"dir": folder}


def key_args(shot, frames=(1001, 1024, 1048)):
    return [a for f in frames for a in ("--ref", f"{f}={shot['dir'] / f'color.{f}.png'}")]


def test_farm_plan_cli_json(small_shot):
    r = inkpaint("farm", "plan", "--lineart", small_shot["lineart"], *key_args(small_shot),
                 "--chunk-size", 12, "--temporal", "--format", "json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert [c["frames"] for c in plan["chunks"]] == ["1001-1001", "1002-1013", "1014-1024",
                                                     "1025-1036", "1037-1048"]
    assert plan["temporal_window"] == 6 and plan["chunk_size"] == 12
    r = inkpaint("farm", "plan", "--lineart", small_shot["lineart"], *key_args(small_shot),
                 "--chunk-size", 20, "--no-temporal")
    assert r.returncode == 0 and "chunk 1002-1021" in r.stdout


@pytest.mark.parametrize("bad", ["missing key", "key outside", "no keys"])
def test_farm_submit_bad_input_is_one_line(small_shot, tmp_path, bad):
    keys = key_args(small_shot)
    if bad == "missing key":
        keys = ["--ref", f"1001={small_shot['dir'] / 'nope.png'}"]
    elif bad == "key outside":
        keys = ["--ref", f"2000={small_shot['dir'] / 'color.1001.png'}"]
    elif bad == "no keys":
        keys = []
    r = inkpaint("farm", "submit", "--farm", "deadline", "--lineart", small_shot["lineart"],
                 *keys, "--out", tmp_path / "o.####.png", "--job-dir", tmp_path / "job")
    assert r.returncode == 1
    assert [ln for ln in r.stderr.splitlines() if ln.strip()][-1].startswith("inkpaint: error:")
    assert not (tmp_path / "job").exists()


def test_farm_submit_writes_job_and_submits_with_the_farm_tool(small_shot, tmp_path):
    """--submit hands the files to the farm's own tool (a stand-in deadlinecommand here)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "deadlinecommand"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'called.txt'}\necho Result=Success\n")
    fake.chmod(0o755)
    r = inkpaint("farm", "submit", "--farm", "deadline", "--lineart", small_shot["lineart"],
                 *key_args(small_shot), "--out", tmp_path / "o.####.png",
                 "--job-dir", tmp_path / "job", "--submit",
                 env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert r.returncode == 0, r.stderr
    assert "Result=Success" in r.stdout
    assert (tmp_path / "called.txt").read_text().strip() == str(tmp_path / "job" /
                                                                "submit_args.txt")


def test_flamenco_submit_posts_the_job(spec):
    """--submit for Flamenco: POST /api/v3/jobs to the Manager (a loopback stand-in here)."""
    import http.server
    import threading

    got = {}

    class Manager(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            got["path"] = self.path
            got["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = json.dumps({"id": "job-123"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Manager)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        answer = flamenco.submit(spec, f"http://127.0.0.1:{server.server_port}", timeout=10)
    finally:
        thread.join(10)
        server.server_close()
    assert answer == {"id": "job-123"} and got["path"] == "/api/v3/jobs"
    assert got["body"]["type"] == "inkpaint-colorize"
    assert got["body"]["settings"]["chunks"] == ",".join(c.range for c in spec.plan.chunks)
    with pytest.raises(InkpaintError, match="cannot reach Flamenco Manager"):
        flamenco.submit(spec, f"http://127.0.0.1:{server.server_port}", timeout=2)
