"""Farm mode: colour the InkpaintColorize nodes of a comp from ``nuke -t``.

    nuke -t <plugin>/inkpaint_farm.py comp.nk [--node NAME ...] [--frames A-B]
         [--python PY] [--overwrite] [--save]

Each node renders its inputs, runs the worker and prints the engine's progress lines
(``inkpaint: progress 12.5% (3/24) frame 1003``, one per frame, flushed) on stdout, where
Deadline, OpenJD or Tractor log parsers read them. Chunks are retry-safe: frames are written
atomically and, without ``--overwrite``, frames already on disk are skipped. The gizmo's
result knobs point at a fixed folder, so a later ``nuke -x`` render of the same comp (a
dependent farm job) reads the coloured frames; ``--save`` also stores them in the script.
Exit status 0 only when every node succeeded.
"""

import argparse
import sys

import nuke

from . import job, nuke_ops


def build_parser():
    p = argparse.ArgumentParser(prog="nuke -t inkpaint_farm.py",
                                description="Colour InkpaintColorize nodes of a Nuke script.")
    p.add_argument("script", help="the .nk comp")
    p.add_argument("--node", action="append", default=[],
                   help="node to run (repeat; default: every InkpaintColorize node)")
    p.add_argument("--frames", help="frame range A-B (a farm chunk; default: each node's)")
    p.add_argument("--python", help="the worker's Python (default: the node's knob, "
                                    "then $INKPAINT_PYTHON)")
    p.add_argument("--overwrite", action="store_true",
                   help="redo frames that already exist (default: skip them, retry-safe)")
    p.add_argument("--save", action="store_true", help="save the script afterwards")
    return p


def find_nodes(names):
    if names:
        nodes = []
        for name in names:
            node = nuke.toNode(name)
            if node is None:
                raise job.UserError(f"no node named {name} in the script")
            nodes.append(node)
        return nodes
    nodes = [n for n in nuke.allNodes(recurseGroups=True) if n.Class() == nuke_ops.GIZMO]
    if not nodes:
        raise job.UserError(f"the script has no {nuke_ops.GIZMO} node")
    return nodes


def _echo(line):
    print(line, flush=True)


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        frames = job.parse_frame_range(args.frames) if args.frames else None
        nuke.scriptOpen(args.script)
        for node in find_nodes(args.node):
            _echo(f"inkpaint: {node.fullName()}")
            nuke_ops.colorize(node, frames=frames, python=args.python,
                              overwrite=args.overwrite, progress=nuke_ops.TerminalProgress(),
                              echo=_echo)
            _echo(f"inkpaint: {node.fullName()}: {node['status'].value()}")
        if args.save:
            nuke.scriptSave()
    except job.UserError as exc:
        print(f"inkpaint: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
