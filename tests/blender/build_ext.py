"""The Blender extension folder for the tests inside Blender: ``build.py``'s
``build_extension`` (the one home of the packaging logic), plus where Blender's own extension
tool lives.

    build_extension(dest, weights, with_wheels) -> dest

Zip the folder with Blender's own ``blender --command extension build --source-dir DEST`` (or
the same ``blender_ext.py build`` that ships inside the bpy wheel; see ``blender_ext_cli``).

Standard library only (runs under the main venv, the bpy venvs and a bare python3).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# build.py loaded by path: the bpy venvs do not have the repository root on sys.path.
_spec = importlib.util.spec_from_file_location("_inkpaint_build", ROOT / "build.py")
_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_build)
build_extension = _build.build_extension
zip_extension = _build.zip_extension
host_platform = _build.host_platform

__all__ = ["blender_ext_cli", "build_extension", "host_platform", "zip_extension"]


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
