"""Production output after the network: native-resolution frames with palette-exact flat
fills, carried-over reference pixels, intact lines, and a confidence map (issue 8).

Integration surface: ``prepare_reference`` once per reference, ``compose`` once per frame;
``review`` writes the confidence maps and lists the frames to look at."""

from .composer import (
    DEFAULT_MODE,
    LINE_MODES,
    MODES,
    Composed,
    RefCel,
    compose,
    prepare_reference,
)
from .review import (
    confidence_path,
    frames_below,
    review_line,
    summary_line,
    write_confidence,
)

__all__ = ["DEFAULT_MODE", "LINE_MODES", "MODES", "Composed", "RefCel", "compose",
           "confidence_path", "frames_below", "prepare_reference", "review_line",
           "summary_line", "write_confidence"]
