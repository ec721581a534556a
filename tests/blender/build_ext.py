"""Assemble the Blender extension folder (for the tests now, for ``build.py dist`` later).

    build_extension(dest, weights, with_wheels) -> dest

``dest`` becomes the extension itself: ``blender_addon/`` copied, ``core`` vendored by
build.py's ``vendor_core`` (importable as ``<extension>.core``), the weights in
``dest/weights`` (core resolves model names there), and with ``with_wheels`` the PyPI wheels
for every platform in ``dest/wheels``, listed in ``blender_manifest.toml``. Zip it with
Blender's own ``blender --command extension build --source-dir DEST`` (or the same
``blender_ext.py build`` that ships inside the bpy wheel; see ``blender_ext_cli``).

Standard library only (runs under the main venv, the bpy venvs and a bare python3).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADDON_SRC = ROOT / "blender_addon"

# What the extension carries. numpy is NOT among them: Blender bundles its own (1.26 in
# 4.5/5.0), and these versions are built against the numpy 2 ABI, which also runs on 1.x.
# Keep them equal to the bpy test venvs' pins.
WHEEL_REQUIREMENTS = [
    "onnxruntime==1.32.0",
    "opencv-python-headless==4.11.0.86",
    "PyYAML==6.0.4",
    "OpenEXR==3.5.3",
    "tqdm==4.70.1",  # core's progress bar when the vendored CLI runs on a terminal
]
# Blender platform name -> pip --platform tags accepted for it.
PLATFORM_TAGS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                  "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64",
                    "macosx_11_0_arm64", "macosx_11_0_universal2"],
}
# Blender 4.5 and 5.0 run Python 3.11; 5.1+ run 3.13. Blender installs the matching ones.
PYTHON_VERSIONS = ("3.11", "3.13")
_WEIGHT_SUFFIXES = (".safetensors", ".yaml", ".G.onnx", ".T.onnx")


def _vendor_core():
    spec = importlib.util.spec_from_file_location("_inkpaint_build", ROOT / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.vendor_core


def build_extension(dest: Path, weights: Path | None, with_wheels: bool, *,
                    platforms: Sequence[str] = tuple(PLATFORM_TAGS),
                    python_versions: Sequence[str] = PYTHON_VERSIONS) -> Path:
    """Make ``dest`` the extension folder (replaced if it exists); return it.

    ``weights``: a folder (every ``*.safetensors`` with its card and ONNX exports is copied)
    or one ``.safetensors`` file (with its ``.yaml``, ``.G.onnx``, ``.T.onnx``)."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ADDON_SRC, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _vendor_core()(dest)
    if weights is not None:
        copy_weights(Path(weights), dest / "weights")
    if with_wheels:
        wheels = download_wheels(dest / "wheels", platforms, python_versions)
        set_manifest_wheels(dest / "blender_manifest.toml", wheels, platforms)
    return dest


def copy_weights(src: Path, folder: Path) -> list[Path]:
    stems = ([p.with_suffix("") for p in sorted(src.glob("*.safetensors"))] if src.is_dir()
             else [src.with_suffix("")])
    if not stems:
        raise FileNotFoundError(f"no .safetensors weights in {src}")
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for stem in stems:
        for suffix in _WEIGHT_SUFFIXES:
            f = Path(f"{stem}{suffix}")
            if f.is_file():
                copied.append(Path(shutil.copy2(f, folder / f.name)))
    return copied


def download_wheels(folder: Path, platforms: Sequence[str],
                    python_versions: Sequence[str]) -> list[Path]:
    """Unmodified PyPI wheels of WHEEL_REQUIREMENTS and their dependencies, per platform and
    Python version, through pip's ordinary ``download`` (binary wheels only)."""
    folder.mkdir(parents=True, exist_ok=True)
    for platform in platforms:
        for py in python_versions:
            abi = "cp" + py.replace(".", "")
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(folder),
                   "--only-binary=:all:", "--python-version", py, "--implementation", "cp",
                   "--abi", abi, "--abi", "abi3", "--abi", "none"]
            for tag in PLATFORM_TAGS[platform]:
                cmd += ["--platform", tag]
            # numpy<2 where it exists (3.11: Blender 4.5/5.0 ship 1.26) so every dependency
            # resolves against Blender's numpy; the numpy wheel itself is dropped below.
            pins = ['numpy<2'] if py == "3.11" else []
            subprocess.run(cmd + WHEEL_REQUIREMENTS + pins, check=True)
    for numpy_wheel in folder.glob("numpy-*.whl"):
        numpy_wheel.unlink()
    return sorted(folder.glob("*.whl"))


def set_manifest_wheels(manifest: Path, wheels: Sequence[Path],
                        platforms: Sequence[str]) -> None:
    """List the wheels (and the platforms they were fetched for) in the manifest."""
    text = manifest.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^wheels = \[.*?^\]\n\n", "", text)
    listed = ",\n".join(f'  "./wheels/{w.name}"' for w in wheels)
    text = re.sub(r"(?m)^platforms = \[.*\]$",
                  "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]", text)
    text = text.replace("\n[permissions]", f"\nwheels = [\n{listed},\n]\n\n[permissions]", 1)
    manifest.write_text(text, encoding="utf-8")


def blender_ext_cli(scripts_dir: Path) -> Path:
    """Blender's extension command-line tool (``build`` / ``validate``) under Blender's
    ``scripts`` folder (``bpy.utils.system_resource('SCRIPTS')``; the bpy wheel has one)."""
    cli = Path(scripts_dir) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    if not cli.is_file():
        raise FileNotFoundError(f"Blender's extension tool is not at {cli}")
    return cli


if __name__ == "__main__":  # python tests/blender/build_ext.py DEST [WEIGHTS] [--wheels]
    args = [a for a in sys.argv[1:] if a != "--wheels"]
    out = build_extension(Path(args[0]), Path(args[1]) if len(args) > 1 else None,
                          "--wheels" in sys.argv)
    print(out)
