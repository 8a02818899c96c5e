"""Folders that index themselves: a watchdog observer on every root feeds batched
rescans, then the pending photos are indexed.

Events are only hints. A burst of them is coalesced (photoorg/coalesce.py: when to
act, with an injected clock), then every root they touched is rescanned once. What the
scan finds is the truth: a root that vanished is offline, never emptied. Move events
move rows directly (scan.follow_events: the photo keeps its tags and names); a delete +
create pair is matched by content hash in the scan, across roots too. A root the OS
refuses to watch (inotify limit) is rescanned every `fallback_interval` seconds instead
(photoorg/rootwatch.py keeps track of the roots).

One worker thread owns the library connection (the only writer); the observer's
threads only append to an inbox. Other writers in the same process (the GUI's edits)
hand their work to `inbox`: it runs on the worker thread with its library, between two
scan or index batches (at once when idle), so one connection writes and an edit never
waits on SQLite's busy lock. Everything the service has to say goes to the `on_notice`
callback, from the worker thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

from .coalesce import Change, Coalescer
from .formats import is_supported
from .progress import Control, Progress, drive
from .rootwatch import RootState, RootTracker, new_observer, refusal
from .scan import FoundFile, ScanResult, follow_events, scan


@dataclass(frozen=True)
class Batch:
    """What one batched rescan changed, over every root it covered."""

    scan_pass: int
    new: int = 0
    changed: int = 0
    moved: int = 0
    missing: int = 0

    @property
    def empty(self) -> bool:
        return not (self.new or self.changed or self.moved or self.missing)

    def __str__(self) -> str:
        return f"{self.new} new, {self.changed} changed, {self.moved} moved, {self.missing} missing"


@dataclass(frozen=True)
class Notice:
    """One thing the watcher has to say. kind: batch | offline | online | degraded |
    indexed | waiting (a model is not installed) | progress | error. `message` is
    one line for a person."""

    kind: str
    message: str
    root: str | None = None
    batch: Batch | None = None
    progress: Progress | None = None


class Inbox:
    """Work for the thread that writes: `put(fn)` from any thread, then that thread runs
    fn(library) for each, in order, at its next safe point (`run`)."""

    def __init__(self, wake: Callable[[], None] = lambda: None):
        self._items: deque[Callable] = deque()
        self._wake = wake

    def put(self, fn: Callable[[object], None]) -> None:
        self._items.append(fn)  # deque appends and pops are thread-safe
        self._wake()  # outside any lock: the writer may hold its own while it checks us

    def __bool__(self) -> bool:
        return bool(self._items)

    def run(self, lib) -> None:
        while self._items:
            fn = self._items.popleft()
            try:
                fn(lib)
            except Exception:  # the sender reports its own failures; a bug must not stop the writer
                logging.getLogger(__name__).exception("inbox work failed")


@dataclass(frozen=True)
class WatchOptions:
    quiet: float = 1.0  # seconds without events before a burst is rescanned
    max_delay: float = 10.0  # a burst that never goes quiet is rescanned this often
    settle: float = 0.5  # a file written more recently than this waits for a later pass
    recheck: float = 2.0  # how often roots are checked for vanishing or coming back
    fallback_interval: float = 60.0  # rescan period of a root that cannot be watched
    index: bool = True  # index pending photos after each rescan
    index_batch: int = 16


def _hidden_or_unsupported(rel_path: str, is_dir: bool) -> bool:
    # The scan skips dot-files and dot-folders and files it cannot read as photos,
    # so events about them (editor temp files, partial downloads) change nothing.
    parts = rel_path.split(os.sep)
    if any(part.startswith(".") for part in parts):
        return True
    return not is_dir and not is_supported(rel_path)


class _Handler:
    """Receives watchdog events for one root (on the observer's thread)."""

    def __init__(self, service: WatchService, root_id: int, root: str):
        self.service, self.root_id, self.root = service, root_id, root

    def dispatch(self, event) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write") or (kind == "modified" and event.is_directory):
            return  # folder "modified" only repeats what its entries' events say
        src, dest = os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")
        if kind == "moved":
            change = Change(self.root_id, "move", src, dest, event.is_directory)
        elif kind == "deleted":
            change = Change(self.root_id, "delete", src, is_dir=event.is_directory)
        else:  # created, modified, attrib, closed (after writing)
            change = Change(self.root_id, "touch", src, is_dir=event.is_directory)
        paths = [p for p in (src, dest) if p]
        if src != self.root and all(
            _hidden_or_unsupported(os.path.relpath(p, self.root), event.is_directory)
            # The library's own writes (thumbnails) when it lives inside a root:
            # reacting to them would rescan after every index batch.
            or p != self.service._library
            and PurePath(p).is_relative_to(self.service._library)
            for p in paths
        ):
            return
        self.service._receive(change)


class WatchService:
    """Keeps a library in step with its folders. `start()` runs it in a thread until
    `stop()`; `wait_idle(timeout)` blocks until all seen changes are scanned and
    indexed. Use as a context manager to stop it on the way out."""

    def __init__(
        self,
        folder: Path | str,
        open_library: Callable[[Path], object],
        on_notice: Callable[[Notice], None] | None = None,
        options: WatchOptions | None = None,
    ):
        self.folder = Path(folder)
        # A factory (photoorg.Library), so that the Library may hand out watchers
        # without this module importing it back.
        self._open_library = open_library
        self._library = str(self.folder.resolve())
        self.options = options or WatchOptions()
        self.on_notice = on_notice
        self.passes = 0  # scan passes since start: the measure of coalescing
        self.error: BaseException | None = None  # why the worker ended, if it failed
        self._cond = threading.Condition()  # guards _events and the flags below
        self._events = Coalescer(self.options.quiet, self.options.max_delay, self.options.settle)
        self._stop = False
        self._started = False
        self._working = False
        self._index_left = False
        self._index_forced = False
        self._paused = False
        self._control = Control()
        self._thread: threading.Thread | None = None
        self._roots = RootTracker(
            lambda root_id, path: _Handler(self, root_id, path), self._refused, lock=self._cond
        )
        self._next_recheck = 0.0
        self._said: set[str] = set()
        self._dirty: set[int] = set()  # roots to rescan, kept until a pass succeeds
        self._retry_at = 0.0  # after a failed pass, not before this
        self._next_fallback = 0.0
        self._lib = None
        self.inbox = Inbox(wake=self._wake)

    # -- public ----------------------------------------------------------------

    def start(self) -> WatchService:
        self._thread = threading.Thread(target=self._run, name="photoorg-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._control.cancel()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> WatchService:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker to end (after stop(), or a failure: see `error`)."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_idle(self, timeout: float) -> bool:
        """True once every change seen so far is scanned and every pending photo
        indexed; False if that did not happen within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._idle():
                if not self.running:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def request_index(self) -> None:
        """Run an index pass now, even with nothing pending (after a model was
        installed: the pass requeues the photos it has not processed)."""
        with self._cond:
            self._index_left = self._index_forced = True
            self._cond.notify_all()

    def pause(self) -> None:
        """Hold indexing after the batch in flight; folders are still followed."""
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._index_left = True
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    def watched_roots(self) -> dict[str, str]:
        """Each root's path and how it is followed: watched | polling | offline."""
        return self._roots.modes()

    # -- inbox (observer threads, other writers) --------------------------------

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _run_inbox(self) -> None:
        """Between batches: what other writers handed in. A folder they added is
        picked up by the recheck that follows, not a recheck period later."""
        if self.inbox:
            self.inbox.run(self._lib)
            self._next_recheck = 0.0

    def _receive(self, change: Change) -> None:
        with self._cond:
            self._events.add(change)
            self._cond.notify_all()

    def _idle(self) -> bool:
        return (
            self._started
            and not self._working
            and self._events.empty
            and not self._index_left
            and not self._dirty
            and not self.inbox
        )

    def _next_wake(self) -> float:
        wake = [self._next_recheck]
        if self._dirty:
            wake.append(self._retry_at)
        events_at = self._events.wake_at()
        if events_at is not None:
            wake.append(events_at)
        if self._roots.polled():
            wake.append(self._next_fallback)
        return min(wake)

    def _due(self, now: float) -> bool:
        return (
            self._index_left
            or bool(self.inbox)
            or (bool(self._dirty) and now >= self._retry_at)
            or now >= self._next_wake()
        )

    # -- worker ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._lib = self._open_library(self.folder)
            self._roots.observer = new_observer()
            self._roots.observer.start()
            self._loop()
        except Exception as e:  # the worker must say why it stopped, not vanish
            self.error = e
            self._notify("error", f"watching stopped: {type(e).__name__}: {e}")
        finally:
            self._shutdown()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._due(time.monotonic()):
                    self._cond.wait(max(0.0, self._next_wake() - time.monotonic()))
                if self._stop:
                    return
                self._working = True
            try:
                self._step()
            except Exception as e:  # one failed pass (a locked database, a full disk)
                # must not end the watching: its roots stay dirty and are tried again
                self._retry_at = time.monotonic() + max(self.options.recheck, 1.0)
                self._set_index_left(False)
                self._notify("error", f"a rescan failed ({type(e).__name__}: {e}); trying again.")
            finally:
                with self._cond:
                    self._working = False
                    self._started = True
                    self._cond.notify_all()

    def _shutdown(self) -> None:
        if self._roots.observer is not None:
            self._roots.observer.stop()
            self._roots.observer.join(10)
        if self._lib is not None:
            self._run_inbox()  # an edit made just before closing is kept
            self._lib.close()
        with self._cond:
            self._cond.notify_all()

    def _step(self) -> None:
        self._run_inbox()
        now = time.monotonic()
        moved, gone = 0, []
        with self._cond:
            changes, held = self._events.take()
            # Marked dirty before anything can fail, so a failed pass is retried.
            self._dirty |= {c.root_id for c in changes} | self._roots.roots_of(held)
        if changes:
            moved, gone = follow_events(
                self._lib.store, changes, self._roots.paths(), self._roots.still_watched
            )
        if now >= self._next_recheck:
            self._dirty |= self._roots.recheck(self._lib.store.roots())
            self._next_recheck = now + self.options.recheck
        if now >= self._next_fallback:
            self._dirty |= self._roots.polled()
            self._next_fallback = now + self.options.fallback_interval
        dirty = sorted(self._dirty & set(self._roots.roots))
        if dirty:
            self._rescan(dirty, moved, gone)
        self._dirty = set()
        if dirty or self._index_left:
            if self.options.index:
                self._index()
            else:
                self._set_index_left(False)

    # -- scanning ----------------------------------------------------------------

    def _skip(self, root: str, found: FoundFile) -> bool:
        """Files written within `settle` seconds, or with an event younger than the
        move pairing delay, wait for a later pass."""
        with self._cond:
            return self._events.holds(os.path.join(root, found.rel_path), found.mtime_ns)

    def _rescan(self, root_ids: list[int], moved: int, gone: list[int]) -> None:
        store = self._lib.store
        was_online = {r.id: r.online for r in store.roots()}
        # A root removed by another process since the last recheck has no row to scan
        # (the scan failed on it); the next recheck stops watching it.
        root_ids = [i for i in root_ids if i in was_online]
        results = drive(
            scan(store, root_ids, skip=self._skip),
            lambda p: self._between_batches("scanning", p),
        )
        self.passes += 1
        self._forget_old_touches()
        # Deleted files the events reported: missing unless the scan found them moved.
        still_gone = sum(1 for p in store.photos(gone) if p.state == "missing")
        batch = Batch(self.passes, moved=moved, missing=still_gone)
        for root_id, result in zip(root_ids, results):
            batch = self._add(batch, result)
            self._after_scan(root_id, result, was_online.get(root_id, True))
        self._notify("batch", str(batch), batch=batch)

    @staticmethod
    def _add(batch: Batch, r: ScanResult) -> Batch:
        return Batch(
            batch.scan_pass,
            batch.new + r.new,
            batch.changed + r.changed,
            batch.moved + r.moved,
            batch.missing + r.missing,
        )

    def _after_scan(self, root_id: int, result: ScanResult, was_online: bool) -> None:
        path = self._roots.roots[root_id].path
        change = self._roots.after_scan(root_id, result.online, was_online)
        if change == "offline":
            self._notify(
                "offline",
                f"{path}: offline: {result.offline_reason}; its photos are kept and stay searchable.",
                path,
            )
        elif change == "online":
            self._lib.store.requeue_errors(root_id)
            self._notify("online", f"{path}: back online; reconciled by a rescan.", path)

    def _refused(self, state: RootState, error: OSError) -> None:
        """The OS refused to watch a root: rescan it on a timer, and say so."""
        self._next_fallback = time.monotonic() + self.options.fallback_interval
        self._notify("degraded", refusal(state.path, error, self.options.fallback_interval), state.path)

    def _forget_old_touches(self) -> None:
        with self._cond:
            self._events.forget_old_touches()

    # -- indexing ----------------------------------------------------------------

    def _index(self) -> None:
        """Index pending photos, yielding to the next rescan when one is due (the
        index resumes where it stopped: it works from the pending queue)."""
        store = self._lib.store
        with self._cond:
            forced, self._index_forced = self._index_forced, False
            if self._paused:
                self._index_left = False  # resume() asks again
                return
        # A forced pass runs even with nothing pending: a new model's run requeues
        # the photos its stages have not seen.
        if not forced and not store.pending(1):
            self._set_index_left(False)
            return
        work = self._lib.index(control=self._control, batch_size=self.options.index_batch)
        try:
            report = drive(
                work,
                lambda p: self._between_batches("indexing", p),
                stop=lambda: self._paused or self._rescan_due(),
            )
        except Exception as e:  # e.g. a model that is not installed: say so, keep watching
            self._set_index_left(False)
            self._notify("error", f"indexing stopped: {e}")
            return
        if report is not None and (report.indexed or report.failed):
            self._notify("indexed", f"indexed {report.indexed} photos, {report.failed} failed")
        for sentence in getattr(report, "waiting", ()):  # a model not installed: say it once
            if sentence not in self._said:
                self._said.add(sentence)
                self._notify("waiting", sentence)
        self._set_index_left(not self._stop and not self._paused and bool(store.pending(1)))

    def _rescan_due(self) -> bool:
        """Between index batches: is there something to rescan? Roots are rechecked
        here too (cheap), but a recheck alone does not interrupt the index: restarting
        it wastes the batches decoded ahead."""
        now = time.monotonic()
        with self._cond:
            if self._stop or self._events.due():
                return True
        if self._roots.polled() and now >= self._next_fallback:
            return True
        if now >= self._next_recheck:
            self._dirty |= self._roots.recheck(self._lib.store.roots())
            self._next_recheck = now + self.options.recheck
        return bool(self._dirty)

    def _between_batches(self, verb: str, p: Progress) -> None:
        self._run_inbox()
        self._notify("progress", f"{verb} {p.done}/{p.total}", progress=p)

    def _set_index_left(self, value: bool) -> None:
        with self._cond:
            self._index_left = value

    # -- reporting ----------------------------------------------------------------

    def _notify(self, kind: str, message: str, root: str | None = None, **extra) -> None:
        if self.on_notice is None:
            return
        try:
            self.on_notice(Notice(kind, message, root, **extra))
        except Exception:  # a front end's bug must not stop the watching
            logging.getLogger(__name__).exception("on_notice failed")
