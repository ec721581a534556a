"""Where Inkpaint keeps what it makes once and reuses (run-time ONNX exports, the data sets'
indexes and renders, the evaluation's downloaded-at-setup weights): one folder per user."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache() -> Path:
    """``inkpaint`` in the platform's per-user cache folder (``$XDG_CACHE_HOME``, default
    ``~/.cache``; ``%LOCALAPPDATA%\\inkpaint\\cache`` on Windows): everything in it is
    rebuilt when deleted, and it is never beside the install, which may be read-only or a
    shared pipeline folder."""
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "inkpaint" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "inkpaint"
