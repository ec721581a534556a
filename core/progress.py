"""Progress for every long job: a tqdm bar on a terminal, otherwise one flushed, parseable
line per item, e.g. ``inkpaint: progress 12.5% (3/24) frame 1003``, which render-farm log
parsers (Deadline's stdout handlers, OpenJD, Tractor) can match with a single regex."""

from __future__ import annotations

import sys
from typing import TextIO

LINE = "inkpaint: progress {pct:.1f}% ({done}/{total}) {label}"


class Progress:
    def __init__(self, total: int, desc: str, stream: TextIO | None = None,
                 bar: bool | None = None) -> None:
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        use_bar = self.stream.isatty() if bar is None else bar
        self.bar = None
        if use_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="frame", file=self.stream)

    def step(self, label: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(label, refresh=False)
            self.bar.update(1)
            return
        pct = 100.0 * self.done / max(1, self.total)
        print(LINE.format(pct=pct, done=self.done, total=self.total, label=label),
              file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
