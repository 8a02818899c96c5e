"""When to act on file events: a burst of them becomes one rescan.

Nothing happens until the folders have been quiet for `quiet` seconds, or `max_delay`
after the first event of a burst, so copying 10,000 files costs a few scan passes. A
file written within `settle` seconds, or with an event younger than the move pairing
delay, is held for a later pass, so a copy in progress is taken only once finished.

Pure: no threads and no file system, and the clock is injected, so its rules are tested
in milliseconds (tests/test_coalesce.py); the watcher holds its lock around each call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# watchdog's inotify backend holds a move-out for 0.5 s, waiting for its move-in; a
# move-out of root A into root B only arrives then (as a deletion in A), after B's
# creation. New files wait at least this long, so the pair meets in one pass and
# the scan recognises the photo by its content.
MOVE_PAIRING_DELAY = 0.6


@dataclass(frozen=True)
class Change:
    """One file event, as the observer reported it (a hint: the disk is the truth)."""

    root_id: int
    kind: str  # touch | delete | move
    path: str
    dest: str = ""
    is_dir: bool = False


class Coalescer:
    def __init__(
        self,
        quiet: float,
        max_delay: float,
        settle: float,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
    ):
        self.quiet, self.max_delay, self.settle = quiet, max_delay, settle
        self.clock, self.wall_ns = clock, wall_ns
        self._inbox: list[Change] = []
        self._first = self._last = 0.0
        self._touched: dict[str, float] = {}  # path -> clock time of its last write event
        self._held: set[str] = set()
        self._held_until = 0.0

    @property
    def empty(self) -> bool:
        """No event waits and no file is held."""
        return not self._inbox and not self._held

    @property
    def _hold(self) -> float:
        return max(self.settle, MOVE_PAIRING_DELAY)

    def add(self, change: Change) -> None:
        now = self.clock()
        if not self._inbox:
            self._first = now
        self._inbox.append(change)
        self._last = now
        if change.kind == "touch":  # a rename does not write: no need to wait for it
            self._touched[change.path] = now

    def _inbox_due_at(self) -> float:
        # Never sooner than the move pairing delay: by then a move-out of another
        # root has arrived too, and the files of the burst are old enough to take.
        return min(self._last + max(self.quiet, MOVE_PAIRING_DELAY), self._first + self.max_delay)

    def wake_at(self) -> float | None:
        """When the next batch is due; None while nothing waits."""
        if self._inbox:
            return self._inbox_due_at()
        return self._held_until if self._held else None

    def due(self) -> bool:
        now = self.clock()
        if self._inbox:
            return now >= self._inbox_due_at()
        # While a burst goes on, its next batch takes the held files along.
        return bool(self._held) and now >= self._held_until

    def take(self) -> tuple[list[Change], set[str]]:
        """The events of a due burst, and the held files to rescan with them (or alone,
        once their time has come); nothing when nothing is due."""
        if not self.due():
            return [], set()
        changes, self._inbox = self._inbox, []
        held, self._held = self._held, set()
        return changes, held

    def holds(self, path: str, mtime_ns: int) -> bool:
        """Whether the scan should leave this file for a later pass: written within
        `settle` seconds, or with an event younger than the move pairing delay."""
        touched = self._touched.get(path)
        recent_event = touched is not None and self.clock() - touched < self._hold
        age = self.wall_ns() - mtime_ns
        if recent_event or 0 <= age < self.settle * 1e9:
            self._held.add(path)
            self._held_until = self.clock() + (self._hold if recent_event else self.settle)
            return True
        return False

    def forget_old_touches(self) -> None:
        horizon = self.clock() - self._hold
        self._touched = {p: t for p, t in self._touched.items() if t >= horizon}
