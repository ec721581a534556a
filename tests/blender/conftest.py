"""Fixtures for the tests that run INSIDE Blender (the ``bpy`` wheel, in .venv-bpy45 and
.venv-bpy50). The main suite's ``tests/test_blender.py`` runs them as subprocesses:

    .venv-bpy50/bin/python -m pytest -c tests/blender/pytest.ini tests/blender

Environment:
    INKPAINT_BLENDER_EXT   the built extension folder (build_ext.build_extension); when unset
                           one is built here into a temp folder
    INKPAINT_TEST_WEIGHTS  a folder with lite.safetensors/.yaml/.G.onnx/.T.onnx (random init
                           is fine, made by the main venv); tests that colour need it
    INKPAINT_BLENDER_ZIP   this platform's built extension zip (wheels and weights in it), for
                           the test that installs it; when unset one is built here

Under the main venv (no bpy) nothing here is collected.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path

import pytest

try:
    import bpy  # noqa: F401
except ImportError:  # the main suite: these run through tests/test_blender.py instead
    collect_ignore_glob = ["test_*.py"]
    bpy = None

HERE = Path(__file__).resolve().parent


def _extension_dir() -> Path:
    given = os.environ.get("INKPAINT_BLENDER_EXT")
    if given:
        return Path(given)
    sys.path.insert(0, str(HERE))
    from build_ext import build_extension

    weights = os.environ.get("INKPAINT_TEST_WEIGHTS")
    dest = Path(tempfile.mkdtemp(prefix="inkpaint-ext-")) / "inkpaint"
    return build_extension(dest, Path(weights) if weights else None, with_wheels=False)


@pytest.fixture(scope="session")
def ext_dir() -> Path:
    return _extension_dir()


@pytest.fixture(scope="session")
def ext_zip(tmp_path_factory) -> Path:
    """The extension zip of this machine's platform, with its wheels and the test weights:
    ``$INKPAINT_BLENDER_ZIP``, or built here (wheels from the wheel cache, else PyPI)."""
    given = os.environ.get("INKPAINT_BLENDER_ZIP")
    if given:
        return Path(given)
    weights = os.environ.get("INKPAINT_TEST_WEIGHTS")
    if not weights:
        pytest.skip("no test weights for the zip: set INKPAINT_TEST_WEIGHTS (see above)")
    sys.path.insert(0, str(HERE))
    from build_ext import build_extension, host_platform, zip_extension

    tmp = tmp_path_factory.mktemp("zip")
    folder = build_extension(tmp / "inkpaint", Path(weights), True, platform=host_platform())
    return zip_extension(folder, tmp)


@pytest.fixture(scope="session")
def addon(ext_dir):
    """The extension imported as a package (its folder name), registered for the session."""
    sys.path.insert(0, str(ext_dir.parent))
    module = importlib.import_module(ext_dir.name)
    module.register()
    yield module
    module.unregister()


@pytest.fixture(scope="session")
def has_weights(ext_dir) -> bool:
    return (ext_dir / "weights" / "lite.G.onnx").is_file()


@pytest.fixture
def weights(has_weights, addon):
    if not has_weights:
        pytest.skip("no test weights: set INKPAINT_TEST_WEIGHTS to a folder with "
                    "lite.safetensors + ONNX exports (tests/test_blender.py makes them)")


def listing(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (relative), hidden ones included."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


class OperatorProps:
    """What ``layout.operator`` returns: setting a property the operator lacks fails."""

    def __init__(self, idname: str) -> None:
        object.__setattr__(self, "idname", idname)

    def __setattr__(self, name, value) -> None:
        module, op = self.idname.split(".")
        rna = getattr(getattr(bpy.ops, module), op).get_rna_type()
        assert name in rna.properties, (self.idname, name)
        object.__setattr__(self, name, value)


class Recorder:
    """Stands in for UILayout (none exists without a window): records what draw asks for,
    so the test can check every property and icon against Blender's RNA."""

    def __init__(self, log):
        self.log = log
        self.enabled = self.use_property_split = self.use_property_decorate = True
        self.scale_y = 1.0

    def _child(self, *_a, **_k):
        return Recorder(self.log)

    column = row = box = split = _child

    def label(self, text="", icon="NONE", **_k):
        self.log.append(("label", text, icon))

    def prop(self, data, prop, icon="NONE", **_k):
        self.log.append(("prop", data, prop, icon))

    def prop_search(self, data, prop, search_data, search_prop, icon="NONE", **_k):
        self.log.append(("prop", data, prop, icon))
        self.log.append(("prop", search_data, search_prop, "NONE"))

    def operator(self, idname, icon="NONE", text="", **_k):
        self.log.append(("operator", idname, icon, text))
        return OperatorProps(idname)

    def progress(self, factor=0.0, type="BAR", text=""):
        self.log.append(("label", text, "NONE"))


def draw_panel(context) -> list:
    """What the Colorize Strip panel draws now: ("label", text, icon), ("prop", data, name,
    icon) and ("operator", idname, icon, text) entries."""
    log: list = []
    panel = type("P", (), {"layout": Recorder(log)})()
    bpy.types.SEQUENCER_PT_inkpaint_colorize.draw(panel, context)
    return log
