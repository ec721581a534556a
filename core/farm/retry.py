"""What a retried farm task finds on disk, and how it is tidied.

Frames are written to a hidden temp file beside the target and renamed over it
(``imageio.atomic_write``), so a frame that exists is complete and a killed task never leaves
half a frame under a frame's name. What a ``kill -9`` can leave is the hidden temp file
itself, ``.<name>.<8 hex>.tmp<ext>``: no sequence reader picks it up (it is hidden and does not
match the pattern), and the next attempt at the same frames removes the ones old enough that
no live writer can own them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

ORPHAN_AGE_S = 60.0  # a live temp file exists for milliseconds; this one's writer is gone


def temp_name_pattern(target: Path) -> re.Pattern[str]:
    """Names of the temp files ``atomic_write`` makes for ``target``."""
    stem, ext = re.escape(target.stem), re.escape(target.suffix)
    return re.compile(rf"^\.{stem}\.[0-9a-f]{{8}}\.tmp{ext}$")


def orphaned_temps(targets: Iterable[Path], older_than: float = ORPHAN_AGE_S) -> list[Path]:
    by_folder: dict[Path, list[re.Pattern[str]]] = {}
    for t in targets:
        by_folder.setdefault(Path(t).parent, []).append(temp_name_pattern(Path(t)))
    now, found = time.time(), []
    for folder, patterns in by_folder.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if not e.name.startswith(".") or not any(p.match(e.name) for p in patterns):
                continue
            try:
                if now - e.stat().st_mtime >= older_than:
                    found.append(Path(e.path))
            except OSError:
                continue
    return sorted(found)


def remove_orphaned_temps(targets: Iterable[Path], older_than: float = ORPHAN_AGE_S) -> int:
    """Delete temp files left by killed writers of ``targets``; returns how many went."""
    n = 0
    for p in orphaned_temps(targets, older_than):
        try:
            p.unlink()
            n += 1
        except OSError:
            pass
    return n
