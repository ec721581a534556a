"""Run by test_bl_installed.py as ``python -S bl_installed_run.py SITE ZIP FOLDER``: a Python
with no site-packages but SITE (bpy and what bpy itself requires), so the engine's packages
can only come from the extension zip. Installs the zip as a user does, colours the moving
Grease Pencil shot in FOLDER and checks every frame against its own drawing; prints one
``RESULT {json}`` line. Any failure is an exception (exit code 1)."""

import importlib
import importlib.util
import json
import sys
from pathlib import Path

ENGINE_PACKAGES = ("onnxruntime", "cv2", "yaml", "OpenEXR", "tqdm", "core", "inkpaint")


def main(site: str, zip_path: str, folder: str) -> None:
    sys.path.append(site)
    lent = [m for m in ENGINE_PACKAGES if importlib.util.find_spec(m) is not None]
    assert not lent, f"importable before the extension is installed: {lent}"
    import bpy

    done = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                     enable_on_install=True)
    assert done == {"FINISHED"}, done
    ext = importlib.import_module("bl_ext.user_default.inkpaint")
    from bl_scenes import check_frames, make_gp_shot

    make_gp_shot(Path(folder))
    assert bpy.ops.inkpaint.colorize_strip() == {"FINISHED"}
    job = ext.job.last_job()
    assert job.phase == "DONE" and job.frames_done == 12, job.message
    # what ran is what the zip carried: Blender's own copy of its wheels
    wheels_home = Path(bpy.utils.user_resource("EXTENSIONS")).resolve() / ".local"
    versions = {}
    for name in ("onnxruntime", "cv2", "yaml", "OpenEXR"):
        module = sys.modules.get(name) or importlib.import_module(name)
        assert wheels_home in Path(module.__file__).resolve().parents, module.__file__
        versions[name] = getattr(module, "__version__", "?")
    read_color = importlib.import_module(f"{ext.__name__}.core.imageio").read_color
    stats = check_frames(read_color, bpy.context.scene, Path(folder) / "inkpaint" / "Drawing",
                         ".png")
    print("RESULT " + json.dumps({"versions": versions, "device": job.device,
                                  "seconds": round(job.seconds, 1), **stats}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
