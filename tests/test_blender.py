"""The Blender extension, tested inside real Blender: the ``bpy`` wheels of Blender 4.5 LTS and
5.0, each in its own venv (bpy needs numpy<2, which the main venv does not have).

This builds the extension once (core vendored, random-init ``lite`` weights with their ONNX
exports, made here with torch), as a folder and as this platform's zip with its wheels (for
the test that installs it into a Blender without the engine's packages), then runs
``tests/blender`` in each bpy venv as a subprocess and fails with that run's output if any of
its tests fails or skips. A venv that does not exist is skipped with the command that creates
it (``python3 build.py test`` does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import build

ROOT = Path(__file__).resolve().parent.parent
BLENDER_TESTS = ROOT / "tests" / "blender"
VENVS = {
    "bpy45": ("4.5", ".venv-bpy45", "bpy==4.5.15"),
    "bpy50": ("5.0", ".venv-bpy50", "bpy==5.0.1"),
}
DEPS = ('"numpy<2" onnxruntime==1.32.0 opencv-python-headless==4.11.0.86 PyYAML==6.0.4 '
        "OpenEXR==3.5.3 tqdm==4.70.1 pytest")
TIMEOUT_S = 1200



def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.fixture(scope="module")
def test_weights(tmp_path_factory, lite_weights) -> Path:
    from core.engine.export import export_onnx

    folder = tmp_path_factory.mktemp("bpy-weights")  # not the shared fixture's folder
    for f in (lite_weights, lite_weights.with_suffix(".yaml")):
        shutil.copy2(f, folder / f.name)
    export_onnx(str(folder / lite_weights.name))
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory, test_weights) -> Path:
    """The extension folder the tests import directly (the venv has its packages)."""
    return build.build_extension(tmp_path_factory.mktemp("ext") / "inkpaint", test_weights,
                                 with_wheels=False)


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory, test_weights) -> Path:
    """This platform's zip as ``build.py dist`` makes it, wheels included (from the wheel
    cache; PyPI the first time): what test_bl_installed.py installs into a bare Blender."""
    tmp = tmp_path_factory.mktemp("zip")
    folder = build.build_extension(tmp / "inkpaint", test_weights, True,
                                   platform=build.host_platform())
    return build.zip_extension(folder, tmp)


@pytest.mark.slow
@pytest.mark.blender
@pytest.mark.parametrize("name", list(VENVS))
def test_blender_suite(name, built, built_zip, tmp_path):
    version, folder, pin = VENVS[name]
    py = _python(ROOT / folder)
    if not py.exists():
        pytest.skip(f"{folder} is absent (Blender {version} tests): python3 -m venv {folder} "
                    f"&& {folder}/bin/pip install {pin} {DEPS}")
    report = tmp_path / "junit.xml"
    env = dict(os.environ, INKPAINT_BLENDER_EXT=str(built), INKPAINT_BLENDER_ZIP=str(built_zip),
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("INKPAINT_WEIGHTS", None)  # the extension's own weights folder must be used
    cmd = [str(py), "-m", "pytest", "-c", str(BLENDER_TESTS / "pytest.ini"),
           "--rootdir", str(BLENDER_TESTS), "--confcutdir", str(BLENDER_TESTS),
           "--basetemp", str(tmp_path / "t"), f"--junitxml={report}", "-q", "-rfEs",
           str(BLENDER_TESTS)]
    # not from the checkout: its core must not be importable beside the vendored one
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=TIMEOUT_S)
    output = run.stdout[-20000:] + run.stderr[-5000:]
    assert run.returncode == 0, f"Blender {version} tests failed:\n{output}"
    cases = _cases(report)
    assert cases and not [c for c in cases if c["skipped"]], output
    print(f"\nBlender {version} ({pin}):")
    for c in cases:
        props = ", ".join(f"{k}={v}" for k, v in c["props"].items())
        print(f"  {c['name']}: {c['time']:.1f} s" + (f" ({props})" if props else ""))


def _cases(report: Path) -> list[dict]:
    out = []
    for tc in ET.parse(report).getroot().iter("testcase"):
        out.append({
            "name": tc.get("name"),
            "time": float(tc.get("time", 0)),
            "skipped": tc.find("skipped") is not None,
            "props": {p.get("name"): p.get("value") for p in tc.iter("property")},
        })
    return out
