"""Test support for the Nuke adapter: ``install()`` puts the fake ``nuke`` module (this
folder) and the plugin folder on ``sys.path`` and starts a fresh fake session."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLUGIN = HERE.parent.parent / "nuke_plugin"


def install(gui: bool = True):
    """The fake ``nuke`` module after Nuke's start-up with the plugin on NUKE_PATH (init.py,
    and menu.py when ``gui``)."""
    for path in (str(HERE), str(PLUGIN)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import nuke

    nuke.reset()
    nuke.env["gui"] = gui
    nuke.ProgressTask.cancel_after = None
    nuke.run_init(str(PLUGIN), gui=gui)
    return nuke


def comp(nuke, shot_dir: Path, first: int, last: int, line: str = "line", colour: str = "color"):
    """Read nodes for a generated shot (``line.####.png``, ``color.####.png``) and an
    InkpaintColorize node fed by them, as an artist would set it up."""
    line_read = nuke.nodes.Read(file=str(shot_dir / f"{line}.####.png"), first=first, last=last)
    colour_read = nuke.nodes.Read(file=str(shot_dir / f"{colour}.####.png"), first=first,
                                  last=last)
    node = nuke.createNode("InkpaintColorize")
    node.setInput(0, line_read)
    node.setInput(1, colour_read)
    return node, line_read, colour_read
