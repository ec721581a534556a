"""What a run may cost, checked before it is spent.

A file's header or a frame range can claim far more than the machine has: a 150 KB PNG can
say it is 30000x30000 pixels, one stray ``line.1700000000.png`` turns a shot into 1.7 billion
frames. Every such claim is checked against a limit here before anything is decoded or
allocated, and refused with one line that says which limit and how to raise it. Each limit
is an environment variable, so a farm job, a Blender session and a shell all raise it the
same way; the README lists them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .errors import InkpaintError


@dataclass(frozen=True)
class Limit:
    env: str
    default: int
    what: str  # what is counted, for the error message

    @property
    def value(self) -> int:
        """The limit now (read each time, so tests and embedding hosts can change it)."""
        text = os.environ.get(self.env, "").strip()
        if not text:
            return self.default
        value = parse_amount(text)
        if value is None or value <= 0:
            raise InkpaintError(f"{self.env}={text!r} is not a positive number "
                                f"(e.g. {self.env}={self.default})")
        return value

    def check(self, amount: int, subject: str) -> None:
        """Refuse ``amount`` of this limit's unit for ``subject`` when it is over the limit."""
        top = self.value
        if amount > top:
            raise InkpaintError(f"{subject} is {amount:,} {self.what}, over the limit of "
                                f"{top:,}: set {self.env} higher to allow it")


# 8K UHD (7680x4320, 33 Mpx) with room to spare; a float RGBA frame of this size is 640 MB.
MAX_PIXELS = Limit("INKPAINT_MAX_PIXELS", 40_000_000, "pixels")
# Over an hour at 24 fps: far longer than any shot, short enough to list on a farm.
MAX_FRAMES = Limit("INKPAINT_MAX_FRAMES", 100_000, "frames")
# The long side the networks work at: 2048 is twice the paper preset's 1024 and already
# about 4 GB of activations per temporal window with the lite networks.
MAX_SIZE = Limit("INKPAINT_MAX_SIZE", 2048, "pixels on the long side")

MEMORY_ENV = "INKPAINT_MAX_MEMORY"
_MEMORY_SHARE = 0.8  # of the machine's RAM: the rest is the OS, the host application, caches

_AMOUNT = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)i?b?$", re.IGNORECASE)


def parse_amount(text: str) -> int | None:
    """``"40000000"``, ``"8G"``, ``"512m"``, ``"1.5GiB"`` as an integer (binary prefixes);
    None when it is not one."""
    m = _AMOUNT.match(text.strip())
    if m is None:
        return None
    scale = 1024 ** "_kmgt".index((m[2] or "_").lower())
    return int(float(m[1]) * scale)


def memory_budget() -> int:
    """Bytes a run may plan to use: ``$INKPAINT_MAX_MEMORY`` or 80 % of physical memory."""
    text = os.environ.get(MEMORY_ENV, "").strip()
    if text:
        value = parse_amount(text)
        if value is None or value <= 0:
            raise InkpaintError(f"{MEMORY_ENV}={text!r} is not an amount of memory "
                                f"(e.g. {MEMORY_ENV}=16G)")
        return value
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * _MEMORY_SHARE)
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): trust the limits
        return 1 << 62


def check_memory(estimate: int, subject: str) -> None:
    """Refuse a run whose estimated peak (``estimate`` bytes) is over the budget."""
    budget = memory_budget()
    if estimate > budget:
        raise InkpaintError(f"{subject} would need about {_gb(estimate)} of memory, more than "
                            f"the {_gb(budget)} allowed: use a smaller --size or smaller "
                            f"frames, or set {MEMORY_ENV} (e.g. {MEMORY_ENV}=64G)")


def _gb(n: int) -> str:
    return f"{n / 1024 ** 3:.1f} GB"
