"""Progress on a terminal: one redrawn line with count, rate and ETA; plain lines
(at most one every few seconds) when stdout is a file or a pipe."""

from __future__ import annotations

import sys
import time

from ..progress import Progress, format_duration


class ProgressPrinter:
    """Draws Progress events; `amount` formats counts and rates (bytes as MiB, say)."""

    def __init__(self, stream=None, interval: float = 3.0, amount=None):
        self.amount = amount or (lambda n: f"{n:.1f}" if isinstance(n, float) else str(n))
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval
        self._last = 0.0
        self._drawn = False

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        finished = p.total > 0 and p.done >= p.total
        if not self.tty and not finished and now - self._last < self.interval:
            return
        self._last = now
        a = self.amount
        text = f"{p.stage}: {a(p.done)}/{a(p.total)} ({a(p.rate)}/s, ETA {format_duration(p.eta)})"
        if p.message:
            text += f" {p.message}"
        if self.tty:
            width = 24
            filled = int(width * p.done / p.total) if p.total else width
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\033[K")
            self._drawn = True
            if finished:
                self.stream.write("\n")
                self._drawn = False
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
