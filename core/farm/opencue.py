"""OpenCue: an outline built with ``opencue-pyoutline``, one Shell layer per unit of the chunk
plan (range = the unit, chunk = the planned chunk size, so Cue's frames are exactly the
planned chunks), serialised to the job spec XML Cuebot takes. ``--submit`` launches it.

pyoutline is optional (``pip install opencue-pyoutline``): without it nothing here imports.
"""

from __future__ import annotations

import getpass
import shlex
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..errors import InkpaintError
from .job import JobSpec


def _outline_module():
    try:
        import outline  # noqa: F401
        import outline.cuerun  # noqa: F401
        from outline.modules.shell import Shell  # noqa: F401
    except ImportError as exc:
        raise InkpaintError("OpenCue jobs need pyoutline: pip install opencue-pyoutline "
                            f"({exc})") from exc
    import outline

    return outline


def build_outline(spec: JobSpec, user: str):
    """The ``outline.Outline`` of the job (not set up, not launched)."""
    outline = _outline_module()
    from outline.modules.shell import Shell

    ol = outline.Outline(spec.slug, shot=spec.options.get("shot") or spec.slug,
                         show=spec.options.get("show") or None,
                         user=user)
    for k, v in sorted(spec.env.items()):
        ol.set_env(k, v, pre=True)  # pre: sent to Cuebot with the job
    command = shlex.join(spec.argv("#FRAME_START#-#FRAME_END#", "lines"))
    for i, unit in enumerate(spec.plan.units):
        chunks = spec.plan.unit_chunks(i)
        if not chunks:
            continue
        frames = f"{chunks[0].start}-{chunks[-1].end}"
        kind = "key" if unit.key_only else "colorize"
        args = {"command": command, "range": frames, "chunk": spec.plan.chunk_size}
        if spec.options.get("cores"):
            args["cores"] = float(spec.options["cores"])
        if spec.options.get("memory"):
            args["memory"] = spec.options["memory"]
        if spec.device == "cuda":
            args["gpus"] = 1
        ol.add_layer(Shell(f"{kind}_{frames.replace('-', '_')}", **args))
    return ol


def job_user(spec: JobSpec) -> str:
    """Who owns the job: ``--user``, else the submitting account. Cue mails and bills the
    owner, so a job is never filed under a made-up name when neither is known."""
    user = spec.options.get("user")
    if user:
        return user
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        raise InkpaintError("OpenCue needs the job's owner and this account has no user name "
                            "($USER and $LOGNAME are unset): pass --user NAME") from None


PLACEHOLDER_DOMAIN = "example.com"  # pyoutline's stock outline.cfg; a site sets its own


def launch_options(spec: JobSpec) -> dict:
    """Owner, priority and mail for ``OutlineLauncher``: Cue mails ``user@<domain of the
    outline config>``, so with pyoutline's placeholder domain no address is sent at all."""
    outline = _outline_module()
    options = {"user": job_user(spec), "priority": spec.priority}
    if outline.config.get("outline", "domain") in ("", PLACEHOLDER_DOMAIN):
        options["nomail"] = True
    return options


@contextmanager
def _session_dir():
    """pyoutline's set-up writes a session folder; with ``use_pycuerun=False`` the frames run
    the layer commands directly and never read it, so it lives in a temp folder that goes
    away (never in the job folder)."""
    outline = _outline_module()
    with tempfile.TemporaryDirectory(prefix="inkpaint-cue-") as tmp:
        outline.config.set("outline", "session_dir", tmp)
        yield


def serialize(spec: JobSpec) -> str:
    """The OpenCue job spec (XML) of the outline."""
    outline = _outline_module()
    options = launch_options(spec)
    ol = build_outline(spec, options["user"])
    with _session_dir():
        launcher = outline.cuerun.OutlineLauncher(ol, **options)
        return launcher.serialize(use_pycuerun=False)


def write_job(spec: JobSpec, dest: Path) -> list[Path]:
    xml_text = serialize(spec)  # fails (no user) before anything is written
    dest.mkdir(parents=True, exist_ok=True)
    xml = dest / f"{spec.slug}.cuejob.xml"
    xml.write_text(xml_text, encoding="utf-8")
    return [xml]


def launch(spec: JobSpec):
    """Submit to Cuebot (needs a reachable Cuebot configured for pycue)."""
    outline = _outline_module()
    options = launch_options(spec)
    ol = build_outline(spec, options["user"])
    with _session_dir():
        return outline.cuerun.launch(ol, use_pycuerun=False, **options)
