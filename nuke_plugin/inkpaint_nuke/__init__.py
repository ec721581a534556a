"""Inkpaint for Nuke: the InkpaintColorize gizmo's Python side.

Layers, from the bottom:

- ``job``: pure Python (no ``nuke``, no numpy): knob values -> a validated run plan (frames,
  Write nodes to create, paths, the worker's job file);
- ``worker``: numpy + Inkpaint's ``core``: the engine on the sRGB PNGs the gizmo rendered,
  sRGB EXR out (every colour conversion is the gizmo's own OCIOColorSpace nodes); run in a
  configured Python (subprocess) or in Nuke's own Python;
- ``runner``: starts the worker, reads its progress and confidence lines, cancels it;
- ``nuke_ops``, ``farm``, ``cattery``: the only modules that import ``nuke``; in the GUI the
  run goes on in a thread that hands every node operation to the main thread.

Everything here runs on Nuke 13-16, so it is Python 3.7 syntax (tests check it).
"""

__version__ = "0.1.0"
