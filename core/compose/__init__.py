"""Production output after the network: native-resolution frames with palette-exact flat
fills, carried-over reference pixels, intact lines, and a confidence map (issue 8).

Integration surface: ``prepare_reference`` once per reference, ``compose`` once per frame;
``review`` writes and lists confidence."""

from .composer import (
    DEFAULT_MODE,
    LINE_MODES,
    MODES,
    Composed,
    RefCel,
    compose,
    prepare_reference,
)

__all__ = ["DEFAULT_MODE", "LINE_MODES", "MODES", "Composed", "RefCel", "compose",
           "prepare_reference"]
