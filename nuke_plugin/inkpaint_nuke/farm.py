"""Farm mode: colour the InkpaintColorize nodes of a comp from ``nuke -t``.

    nuke -t <plugin>/inkpaint_farm.py comp.nk [--node NAME ...] [--frames A-B]
         [--python PY] [--overwrite] [--save]

Each node renders its inputs, runs the worker and prints the engine's progress lines
(``inkpaint: progress 12.5% (3/24) frame 1003``, one per frame, flushed) on stdout, where
Deadline, OpenJD or Tractor log parsers read them. Chunks are retry-safe: frames are written
atomically and, without ``--overwrite``, frames already on disk are skipped. The gizmo's
result knobs point at a fixed folder, so a later ``nuke -x`` render of the same comp (a
dependent farm job) reads the coloured frames; ``--save`` also stores them in the script.
Chunks of one comp run in parallel: ``--save`` writes only when a node's result knobs
changed (the first chunk to finish; the others find them set), under a lock file beside the
comp, through a temp file renamed over it, so no two tasks rewrite the .nk at once and a
reader never sees half a script. Exit status 0 only when every node succeeded.
"""

import argparse
import os
import sys
import time

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


LOCK_WAIT_S = 120.0  # saving a comp takes well under a second; longer means a stuck task
LOCK_STALE_S = 600.0  # a lock this old was left by a killed task: take it over


def _result_values(nodes):
    return [[node[k].value() for k in job.RESULT_KNOBS] for node in nodes]


def save_script(path):
    """Save the open script to ``path`` under ``path.inkpaint-lock``, via a temp file."""
    lock = path + ".inkpaint-lock"
    deadline = time.time() + LOCK_WAIT_S
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            try:
                if time.time() - os.path.getmtime(lock) > LOCK_STALE_S:
                    os.remove(lock)
                    continue
            except OSError:
                continue
            if time.time() > deadline:
                raise job.UserError(f"cannot save {path}: {lock} has been held for "
                                    f"{LOCK_WAIT_S:.0f} s; remove it if no task is "
                                    "saving") from None
            time.sleep(0.2)
    try:
        tmp = f"{path}.{os.getpid()}.tmp"
        nuke.scriptSave(tmp)
        os.replace(tmp, path)
        nuke.root()["name"].setValue(path)  # saving under tmp renamed the script
    finally:
        os.remove(lock)


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        frames = job.parse_frame_range(args.frames) if args.frames else None
        nuke.scriptOpen(args.script)
        nodes = find_nodes(args.node)
        before = _result_values(nodes)
        for node in nodes:
            _echo(f"inkpaint: {node.fullName()}")
            nuke_ops.colorize(node, frames=frames, python=args.python,
                              overwrite=args.overwrite, progress=nuke_ops.TerminalProgress(),
                              echo=_echo)
            _echo(f"inkpaint: {node.fullName()}: {node['status'].value()}")
        if args.save and _result_values(nodes) != before:
            save_script(os.path.abspath(args.script))
            _echo(f"inkpaint: saved {args.script}")
        elif args.save:
            _echo(f"inkpaint: {args.script} already points at the results; not saved again")
    except job.UserError as exc:
        print(f"inkpaint: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
