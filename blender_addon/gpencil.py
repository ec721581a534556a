"""Rendering a Grease Pencil object into the two passes the engine needs, with Workbench (no
GPU needed, works in background mode):

- line art: the strokes only, black on white (fills, vertex colours, layer tints and colour
  modifiers off), one frame per shot frame;
- references: the object as the artist painted it (fills on) at each reference frame.

Nothing of the artist's data is touched: the passes are drawn in a private scene by two
copies of the object, the line-art one with its own copy of the drawing and of its materials.
Colour management is 'Standard' on sRGB, so a fill colour comes out as its sRGB encoding
(that is what the engine reads back). Everything made here is removed by ``cleanup``,
which also puts the scene's current frame back where the artist left it.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from . import compat
from .core.errors import InkpaintError

_TINT_MODIFIERS = {"GREASE_PENCIL_TINT", "GREASE_PENCIL_COLOR"}
_SCENE_NAME = ".inkpaint passes"


class PassRenderer:
    def __init__(self, scene: bpy.types.Scene, obj: bpy.types.Object) -> None:
        self._made: list[tuple[bpy.types.bpy_prop_collection, bpy.types.ID]] = []
        # Drawings are evaluated at the frame of the window's scene, not at the private
        # scene's: each render moves the context scene there, and cleanup puts it back.
        home = bpy.context.scene
        self._home = (home.name, home.frame_current, home.frame_subframe)
        try:
            self.scene = self._keep(bpy.data.scenes, bpy.data.scenes.new(_SCENE_NAME))
            self._setup_scene(scene)
            self.fill_obj = self._keep(bpy.data.objects, obj.copy())
            self.fill_obj.name = f".inkpaint fills {obj.name}"
            self.line_obj = self._line_copy(obj)
            for o in (self.fill_obj, self.line_obj):
                o.hide_render = False
                o.hide_viewport = False
                self.scene.collection.objects.link(o)
        except Exception:
            self.cleanup()
            raise

    # ---- set-up ------------------------------------------------------------------------------

    def _keep(self, collection, datablock):
        self._made.append((collection, datablock))
        return datablock

    def _setup_scene(self, src: bpy.types.Scene) -> None:
        t = self.scene
        t.camera = src.camera
        t.frame_start, t.frame_end = src.frame_start, src.frame_end
        r, s = t.render, src.render
        r.engine = "BLENDER_WORKBENCH"
        r.resolution_x, r.resolution_y = s.resolution_x, s.resolution_y
        r.resolution_percentage = s.resolution_percentage
        r.pixel_aspect_x, r.pixel_aspect_y = s.pixel_aspect_x, s.pixel_aspect_y
        r.fps, r.fps_base = s.fps, s.fps_base
        r.film_transparent = False
        # No dither: its ±1 noise turns every flat fill of a key into a speckle of colours,
        # and the composition takes a key's fills as exact palette colours.
        r.dither_intensity = 0.0
        r.use_compositing = False
        r.use_sequencer = False
        # No metadata (date, render time, file name): the same drawing must give the same
        # bytes, since the correction loop keys frames by their line art's contents.
        for name in r.bl_rna.properties.keys():
            if name.startswith("use_stamp"):
                setattr(r, name, False)
        img = r.image_settings
        img.file_format = "PNG"
        img.color_mode = "RGB"
        img.color_depth = "8"
        if "sRGB" in t.display_settings.bl_rna.properties["display_device"].enum_items.keys():
            t.display_settings.display_device = "sRGB"
        v = t.view_settings
        v.view_transform = "Standard"
        v.look = "None"
        v.exposure = 0.0
        v.gamma = 1.0
        v.use_curve_mapping = False
        world = self._keep(bpy.data.worlds, bpy.data.worlds.new(".inkpaint paper"))
        world.color = (1.0, 1.0, 1.0)  # Workbench paints the background with this
        t.world = world

    def _line_copy(self, obj: bpy.types.Object) -> bpy.types.Object:
        data = self._keep(compat.grease_pencil_data(), obj.data.copy())
        for layer in data.layers:
            layer.tint_factor = 0.0
            for gp_frame in layer.frames:
                drawing = gp_frame.drawing
                if drawing is None:
                    continue
                attr = drawing.attributes.get("vertex_color")
                if attr is not None:
                    drawing.attributes.remove(attr)
        line = self._keep(bpy.data.objects, obj.copy())
        line.name = f".inkpaint lines {obj.name}"
        line.data = data
        for mod in line.modifiers:
            if mod.type in _TINT_MODIFIERS:
                mod.show_render = False
        inked: dict[str, bpy.types.Material] = {}
        for slot in line.material_slots:
            mat = slot.material
            if mat is None or mat.grease_pencil is None:
                continue
            if mat.name not in inked:
                ink = self._keep(bpy.data.materials, mat.copy())
                ink.name = f".inkpaint ink {mat.name}"
                gpm = ink.grease_pencil
                gpm.show_fill = False
                gpm.color = (0.0, 0.0, 0.0, 1.0)
                gpm.stroke_style = "SOLID"
                gpm.mix_stroke_factor = 0.0
                gpm.use_stroke_holdout = False
                inked[mat.name] = ink
            slot.material = inked[mat.name]
        return line

    # ---- rendering ---------------------------------------------------------------------------

    def render(self, frame: int, fills: bool, path: Path) -> None:
        """Render one pass of one frame into a PNG at ``path``."""
        self.line_obj.hide_render = fills
        self.fill_obj.hide_render = not fills
        self.scene.frame_set(frame)
        bpy.context.scene.frame_set(frame)
        try:
            bpy.ops.render.render(scene=self.scene.name)
        except RuntimeError as exc:
            raise InkpaintError(f"Blender could not render frame {frame} of the line art "
                              f"({exc}): finish or stop any other render and run again") from exc
        result = next((i for i in bpy.data.images if i.type == "RENDER_RESULT"), None)
        if result is None:
            raise InkpaintError(f"Blender rendered frame {frame} but kept no Render Result")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        result.save_render(str(path), scene=self.scene)

    def cleanup(self) -> None:
        """Remove every data-block made here, newest first (objects before their data, the
        scene last)."""
        made, self._made = self._made, []
        home = bpy.data.scenes.get(self._home[0])
        if home is not None and home.frame_current != self._home[1]:
            home.frame_set(self._home[1], subframe=self._home[2])
        for collection, block in reversed(made):
            try:
                collection.remove(block)
            except (ReferenceError, RuntimeError):
                pass  # already gone (a file load freed it, or the user deleted it)
