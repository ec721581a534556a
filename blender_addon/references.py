"""What a run would colour and from which references, worked out from the scene alone.

The panel draws this survey on every redraw (so the artist sees the references and what is
missing before pressing the button) and the operator plans its job from the same survey, so
what is shown is what runs. Nothing here raises or touches files beyond ``os.path`` checks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from . import compat

RESULT_KEY = "inkpaint_source"  # custom property on result strips: "<kind>:<source name>"


@dataclass
class Source:
    kind: str  # "STRIP" | "GPENCIL"
    name: str
    first: int
    last: int  # inclusive
    channel: int = 0  # the source strip's channel (0 for a Grease Pencil object)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def frames(self) -> list[int]:
        return list(range(self.first, self.last + 1))


@dataclass
class RefInfo:
    marker: str
    frame: int
    origin: str = ""  # where its colour comes from, for the panel
    color: Path | None = None  # colour file (image-strip source); GP fills are rendered later
    problem: str | None = None  # blocks the run
    ignored: str | None = None  # shown, not used, does not block


@dataclass
class Survey:
    source: Source | None = None
    refs: list[RefInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # each blocks the run; first is reported

    @property
    def usable(self) -> list[RefInfo]:
        return [r for r in self.refs if r.problem is None and r.ignored is None]

    @property
    def ok(self) -> bool:
        return self.source is not None and not self.problems


def is_result_strip(strip) -> bool:
    return strip.get(RESULT_KEY) is not None


def result_strips(sed, key: str) -> list:
    return [s for s in compat.strips(sed) if s.get(RESULT_KEY) == key]


def strip_file(strip, frame: int) -> Path | None:
    """The image file an image strip shows at ``frame`` (strobe, reverse and offsets
    included), or None when the strip does not cover that frame."""
    if not strip.frame_final_start <= frame < strip.frame_final_end:
        return None
    elem = strip.strip_elem_from_frame(frame)
    if elem is None:
        return None
    return Path(bpy.path.abspath(strip.directory)) / elem.filename


def source_strip(scene, settings):
    """(strip or None, problem or None) for an image-strip source."""
    sed = scene.sequence_editor
    if sed is None or not len(compat.strips(sed)):
        return None, ("The Sequencer is empty: add the line-art frames as an image strip "
                      "(Add > Image/Sequence)")
    if settings.source_strip:
        strip = compat.strips_all(sed).get(settings.source_strip)
        if strip is None:
            return None, (f"There is no strip named '{settings.source_strip}': pick the "
                          "line-art strip under Strip")
    else:
        strip = sed.active_strip
        if strip is None:
            return None, ("No strip is active: click the line-art image strip in the "
                          "Sequencer, or pick it under Strip")
    if strip.type != "IMAGE":
        return None, (f"Strip '{strip.name}' is a {strip.type.lower()} strip: the source "
                      "must be an image strip of line-art frames")
    if is_result_strip(strip):
        return None, (f"Strip '{strip.name}' is Inkpaint's own result: pick the line-art "
                      "strip it was made from")
    return strip, None


def gp_object(context_or_scene, settings):
    obj = settings.gp_object
    if obj is None:
        view_layer = getattr(context_or_scene, "view_layer", None)
        active = view_layer.objects.active if view_layer is not None else None
        obj = active if compat.is_grease_pencil(active) else None
    return obj


def scene_range(scene) -> tuple[int, int]:
    if scene.use_preview_range:
        return scene.frame_preview_start, scene.frame_preview_end
    return scene.frame_start, scene.frame_end


def colour_strip_at(scene, source_strip_, frame: int):
    """The painted colour frame for ``frame``: the top-most unmuted image strip covering it
    on another channel than the source (Inkpaint's own results excluded)."""
    sed = scene.sequence_editor
    found = None
    for s in compat.strips(sed):
        if (s.type != "IMAGE" or s.mute or s == source_strip_ or is_result_strip(s)
                or s.channel == source_strip_.channel):
            continue
        if s.frame_final_start <= frame < s.frame_final_end:
            if found is None or s.channel > found.channel:
                found = s
    return found


def filled_strokes_at(obj, frame: int) -> int:
    """How many strokes of the object would draw a visible fill at ``frame``."""
    fill_ok = []
    for slot in obj.material_slots:
        mat = slot.material
        gpm = getattr(mat, "grease_pencil", None) if mat is not None else None
        fill_ok.append(bool(gpm is not None and gpm.show_fill and not gpm.hide
                            and gpm.fill_color[3] > 0.0))
    if not any(fill_ok):
        return 0
    count = 0
    for layer in obj.data.layers:
        if layer.hide:
            continue
        gp_frame = layer.get_frame_at(frame)
        if gp_frame is None or gp_frame.drawing is None:
            continue
        for stroke in gp_frame.drawing.strokes:
            idx = stroke.material_index
            if 0 <= idx < len(fill_ok) and fill_ok[idx] and len(stroke.points) >= 3:
                count += 1
    return count


def is_ref_marker(name: str, prefix: str) -> bool:
    """Whether a marker named ``name`` marks a reference: its name starts with ``prefix``,
    whatever the case (``Ref1``, ``REF_b`` and ``ref2`` all do for 'ref')."""
    return name.casefold().startswith(prefix.casefold())


def survey(context, settings=None) -> Survey:
    """Source, references and blocking problems for ``context.scene``'s settings."""
    scene = context.scene
    settings = settings or scene.inkpaint
    out = Survey()
    if settings.source_type == "STRIP":
        strip, problem = source_strip(scene, settings)
        if problem:
            out.problems.append(problem)
            return out
        out.source = Source("STRIP", strip.name, int(strip.frame_final_start),
                            int(strip.frame_final_end) - 1, int(strip.channel))
    else:
        obj = gp_object(context, settings)
        if not compat.is_grease_pencil(obj):
            out.problems.append("Pick a Grease Pencil object under Object (or make one "
                                "active)")
            return out
        if scene.camera is None:
            out.problems.append("The scene has no camera: add one and aim it at the drawing "
                                "(the line art is rendered through it)")
        first, last = scene_range(scene)
        out.source = Source("GPENCIL", obj.name, first, last)
        strip = None

    prefix = settings.marker_prefix
    markers = sorted((m for m in scene.timeline_markers if is_ref_marker(m.name, prefix)),
                     key=lambda m: (m.frame, m.name))
    src = out.source
    seen: dict[int, str] = {}
    for m in markers:
        info = RefInfo(m.name, int(m.frame))
        out.refs.append(info)
        if not src.first <= m.frame <= src.last:
            info.ignored = f"outside the source's frames {src.first}-{src.last}"
            continue
        if m.frame in seen:
            info.ignored = f"frame {m.frame} is already marked by '{seen[m.frame]}'"
            continue
        seen[m.frame] = m.name
        if src.kind == "STRIP":
            colour = colour_strip_at(scene, strip, m.frame)
            if colour is None:
                info.problem = (f"no colour frame at frame {m.frame}: put the painted frame "
                                f"as an image strip on another channel at frame {m.frame}")
                continue
            info.origin = f"strip '{colour.name}'"
            info.color = strip_file(colour, m.frame)
            if info.color is None or not os.path.isfile(info.color):
                info.problem = (f"colour frame {info.color} of strip '{colour.name}' is "
                                "missing on disk: re-link or re-render it")
        else:
            info.origin = "Grease Pencil fills"
            if not filled_strokes_at(obj, m.frame):
                info.problem = (f"the drawing has no visible fills at frame {m.frame}: fill "
                                "its regions on that frame (Fill tool) or move the marker")

    if not markers:
        out.problems.append(
            f"No reference markers: add timeline markers named '{prefix}…' (M in the "
            "Timeline, F2 to rename) on the frames you painted")
    elif not any(r.ignored is None for r in out.refs):
        out.problems.append(
            f"No '{prefix}' marker lies within the source's frames {src.first}-{src.last}: "
            "move a marker onto a painted frame of this shot")
    for r in out.refs:
        if r.problem:
            out.problems.append(f"Marker '{r.marker}' (frame {r.frame}): {r.problem}")
    return out
