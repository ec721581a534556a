"""Scenes for the Blender tests, built from nothing with bpy (no .blend in the repo).

The Grease Pencil shot: three closed shapes, each with its own fill material, drawn on every
frame 1-12 (each keyframe a new drawing, so no frame is a held cel), a 256x192 orthographic
camera, timeline markers ``ref_a`` (frame 1) and ``ref_b`` (frame 12). The shapes travel
together round a circle, a twelfth of a turn per frame: ORBIT_STEP_PX (about 11.6 px) from
one frame to the next, as far as a quick move in real animation, and a frame rendered at the
wrong time lands visibly elsewhere. ``Shape.pixel`` and ``Shape.edge_pixels`` project a
shape through the camera, so the tests check each frame against its own drawing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

WIDTH, HEIGHT = 256, 192
FRAMES = range(1, 13)
REF_FRAMES = (1, 12)
ORTHO_SCALE = 8.0  # world units across the frame's width: 32 px per unit
ORBIT_RADIUS = 0.7  # world units (22.4 px)
ORBIT_STEP_PX = 2 * ORBIT_RADIUS * math.sin(math.pi / 12) * WIDTH / ORTHO_SCALE


def orbit(frame: int) -> Vector:
    """Where the drawing is at ``frame``, from the middle of its circle (a twelfth of a turn a
    frame)."""
    a = 2 * math.pi * (frame - 1) / 12
    return Vector((ORBIT_RADIUS * math.cos(a), 0.0, ORBIT_RADIUS * math.sin(a)))


@dataclass(frozen=True)
class Shape:
    name: str
    fill: tuple[float, float, float]  # the material's fill colour: scene-linear RGB
    centre: tuple[float, float]  # x, z of its circle's middle (world units; the XZ plane)
    size: tuple[float, float]

    def centre_at(self, frame: int) -> Vector:
        return Vector((self.centre[0], 0.0, self.centre[1])) + orbit(frame)

    def corners(self, frame: int) -> list[Vector]:
        c, (w, h) = self.centre_at(frame), self.size
        return [c + Vector(d) for d in ((-w / 2, 0, -h / 2), (w / 2, 0, -h / 2),
                                        (w / 2, 0, h / 2), (-w / 2, 0, h / 2))]

    def pixel(self, scene, frame: int) -> tuple[int, int]:
        """(row, column) of the centre in the rendered frame."""
        return _pixel(scene, self.centre_at(frame))

    def edge_pixels(self, scene, frame: int) -> list[tuple[int, int]]:
        """(row, column) of the middle of each side of the outline."""
        c = self.corners(frame)
        return [_pixel(scene, (c[i] + c[(i + 1) % 4]) / 2) for i in range(4)]

    def distance_to_outline(self, scene, frame: int, row: int, col: int) -> float:
        """Pixels from (row, col) to the nearest point of the outline at ``frame``."""
        c = [np.array(_pixel(scene, v), float) for v in self.corners(frame)]
        p = np.array((row, col), float)
        best = np.inf
        for a, b in zip(c, c[1:] + c[:1]):
            t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0.0, 1.0)
            best = min(best, float(np.linalg.norm(p - (a + t * (b - a)))))
        return best

    @property
    def fill_srgb(self) -> np.ndarray:
        """What 'Standard' on an sRGB display turns the linear fill into."""
        return linear_to_srgb(np.array(self.fill, np.float32))


def _pixel(scene, point: Vector) -> tuple[int, int]:
    v = world_to_camera_view(scene, scene.camera, point)
    return int((1.0 - v.y) * HEIGHT), int(v.x * WIDTH)


SHAPES = (
    Shape("Red", (0.80, 0.08, 0.06), (-1.7, 0.9), (2.0, 1.6)),
    Shape("Green", (0.10, 0.55, 0.12), (1.3, 1.0), (2.2, 1.4)),
    Shape("Blue", (0.12, 0.20, 0.85), (0.0, -1.3), (3.2, 1.0)),
)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, None)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def empty_file() -> None:
    bpy.ops.wm.read_homefile(use_empty=True)


def gp_data_collection():
    return (bpy.data.grease_pencils_v3 if hasattr(bpy.data, "grease_pencils_v3")
            else bpy.data.grease_pencils)


def make_gp_shot(folder: Path, markers=(("ref_a", 1), ("ref_b", 12))) -> bpy.types.Object:
    """A fresh file saved as ``folder/shot.blend`` holding the shot; returns the object."""
    empty_file()
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = FRAMES[0], FRAMES[-1]
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    scene.render.resolution_percentage = 100

    cam_data = bpy.data.cameras.new("Camera")
    cam_data.type = "ORTHO"
    cam_data.ortho_scale = ORTHO_SCALE
    cam = bpy.data.objects.new("Camera", cam_data)
    cam.location = (0.0, -10.0, 0.0)
    cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam

    gp = gp_data_collection().new("Drawing")
    obj = bpy.data.objects.new("Drawing", gp)
    scene.collection.objects.link(obj)
    for shape in SHAPES:
        mat = bpy.data.materials.new(shape.name)
        bpy.data.materials.create_gpencil_data(mat)
        mat.grease_pencil.show_stroke = True
        mat.grease_pencil.color = (0.0, 0.0, 0.0, 1.0)
        mat.grease_pencil.show_fill = True
        mat.grease_pencil.fill_color = (*shape.fill, 1.0)
        gp.materials.append(mat)
    layer = gp.layers.new("Ink")
    for frame in FRAMES:
        drawing = layer.frames.new(frame).drawing
        drawing.add_strokes([4] * len(SHAPES))
        for i, shape in enumerate(SHAPES):
            stroke = drawing.strokes[i]
            for point, corner in zip(stroke.points, shape.corners(frame)):
                point.position = corner
                point.radius = 0.04
            stroke.cyclic = True
            stroke.material_index = i
    for name, frame in markers:
        scene.timeline_markers.new(name, frame=frame)
    scene.inkpaint.source_type = "GPENCIL"
    scene.inkpaint.gp_object = obj
    bpy.ops.wm.save_as_mainfile(filepath=str(folder / "shot.blend"))
    return obj


def write_png(path: Path, rgb: np.ndarray) -> None:
    """8-bit sRGB PNG through Blender's own image writer (cv2 may not be installed)."""
    h, w = rgb.shape[:2]
    img = bpy.data.images.new(path.stem, w, h, alpha=False)
    rgba = np.dstack([rgb, np.ones((h, w), np.float32)])[::-1]  # Blender stores bottom-up
    img.pixels.foreach_set(rgba.astype(np.float32).ravel())
    img.filepath_raw = str(path)
    img.file_format = "PNG"
    img.save()
    bpy.data.images.remove(img)


def box_lines(h: int, w: int, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """White paper with black 1-px rectangle outlines (top, left, bottom, right)."""
    out = np.ones((h, w, 3), np.float32)
    for t, left, b, r in boxes:
        out[t, left:r + 1] = out[b, left:r + 1] = 0.0
        out[t:b + 1, left] = out[t:b + 1, r] = 0.0
    return out


STRIP_BOXES = [(10, 10, 50, 60), (20, 70, 80, 118)]
STRIP_COLOURS = [(0.9, 0.2, 0.2), (0.2, 0.4, 0.9)]


def strip_frame_boxes(i: int) -> list[tuple[int, int, int, int]]:
    return [(t + i, left + i, b + i, r + i) for t, left, b, r in STRIP_BOXES]


def make_strip_shot(folder: Path, frames: int = 8, first: int = 101,
                    number: int | None = None, markers=("ref1", "ref2")) -> dict:
    """Line art ``lines/line.####.png`` (numbered from ``number``, default ``first``) as an
    image strip on channel 1 from scene frame ``first``, painted colour frames for the first
    and last frame as two one-frame strips on channel 2, ``markers`` on them. Returns what
    the test needs to know."""
    empty_file()
    number = first if number is None else number
    scene = bpy.context.scene
    lines_dir, paint_dir = folder / "lines", folder / "paint"
    lines_dir.mkdir(parents=True)
    paint_dir.mkdir()
    paints = {}
    for i in range(frames):
        f = first + i
        lines = box_lines(HEIGHT, WIDTH, strip_frame_boxes(i))
        write_png(lines_dir / f"line.{number + i:04d}.png", lines)
        if i in (0, frames - 1):
            colour = lines.copy()
            for (t, left, b, r), c in zip(strip_frame_boxes(i), STRIP_COLOURS):
                colour[t + 1:b, left + 1:r] = c
            write_png(paint_dir / f"paint.{f:04d}.png", colour)
            paints[f] = colour
    sed = scene.sequence_editor_create()
    coll = sed.strips if hasattr(sed, "strips") else sed.sequences
    strip = coll.new_image("Lines", str(lines_dir / f"line.{number:04d}.png"), 1, first)
    for i in range(1, frames):
        strip.elements.append(f"line.{number + i:04d}.png")
    for f, name in zip(paints, markers):
        coll.new_image(f"Paint {f}", str(paint_dir / f"paint.{f:04d}.png"), 2, f)
        scene.timeline_markers.new(name, frame=f)
    sed.active_strip = strip
    scene.frame_start, scene.frame_end = first, first + frames - 1
    scene.inkpaint.source_type = "STRIP"
    bpy.ops.wm.save_as_mainfile(filepath=str(folder / "shot.blend"))
    return {"strip": strip.name, "first": first, "number": number, "frames": frames,
            "paints": paints}


# ---- checks (no pytest here: the installed-extension test runs them in a bare Python) ------
# Colour checks. With random-init test weights the network's in-betweens mean nothing, but the
# engine passes the painted references through unchanged (``ColoredFrame.is_reference``), so on
# the reference frames the centre of every region must be the fill colour the artist chose.
# That colour goes material (scene-linear) -> Workbench, view transform 'Standard' on an sRGB
# display -> 8-bit PNG -> engine (exact pass-through) -> 8-bit PNG (or float EXR). Expected:
# the IEC sRGB encoding of the material colour. Tolerance REF_TOLERANCE = 3/255: two 8-bit
# quantisations (0.5/255 each) plus up to 1/255 from Blender's OCIO display transform (a LUT
# approximation of the sRGB curve; its exact rounding is Blender's business) and a unit of
# margin. Measured on 4.5.15 and 5.0.1: 0.45/255 worst. Anything wrong in the chain is far
# outside it: a linear/sRGB mix-up is 60/255 and more on these colours, and a lit or tinted
# fill, the wrong region or a line over the sample are tens of steps off. In-betweens: every
# region centre within INBETWEEN_TOLERANCE of its material colour. The test weights are random,
# so this checks the engine's composition (each region of the in-between takes the fill of its
# counterpart in the keys), not what the network learnt.
REF_TOLERANCE = 3 / 255
INBETWEEN_TOLERANCE = 0.10  # flat regions of a 3-region shot: within this of the fill


def centre_colour(rgb: np.ndarray, row: int, col: int) -> np.ndarray:
    return np.median(rgb[row - 1:row + 2, col - 1:col + 2].reshape(-1, 3), axis=0)


def _dark_near(img: np.ndarray, row: int, col: int) -> float:
    """The darkest value within 2 px (a line is 2-3 px wide; the projection rounds)."""
    return float(img[max(row - 2, 0):row + 3, max(col - 2, 0):col + 3].min())


def check_drawing(img: np.ndarray, scene, frame: int) -> None:
    """``img`` (line art or a coloured frame) shows the drawing of ``frame``: a line on the
    middle of every side of every shape, and none where that side is one frame earlier or
    later (ORBIT_STEP_PX away), unless this frame's own outline passes near there."""
    for shape in SHAPES:
        for row, col in shape.edge_pixels(scene, frame):
            assert _dark_near(img, row, col) < 0.35, (frame, shape.name, row, col)
        for other in (frame - 1, frame + 1):
            for row, col in shape.edge_pixels(scene, other):
                if min(s.distance_to_outline(scene, frame, row, col) for s in SHAPES) > 5:
                    assert _dark_near(img, row, col) > 0.6, (frame, other, shape.name)


def check_regions(rgb: np.ndarray, scene, frame: int, tolerance: float) -> float:
    """Every shape's fill sits inside that shape as drawn on ``frame``: its centre has the
    fill colour, and the pixels of that colour are centred within 3 px of it (a frame drawn
    one frame off is ORBIT_STEP_PX away). Returns the worst centre error."""
    worst = 0.0
    for shape in SHAPES:
        row, col = shape.pixel(scene, frame)
        err = float(np.abs(centre_colour(rgb, row, col) - shape.fill_srgb).max())
        assert err <= tolerance, (frame, shape.name, err * 255)
        worst = max(worst, err)
        rows, cols = np.nonzero(np.abs(rgb - shape.fill_srgb).max(axis=2) <= tolerance)
        off = float(np.hypot(rows.mean() - row, cols.mean() - col))
        assert off <= 3.0, (frame, shape.name, off)
    return worst


def check_frames(read_color, scene, folder, ext: str) -> dict:
    """Every frame ``Drawing.####<ext>`` in ``folder`` against its own drawing: lines where
    that frame's strokes are, each fill inside its own shape; on the reference frames the
    exact painted colours. ``read_color``: the extension's ``core.imageio.read_color``."""
    worst = 0.0
    for f in FRAMES:
        rgb, _ = read_color(folder / f"Drawing.{f:04d}{ext}")
        assert rgb.shape == (HEIGHT, WIDTH, 3)
        assert np.isfinite(rgb).all() and rgb.min() >= 0.0 and rgb.max() <= 1.0
        check_drawing(rgb.max(axis=2), scene, f)  # a line is dark in every channel
        if f in REF_FRAMES:
            worst = max(worst, check_regions(rgb, scene, f, REF_TOLERANCE))
            assert np.abs(rgb[2, 2] - 1.0).max() <= REF_TOLERANCE  # white paper
        else:
            check_regions(rgb, scene, f, INBETWEEN_TOLERANCE)
    return {"worst_ref_error_255": round(worst * 255, 2)}
