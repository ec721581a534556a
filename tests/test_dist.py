"""``build.py dist``: the Blender extension zip, the Nuke plugin zip and the ONNX models.

Runs the real dist code on stand-in add-on and plugin folders (the real ones are checked too
when they exist), with random-init weights exported to ONNX for real. Installing the zip into
a real Blender is tests/blender's job."""

from __future__ import annotations

import os
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tomllib

import build
from tests.conftest import make_weights

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_KEYS = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
                 "blender_version_min", "license")
MANIFEST = ('schema_version = "1.0.0"\nid = "inkpaint"\nversion = "0.2.0"\nname = "Inkpaint"\n'
            'tagline = "Colour line art"\nmaintainer = "Studio"\ntype = "add-on"\n'
            'blender_version_min = "4.2.0"\nlicense = ["SPDX:GPL-3.0-or-later"]\n'
            'platforms = ["linux-x64", "windows-x64", "macos-arm64"]\n'
            '\n[permissions]\nfiles = "frames"\n')


def fake_addon(folder: Path, manifest: str = MANIFEST) -> Path:
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("def register():\n    pass\n\n\n"
                                        "def unregister():\n    pass\n")
    (folder / "blender_manifest.toml").write_text(manifest)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.pyc").write_bytes(b"stale")
    return folder


def fake_nuke(folder: Path) -> Path:
    (folder / "gizmos").mkdir(parents=True)
    (folder / "init.py").write_text("import nuke\nnuke.pluginAddPath('gizmos')\n")
    (folder / "menu.py").write_text("import nuke\n")
    (folder / "gizmos" / "Inkpaint.gizmo").write_text("Group {\n name Inkpaint\n}\n")
    (folder / "inkpaint_nuke").mkdir()
    (folder / "inkpaint_nuke" / "__init__.py").write_text("")
    return folder


def check_extension_zip(path: Path, wheels: bool = False) -> dict:
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        meta = tomllib.loads(z.read("blender_manifest.toml").decode())
    for key in MANIFEST_KEYS:
        assert meta.get(key), f"manifest lacks {key}"
    assert meta["schema_version"] == "1.0.0" and meta["type"] == "add-on"
    assert meta["id"].isidentifier() and isinstance(meta["license"], list)
    assert len(meta["tagline"]) <= 64 and not meta["tagline"].endswith((".", "!"))
    assert tuple(int(x) for x in meta["blender_version_min"].split(".")) >= (4, 2, 0)
    for w in meta.get("wheels", []):
        assert w.removeprefix("./") in names, f"manifest lists {w}, the zip lacks it"
    assert bool(meta.get("wheels")) == wheels
    assert "__init__.py" in names and "core/cli.py" in names and "core/engine/plan.py" in names
    assert not any(n.startswith(("core/train/", "core/data/", "core/eval/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    return {"meta": meta, "names": names}


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("distweights")
    make_weights(folder)
    return folder


@pytest.mark.slow
def test_dist_builds_both_zips_and_onnx(tmp_path, weights_dir):
    addon = fake_addon(tmp_path / "blender_addon")
    nuke = fake_nuke(tmp_path / "nuke_plugin")
    made = build.dist(tmp_path / "dist", weights_dir, with_wheels=False, blender_src=addon,
                      nuke_src=nuke, py=Path(sys.executable))
    assert sorted(p.name for p in made["onnx"]) == ["lite.G.onnx", "lite.T.onnx"]
    ext = check_extension_zip(made["blender"][0])
    assert made["blender"][0].name == f"inkpaint-{ext['meta']['version']}.zip"
    for f in ("weights/lite.safetensors", "weights/lite.yaml", "weights/lite.G.onnx"):
        assert f in ext["names"]
    with zipfile.ZipFile(made["nuke"][0]) as z:
        names = set(z.namelist())
    for f in ("inkpaint/init.py", "inkpaint/menu.py", "inkpaint/gizmos/Inkpaint.gizmo",
              "inkpaint/inkpaint_nuke/core/cli.py",
              "inkpaint/inkpaint_nuke/weights/lite.safetensors",
              "inkpaint/inkpaint_nuke/weights/lite.T.onnx"):
        assert f in names, f


def test_addon_manifest_gets_the_wheels_and_platforms(tmp_path, weights_dir):
    stale = MANIFEST.replace("\n[permissions]", 'wheels = ["./wheels/old.whl"]\n\n[permissions]')
    manifest = fake_addon(tmp_path / "addon", stale) / "blender_manifest.toml"
    build.set_manifest_wheels(manifest, [Path("w/a.whl"), Path("w/b.whl")], ["linux-x64"])
    meta = tomllib.loads(manifest.read_text())
    assert meta["wheels"] == ["./wheels/a.whl", "./wheels/b.whl"]
    assert meta["platforms"] == ["linux-x64"] and "blender_version_max" not in meta
    assert meta["permissions"] == {"files": "frames"} and meta["version"] == "0.2.0"
    build.set_manifest_wheels(manifest, [Path("c.whl")], ["macos-arm64"], "5.1.0")  # replaced
    meta = tomllib.loads(manifest.read_text())
    assert meta["wheels"] == ["./wheels/c.whl"] and meta["platforms"] == ["macos-arm64"]
    assert meta["blender_version_max"] == "5.1.0" and meta["blender_version_min"] == "4.2.0"
    build.set_manifest_wheels(manifest, [], ["windows-x64"])
    meta = tomllib.loads(manifest.read_text())
    assert "wheels" not in meta and "blender_version_max" not in meta
    # one platform: named as Blender's `extension build --split-platforms` names it
    folder = build.build_extension(tmp_path / "ext" / "inkpaint", weights_dir,
                                   with_wheels=False, src=tmp_path / "addon")
    zip_path = build.zip_extension(folder, tmp_path / "out")
    assert check_extension_zip(zip_path)["meta"]["version"] == "0.2.0"
    assert zip_path.name == "inkpaint-0.2.0-windows_x64.zip"
    (folder / "blender_manifest.toml").write_text(MANIFEST)  # every platform: no suffix
    assert build.zip_extension(folder, tmp_path / "out").name == "inkpaint-0.2.0.zip"


def test_copy_weights_takes_a_folder_or_one_file(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("lite.safetensors", "lite.yaml", "lite.G.onnx", "lite.T.onnx", "lite.X.onnx",
                 "big.safetensors", "notes.txt"):
        (src / name).write_bytes(b"")
    got = {p.name for p in build.copy_weights(src, tmp_path / "a")}
    assert got == {"lite.safetensors", "lite.yaml", "lite.G.onnx", "lite.T.onnx",
                   "big.safetensors"}
    got = {p.name for p in build.copy_weights(src / "lite.safetensors", tmp_path / "b")}
    assert got == {"lite.safetensors", "lite.yaml", "lite.G.onnx", "lite.T.onnx"}
    assert got == {p.name for p in (tmp_path / "b").iterdir()}
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .safetensors"):
        build.copy_weights(tmp_path / "empty", tmp_path / "c")


def test_dist_says_what_is_missing(tmp_path):
    with pytest.raises(SystemExit, match="no weights"):
        build.dist(tmp_path / "dist", tmp_path, with_wheels=False)
    with pytest.raises(SystemExit, match="no __init__.py"):
        build.build_extension(tmp_path / "ext", None, False, src=tmp_path)
    (tmp_path / "__init__.py").write_text("")
    with pytest.raises(SystemExit, match="no blender_manifest.toml"):
        build.build_extension(tmp_path / "ext", None, False, src=tmp_path)
    with pytest.raises(SystemExit, match="no init.py"):
        build.build_nuke_plugin(tmp_path, [], tmp_path)


REAL = ((ROOT / "nuke_plugin" / "init.py").is_file()
        and (ROOT / "blender_addon" / "__init__.py").is_file())


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="blender_addon/ or nuke_plugin/ is not written yet")
def test_dist_of_the_real_addon_and_plugin(tmp_path, weights_dir):
    """What `python build.py dist` makes, minus the wheel downloads."""
    made = build.dist(tmp_path / "dist", weights_dir, with_wheels=False, py=Path(sys.executable))
    check_extension_zip(made["blender"][0])
    with zipfile.ZipFile(made["nuke"][0]) as z:
        names = set(z.namelist())
    assert {"inkpaint/init.py", "inkpaint/menu.py"} <= names
    assert any(n.startswith("inkpaint/gizmos/") and n.endswith(".gizmo") for n in names)
    assert {"inkpaint/inkpaint_nuke/core/cli.py", "inkpaint/inkpaint_nuke/_core.py",
            "inkpaint/inkpaint_nuke/weights/lite.G.onnx"} <= names


@pytest.mark.skipif(not (ROOT / "blender_addon" / "__init__.py").is_file(),
                    reason="blender_addon/ is not written yet")
def test_real_addon_extension(tmp_path, weights_dir):
    folder = build.build_extension(tmp_path / "inkpaint", weights_dir / "lite.safetensors", False)
    names = check_extension_zip(build.zip_extension(folder, tmp_path / "out"))["names"]
    assert {"weights/lite.safetensors", "weights/lite.yaml"} <= names


def _no_network(monkeypatch) -> None:
    """pip with no index it can reach and none of this machine's local wheel folders."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.slow
def test_wheel_cache_downloads_once_and_builds_offline(tmp_path, monkeypatch):
    """The real pip flags for every platform on a small pure-Python wheel (needs PyPI once):
    the first build fills the cache, the second runs with the network cut and gets the same
    wheels; a cold cache without network stops with a sentence. The numpy<2 pin for Python
    3.11 resolves too, and its wheel is dropped (Blender has its own)."""
    cache = tmp_path / "cache"
    first = {p: build.download_wheels(tmp_path / "a" / p, p, ["tqdm==4.70.1"], cache)
             for p in build.PLATFORMS}
    for wheels in first.values():
        assert [w.name for w in wheels] == ["tqdm-4.70.1-py3-none-any.whl"]
    assert {w.name for w in cache.iterdir()} >= {"tqdm-4.70.1-py3-none-any.whl"}
    _no_network(monkeypatch)
    for p in build.PLATFORMS:
        again = build.download_wheels(tmp_path / "b" / p, p, ["tqdm==4.70.1"], cache)
        assert [w.name for w in again] == [w.name for w in first[p]]
        assert not list((tmp_path / "b" / p).glob("numpy-*"))
    with pytest.raises(SystemExit, match="neither in the wheel cache .* nor downloadable"):
        build.download_wheels(tmp_path / "c", "linux-x64", ["tqdm==4.70.1"], tmp_path / "cold")


# What Blender itself runs on (its bpy wheels' tags: manylinux_2_28_x86_64, win_amd64,
# macosx_11_0_arm64 for 4.5 to 5.1): no wheel of a platform's zip may need more.
BLENDER_OS = {"linux-x64": ("manylinux", (2, 28), "x86_64"), "windows-x64": ("win", (), "amd64"),
              "macos-arm64": ("macosx", (11, 0), "arm64")}


def _platform_ok(tag: str, platform: str) -> bool:
    if tag == "any":
        return True
    kind, newest, arch = BLENDER_OS[platform]
    if kind == "win":
        return tag == "win_amd64"
    if kind == "manylinux":
        m = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64|manylinux(2014)_x86_64", tag)
        need = (2, 17) if m and m.group(3) else (m and (int(m.group(1)), int(m.group(2))))
    else:
        m = re.fullmatch(r"macosx_(\d+)_(\d+)_(arm64|universal2)", tag)
        need = m and (int(m.group(1)), int(m.group(2)))
    return bool(need) and need <= newest


@pytest.mark.slow
def test_dist_offline_makes_one_zip_per_platform_with_wheels_blender_can_load(
        tmp_path, weights_dir, monkeypatch):
    """`build.py dist` for real, with the network cut: every platform's wheels come from the
    warm wheel cache (filled from PyPI first, once per machine). One zip per platform, its
    manifest naming that platform alone; read back from the wheel file names, every platform
    tag runs on Blender's own minimum OS, every Python tag is one of the platform's Pythons,
    and the packages the engine imports are there for each of them."""
    for platform in build.PLATFORMS:  # warm the cache (no download when it is warm already)
        build.download_wheels(tmp_path / "warm" / platform, platform)
    _no_network(monkeypatch)
    made = build.dist(tmp_path / "dist", weights_dir, nuke_src=fake_nuke(tmp_path / "nuke"),
                      py=Path(sys.executable))
    sizes = {}
    version = tomllib.loads((build.ADDON_SRC / "blender_manifest.toml").read_text())["version"]
    assert [z.name for z in made["blender"]] == [
        f"inkpaint-{version}-{p.replace('-', '_')}.zip" for p in build.PLATFORMS]
    for platform, zip_path in zip(build.PLATFORMS, made["blender"]):
        spec = build.PLATFORMS[platform]
        meta = check_extension_zip(zip_path, wheels=True)["meta"]
        assert meta["platforms"] == [platform]
        assert meta.get("blender_version_max") == ("5.1.0" if "3.13" not in spec.pythons
                                                   else None)
        wheels = [w.removeprefix("./wheels/") for w in meta["wheels"]]
        pythons = {"cp" + v.replace(".", "") for v in spec.pythons}
        for w in wheels:
            _name, _version, py_tags, abi, plat = w[:-4].split("-")[-5:]
            assert all(_platform_ok(t, platform) for t in plat.split(".")), (platform, w)
            cps = {t for t in py_tags.split(".") if t.startswith("cp")}
            assert abi in ("none", "abi3") or cps <= pythons, (platform, w)
        for py in pythons:
            for pkg in ("onnxruntime", "opencv_python_headless", "pyyaml", "openexr", "tqdm"):
                assert any(w.lower().startswith(pkg + "-") and
                           (py in w or "abi3" in w or "py3-none" in w) for w in wheels), \
                    (platform, py, pkg)
        sizes[platform] = round(zip_path.stat().st_size / 1e6, 1)
    print(f"\nextension zip MB per platform: {sizes}")


_RUN_MODELS = """
import sys, numpy as np, onnxruntime as ort
folder, want = sys.argv[1], sys.argv[2]
assert ort.__version__ == want, (ort.__file__, ort.__version__)
rng = np.random.default_rng(0)
dims = {"B": 1, "H": 64, "W": 64, "K": 2, "T": 3}
out = {}
for net in ("G", "T"):
    s = ort.InferenceSession(f"{folder}/lite.{net}.onnx", providers=["CPUExecutionProvider"])
    feed = {i.name: rng.random([dims.get(d, d) for d in i.shape], dtype=np.float32)
            for i in s.get_inputs()}
    for o, v in zip(s.get_outputs(), s.run(None, feed)):
        out[f"{net}.{o.name}"] = v
np.savez(f"{folder}/out-{want}.npz", **out)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux") or sys.version_info[:2] != (3, 11),
                    reason="runs the manylinux cp311 build of the pinned version")
def test_oldest_shipped_onnxruntime_runs_the_models_like_the_newest(tmp_path, weights_dir):
    """The macOS zip pins an older onnxruntime (the newest on macOS 11). Its Linux build of the
    same version runs the exported models here, on the same inputs as the version the other
    zips carry, and must give the same numbers (opset and IR version within its reach)."""
    import onnxruntime

    from core.engine.export import export_onnx

    for f in ("lite.safetensors", "lite.yaml"):
        (tmp_path / f).write_bytes((weights_dir / f).read_bytes())
    export_onnx(str(tmp_path / "lite.safetensors"))
    pins = {build._name(p): p for p in build.PLATFORMS["macos-arm64"].pins}
    old = pins["onnxruntime"].split("==")[1]
    build.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--dest", build.WHEEL_CACHE, pins["onnxruntime"]])
    (wheel,) = build.WHEEL_CACHE.glob(f"onnxruntime-{old}-cp311-*manylinux*x86_64.whl")
    zipfile.ZipFile(wheel).extractall(tmp_path / "old")
    for version, path in ((old, tmp_path / "old"), (onnxruntime.__version__, None)):
        env = dict(os.environ, PYTHONPATH=str(path)) if path else None
        build.run([sys.executable, "-c", _RUN_MODELS, tmp_path, version], env=env)
    got = np.load(tmp_path / f"out-{old}.npz")
    ref = np.load(tmp_path / f"out-{onnxruntime.__version__}.npz")
    assert sorted(got.files) == sorted(ref.files) and len(ref.files) >= 2
    for name in ref.files:
        assert np.allclose(got[name], ref[name], atol=1e-4), name
