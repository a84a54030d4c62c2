"""A one-line progress bar on stderr, silent when stderr is not a terminal or when asked.

Example:

    from ferzoo.serving.progress import Progress

    with Progress(total=120, label="clip.mp4", unit="frames") as bar:
        for _ in range(120):
            bar.update()
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_REFRESH_S = 0.1  # redraw at most ten times a second


class Progress:
    """`label [#####.....] done/total unit, rate/s` redrawn in place (total 0: count only).

    Args:
        total: the expected count (0 when unknown, e.g. a camera).
        label: what is being processed.
        unit: the unit of the count.
        enabled: None: on when `stream` is a terminal; False: never draw.
        stream: where to draw; default `sys.stderr`.
    """

    def __init__(
        self,
        total: int = 0,
        label: str = "",
        unit: str = "items",
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.total, self.label, self.unit = int(total), label, unit
        self.done = 0
        self._start = time.perf_counter()
        self._drawn = 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._drawn >= _REFRESH_S or self.done == self.total):
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self._start, 1e-9)
        if self.total:
            width = 24
            filled = min(width, int(width * self.done / self.total))
            bar = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
        else:
            bar = f"{self.done}"
        self.stream.write(f"\r{self.label} {bar} {self.unit}, {rate:.1f}/s\033[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
