"""The ``Colorizer``: a shot of line-art frames plus a few painted references in, coloured
frames out, in frame order, streaming (only one temporal window of frames is in memory).

Every input the run needs is checked before the first frame is produced (existence, decoding,
sizes, reference ranges), so a bad frame 900 of 1000 stops the run before anything is
written, with one line that says what to fix.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..card import resolve
from ..compose import DEFAULT_MODE, LINE_MODES, MODES, RefCel, compose, prepare_reference
from ..compose.cache import file_digest
from ..compose.palette import to_u8
from ..compose.review import region_note
from ..errors import InkpaintError
from ..frames import format_frames
from ..imageio import Reads, read_image
from ..inputs import from_net, line_planes, to_net
from ..motion import FrameMotion, Guide, Paths, guide, temporal_weights, warp_key
from ..preflight import check_k, check_memory_of, check_size, shot_size
from ..preprocess import Fit, fit, line_art, unfit
from ..timing import stage
from .backends import Backend, make_backend
from .plan import Reference, Window, plan_windows, select_refs, validate_refs


@dataclass
class ColoredFrame:
    frame: int
    rgb: np.ndarray  # HxWx3 float32 sRGB [0, 1], the line art's native size
    is_reference: bool  # True: the painted reference itself, passed through
    # How sure the composition is, per pixel (HxW float32 [0, 1]) and for the frame (the mean
    # over its regions), and what that rests on. References and held cels are their painted
    # colours: 1.0. None when nothing was composed (--compose network --lines keep): the
    # plain network output has no confidence of its own.
    confidence: np.ndarray | None = None
    score: float | None = None
    note: str = ""
    # the composition's (segmentation, evidence, palette), with ``Colorizer.keep_evidence``
    # set: what ``core.eval.fit_decision`` fits the region decision on
    detail: tuple | None = None


Progress = Callable[[int, int], None]  # (frames done, frames total)

# Threads that decode and prepare frames at once: the cores of the 2-core machine the speed
# targets are set on; each holds one frame in flight, so memory grows by one frame a thread.
# Only for frames of at least THREADED_PIXELS (720p): there a frame costs tens of ms to
# decode and prepare; on small frames the threads' malloc arenas, which keep freed buffers,
# cost more than the threads save (+25-50 MB peak RSS at 256 px, measured).
THREADS, THREADED_PIXELS = 2, 1280 * 720
# Flow guides held for the key flows' chains (``core.motion.Paths``; at most 256 KB each at
# the 512 px flow size): a window's frames, read with it, and the few steps ahead of them
GUIDES_HELD = 32


class Colorizer:
    """Colours shots with one loaded model; reuse it across shots to load weights once."""

    def __init__(self, model: str = "lite", backend: str = "auto", device: str = "auto",
                 size: int | None = None, k: int = 2, temporal: bool = False,
                 expect_preset: str | None = None, compose: str = DEFAULT_MODE,
                 lines: str = "keep", reads: Reads | None = None) -> None:
        with stage("load"):
            self.backend: Backend = make_backend(backend, model, device, expect_preset)
        self.cfg = self.backend.cfg
        self.size = check_size(size) if size is not None else self.cfg.size
        self.k = check_k(k, self.cfg)
        self.temporal = temporal and self.cfg.ablation.temporal
        if compose not in MODES or lines not in LINE_MODES:
            raise InkpaintError(f"--compose must be one of {', '.join(MODES)} and --lines one "
                                f"of {', '.join(LINE_MODES)}")
        self.compose, self.lines = compose, lines
        # every input read once (``imageio.Reads``): the checks of ``sources`` and
        # ``colorize`` and the colouring share what a caller's own checks read (``reads``)
        self.reads = reads or Reads()
        self.keep_evidence = False
        # What shapes every output frame besides its input files (``sources``): the key a
        # re-run compares to tell whether a written frame is still what it would render.
        self.settings = {"weights": file_digest(resolve(model)), "backend": self.backend.name,
                         "device": self.backend.device, "size": self.size, "k": self.k,
                         "temporal": self.temporal, "compose": compose, "lines": lines}

    @property
    def composes(self) -> bool:
        """False for ``--compose network --lines keep``: the network's colours go out as they
        are, so there is no composition and no confidence."""
        return not (self.compose == "network" and self.lines == "keep")

    # ---- public API -------------------------------------------------------------------------

    def colorize(self, lineart: Mapping[int, Path], refs: Sequence[Reference],
                 frames: Iterable[int] | None = None,
                 progress: Progress | None = None) -> Iterator[ColoredFrame]:
        """Coloured frames of ``frames`` (default: the whole shot), in order.

        ``lineart`` maps frame numbers to line-art files (a ``FrameSequence`` works)."""
        try:
            yield from self._colorize(lineart, refs, frames, progress)
        finally:  # a Colorizer colours shot after shot: their keys' pixels go with each
            self.reads.forget_keys()

    def _colorize(self, lineart: Mapping[int, Path], refs: Sequence[Reference],
                  frames: Iterable[int] | None,
                  progress: Progress | None) -> Iterator[ColoredFrame]:
        wanted, windows, last = self._plan(lineart, refs, frames)
        ref_at = {r.frame: r for r in refs if r.frame is not None}
        gap = _longest_gap(windows)
        shape = self._preflight(lineart, refs, windows, wanted, gap)
        run = _Run(self, lineart, shape, gap)
        pending = sorted(set(wanted) & set(ref_at))
        done, want = 0, set(wanted)
        for w in windows:
            for cf in run.window(w, refs, last[(w.left, w.right)]):
                if cf.frame not in want:
                    continue  # composed only as the memory of the frames after it
                while pending and pending[0] < cf.frame:
                    f = pending.pop(0)
                    yield run.passthrough(f, ref_at[f], "reference", True)
                    done += 1
                yield cf
                done += 1
                if progress:
                    progress(done, len(wanted))
        for f in pending:
            yield run.passthrough(f, ref_at[f], "reference", True)
            done += 1
            if progress:
                progress(done, len(wanted))

    def sources(self, lineart: Mapping[int, Path], refs: Sequence[Reference],
                frames: Iterable[int] | None = None) -> dict[int, tuple[Path, ...]]:
        """The files each frame's output is made from, its own line art first, then its
        references nearest first, then the rest of its temporal window (with the temporal
        network, a frame depends on every frame of its window and on their references). A
        held cel is made from the reference it holds. Checks the inputs as ``colorize``
        does, so the correction loop (``compose.cache``) can key frames before any output."""
        wanted, windows, _ = self._plan(lineart, refs, frames)
        digests: dict[Path, str] = {}
        self._preflight(lineart, refs, windows, wanted, _longest_gap(windows), digests)
        window_of = {f: w for w in windows for f in w.targets}
        segment: dict[tuple, list[int]] = {}  # each segment's frames, in order
        for w in windows:
            segment.setdefault((w.left, w.right), []).extend(w.targets)
        before = {f: fs[:i] for fs in segment.values() for i, f in enumerate(fs)}

        def art(r: Reference) -> Path:
            return r.lineart or lineart[r.frame]

        def painted(rs: Iterable[Reference]) -> list[Path]:
            return [p for r in rs for p in (r.color, art(r))]

        ref_at = {r.frame: r for r in refs if r.frame is not None}
        out = {}
        for f in wanted:
            files = [lineart[f]]
            held = ref_at.get(f) or _held(f, digests[lineart[f]], refs,
                                          lambda r: digests[art(r)])
            if held is not None:
                files += painted([held])
            else:
                files += painted(_nearest_first(f, select_refs(f, refs, self.k)))
                # shot memory: each frame is coloured with the one before it in view
                files += [lineart[g] for g in before[f]]
                files += [lineart[g] for g in _up_to_key(f, window_of[f], lineart)]
                if self.temporal:
                    w = window_of[f]
                    ends = {r.frame: r for r in (w.left, w.right) if r is not None}
                    for g in w.frames:
                        files += (painted([ends[g]]) if g in ends else
                                  [lineart[g], *painted(select_refs(g, refs, self.k))])
            out[f] = tuple(dict.fromkeys(files))
        return out

    def _plan(self, lineart: Mapping[int, Path], refs: Sequence[Reference],
              frames: Iterable[int] | None
              ) -> tuple[list[int], list[Window], dict[tuple, int]]:
        """The frames asked for, the temporal windows that make them, and each segment's last
        wanted frame (by its bracketing references): no frame after it is composed."""
        shot = sorted(lineart)
        if not shot:
            raise InkpaintError("the line-art sequence is empty")
        wanted = sorted(set(frames)) if frames is not None else list(range(shot[0], shot[-1] + 1))
        validate_refs(refs, shot)
        # every window of a segment that holds a wanted frame, from the segment's start up to
        # its last wanted frame: each frame is coloured with the one before it in view (shot
        # memory), so a range starts where its segment starts and any range is exactly what
        # a full run gives
        windows = plan_windows(shot, refs, self.cfg.temporal.window)
        want = set(wanted)
        last: dict[tuple, int] = {}
        for w in windows:
            hit = [f for f in w.targets if f in want]
            if hit:
                last[(w.left, w.right)] = max(last.get((w.left, w.right), hit[-1]), hit[-1])
        windows = [w for w in windows if (w.left, w.right) in last and
                   w.targets[0] <= last[(w.left, w.right)]]
        return wanted, windows, last

    # ---- checks before any output -----------------------------------------------------------

    def _preflight(self, lineart: Mapping[int, Path], refs: Sequence[Reference],
                   windows: Sequence[Window], wanted: Sequence[int], gap: int,
                   digests: dict[Path, str] | None = None) -> tuple[int, int]:
        """Check every input before any output, cheapest first: the files' headers (sizes,
        ``limits.MAX_PIXELS``, the run's memory with keys up to ``gap`` frames apart), then
        every file decoded once. ``digests`` (when given) collects the pixel digest of every
        line-art file, which tells held cels."""
        missing = [f for f in wanted if f not in lineart]
        if missing:
            raise InkpaintError(f"line-art frames {format_frames(missing)} are missing")
        needed = set(wanted)
        for w in windows:
            needed |= set(w.frames)
            needed |= set(_up_to_key(w.targets[-1], w, lineart))
        needed |= {r.frame for r in refs if r.frame is not None and r.lineart is None}
        shape = shot_size(lineart, sorted(needed), refs)
        check_memory_of(shape, self.size, self.cfg, self.k, len(refs), gap)
        files = [lineart[f] for f in sorted(needed)]
        with stage("read"):  # decoding, and the digests on the worker threads
            found = _threaded(lambda p: self.reads.digest(p)[1], files, shape)
        if digests is not None:
            digests.update(zip(files, found))
        for r in refs:
            self.reads.key(r.color)
            if r.lineart is not None:
                digest = self.reads.digest(r.lineart)[1]
                if digests is not None:
                    digests[r.lineart] = digest
        return shape


def _up_to_key(after: int, w: Window, lineart: Mapping[int, Path]) -> list[int]:
    """The frames after ``after`` up to ``w``'s later key: the flow to that key is chained
    through them (``core.motion.Paths``), so a frame's output is made from them too."""
    if w.right is None:
        return []
    return [g for g in range(after + 1, w.right.frame) if g in lineart]


def _longest_gap(windows: Sequence[Window]) -> int:
    """The most frames between the two keys of a window: what the chains' cache holds
    (``core.motion.paths``)."""
    return max((w.right.frame - w.left.frame for w in windows
                if w.left is not None and w.right is not None
                and w.left.frame is not None and w.right.frame is not None), default=0)


class _Run:
    """State of one colorize call: the letterbox and the prepared references."""

    def __init__(self, owner: Colorizer, lineart: Mapping[int, Path], shape: tuple[int, int],
                 gap: int = 0):
        self.owner, self.lineart, self.shape = owner, lineart, shape
        blank = np.ones(shape, np.float32)
        self.fit: Fit = fit(blank, owner.size, multiple=8, pad_value=1.0)[1]
        self.prepared = lru_cache(maxsize=16)(self._prepare_ref)
        self.cels = lru_cache(maxsize=8)(self._cel)
        # a reference's line art read and prepared once for the network, its cel and its
        # flow guide; a few: it holds the native pixels
        self.key_art = lru_cache(maxsize=4)(self._key_art)
        # and its colour, decoded once for the checks, its cel, its network planes and its
        # passthroughs (read only: a passthrough hands out a copy)
        self.key_rgb = owner.reads.key
        # the last frame coloured in the current segment: (segment, frame, guide, uint8 RGB)
        self.memory: tuple[tuple, int, Guide, np.ndarray] | None = None
        # the neighbour flows chained towards the keys (enough held for the longest gap
        # between keys); their frames' guides, from the windows read (``window``) or read
        # for the chain ahead of them (a few held)
        self.paths = Paths(self._guide, gap)
        self.guides: OrderedDict[int, Guide] = OrderedDict()

    def _guide(self, frame: int) -> Guide | None:
        if frame not in self.guides:
            if frame not in self.lineart:
                return None
            pixels = read_image(self.lineart[frame]).pixels
            with stage("motion"):
                self._hold_guide(frame, guide(line_art(pixels)[1]))
        return self.guides[frame]

    def _hold_guide(self, frame: int, g: Guide) -> None:
        self.guides[frame] = g
        self.guides.move_to_end(frame)
        if len(self.guides) > GUIDES_HELD:
            self.guides.popitem(last=False)

    def planes(self, path: Path) -> _Lineart:
        """A line-art file read once: its network planes, letterboxed like the shot, a digest
        of its pixels (to recognise held cels), and the native pixels and line mask that
        composition needs."""
        pixels = read_image(path).pixels
        with stage("prep"):
            line, mask = line_art(pixels)
            return _Lineart(line_planes(self._fit(line, 1.0), self.owner.cfg.distance_max),
                            self.owner.reads.digest(path)[1], pixels, mask, guide(mask))

    def _key_art(self, ref: Reference) -> _Lineart:
        return self.planes(ref.lineart or self.lineart[ref.frame])

    def motion(self, frame: int, art: _Lineart, chosen: Sequence[Reference],
               segment: tuple) -> FrameMotion | None:
        """The frame's timed keys of its own size warped onto it, and the previous frame of
        its segment (the shot memory) warped onto it."""
        keys = [r for r in chosen if r.frame is not None and self.cels(r).shape == self.shape]
        if not keys:
            return None
        tw = temporal_weights(frame, [r.frame for r in keys])
        # the flow to each key starts from the chain through the frames between, to the
        # segment's own keys (the frames between are the segment's: ``sources``)
        warped = [warp_key(art.guide, self.key_art(r).guide, self.cels(r).rgb, w,
                           self.paths.motion(frame, r.frame, art.guide, self.key_art(r).guide,
                                             r in segment), self.cels(r).seams)
                  for r, w in zip(keys, tw)]
        track = None
        if self.memory is not None and self.memory[0] == segment:
            _, before, g, rgb = self.memory
            # by the neighbour flows the keys' chains are made of (one pair per frame, not two)
            track = warp_key(art.guide, g, rgb, 1.0, self.paths.neighbour(frame, before))
        return FrameMotion(warped, track)

    def remember(self, segment: tuple, frame: int, art: _Lineart, rgb: np.ndarray) -> None:
        self.memory = (segment, frame, art.guide, to_u8(rgb))

    def _cel(self, ref: Reference) -> RefCel:
        rgb = self.key_rgb(ref.color)
        art = self.key_art(ref)
        with stage("prep"):
            return prepare_reference(rgb, art.pixels, mask=art.mask)

    def finish(self, frame: int, net: np.ndarray, art: _Lineart,
               refs: Sequence[Reference], segment: tuple) -> ColoredFrame:
        """The network's colours at native size, composed with the references' fills and
        the frame's own lines (``core.compose``), nearest reference first."""
        o = self.owner
        with stage("compose"):
            rgb = unfit(from_net(net).transpose(1, 2, 0), self.fit)
        if not o.composes:
            return ColoredFrame(frame, rgb, False)
        chosen = _nearest_first(frame, select_refs(frame, refs, o.k))
        cels = [self.cels(r) for r in chosen]
        with stage("motion"):
            motion = self.motion(frame, art, chosen, segment)
        with stage("compose"):
            c = compose(art.pixels, rgb, cels, mode=o.compose, lines=o.lines, mask=art.mask,
                        net_scale=max(self.shape) / o.size, motion=motion,
                        keep_evidence=o.keep_evidence)
            self.remember(segment, frame, art, c.rgb)
        return ColoredFrame(frame, c.rgb, False, c.confidence, c.score, region_note(c),
                            c.detail)

    def held_cel(self, frame: int, digest: str, refs: Sequence[Reference]) -> Reference | None:
        """The reference this frame holds (``_held``), by the digests the preflight took."""
        return _held(frame, digest, refs,
                     lambda r: self.owner.reads.digest(r.lineart or self.lineart[r.frame])[1])

    def _fit(self, img: np.ndarray, pad_value: float | None) -> np.ndarray:
        """Into the shot's canvas; images of another size (model sheets) are letterboxed."""
        out, spec = fit(img, self.owner.size, multiple=8, pad_value=pad_value)
        if spec.padded == self.fit.padded:
            return out
        return _to_canvas(img, self.fit.padded, pad_value)

    def _prepare_ref(self, ref: Reference) -> tuple[np.ndarray, np.ndarray]:
        rgb = self.key_rgb(ref.color)
        lines = self.key_art(ref).planes
        with stage("prep"):
            return lines, to_net(self._fit(rgb, None).transpose(2, 0, 1))

    def passthrough(self, frame: int, ref: Reference, note: str,
                    is_reference: bool) -> ColoredFrame:
        """A reference's own colours as frame ``frame`` (the reference itself, or a cel that
        holds its drawing): exactly as painted, so fully sure."""
        rgb = self.key_rgb(ref.color)
        rgb = rgb.copy() if rgb.shape[:2] == self.shape else unfit(self._fit(rgb, None), self.fit)
        if not self.owner.composes:
            return ColoredFrame(frame, rgb, is_reference)
        return ColoredFrame(frame, rgb, is_reference, np.ones(self.shape, np.float32), 1.0,
                            note)

    def window(self, w: Window, refs: Sequence[Reference],
               last: int) -> list[ColoredFrame]:
        """Colour one window's targets: G per reference set, then T over the window; the
        targets up to ``last`` (its segment's last wanted frame: those before it are its shot
        memory) are composed and returned."""
        o = self.owner
        with stage("prep"):  # and the reads, on the worker threads
            read = dict(zip(w.targets, _threaded(lambda f: self.planes(self.lineart[f]),
                                                 w.targets, self.shape)))
        planes = {f: art.planes for f, art in read.items()}
        for f, art in read.items():
            self._hold_guide(f, art.guide)
        colours: dict[int, np.ndarray] = {}
        groups: dict[tuple[Reference, ...], list[int]] = {}
        for f in w.targets:
            groups.setdefault(select_refs(f, refs, o.k), []).append(f)
        for chosen, fs in groups.items():
            ref_planes, ref_colours = zip(*(self.prepared(r) for r in chosen))
            with stage("network"):
                out = o.backend.colour(np.stack([planes[f] for f in fs]), np.stack(ref_planes),
                                       np.stack(ref_colours))
            colours.update(zip(fs, out))
        if o.temporal:
            order = w.frames
            ends = {r.frame: r for r in (w.left, w.right) if r is not None}
            lines = np.stack([planes[f][:1] if f in planes else self.prepared(ends[f])[0][:1]
                              for f in order])
            cols = np.stack([colours[f] if f in colours else self.prepared(ends[f])[1]
                             for f in order])
            with stage("network"):
                refined = o.backend.temporal(lines, cols, np.array([f in ends for f in order]))
            colours = {f: c for f, c in zip(order, refined) if f not in ends}
        out = []
        segment = (w.left, w.right)
        for f in (f for f in w.targets if f <= last):
            held = self.held_cel(f, read[f].digest, refs)
            if held is None:
                out.append(self.finish(f, colours[f], read[f], refs, segment))
            else:
                out.append(self.passthrough(f, held, f"held cel of {_name(held)}", False))
                self.remember(segment, f, read[f], out[-1].rgb)
        return out


@dataclass
class _Lineart:
    planes: np.ndarray  # [2, H, W] network planes at the working canvas
    digest: str
    pixels: np.ndarray  # as read, native size
    mask: np.ndarray  # native line coverage
    guide: Guide  # for optical flow (``core.motion``)


def _threaded(fn: Callable, items: Sequence, shape: tuple[int, int]) -> list:
    """``[fn(x) for x in items]``, on ``THREADS`` threads for frames of ``shape`` from
    ``THREADED_PIXELS`` up: decoding and preparing frames is mostly numpy and OpenCV work that
    releases the GIL, single-threaded, so a second thread keeps the other core busy. Results
    and the first error come in the items' order."""
    if shape[0] * shape[1] < THREADED_PIXELS:
        return [fn(x) for x in items]
    pool = ThreadPoolExecutor(THREADS)
    try:
        return list(pool.map(fn, items))
    finally:  # after an error or a cancel (SIGTERM), the frames not started are not read
        pool.shutdown(cancel_futures=True)


def _nearest_first(frame: int, refs: Iterable[Reference]) -> list[Reference]:
    """Timed references by distance from ``frame``, then model sheets (order kept)."""
    return sorted(refs, key=lambda r: (r.frame is None,
                                       0 if r.frame is None else abs(r.frame - frame)))


def _held(frame: int, digest: str, refs: Sequence[Reference],
          digest_of: Callable[[Reference], str]) -> Reference | None:
    """The nearest reference whose line art is pixel-identical to this frame's (``digest``):
    a held cel (animation on twos, a static shot), whose colour is the reference's exactly."""
    return next((r for r in _nearest_first(frame, refs) if digest_of(r) == digest), None)


def _name(ref: Reference) -> str:
    return f"frame {ref.frame}" if ref.frame is not None else ref.color.name


def _to_canvas(img: np.ndarray, canvas: tuple[int, int], pad_value: float | None) -> np.ndarray:
    """Letterbox an image of another aspect ratio into the shot's canvas."""
    h, w = img.shape[:2]
    scale = min(canvas[0] / h, canvas[1] / w)
    out = fit(img, max(1, int(max(h, w) * scale)), multiple=1, pad_value=pad_value)[0]
    out = out[: canvas[0], : canvas[1]]
    ph, pw = canvas[0] - out.shape[0], canvas[1] - out.shape[1]
    pads = [(ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)] + [(0, 0)] * (img.ndim - 2)
    if pad_value is None:
        return np.pad(out, pads, mode="edge")
    return np.pad(out, pads, mode="constant", constant_values=pad_value)
