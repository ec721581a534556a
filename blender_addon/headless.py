"""Colouring from a script or a render farm, blocking, one progress line per item:

    blender -b shot.blend --python-exit-code 1 --python-expr \\
        "import bpy; bpy.ops.inkpaint.colorize_strip()"

or, with settings given on the command line (after ``--``) and the result saved:

    blender -b shot.blend --python-exit-code 1 --python-expr \\
        "from bl_ext.user_default.inkpaint import headless; headless.main()" \\
        -- --format EXR --model lite --save

Progress goes to stdout as the core CLI formats it: ``inkpaint: progress 37.5% (9/24) frame
1003`` per item, or the farm format that ``$INKPAINT_PROGRESS`` names (deadline, openjd,
tractor), and at the end the CLI's review line (``inkpaint: review 2 of 24 frames below
0.60: 1003-1004``). A failure prints ``inkpaint: error: <sentence>`` on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from types import SimpleNamespace

import bpy

from .core.errors import InkpaintError
from .job import Job, plan_job, run_with_progress
from .props import check_device

_OPTIONS = {"source_type", "source_strip", "gp_object", "marker_prefix", "model", "device",
            "k", "temporal", "output_dir", "file_format", "review_below"}


def colorize(scene: bpy.types.Scene | None = None, log=print, **settings) -> Job:
    """Run a whole job in this thread; raise ``InkpaintError`` if it does not complete.

    ``settings`` override ``scene.inkpaint`` (e.g. ``file_format="EXR"``, ``k=3``,
    ``gp_object=bpy.data.objects["Drawing"]``) and are kept on the scene."""
    scene = scene or bpy.context.scene
    unknown = set(settings) - _OPTIONS
    if unknown:
        raise InkpaintError(f"unknown Inkpaint setting(s) {', '.join(sorted(unknown))}: use "
                            f"{', '.join(sorted(_OPTIONS))}")
    problem = check_device(settings.get("device", "AUTO"))[1]
    if problem:
        raise InkpaintError(problem)
    for key, value in settings.items():
        setattr(scene.inkpaint, key, value)
    view_layer = (bpy.context.view_layer if bpy.context.scene == scene
                  else scene.view_layers[0])
    job = run_with_progress(plan_job(SimpleNamespace(scene=scene, view_layer=view_layer)))
    if job.phase != "DONE":
        raise InkpaintError(job.message)
    log(f"inkpaint: {job.message} in {job.seconds:.1f} s", flush=True)
    if job.scores:  # numbered as the files are, like the CLI's line
        from .core.compose.review import review_line

        numbers = job.plan.numbers
        log(review_line({numbers[f]: v for f, v in job.scores.items()},
                        scene.inkpaint.review_below), flush=True)
    return job


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="blender -b FILE --python-expr ... --",
                                description="Colour a shot of the .blend with Inkpaint.")
    p.add_argument("--scene", help="scene name (default: the file's active scene)")
    p.add_argument("--strip", help="line-art image strip (default: the active strip)")
    p.add_argument("--gp-object", help="colour this Grease Pencil object instead of a strip")
    p.add_argument("--prefix", help="reference marker prefix (default: the panel's, 'ref')")
    p.add_argument("--model", help="weights name or .safetensors path")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("-k", type=int, help="references per frame")
    p.add_argument("--temporal", action=argparse.BooleanOptionalAction,
                   help="temporal refinement (default: the panel's setting)")
    p.add_argument("--out", help="output folder (default: //inkpaint/<source>/)")
    p.add_argument("--format", choices=["PNG", "EXR", "png", "exr"])
    p.add_argument("--review-below", type=float, metavar="X",
                   help="list the frames whose confidence is below X (0 to 1; default: the "
                        "panel's, 0.6)")
    p.add_argument("--save", action="store_true", help="save the .blend with the new strip")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    a = _args(argv)
    scene = bpy.data.scenes.get(a.scene) if a.scene else bpy.context.scene
    settings: dict = {}
    if a.scene and scene is None:
        _fail(f"there is no scene '{a.scene}' in {bpy.data.filepath or 'this file'}")
    if a.gp_object:
        obj = bpy.data.objects.get(a.gp_object)
        if obj is None:
            _fail(f"there is no object '{a.gp_object}'")
        settings.update(source_type="GPENCIL", gp_object=obj)
    elif a.strip:
        settings.update(source_type="STRIP", source_strip=a.strip)
    for key, value in (("marker_prefix", a.prefix), ("model", a.model), ("k", a.k),
                       ("output_dir", a.out), ("review_below", a.review_below)):
        if value is not None:
            settings[key] = value
    if a.device:
        settings["device"] = a.device.upper()
    if a.format:
        settings["file_format"] = a.format.upper()
    if a.temporal is not None:
        settings["temporal"] = a.temporal
    try:
        colorize(scene, **settings)
    except InkpaintError as exc:
        _fail(str(exc))
    if a.save:
        bpy.ops.wm.save_mainfile()


def _fail(message: str) -> None:
    print(f"inkpaint: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)
