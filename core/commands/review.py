"""``inkpaint review SEQUENCE --out sheet.png``: a contact sheet of a rendered shot (every
frame over its confidence map, keys in blue, frames below ``--below`` in red) and the review
line, so a supervisor sees at once which frames need an artist."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..compose.composer import FLAGGED
from ..compose.review import (
    confidence_pattern,
    contact_sheet,
    frames_below,
    read_scores,
    review_line,
    scores_path,
    write_sheet,
)
from ..errors import InkpaintError
from ..frames import FrameSequence, OutputPattern, parse_frame_range
from ..imageio import read_color, read_image


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sequence", help="the coloured frames (as colorize wrote them: its --out)")
    p.add_argument("--out", required=True, help="the contact sheet to write (.png)")
    p.add_argument("--below", type=float, default=FLAGGED,
                   help=f"flag frames whose confidence is below this (default {FLAGGED:.2f})")
    p.add_argument("--keys", default="",
                   help="the painted key frames, e.g. 1001,1024 (labelled as keys)")
    p.add_argument("--frames", help="only frames A-B")
    p.add_argument("--columns", type=int, default=6, help="frames per row (default 6)")
    p.add_argument("--thumb", type=int, default=192, help="cell width in pixels (default 192)")


def _keys(text: str) -> set[int]:
    try:
        return {int(t) for t in text.replace(",", " ").split()}
    except ValueError:
        raise InkpaintError(f"bad --keys '{text}': give frame numbers, e.g. 1001,1024") from None


def run_review(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise InkpaintError(f"the contact sheet is a PNG: give --out NAME.png, not {out}")
    if not 0.0 <= args.below <= 1.0:
        raise InkpaintError(f"bad --below {args.below}: give a confidence from 0 to 1")
    if args.columns < 1 or args.thumb < 16:
        raise InkpaintError("--columns must be 1 or more and --thumb 16 or more")
    keys = _keys(args.keys)
    seq = FrameSequence(args.sequence)
    frames = seq.select(parse_frame_range(args.frames) if args.frames else None)
    if not frames:
        raise InkpaintError(f"no frames in {seq.pattern}")
    if out.resolve() in {seq.path(f).resolve() for f in frames}:
        raise InkpaintError(f"--out {out} is one of the frames; write the sheet elsewhere")
    scores_file = scores_path(seq.pattern)
    scores = read_scores(scores_file) if scores_file.is_file() else {}
    maps = confidence_pattern(OutputPattern(seq.pattern))
    images, confidences, flagged, labels = [], [], [], []
    for f in frames:
        rgb, _ = read_color(seq.path(f))
        images.append(rgb)
        m = maps.path(f)
        confidences.append(read_image(m).pixels[..., 0] if m.is_file() else None)
        score = scores.get(f)
        flagged.append(score is not None and score < args.below)
        labels.append(f"{f}" + (" key" if f in keys else "")
                      + (f" {score:.2f}" if score is not None else ""))
    sheet = contact_sheet(images, confidences, flagged, labels, [f in keys for f in frames],
                          args.columns, args.thumb)
    write_sheet(out, sheet)
    shown = {f: s for f, s in scores.items() if f in set(frames)}
    if shown:
        print(review_line(shown, args.below), flush=True)
    else:
        print(f"inkpaint: review: no confidence scores for {seq.pattern} ({scores_file} is "
              "missing): nothing flagged", flush=True)
    low = frames_below(shown, args.below)
    print(f"inkpaint: contact sheet of {len(frames)} frames ({len(low)} flagged) in {out}",
          flush=True)
    return 0
