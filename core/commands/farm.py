"""``inkpaint farm plan`` and ``inkpaint farm submit``: a shot as render-farm chunks and jobs.

``plan`` prints the chunks (text or JSON); ``submit --farm NAME`` writes the farm's job files
into ``--job-dir`` (and with ``--submit`` hands them to the farm's own tool or API). Every
task runs ``inkpaint colorize --frames A-B`` for one chunk. Paths are made absolute, since
tasks run elsewhere; inputs are checked here so a broken submission fails at the desk, not on
the farm.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ..config import ModelConfig
from ..engine.backends import BACKENDS
from ..engine.plan import validate_refs
from ..errors import InkpaintError
from ..farm.chunks import DEFAULT_CHUNK, ChunkPlan, plan_chunks
from ..farm.job import JobSpec, KeySpec, is_path
from ..frames import FrameSequence, OutputPattern, check_no_overwrite, parse_frame_range
from ..imageio import check_writable_format
from ..preflight import (
    check_k,
    check_keys,
    check_output_folder,
    check_size,
    select_frames,
    shot_size,
)

FARMS = ("openjd", "deadline", "opencue", "flamenco", "blender", "nuke")


def add_farm_parser(sub: argparse._SubParsersAction) -> None:
    farm = sub.add_parser("farm", help="split a shot into render-farm chunks and write jobs")
    fsub = farm.add_subparsers(dest="farm_command", required=True)
    for name in ("plan", "submit"):
        p = fsub.add_parser(name, help="print the chunk plan" if name == "plan" else
                            "write a farm job (and submit it with --submit)")
        p.add_argument("--lineart", required=True, help="line-art frames (as for colorize)")
        p.add_argument("--ref", action="append", default=[], metavar="FRAME=COLOR[,LINEART]",
                       help="a painted key (repeat), as for colorize")
        p.add_argument("--frames", help="only this range A-B (pick-ups); cuts stay where the "
                                        "whole shot's plan has them")
        p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK,
                       help=f"most frames per chunk (default {DEFAULT_CHUNK}); rounded down to "
                            "whole temporal windows")
        p.add_argument("--model", default="lite",
                       help="weights (lite, paper or a .safetensors path): sets the window")
        p.add_argument("--temporal", action=argparse.BooleanOptionalAction, default=False,
                       help="refine with the temporal network (as colorize --temporal)")
        if name == "plan":
            p.add_argument("--format", choices=["text", "json"], default="text")
            continue
        p.add_argument("--farm", required=True, choices=FARMS)
        p.add_argument("--out", required=True, help="output pattern or folder")
        p.add_argument("--job-dir", type=Path,
                       help="where the job files go (default: ./inkpaint-jobs/FARM-NAME)")
        p.add_argument("--name", help="job name (default: inkpaint SHOT/FOLDER/SEQUENCE "
                                      "from the line-art path)")
        p.add_argument("--backend", choices=BACKENDS, default="auto",
                       help="auto (chosen on each node): onnx where ONNX Runtime and the "
                            "model's export are there, else torch")
        p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
        p.add_argument("--size", type=int)
        p.add_argument("-k", "--refs-per-frame", type=int, default=2, dest="k")
        p.add_argument("--bit-depth", type=int, choices=[8, 16], default=8)
        p.add_argument("--overwrite", action="store_true",
                       help="tasks redo frames already written")
        p.add_argument("--command", dest="node_command",
                       help="how nodes start inkpaint (default: 'inkpaint', which must be on "
                            "the nodes' PATH), e.g. '/opt/inkpaint/bin/python -m core'")
        p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                       help="environment for the tasks (repeat), e.g. INKPAINT_WEIGHTS=/w")
        p.add_argument("--priority", type=int, default=50)
        p.add_argument("--pool", help="Deadline pool")
        p.add_argument("--group", help="Deadline group")
        p.add_argument("--deadline-plugin", default="CommandLine",
                       help="CommandLine (stock) or Inkpaint (the generated plugin, with a "
                            "progress bar)")
        p.add_argument("--show", help="OpenCue show")
        p.add_argument("--shot", help="OpenCue shot")
        p.add_argument("--user", help="OpenCue user")
        p.add_argument("--cores", help="OpenCue cores per frame")
        p.add_argument("--memory", help="OpenCue memory per frame, e.g. 8g")
        p.add_argument("--task-type", help="Flamenco task type (default misc)")
        p.add_argument("--manager", help="Flamenco Manager URL, for --submit")
        p.add_argument("--exe", help="blender or nuke executable on the nodes")
        p.add_argument("--blender-repo", default="user_default",
                       help="Blender extension repository the add-on is installed in")
        p.add_argument("--nuke-script", help="Nuke: colour this comp's InkpaintColorize nodes "
                                             "(inkpaint_nuke.farm) instead of the shot")
        p.add_argument("--submit", action="store_true",
                       help="also submit: deadline bundle submit, deadlinecommand, pyoutline "
                            "launch or the Flamenco API")


def run_farm(args: argparse.Namespace) -> int:
    if args.farm_command == "plan":
        seq, keys, plan = _plan(args)
        if args.format == "json":
            print(json.dumps(plan.to_dict() | {"lineart": seq.pattern}, indent=2))
        else:
            print(plan.text())
        return 0
    return _submit(args)


def model_config(model: str) -> ModelConfig:
    """The configuration of ``model``: its card's, or the preset's when a bare name's
    weights are not on this machine (planning at a desk without them)."""
    from ..card import card_config, read_card
    from ..config import load_preset

    try:
        return card_config(read_card(model)[1])
    except InkpaintError:
        if is_path(model):
            raise
        try:
            return load_preset(model)
        except Exception:
            raise InkpaintError(f"unknown model '{model}': use lite, paper or a "
                                ".safetensors path") from None


def window_targets(model: str, temporal: bool) -> int:
    """In-betweens per temporal window of ``model`` (0 when it runs without one). The model's
    card is read either way, so a plan refuses weights its tasks could not load."""
    cfg = model_config(model)
    if not temporal or not cfg.ablation.temporal:
        return 0
    return max(1, cfg.temporal.window - 2)


def job_name(seq: FrameSequence) -> str:
    """``inkpaint SHOT/FOLDER/SEQUENCE`` (e.g. ``inkpaint sh010/lineart/line``): the line-art
    folder alone names every shot alike when each shot keeps its frames in ``lineart/``."""
    folder = Path(os.path.abspath(seq.pattern)).parent
    stem = seq.prefix.rstrip("._- ")
    return "inkpaint " + "/".join(p for p in (folder.parent.name, folder.name, stem) if p)


def _plan(args: argparse.Namespace) -> tuple[FrameSequence, list[KeySpec], ChunkPlan]:
    from .colorize import parse_ref

    seq = FrameSequence(args.lineart)
    first, last = seq.frames[0], seq.frames[-1]
    select_frames(seq, None)  # a gap in the line art stops it here, not on the farm
    refs = [parse_ref(r) for r in args.ref]
    validate_refs(refs, seq.frames)
    frames = parse_frame_range(args.frames) if args.frames is not None else None
    # What a task would refuse, refused at the desk: every frame's header (one size, none
    # over the pixel limit), every key decoded (readable, finite, the size of its line art).
    shot_size({f: seq.path(f) for f in seq.frames}, seq.frames, refs)
    check_keys(refs)
    plan = plan_chunks(first, last, [r.frame for r in refs if r.frame is not None],
                       args.chunk_size, window_targets(args.model, args.temporal),
                       frames)
    keys = [KeySpec(os.path.abspath(r.color), r.frame,
                    os.path.abspath(r.lineart) if r.lineart else None) for r in refs]
    return seq, keys, plan


def _submit(args: argparse.Namespace) -> int:
    check_k(args.k, model_config(args.model))
    if args.size is not None:
        check_size(args.size)
    if args.job_dir is not None and args.job_dir.exists() and not args.job_dir.is_dir():
        raise InkpaintError(f"--job-dir {args.job_dir} is a file, not a folder")
    seq, keys, plan = _plan(args)
    out = OutputPattern(args.out, like=seq)
    check_writable_format(out.path(seq.frames[0]), args.bit_depth)
    check_output_folder(out.folder, writable=False)
    sources = [seq.path(f) for f in seq.frames] + [k.color for k in keys]
    check_no_overwrite(sources, out, [f for c in plan.chunks for f in c.frames])
    name = args.name or job_name(seq)
    env = {}
    for item in args.env:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise InkpaintError(f"bad --env '{item}': use NAME=VALUE")
        env[k] = v
    options = {k: v for k, v in {"pool": args.pool, "group": args.group, "show": args.show,
                                 "shot": args.shot, "user": args.user, "cores": args.cores,
                                 "memory": args.memory, "task_type": args.task_type}.items()
               if v}
    spec = JobSpec(name=name, lineart=os.path.abspath(seq.pattern),
                   out=os.path.abspath(out.pattern), keys=keys, plan=plan,
                   model=os.path.abspath(args.model) if is_path(args.model) else args.model,
                   backend=args.backend,
                   device=args.device, size=args.size, k=args.k,
                   temporal=args.temporal, bit_depth=args.bit_depth,
                   overwrite=args.overwrite, env=env, priority=args.priority, options=options)
    if args.node_command:
        spec.command = shlex.split(args.node_command)
        if not spec.command:
            raise InkpaintError("--command is empty: give how the nodes start inkpaint, e.g. "
                                "'inkpaint' or '/opt/inkpaint/bin/python -m core'")
    dest = args.job_dir or Path("inkpaint-jobs") / f"{args.farm}-{spec.slug}"
    written, submit_cmd = _write(args, spec, dest)
    for p in written:
        print(p)
    print(f"inkpaint: {args.farm} job '{spec.name}': {len(plan.chunks)} chunks of at most "
          f"{plan.chunk_size} frames in {len(plan.units)} units, files in {dest}", flush=True)
    if args.farm not in ("blender", "nuke"):
        print(f"inkpaint: tasks start inkpaint as '{shlex.join(spec.command)}' on the nodes"
              + ("" if args.node_command else " (from their PATH; --command to change)"),
              flush=True)
    if args.submit:
        return _submit_to_farm(args, spec, dest, submit_cmd)
    if submit_cmd:
        print("submit with: " + shlex.join(submit_cmd))
    return 0


def _write(args: argparse.Namespace, spec: JobSpec, dest: Path):
    from ..farm import apps, deadline, flamenco, opencue, openjd

    if args.farm == "openjd":
        return openjd.write_bundle(spec, dest), openjd.submit_command(dest)
    if args.farm == "deadline":
        return deadline.write_job(spec, dest, args.deadline_plugin), deadline.submit_command(dest)
    if args.farm == "opencue":
        return opencue.write_job(spec, dest), None
    if args.farm == "flamenco":
        return flamenco.write_job(spec, dest), None
    comp = os.path.abspath(args.nuke_script) if args.nuke_script else None
    return apps.write_commands(spec, dest, args.farm, args.exe, args.blender_repo,
                               comp=comp), None


def _submit_to_farm(args: argparse.Namespace, spec: JobSpec, dest: Path,
                    cmd: list[str] | None) -> int:
    if args.farm == "opencue":
        from ..farm import opencue

        for job in opencue.launch(spec) or []:
            print(f"inkpaint: submitted OpenCue job {job.name()}")
        return 0
    if args.farm == "flamenco":
        from ..farm import flamenco

        if not args.manager:
            raise InkpaintError("--submit to Flamenco needs --manager http://HOST:8080")
        answer = flamenco.submit(spec, args.manager)
        print(f"inkpaint: submitted Flamenco job {answer.get('id', '?')}")
        return 0
    if cmd is None:
        raise InkpaintError(f"--submit: {args.farm} has no queue of its own; run the commands "
                            f"in {dest} with your farm's submitter")
    if shutil.which(cmd[0]) is None:
        raise InkpaintError(f"--submit needs '{cmd[0]}' on PATH (the job files are in {dest}; "
                            f"submit later with: {shlex.join(cmd)})")
    r = subprocess.run(cmd, stdout=sys.stdout, stderr=sys.stderr)
    if r.returncode != 0:
        raise InkpaintError(f"'{shlex.join(cmd)}' failed with exit code {r.returncode}")
    return 0
