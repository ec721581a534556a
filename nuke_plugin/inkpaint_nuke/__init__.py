"""Inkpaint for Nuke: the InkpaintColorize gizmo's Python side.

Layers, from the bottom:

- ``job``: pure Python (no ``nuke``, no numpy): knob values -> a validated run plan (frames,
  Write nodes to create, paths, the worker's job file);
- ``colour``, ``worker``: numpy + Inkpaint's ``core``: EXR/PNG in, scene-linear <-> sRGB
  (OCIO when present), the engine, EXR out; run in a configured Python (subprocess) or in
  Nuke's own Python;
- ``runner``: starts the worker, reads its progress lines, cancels it;
- ``nuke_ops``, ``farm``: the only modules that import ``nuke``.

Everything here runs on Nuke 13-16, so it is Python 3.7 syntax (tests check it).
"""

__version__ = "0.1.0"
