"""Inkpaint core: reference-based line-art video colourisation (Shi et al., "Deep Line Art
Video Colorization with a Few References").

This package never imports bpy, nuke or Qt and uses only relative imports inside itself, so
``build.py`` can vendor it into the Blender extension and the Nuke bundle unchanged.
"""

from .errors import InkpaintError

__version__ = "0.1.0"
__all__ = ["InkpaintError", "__version__"]
