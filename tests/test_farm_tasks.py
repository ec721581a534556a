"""Every farm kind's generated task, executed as that farm executes it: the exact command its
job files carry, on a PATH like a farm node's (``inkpaint`` installed, ``nuke`` and
``blender`` being the hosts with the built plugin and extension installed).

- Deadline: ``Executable`` + ``Arguments`` of each ``plugin_info`` file with Deadline's
  ``<STARTFRAME>``/``<ENDFRAME>`` filled per task; progress and errors are read from stdout
  with the regexes the generated plugin registers (its handlers see nothing else);
- OpenCue: each layer's ``<cmd>`` with Cue's ``#FRAME_START#``/``#FRAME_END#`` filled, in a
  shell as RQD runs it;
- Flamenco: the job type compiled by node (as the Manager's goja runs it) and each task's
  ``exec`` command run as the Worker runs it: ``exe`` with ``args``, no shell;
- Nuke: ``nuke_tasks.sh``, with ``nuke`` the fake nuke's terminal mode over the plugin as
  ``build.py dist`` zips it, in ``python -S`` with only site-packages on the path, so the
  checkout's ``core`` (the editable install) cannot stand in for what the zip lacks;
- Blender: ``blender_tasks.sh``, with ``blender`` the ``bpy`` wheel's Python (.venv-bpy50)
  and the built extension installed in its ``user_default`` repository.
(OpenJD runs under ``openjd run`` in test_farm_run.py.)
"""

from __future__ import annotations

import ast
import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest

import build
from core.frames import FrameSequence
from core.imageio import read_color
from tests.conftest import write_shot
from tests.test_farm import NODE_HARNESS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
FIRST, LAST, KEYS = 1001, 1010, (1001, 1010)
BPY_VENV = ROOT / ".venv-bpy50"
SITE = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})


@pytest.fixture(scope="module")
def node(tmp_path_factory, lite_weights):
    """A farm node: the shot on shared storage, weights with their ONNX exports, ``inkpaint``
    (this venv's console script) and stand-ins for ``nuke`` and ``blender`` on PATH."""
    from core.engine.export import export_onnx

    root = tmp_path_factory.mktemp("farmnode")
    shot_dir = root / "shows" / "sh010" / "lineart"
    write_shot(shot_dir, frames=LAST - FIRST + 1, size=32)
    weights = root / "weights"
    weights.mkdir()
    for f in (lite_weights, lite_weights.with_suffix(".yaml")):
        shutil.copy2(f, weights / f.name)
    export_onnx(str(weights / lite_weights.name))
    bin_dir = root / "bin"
    bin_dir.mkdir()

    # Nuke: the plugin as dist zips it, unzipped where NUKE_PATH points
    plugin_zip = build.build_nuke_plugin(root / "dist", [weights / lite_weights.name])
    with zipfile.ZipFile(plugin_zip) as z:
        z.extractall(root / "nuke")
    plugin = root / "nuke" / "inkpaint"
    assert (plugin / "inkpaint_nuke" / "core" / "cli.py").is_file()
    assert not (plugin / "inkpaint_nuke" / "core" / "eval").exists()
    path = os.pathsep.join([str(ROOT / "tests" / "fake_nuke"), str(plugin), *SITE])
    _script(bin_dir / "nuke", f'[ "$1" = "-t" ] && shift\nPYTHONPATH={shlex.quote(path)} '
                              f'exec {shlex.quote(sys.executable)} -S "$@"')

    if (BPY_VENV / "bin" / "python").exists():
        home = root / "home"
        bpy = str(BPY_VENV / "bin" / "python")
        repo = subprocess.run([bpy, "-c", "import bpy; print(bpy.utils.user_resource("
                               "'EXTENSIONS', path='user_default'))"], env={**os.environ,
                              "HOME": str(home)}, capture_output=True, text=True, check=True,
                              timeout=300).stdout.strip().splitlines()[-1]
        build.build_extension(Path(repo) / "inkpaint", weights, with_wheels=False)
        shim = root / "blender_shim.py"
        shim.write_text(BLENDER_SHIM)
        _script(bin_dir / "blender",
                f"HOME={shlex.quote(str(home))} exec {shlex.quote(bpy)} {shlex.quote(str(shim))} "
                '"$@"')

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "INKPAINT_PYTHON")}
    env.update(PATH=os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent),
                                     env.get("PATH", "")]),
               OMP_NUM_THREADS="1", INKPAINT_WEIGHTS=str(weights))
    return {"root": root, "lineart": str(shot_dir / "line.####.png"), "dir": shot_dir,
            "weights": weights / lite_weights.name, "env": env}


# ``blender -b --python-exit-code 1 --python-expr EXPR`` in the bpy wheel: Blender's Python
# with bpy imported, EXPR run as __main__, an uncaught exception exits 1.
BLENDER_SHIM = '''import sys
args = sys.argv[1:]
assert args[:4] == ["-b", "--python-exit-code", "1", "--python-expr"], args
import bpy  # noqa: F401
exec(compile(args[4], "<python-expr>", "exec"), {"__name__": "__main__"})
'''


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def submit(node, farm: str, out: Path, *extra: str) -> Path:
    job = out.parent / f"job-{farm}"
    keys = [a for f in KEYS for a in ("--ref", f"{f}={node['dir'] / f'color.{f}.png'}")]
    r = subprocess.run(["inkpaint", "farm", "submit", "--farm", farm, "--lineart",
                        node["lineart"], *keys, "--out", str(out), "--model",
                        str(node["weights"]), "--size", "32", "--job-dir", str(job), *extra],
                       env=node["env"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{farm} job 'inkpaint sh010/lineart/line'" in r.stdout
    return job


def assert_frames(out: Path, frames: range) -> None:
    seq = FrameSequence(out)
    assert seq.frames == list(frames)
    for f in frames:
        rgb, _ = read_color(seq.path(f))
        assert rgb.shape == (32, 32, 3) and np.isfinite(rgb).all()


def run_task(argv, node, shell=False) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=node["env"], capture_output=True, text=True, timeout=600,
                          shell=shell, cwd=node["root"])


def _deadline_tasks(job: Path) -> list[tuple[list[str], int, int]]:
    """(argv, start, end) of every task, cut as Deadline cuts Frames by ChunkSize."""
    tasks = []
    for info in sorted(job.glob("job_info.*.job")):
        ji = dict(ln.split("=", 1) for ln in info.read_text().splitlines())
        pi = dict(ln.split("=", 1) for ln in (job / info.name.replace("job_info", "plugin_info"))
                  .read_text().splitlines())
        a, b = map(int, ji["Frames"].split("-"))
        for s in range(a, b + 1, int(ji["ChunkSize"])):
            e = min(s + int(ji["ChunkSize"]) - 1, b)
            args = pi["Arguments"].replace("<STARTFRAME>", str(s)).replace("<ENDFRAME>", str(e))
            tasks.append(([pi["Executable"], *shlex.split(args)], s, e))
    return tasks


def _plugin_regexes(job: Path) -> tuple[str, str]:
    tree = ast.parse((job / "Inkpaint" / "Inkpaint.py").read_text())
    found = {t.targets[0].id: t.value.value for t in tree.body
             if isinstance(t, ast.Assign) and isinstance(t.value, ast.Constant)}
    return found["PROGRESS_REGEX"], found["ERROR_REGEX"]


def test_deadline_tasks_run_and_the_plugin_sees_progress_and_errors(node, tmp_path):
    out = tmp_path / "out" / "c.####.png"
    job = submit(node, "deadline", out, "--deadline-plugin", "Inkpaint", "--chunk-size", "6")
    progress_re, error_re = _plugin_regexes(job)
    tasks = _deadline_tasks(job)
    assert [(s, e) for _, s, e in tasks] == [(1001, 1001), (1002, 1007), (1008, 1010)]
    assert tasks[0][0][0] == "inkpaint"  # what the node has on PATH, not this desk's venv
    for argv, s, e in tasks:
        r = run_task(argv, node)
        assert r.returncode == 0, r.stderr[-3000:]
        seen = [m.groups() for m in map(re.compile(progress_re).search, r.stdout.splitlines())
                if m]
        n = e - s + 1
        assert seen[-1] == ("100.0", str(n), str(n)) and len(seen) == n
    assert_frames(out, range(FIRST, LAST + 1))
    # a key that went missing after submission: the error reaches the plugin on stdout
    shutil.copy2(node["dir"] / "color.1010.png", tmp_path / "saved.png")
    (node["dir"] / "color.1010.png").unlink()
    try:
        r = run_task([*tasks[1][0], "--overwrite"], node)
    finally:
        shutil.copy2(tmp_path / "saved.png", node["dir"] / "color.1010.png")
    assert r.returncode == 1
    errors = [m.group(1) for m in map(re.compile(error_re).search, r.stdout.splitlines()) if m]
    assert errors and "color.1010.png" in errors[0]


def test_opencue_layer_commands_run_in_a_shell(node, tmp_path):
    pytest.importorskip("outline")
    out = tmp_path / "out" / "c.####.png"
    job = submit(node, "opencue", out, "--user", "ann")
    assert not (job / "sessions").exists()
    xml = next(job.glob("*.cuejob.xml")).read_text()
    assert "<user>ann</user>" in xml and "<email>" not in xml  # no made-up address
    layers = re.findall(r"<cmd>([^<]+)</cmd><range>([^<]+)</range><chunk>(\d+)</chunk>", xml)
    assert len(layers) == 2
    for cmd, frames, chunk in layers:
        a, b = map(int, frames.split("-"))
        for s in range(a, b + 1, int(chunk)):
            e = min(s + int(chunk) - 1, b)
            line = html.unescape(cmd).replace("#FRAME_START#", str(s)).replace(
                "#FRAME_END#", str(e))
            r = run_task(line, node, shell=True)
            assert r.returncode == 0, r.stderr[-3000:]
    assert_frames(out, range(FIRST, LAST + 1))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_flamenco_exec_commands_run_as_the_worker_runs_them(node, tmp_path):
    out = tmp_path / "out" / "c.####.png"
    job = submit(node, "flamenco", out)
    (tmp_path / "harness.js").write_text(NODE_HARNESS)
    r = subprocess.run(["node", str(tmp_path / "harness.js"), str(job / "inkpaint-colorize.js"),
                        str(job / "job.json")], capture_output=True, text=True, check=True)
    tasks = json.loads(r.stdout)
    assert [t["name"] for t in tasks] == ["colorize-1001-1001", "colorize-1002-1010"]
    for task in tasks:
        for cmd in task["commands"]:
            # Flamenco 3's worker: command "exec", parameters "exe" (string), "args" (strings)
            assert cmd["type"] == "exec" and set(cmd["params"]) == {"exe", "args"}
            assert all(isinstance(a, str) for a in cmd["params"]["args"])
            r = run_task([cmd["params"]["exe"], *cmd["params"]["args"]], node)
            assert r.returncode == 0, r.stderr[-3000:]
    assert_frames(out, range(FIRST, LAST + 1))


def _sh_tasks(job: Path, app: str) -> list[str]:
    lines = (job / f"{app}_tasks.sh").read_text().splitlines()
    return [ln for ln in lines if ln and not ln.startswith("#")]


@pytest.mark.parametrize("app", ["nuke", pytest.param("blender", marks=pytest.mark.blender)])
def test_host_tasks_run_the_bundled_engine(node, tmp_path, app):
    """Nuke: the zipped plugin's vendored core; Blender: the installed extension's."""
    if app == "blender" and not (BPY_VENV / "bin" / "python").exists():
        pytest.skip(f"{BPY_VENV.name} is absent: python3 build.py test creates it")
    out = tmp_path / "out" / "c.####.png"
    job = submit(node, app, out)
    tasks = _sh_tasks(job, app)
    assert len(tasks) == 2 and all(t.startswith({"nuke": "nuke -t ", "blender": "blender -b "}
                                                [app]) for t in tasks)
    for line in tasks:
        r = run_task(line, node, shell=True)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
        assert "inkpaint: progress 100.0%" in r.stderr
    assert_frames(out, range(FIRST, LAST + 1))


def test_vendored_cli_starts_without_the_checkout(node, tmp_path):
    """The engine as the Nuke zip vendors it, in ``python -S`` with site-packages only: every
    subcommand parses, and the development-only ones say in one line what they need."""
    plugin = node["root"] / "nuke" / "inkpaint"
    env = {**node["env"], "PYTHONPATH": os.pathsep.join([str(plugin), *SITE])}
    run = [sys.executable, "-S", "-m", "inkpaint_nuke.core"]
    r = subprocess.run([*run, "--help"], env=env, capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    commands = re.search(r"\{([a-z,-]+)\}", r.stdout).group(1).split(",")
    assert {"colorize", "farm", "review", "bench-compose", "train"} <= set(commands)
    for c in commands:
        r = subprocess.run([*run, c, "--help"], env=env, capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)
        assert r.returncode == 0, (c, r.stderr)
    r = subprocess.run([*run, "bench-compose", "--frames", "1"], env=env, capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "inkpaint: error: 'bench-compose' needs a full Inkpaint install (pip install inkpaint):"
        " the Blender and Nuke plugins bundle only what colouring needs"]
