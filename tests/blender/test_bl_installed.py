"""The built extension zip, installed the way an artist installs it (Preferences > Get
Extensions > Install from Disk, which is ``extensions.package_install_files``), into a Blender
whose Python has none of the engine's packages: Blender unpacks the zip's own wheels, and
only those can be imported. It then colours the Grease Pencil shot whose strokes move 11.6 px
a frame, every frame checked against its own drawing.

The run is a child ``python -S`` (no site-packages at all) that sees only a folder of links
to bpy and the packages bpy itself requires, in a throw-away Blender user folder; nothing of
this venv's onnxruntime, OpenCV, PyYAML or OpenEXR, and no checkout on sys.path, can be lent
to it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _requirement_names(dist: str) -> list[str]:
    names = []
    for req in importlib.metadata.requires(dist) or []:
        if "extra ==" not in req:
            names.append(re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0])
    return names


def bare_site(dest: Path) -> Path:
    """``dest`` holding links to bpy and (recursively) its requirements, nothing else."""
    dest.mkdir()
    todo, seen = ["bpy"], set()
    while todo:
        name = todo.pop()
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        dist = importlib.metadata.distribution(name)
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            src = Path(dist.locate_file(top))
            if src.exists() and not (dest / top).exists() and top not in ("..", "bin"):
                (dest / top).symlink_to(src)
        todo += _requirement_names(name)
    return dest


def test_installed_zip_colours_a_moving_gp_shot(ext_zip, weights, tmp_path, record_property):
    site = bare_site(tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "INKPAINT"))}
    env.update(BLENDER_USER_RESOURCES=str(tmp_path / "user"), PYTHONNOUSERSITE="1",
               PYTHONDONTWRITEBYTECODE="1")
    (tmp_path / "shot").mkdir()
    run = subprocess.run([sys.executable, "-S", str(HERE / "bl_installed_run.py"), str(site),
                          str(ext_zip), str(tmp_path / "shot")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    output = run.stdout[-8000:] + run.stderr[-8000:]
    assert run.returncode == 0, output
    (line,) = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
    result = json.loads(line[len("RESULT "):])
    for key, value in result.items():
        record_property(key, value)
    record_property("zip_mb", round(ext_zip.stat().st_size / 1e6, 1))
