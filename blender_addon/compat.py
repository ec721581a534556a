"""The few places where Blender 4.5 LTS and 5.x differ, behind one name each.

- Sequencer: 4.4 renamed ``Sequence`` to ``Strip``; 4.5 has both ``strips`` and the old
  ``sequences`` collections, 5.0 only ``strips`` / ``strips_all``.
- Grease Pencil v3: its data-blocks live in ``bpy.data.grease_pencils_v3`` in 4.3-4.5 (where
  ``grease_pencils`` holds legacy data) and in ``bpy.data.grease_pencils`` from 5.0 on.
- ``UILayout.progress`` exists in both, but is looked up so an older build degrades to text.

Collections are tested with ``hasattr``, never with ``or``: an empty bpy collection is falsy.
"""

from __future__ import annotations

import bpy

GP_OBJECT_TYPE = "GREASEPENCIL"  # Grease Pencil v3 objects (4.3+); legacy 'GPENCIL' is gone


def strips(sed) -> bpy.types.bpy_prop_collection:
    """Top-level strips of a sequence editor (what channels and overlaps are about)."""
    return sed.strips if hasattr(sed, "strips") else sed.sequences


def strips_all(sed) -> bpy.types.bpy_prop_collection:
    """Every strip, inside meta strips too (for name lookups)."""
    return sed.strips_all if hasattr(sed, "strips_all") else sed.sequences_all


def strips_all_name() -> str:
    """The attribute name of ``strips_all`` (for ``layout.prop_search``)."""
    props = bpy.types.SequenceEditor.bl_rna.properties
    return "strips_all" if "strips_all" in props else "sequences_all"


def grease_pencil_data() -> bpy.types.bpy_prop_collection:
    """The data-block collection of Grease Pencil v3 drawings."""
    if hasattr(bpy.data, "grease_pencils_v3"):
        return bpy.data.grease_pencils_v3
    return bpy.data.grease_pencils


def is_grease_pencil(obj) -> bool:
    return obj is not None and obj.type == GP_OBJECT_TYPE


def new_image_strip(sed, name: str, files: list[str], channel: int, frame_start: int):
    """An image strip showing ``files`` (absolute paths in one folder) from ``frame_start``."""
    strip = strips(sed).new_image(name, files[0], channel, frame_start)
    for path in files[1:]:
        strip.elements.append(bpy.path.basename(path))
    return strip


def can_draw_progress(layout) -> bool:
    return hasattr(layout, "progress")
