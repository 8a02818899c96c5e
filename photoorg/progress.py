"""Progress events: long work in the core is a generator that yields these; front
ends draw them (the CLI as a bar, the GUI as a status line). The core never prints."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    stage: str  # "scan", "index", "download", ...
    done: int
    total: int
    started: float = field(default_factory=time.monotonic)
    message: str = ""

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 and self.total >= self.done else None


def format_duration(seconds: float | None) -> str:
    """ETA as mm:ss or h:mm:ss; --:-- while unknown."""
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


Work = Generator[Progress, None, T]


def drive(
    work: Work[T],
    on_progress: Callable[[Progress], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> T | None:
    """Run a progress generator and return its result: the one loop the CLI, the
    watcher and the GUI share. After each event, `stop()` may end the work early (what
    it committed stays); the result is then None."""
    try:
        while True:
            try:
                event = next(work)
            except StopIteration as done:
                return done.value
            if on_progress:
                on_progress(event)
            if stop is not None and stop():
                return None
    finally:
        work.close()


class Cancelled(Exception):
    """Raised at a checkpoint after Control.cancel(); the batch in flight is not written."""


class Control:
    """Pause/resume/cancel, shared between a front end and a running index."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self.cancelled = False

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        self.cancelled = True
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> None:
        self._running.wait()
        if self.cancelled:
            raise Cancelled
