"""Two facts about index runs that live next to the library, outside the database.

One indexer at a time: `watch` and `index` started on the same library would both
decode and run the models on the same pending photos (and write each result twice).
An advisory lock (flock on `index.lock`) makes the second one say so instead.

Nothing to do, nothing loaded: `index` with no pending photos used to load every model
(seconds of torch start-up) just to find that. The settings, installed weights and
vocabulary of the last complete run are remembered (`index-state.json`); while they
are the same and nothing is pending, a run ends at once. Any change (a model chosen
or installed, a word added) loads the models, which requeue what they have not seen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError
from .fileio import atomic_write_text

LOCK_NAME = "index.lock"
STATE_NAME = "index-state.json"


class IndexBusy(UserError):
    """Another process is indexing this library right now."""


@contextmanager
def index_lock(folder: Path) -> Iterator[None]:
    """Held for a whole index run; IndexBusy at once if another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: one process per library is the norm there
        yield
        return
    with open(folder / LOCK_NAME, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(
                f"Another photoorg process (`watch`, `index` or the app) is "
                f"indexing {folder} now; it takes the pending photos too."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def last_run(folder: Path) -> dict:
    """{"key": ..., "waiting": [...]} of the last complete run, or {}."""
    try:
        return json.loads((folder / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def remember_run(folder: Path, key: str, waiting: list[str]) -> None:
    try:
        atomic_write_text(folder / STATE_NAME, json.dumps({"key": key, "waiting": waiting}))
    except (
        OSError,
        UserError,
    ):  # only a shortcut for next time: never fail a run for it
        pass


def run_key(*parts) -> str:
    return json.dumps([str(p) for p in parts])
