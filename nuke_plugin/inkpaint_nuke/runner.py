"""Runs the worker for a job: as a subprocess of a configured Python (the default, so Nuke's
own Python never needs PyTorch), or in Nuke's Python when no other is configured and the
engine imports there. Either way progress arrives as (percent, message) and a cancel request
stops the run between frames (in-process) or ends the subprocess."""

import json
import os
import subprocess
import sys
import threading
import time

from .job import UserError, parse_confidence, parse_error, parse_progress

try:
    import queue
except ImportError:  # pragma: no cover
    import Queue as queue  # noqa: N813

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV_PYTHON = "INKPAINT_PYTHON"
PROGRESS_LINE = "inkpaint: progress {:.1f}% ({}/{}) {}"  # as core.progress prints it


class Cancelled(Exception):
    """The run was cancelled; frames already written stay (they are complete)."""


def resolve_python(knob_value, environ=None):
    """The worker's Python: the node's knob, else $INKPAINT_PYTHON, else None (in-process)."""
    environ = os.environ if environ is None else environ
    python = (knob_value or environ.get(ENV_PYTHON) or "").strip()
    if python and not os.path.isfile(python):
        raise UserError(f"worker Python {python} does not exist: set the node's Python knob "
                        f"(or {ENV_PYTHON}) to a Python that has Inkpaint installed")
    return python or None


def write_job(plan):
    """The job file the worker reads (also kept for re-running a job by hand)."""
    if not os.path.isdir(plan.folder):
        os.makedirs(plan.folder)
    tmp = plan.job_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(plan.job, f, indent=1)
    os.replace(tmp, plan.job_path)
    return plan.job_path


def worker_command(python, job_path):
    return [python, "-m", "inkpaint_nuke.worker", job_path]


def worker_env(environ=None):
    """The subprocess finds ``inkpaint_nuke`` (with a vendored engine, or the checkout's) on
    PYTHONPATH; Nuke's own Python variables are removed so they cannot leak into another
    Python."""
    env = dict(os.environ if environ is None else environ)
    for name in ("PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(name, None)
    paths = [PLUGIN_DIR] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    checkout = os.path.dirname(PLUGIN_DIR)  # a checkout: nuke_plugin/ beside core/
    if os.path.isfile(os.path.join(checkout, "core", "__init__.py")):
        paths.append(checkout)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_job(plan, python=None, progress=None, should_cancel=None, echo=None):
    """Run the plan's job and return the frames' confidence ({frame: score}, from the
    worker's ``inkpaint: confidence`` lines); raise ``UserError`` (the worker's one-line
    message) or ``Cancelled``. ``progress(percent, message)``, ``should_cancel() -> bool``
    and ``echo(line)`` (every worker line, e.g. to a farm log) are optional."""
    job_path = write_job(plan)
    scores = {}

    def line_out(line):
        found = parse_confidence(line)
        if found is not None:
            scores[found[0]] = found[1]
        if echo is not None:
            echo(line)

    if python:
        _run_subprocess(python, job_path, plan.log_path, progress, should_cancel, line_out)
    else:
        _run_in_process(plan.job, progress, should_cancel, line_out)
    return scores


def _run_subprocess(python, job_path, log_path, progress, should_cancel, echo):
    lines = queue.Queue()
    kwargs = {}
    if os.name == "nt":  # no console window flashing up from the GUI
        kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    proc = subprocess.Popen(worker_command(python, job_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=worker_env(), **kwargs)

    def pump():
        for raw in iter(proc.stdout.readline, b""):
            lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        lines.put(None)

    reader = threading.Thread(target=pump)
    reader.daemon = True
    reader.start()
    error = None
    with open(log_path, "w") as log:
        while True:
            if should_cancel is not None and should_cancel():
                _stop(proc)
                raise Cancelled()
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            log.write(line + "\n")
            log.flush()
            echo(line)
            error = parse_error(line) or error
            parsed = parse_progress(line)
            if parsed is not None and progress is not None:
                progress(parsed[0], parsed[3])
    code = proc.wait()
    if code != 0:
        raise UserError(error or f"the worker stopped with exit status {code}; see {log_path}")
    return code


def _stop(proc):
    """End the worker we started: terminate, then kill if it does not go within 5 s."""
    proc.terminate()
    deadline = time.time() + 5.0
    while proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _run_in_process(job, progress, should_cancel, echo):
    try:
        from . import worker
        errors = worker._core.module("errors")
    except ImportError as exc:
        raise UserError(f"Inkpaint's engine does not import in Nuke's Python ({exc}): set "
                        f"the node's Python knob or {ENV_PYTHON} to a Python that has Inkpaint "
                        "installed") from None

    def on_progress(done, total, frame):
        percent = 100.0 * done / max(1, total)
        # the same line the subprocess prints, for farm logs
        echo(PROGRESS_LINE.format(percent, done, total, f"frame {frame}"))
        if progress is not None:
            progress(percent, f"frame {frame}")

    try:
        worker.run(job, progress=on_progress, should_cancel=should_cancel, log=echo)
    except worker.Cancelled:
        raise Cancelled() from None
    except errors.InkpaintError as exc:
        raise UserError(str(exc)) from None
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("inkpaint_nuke.runner is a library; run inkpaint_nuke.worker")
