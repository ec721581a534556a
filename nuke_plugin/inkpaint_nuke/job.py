"""What a Colorize run does, decided from knob values alone (no ``nuke``, no numpy), so every
rule here is tested without Nuke.

A run of an InkpaintColorize node:

1. renders, with temporary Write nodes inside the gizmo (``Plan.writes``), its ``lineart``
   input for the frames the engine reads and its ``refs`` input (unpremultiplied) at the
   reference frames, both through the gizmo's own OCIOColorSpace nodes (the script's working
   space, ``scene_linear``, to sRGB), as 16-bit PNG;
2. hands a job file (``Plan.job``) to the worker, which colours the shot with Inkpaint's
   engine and writes the frames as the engine makes them (sRGB, straight, with the line
   art's alpha) into EXR files;
3. points the gizmo's internal Read node at those frames (``result_knobs``); its
   OCIOColorSpace node brings them back to the working space and a Premult applies the
   alpha.

So every colour conversion happens in the comp, with the script's own OCIO config, whatever
it is (nuke-default, ACES, the CG config), and the worker never converts colour.
"""

import os
import re
from collections import OrderedDict

JOB_VERSION = 2  # 2: inputs arrive as sRGB PNG, frames leave as sRGB EXR
BACKENDS = ("auto", "torch", "onnx")  # core.engine.backends.BACKENDS, auto the default
DEVICES = ("auto", "cpu", "cuda")
# The knobs a run depends on: changing one makes the last result stale.
SETTING_KNOBS = ("ref_frames", "frame_range", "model", "backend", "device", "k", "temporal",
                 "size", "srgb_colorspace")
# Names the sRGB (display-referred, "texture") colour space goes by in the configs Nuke ships
# (legacy colour management and nuke-default, ACES 1.x, the CG config) and the OCIO roles
# that point to it; the gizmo's OCIOColorSpace nodes use the first one the config knows.
SRGB_NAMES = ("sRGB", "sRGB - Texture", "Utility - sRGB - Texture",
              "sRGB Encoded Rec.709 (sRGB)", "matte_paint", "texture_paint", "color_picking")

# Frames whose confidence is below this are listed for review: the engine's own level for a
# doubtful region (core.compose.composer.FLAGGED; a test keeps the two equal).
REVIEW_BELOW = 0.5

_PROGRESS = re.compile(r"inkpaint: progress\s+([0-9.]+)%\s+\((\d+)/(\d+)\)\s*(.*)$")
_ERROR = re.compile(r"inkpaint: error: (.*)$")
_CONFIDENCE = re.compile(r"inkpaint: confidence\s+([0-9.]+)\s+frame\s+(-?\d+)")


class UserError(Exception):
    """Something the artist can fix, said in one line (shown in the status knob)."""

    def __init__(self, message):
        super().__init__(" ".join(str(message).split()))


# ---- knob values -----------------------------------------------------------------------------


def parse_ref_frames(text):
    """``"1001,1024 1048"`` -> [1001, 1024, 1048] (commas and/or spaces, any order)."""
    tokens = [t for t in re.split(r"[,\s]+", str(text).strip()) if t]
    if not tokens:
        raise UserError("no reference frames: type the frames you painted in 'reference "
                        "frames', e.g. 1001,1024")
    frames = []
    for t in tokens:
        if not re.match(r"^-?\d+$", t):
            raise UserError(f"reference frames: '{t}' is not a frame number (write e.g. "
                            "1001,1024,1048)")
        frames.append(int(t))
    dupes = sorted(set(f for f in frames if frames.count(f) > 1))
    if dupes:
        raise UserError(f"reference frame {dupes[0]} is listed twice")
    return sorted(frames)


def parse_frame_range(text):
    """``""`` (the input's range), ``"1001-1048"`` or ``"1010"`` -> (first, last) or None."""
    text = str(text or "").strip()
    if not text:
        return None
    m = re.match(r"^(-?\d+)\s*(?:-\s*(-?\d+))?$", text)
    if m is None:
        raise UserError(f"frame range '{text}': write FIRST-LAST (e.g. 1001-1048), one frame, "
                        "or leave it empty for the whole input")
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) is not None else first
    if first > last:
        raise UserError(f"frame range '{text}': the first frame is after the last")
    return first, last


class Settings:
    """The validated knob values of one InkpaintColorize node."""

    def __init__(self, ref_frames, frame_range, model, backend, device, k, temporal, size,
                 cache_dir, python, srgb_colorspace):
        self.ref_frames = ref_frames  # type: List[int]
        self.frame_range = frame_range  # type: Optional[Tuple[int, int]]
        self.model = model
        self.backend = backend
        self.device = device
        self.k = k
        self.temporal = temporal
        self.size = size  # type: Optional[int]
        self.cache_dir = cache_dir
        self.python = python
        self.srgb_colorspace = srgb_colorspace


def _int(values, name, default):
    value = values.get(name, default)
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise UserError(f"knob '{name}' must be a whole number, not '{value}'") from None


def _choice(values, name, options):
    value = values.get(name, options[0])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = options[int(value)] if 0 <= int(value) < len(options) else value
    value = str(value)
    if value not in options:
        raise UserError(f"knob '{name}' is '{value}'; use one of {', '.join(options)}")
    return value


def read_settings(values):
    """Settings from knob values (``{knob name: node[knob].value()}``)."""
    k = _int(values, "k", 2)
    if k < 1:
        raise UserError("K (references per frame) must be 1 or more")
    size = _int(values, "size", 0)
    if size and size < 32:
        raise UserError(f"working size {size} is too small: use 32 or more, or 0 for the "
                        "model's own")
    model = str(values.get("model") or "").strip() or "lite"
    return Settings(
        ref_frames=parse_ref_frames(values.get("ref_frames", "")),
        frame_range=parse_frame_range(values.get("frame_range", "")),
        model=model,
        backend=_choice(values, "backend", BACKENDS),
        device=_choice(values, "device", DEVICES),
        k=k,
        temporal=bool(values.get("temporal", False)),
        size=size or None,
        cache_dir=str(values.get("cache_dir") or "").strip(),
        python=str(values.get("python") or "").strip(),
        srgb_colorspace=str(values.get("srgb_colorspace") or "").strip(),
    )


# ---- frames ----------------------------------------------------------------------------------


def format_frames(frames):
    """[1001, 1002, 1003, 1010] -> "1001-1003, 1010"."""
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in frame_runs(frames))


def frame_runs(frames):
    """Consecutive runs, one ``nuke.execute(write, first, last)`` each."""
    runs = []  # type: List[List[int]]
    for f in sorted(set(frames)):
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    return [(a, b) for a, b in runs]


def lineart_frames(shot, refs, wanted):
    """Line-art frames the engine reads to colour ``wanted``: every frame of each segment
    (the frames between two references) that holds a wanted frame, and the references.

    The engine lays its temporal windows out from each segment's start and never across a
    reference, so any chunk of frames needs at most the segments around it; rendering whole
    segments makes a farm chunk compute exactly what a full run does."""
    first, last = shot
    keys = sorted(set(refs))
    needed = set(keys)
    for f in wanted:
        if f in needed:
            continue
        left = [r for r in keys if r < f]
        right = [r for r in keys if r > f]
        lo = left[-1] if left else first
        hi = right[0] if right else last
        needed.update(range(lo, hi + 1))
    return sorted(needed)


# ---- colour ----------------------------------------------------------------------------------

WORKING = "scene_linear"  # the OCIO role every config defines for the working space
# (node, knob) inside InkpaintColorize that name the sRGB side of a conversion
COLORIZE_SRGB_KNOBS = (("LineToSRGB", "out_colorspace"), ("RefsToSRGB", "out_colorspace"),
                       ("ResultToWorking", "in_colorspace"))


def srgb_candidates(override):
    """The names to try for sRGB: the node's knob when set, else ``SRGB_NAMES``."""
    return [override] if override else list(SRGB_NAMES)


# ---- the run ---------------------------------------------------------------------------------


class WriteSpec:
    """A temporary Write node inside the gizmo: which internal node it renders (``source``),
    where, how, and which frames."""

    def __init__(self, role, source, path, knobs, frames):
        self.role = role
        self.source = source
        self.path = path
        self.knobs = knobs  # type: OrderedDict
        self.frames = frames  # type: List[int]

    @property
    def runs(self):
        return frame_runs(self.frames)

    def __repr__(self):
        return (f"WriteSpec({self.role!r}, from {self.source}, {self.path}, "
                f"frames {format_frames(self.frames)})")


class Plan:
    """Everything one run does; ``job`` is what the worker reads."""

    def __init__(self, node, shot, frames, folder, writes, job, result_pattern):
        self.node = node
        self.shot = shot
        self.frames = frames
        self.folder = folder
        self.writes = writes  # type: List[WriteSpec]
        self.job = job  # type: Dict[str, object]
        self.result_pattern = result_pattern

    @property
    def job_path(self):
        return os.path.join(self.folder, "job.json")

    @property
    def log_path(self):
        return os.path.join(self.folder, "worker.log")


def cache_root(cache_dir, script_path, temp_dir):
    """The knob's folder, else ``inkpaint_cache/<script name>`` beside the saved script,
    else a temp folder for an unsaved one."""
    if cache_dir:
        return cache_dir
    if script_path:
        stem = os.path.splitext(os.path.basename(script_path))[0]
        return os.path.join(os.path.dirname(os.path.abspath(script_path)), "inkpaint_cache",
                            stem)
    return os.path.join(temp_dir, "inkpaint_cache", "untitled")


def _posix(path):
    return path.replace("\\", "/")  # Nuke's file knobs want forward slashes everywhere


def plan_run(settings, node_name, shot, root, frames=None, overwrite=True,
             lineart_alpha=False, refs_alpha=False):
    """The run of one node over ``frames`` (default: the knob's range, else the whole
    ``shot``, the line-art input's frame range). ``*_alpha``: whether the input streams
    have an alpha channel (a Write node asked for rgba writes a missing alpha as 0, which
    would make the line art fully transparent)."""
    first, last = shot
    if first > last:
        raise UserError("the line-art input has no frames")
    span = frames or settings.frame_range or shot
    if span[0] < first or span[1] > last:
        raise UserError(f"frames {span[0]}-{span[1]} are outside the line-art input "
                        f"({first}-{last})")
    outside = [f for f in settings.ref_frames if not first <= f <= last]
    if outside:
        raise UserError(f"reference frame {outside[0]} is outside the line-art input "
                        f"({first}-{last})")
    wanted = list(range(span[0], span[1] + 1))
    node_dir = _posix(os.path.join(root, node_name))
    folder = f"{node_dir}/run.{span[0]}-{span[1]}"
    line_pattern = folder + "/line.####.png"
    ref_pattern = folder + "/ref.####.png"
    result_pattern = node_dir + "/colour.####.exr"
    line_frames = lineart_frames(shot, settings.ref_frames, wanted)
    png = OrderedDict([("file_type", "png"), ("datatype", "16 bit"), ("raw", True),
                       ("create_directories", True)])
    writes = [
        WriteSpec("lineart", "LineToSRGB", line_pattern,
                  OrderedDict(png, channels="rgba" if lineart_alpha else "rgb"), line_frames),
        WriteSpec("refs", "RefsToSRGB", ref_pattern,
                  OrderedDict(png, channels="rgba" if refs_alpha else "rgb"),
                  list(settings.ref_frames)),
    ]
    job = OrderedDict([
        ("version", JOB_VERSION),
        ("node", node_name),
        ("shot", [first, last]),
        ("frames", wanted),
        ("lineart", line_pattern),
        ("lineart_frames", line_frames),
        ("refs", [OrderedDict([("frame", f), ("color", ref_pattern.replace("####", f"{f:04d}"))])
                  for f in settings.ref_frames]),
        ("out", result_pattern),
        ("model", settings.model),
        ("backend", settings.backend),
        ("device", settings.device),
        ("k", settings.k),
        ("temporal", settings.temporal),
        ("size", settings.size),
        ("overwrite", bool(overwrite)),
    ])
    return Plan(node_name, (first, last), wanted, folder, writes, job, result_pattern)


RESULT_KNOBS = ("result_file", "result_first", "result_last", "result_ready")


def result_knobs(plan):
    """Gizmo knobs that point its internal Read at the coloured frames. The Read's knobs are
    expressions on these, so the saved script keeps pointing at the result."""
    return OrderedDict(zip(RESULT_KNOBS, (plan.result_pattern, plan.shot[0], plan.shot[1],
                                          True)))


def flagged_frames(scores):
    """The frames below ``REVIEW_BELOW``, in order."""
    return sorted(f for f, score in (scores or {}).items() if score < REVIEW_BELOW)


def review_text(scores):
    """The review knob: ``3 frames to check: 1003-1005`` (or that none need it)."""
    low = flagged_frames(scores)
    if not scores:
        return ""
    if not low:
        return f"no frame below {REVIEW_BELOW:.2f} confidence"
    return (f"{len(low)} frame{'s' if len(low) != 1 else ''} below {REVIEW_BELOW:.2f} "
            f"confidence: {format_frames(low)}")


def status_done(plan, model, seconds, scores=None):
    name = os.path.splitext(os.path.basename(model))[0] if "/" in model or "\\" in model \
        else model
    low = flagged_frames(scores)
    review = f"; review {format_frames(low)}" if low else ""
    return (f"coloured {format_frames(plan.frames)} ({len(plan.frames)} frames, {name}) "
            f"in {seconds:.0f} s{review}")


# ---- the worker's output ---------------------------------------------------------------------


def parse_progress(line):
    """``inkpaint: progress 12.5% (3/24) frame 1003`` -> (12.5, 3, 24, "frame 1003")."""
    m = _PROGRESS.search(line.strip())
    if m is None:
        return None
    return float(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4).strip()


def parse_confidence(line):
    """``inkpaint: confidence 0.87 frame 1003 (...)`` -> (1003, 0.87)."""
    m = _CONFIDENCE.search(line.strip())
    return (int(m.group(2)), float(m.group(1))) if m else None


def parse_error(line):
    m = _ERROR.search(line.strip())
    return m.group(1).strip() if m else None


# ---- the Cattery gizmo -----------------------------------------------------------------------

# (node, knob) inside InkpaintColorizeCattery (all OCIOColorSpace nodes): the side that
# follows its "input colour space" knob, and the side that is the networks' sRGB.
CATTERY_COLOURSPACE_KNOBS = (("ToSRGB_line", "in_colorspace"),
                             ("ToSRGB_line_alpha", "in_colorspace"),
                             ("ToSRGB_refs", "in_colorspace"), ("ToLinear", "out_colorspace"))
CATTERY_SRGB_KNOBS = (("ToSRGB_line", "out_colorspace"), ("ToSRGB_line_alpha", "out_colorspace"),
                      ("ToSRGB_refs", "out_colorspace"), ("ToLinear", "in_colorspace"))


def cattery_size(size):
    """The Inference node's ``size`` (the model attribute CatFileCreator exposes)."""
    size = int(float(size))
    if size < 32:
        raise UserError(f"working size {size} is too small: use 32 or more")
    return size
