"""Folders that index themselves: a watchdog observer on every root feeds batched
rescans, then the pending photos are indexed.

Events are only hints. A burst of them is coalesced (nothing happens until the
folders have been quiet for `quiet` seconds, or `max_delay` after the first event of
a burst), then every root they touched is rescanned once, so copying 10,000 files
costs a few scan passes. What the scan finds is the truth: a root that vanished is
offline, never emptied. Move events move rows directly (the photo keeps its tags and
names); a delete + create pair is matched by content hash in the scan, across roots
too. A file modified within `settle` seconds is left for a later pass, so a copy in
progress is taken only once it is finished. A root the OS refuses to watch (inotify
limit) is rescanned every `fallback_interval` seconds instead.

One worker thread owns the library connection (the only writer); the observer's
threads only append to an inbox. Everything the service has to say goes to the
`on_notice` callback, from the worker thread.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .imaging import is_supported
from .index import Control
from .progress import Progress
from .roots import ignorable
from .scan import FoundFile, ScanResult, scan


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


@dataclass(frozen=True)
class WatchOptions:
    quiet: float = 1.0  # seconds without events before a burst is rescanned
    max_delay: float = 10.0  # a burst that never goes quiet is rescanned this often
    settle: float = 0.5  # a file written more recently than this waits for a later pass
    recheck: float = 2.0  # how often roots are checked for vanishing or coming back
    fallback_interval: float = 60.0  # rescan period of a root that cannot be watched
    index: bool = True  # index pending photos after each rescan
    index_batch: int = 16


# watchdog's inotify backend holds a move-out for 0.5 s, waiting for its move-in; a
# move-out of root A into root B only arrives then (as a deletion in A), after B's
# creation. New files wait at least this long, so the pair meets in one pass and
# the scan recognises the photo by its content.
MOVE_PAIRING_DELAY = 0.6


@dataclass(frozen=True)
class _Change:
    root_id: int
    kind: str  # touch | delete | move
    path: str
    dest: str = ""
    is_dir: bool = False


@dataclass
class _RootState:
    path: str
    presence: tuple | None = ("unknown",)  # differs from any real presence: first check rescans
    watch: object | None = None  # watchdog ObservedWatch
    watch_ident: tuple[int, int] | None = None
    polling: bool = False  # the OS refused a watch: periodic rescans instead
    offline: bool | None = None  # None until the first scan says


def _presence(path: str) -> tuple | None:
    """What the root looks like from outside: which folder sits at the path (a drive
    mounted there is another one) and whether it has anything in it that counts
    (roots.ignorable: a .DS_Store or lost+found does not). None when it cannot be
    read. Online or offline is the scan's verdict (roots.judge), never decided here."""
    try:
        st = os.stat(path)
        with os.scandir(path) as entries:
            has_entries = any(not ignorable(e.name) for e in entries)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, has_entries)


def _hidden_or_unsupported(rel_path: str, is_dir: bool) -> bool:
    # The scan skips dot-files and dot-folders and files it cannot read as photos,
    # so events about them (editor temp files, partial downloads) change nothing.
    parts = rel_path.split(os.sep)
    if any(part.startswith(".") for part in parts):
        return True
    return not is_dir and not is_supported(rel_path)


def _new_observer():
    from watchdog.observers import Observer

    return Observer()


def _schedule(observer, handler, path: str):
    return observer.schedule(handler, path, recursive=True)


def _watch_is_complete(observer, watch, root: str) -> bool:
    """watchdog skips, silently, the subfolders it cannot watch (also when the
    inotify watch limit runs out halfway through a tree). Count its watches
    against the readable folders; other backends have nothing to count."""
    emitter = getattr(observer, "_emitter_for_watch", {}).get(watch)
    watched = getattr(getattr(emitter, "_inotify", None), "_active_callbacks_by_path", None)
    if watched is None:
        return True
    folders = 1
    for top, dirs, _ in os.walk(root):
        folders += sum(1 for d in dirs if not os.path.islink(os.path.join(top, d))
                       and os.access(os.path.join(top, d), os.R_OK | os.X_OK))
    return len(watched) >= folders


def _refusal(root: str, error: OSError, interval: float) -> str:
    if error.errno == errno.ENOSPC:
        why = "the system's limit on watched folders is reached (raise fs.inotify.max_user_watches)"
    elif error.errno == errno.EMFILE:
        why = "the system's limit on folder watchers is reached (raise fs.inotify.max_user_instances)"
    else:
        why = f"it cannot be watched ({error.strerror or error})"
    return f"{root}: {why}; rescanning it every {interval:g} s instead."


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
            change = _Change(self.root_id, "move", src, dest, event.is_directory)
        elif kind == "deleted":
            change = _Change(self.root_id, "delete", src, is_dir=event.is_directory)
        else:  # created, modified, attrib, closed (after writing)
            change = _Change(self.root_id, "touch", src, is_dir=event.is_directory)
        paths = [p for p in (src, dest) if p]
        if src != self.root and all(
            _hidden_or_unsupported(os.path.relpath(p, self.root), event.is_directory)
            # The library's own writes (thumbnails) when it lives inside a root:
            # reacting to them would rescan after every index batch.
            or p.startswith(self.service._library_prefix)
            for p in paths
        ):
            return
        self.service._receive(change)


class WatchService:
    """Keeps a library in step with its folders. `start()` runs it in a thread until
    `stop()`; `wait_idle(timeout)` blocks until all seen changes are scanned and
    indexed. Use as a context manager to stop it on the way out."""

    def __init__(self, folder: Path | str, on_notice: Callable[[Notice], None] | None = None,
                 options: WatchOptions | None = None):
        self.folder = Path(folder)
        self._library_prefix = str(self.folder.resolve()) + os.sep
        self.options = options or WatchOptions()
        self.on_notice = on_notice
        self.passes = 0  # scan passes since start: the measure of coalescing
        self.error: BaseException | None = None  # why the worker ended, if it failed
        self._cond = threading.Condition()
        self._inbox: list[_Change] = []
        self._first_event = self._last_event = 0.0
        self._touched: dict[str, float] = {}  # path -> monotonic time of its last event
        self._deferred: set[str] = set()
        self._deferred_at = 0.0
        self._stop = False
        self._started = False
        self._working = False
        self._index_left = False
        self._index_forced = False
        self._paused = False
        self._control = Control()
        self._thread: threading.Thread | None = None
        self._roots: dict[int, _RootState] = {}
        self._next_recheck = 0.0
        self._said: set[str] = set()
        self._dirty: set[int] = set()  # roots to rescan, kept until a pass succeeds
        self._retry_at = 0.0  # after a failed pass, not before this
        self._next_fallback = 0.0
        self._lib = None
        self._observer = None

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
        with self._cond:
            return {s.path: "offline" if s.offline else "polling" if s.polling else "watched"
                    for s in self._roots.values()}

    # -- inbox (observer threads) ----------------------------------------------

    def _receive(self, change: _Change) -> None:
        now = time.monotonic()
        with self._cond:
            if not self._inbox:
                self._first_event = now
            self._inbox.append(change)
            self._last_event = now
            if change.kind == "touch":  # a rename does not write: no need to wait for it
                self._touched[change.path] = now
            self._cond.notify_all()

    def _idle(self) -> bool:
        return (self._started and not self._working and not self._inbox and not self._deferred
                and not self._index_left and not self._dirty)

    def _inbox_due_at(self) -> float:
        # Never sooner than the move pairing delay: by then a move-out of another
        # root has arrived too, and the files of the burst are old enough to take.
        o = self.options
        return min(self._last_event + max(o.quiet, MOVE_PAIRING_DELAY), self._first_event + o.max_delay)

    def _inbox_due(self, now: float) -> bool:
        return bool(self._inbox) and now >= self._inbox_due_at()

    def _deferred_due(self, now: float) -> bool:
        # While a burst goes on, its next batch takes the deferred files along.
        return bool(self._deferred) and not self._inbox and now >= self._deferred_at

    def _next_wake(self) -> float:
        wake = [self._next_recheck]
        if self._dirty:
            wake.append(self._retry_at)
        if self._inbox:
            wake.append(self._inbox_due_at())
        elif self._deferred:
            wake.append(self._deferred_at)
        if any(s.polling and not s.offline for s in self._roots.values()):
            wake.append(self._next_fallback)
        return min(wake)

    def _due(self, now: float) -> bool:
        return (self._index_left or (bool(self._dirty) and now >= self._retry_at)
                or now >= self._next_wake())

    # -- worker ----------------------------------------------------------------

    def _run(self) -> None:
        from .library import Library

        try:
            self._lib = Library(self.folder)
            self._observer = _new_observer()
            self._observer.start()
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
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(10)
        if self._lib is not None:
            self._lib.close()
        with self._cond:
            self._cond.notify_all()

    def _step(self) -> None:
        now = time.monotonic()
        moved, gone = 0, []
        with self._cond:
            changes = self._take_inbox(now)
            # Marked dirty before anything can fail, so a failed pass is retried.
            self._dirty |= {c.root_id for c in changes}
            if self._deferred and (changes or self._deferred_due(now)):
                self._dirty |= self._roots_of(self._deferred)
                self._deferred.clear()
        if changes:
            moved, gone = self._apply_events(changes)
        if now >= self._next_recheck:
            self._dirty |= self._recheck()
            self._next_recheck = now + self.options.recheck
        if now >= self._next_fallback:
            self._dirty |= {i for i, s in self._roots.items() if s.polling and not s.offline}
            self._next_fallback = now + self.options.fallback_interval
        dirty = sorted(self._dirty & set(self._roots))
        if dirty:
            self._rescan(dirty, moved, gone)
        self._dirty = set()
        if dirty or self._index_left:
            if self.options.index:
                self._index()
            else:
                self._set_index_left(False)

    def _take_inbox(self, now: float) -> list[_Change]:
        if not self._inbox_due(now):
            return []
        changes, self._inbox = self._inbox, []
        return changes

    def _roots_of(self, paths: set[str]) -> set[int]:
        found = set()
        for root_id, state in self._roots.items():
            prefix = state.path.rstrip(os.sep) + os.sep
            if any(p.startswith(prefix) for p in paths):
                found.add(root_id)
        return found

    # -- moves and deletions -----------------------------------------------------

    def _apply_events(self, changes: list[_Change]) -> tuple[int, list[int]]:
        """Rows follow watchdog's move events, in order, in one transaction. Events may
        be stale, the disk is not: a move is applied only if its destination exists, a
        deletion only if the file is still absent and the root is still the folder we
        watch (an unplugged drive sends no per-file deletions, and fails that test).
        Files deleted one by one are missing even if the root ends up empty, so a
        folder whose last photo moved to another root is not taken for an unplugged
        drive, and the photo's row follows it there by content hash."""
        store = self._lib.store
        moved, gone = 0, []
        with store.transaction():
            for c in changes:
                if c.root_id not in self._roots or c.kind == "touch":
                    continue
                if c.kind == "move" and os.path.lexists(c.dest):
                    moved += self._move_rows(c)
                elif not os.path.lexists(c.path) and self._still_watched(c.root_id):
                    gone += self._mark_gone(c)
        return moved, gone

    def _rel(self, root_id: int, path: str) -> str | None:
        rel = os.path.relpath(path, self._roots[root_id].path)
        return None if rel == "." or rel.startswith(os.pardir) else rel

    def _rows_at(self, root_id: int, rel: str, is_dir: bool):
        store = self._lib.store
        if is_dir:
            return store.files_under(root_id, rel)
        known = store.file_at(root_id, rel)
        return {rel: known} if known else {}

    def _move_rows(self, c: _Change) -> int:
        store = self._lib.store
        src, dest = self._rel(c.root_id, c.path), self._rel(c.root_id, c.dest)
        if src is None or dest is None:
            return 0
        moved = 0
        for rel, known in self._rows_at(c.root_id, src, c.is_dir).items():
            new_rel = dest + rel[len(src):]
            # A destination that already has a row (a file moved over another) is
            # left to the rescan, which sees the replaced file as changed.
            if store.file_at(c.root_id, new_rel) is None:
                store.move_photo(known.id, c.root_id, new_rel, known.size, known.mtime_ns)
                moved += 1
        return moved

    def _mark_gone(self, c: _Change) -> list[int]:
        rel = self._rel(c.root_id, c.path)
        if rel is None:
            return []
        ids = [k.id for k in self._rows_at(c.root_id, rel, c.is_dir).values() if k.state != "missing"]
        self._lib.store.mark_missing(ids)
        return ids

    def _still_watched(self, root_id: int) -> bool:
        state = self._roots[root_id]
        try:
            st = os.stat(state.path)
        except OSError:
            return False
        return state.watch is not None and state.watch_ident == (st.st_dev, st.st_ino)

    # -- roots -------------------------------------------------------------------

    def _recheck(self) -> set[int]:
        """Roots added or removed by someone else, roots that vanished, were replaced
        by another folder (a drive mounted or unmounted there) or came back: all of
        them need a rescan, which decides online or offline."""
        dirty = set()
        known = {r.id: r for r in self._lib.store.roots()}
        for root_id in set(self._roots) - set(known):
            self._unwatch(root_id)
            with self._cond:
                del self._roots[root_id]
        for root in known.values():
            with self._cond:
                state = self._roots.setdefault(root.id, _RootState(root.path))
            presence = _presence(root.path)
            if state.watch is not None:
                # A watched root's content is told by its events; only the folder
                # itself vanishing or being replaced needs a look from here.
                if (presence is not None and presence[:2] == state.watch_ident
                        and self._emitter_alive(state.watch)):
                    continue
                self._unwatch(root.id)
            elif presence == state.presence:
                continue
            state.presence = presence
            dirty.add(root.id)
        return dirty

    def _emitter_alive(self, watch) -> bool:
        # An emitter thread that died (an error inside watchdog) reports nothing
        # more: rescan its root and watch it again.
        return any(e.watch == watch and e.is_alive() for e in self._observer.emitters)

    def _watch(self, root_id: int) -> None:
        state = self._roots[root_id]
        if state.watch is not None or state.polling:
            return
        try:
            st = os.stat(state.path)
            watch = _schedule(self._observer, _Handler(self, root_id, state.path), state.path)
        except OSError as e:
            self._fall_back(state, e)
            return
        state.watch, state.watch_ident = watch, (st.st_dev, st.st_ino)
        if not _watch_is_complete(self._observer, watch, state.path):
            self._unwatch(root_id)
            self._fall_back(state, OSError(errno.ENOSPC, "inotify watch limit reached"))

    def _fall_back(self, state: _RootState, error: OSError) -> None:
        state.polling = True
        self._next_fallback = time.monotonic() + self.options.fallback_interval
        self._notify("degraded", _refusal(state.path, error, self.options.fallback_interval), state.path)

    def _unwatch(self, root_id: int) -> None:
        state = self._roots.get(root_id)
        if state is None or state.watch is None:
            return
        try:
            self._observer.unschedule(state.watch)
        except KeyError:  # its emitter already ended (the folder was deleted)
            pass
        state.watch = state.watch_ident = None

    # -- scanning ----------------------------------------------------------------

    def _skip(self, root: str, found: FoundFile) -> bool:
        """Files written within `settle` seconds, or with an event younger than the
        move pairing delay, wait for a later pass."""
        path = os.path.join(root, found.rel_path)
        settle = self.options.settle
        hold = max(settle, MOVE_PAIRING_DELAY)
        with self._cond:
            touched = self._touched.get(path)
        recent_event = touched is not None and time.monotonic() - touched < hold
        age = time.time_ns() - found.mtime_ns
        if recent_event or 0 <= age < settle * 1e9:
            with self._cond:
                self._deferred.add(path)
                self._deferred_at = time.monotonic() + (hold if recent_event else settle)
            return True
        return False

    def _rescan(self, root_ids: list[int], moved: int, gone: list[int]) -> None:
        store = self._lib.store
        was_online = {r.id: r.online for r in store.roots()}
        # A root removed by another process since the last recheck has no row to scan
        # (the scan failed on it); the next recheck stops watching it.
        root_ids = [i for i in root_ids if i in was_online]
        results = self._drive(scan(store, root_ids, skip=self._skip))
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
        return Batch(batch.scan_pass, batch.new + r.new, batch.changed + r.changed,
                     batch.moved + r.moved, batch.missing + r.missing)

    def _after_scan(self, root_id: int, result: ScanResult, was_online: bool) -> None:
        state = self._roots[root_id]
        state.presence = _presence(state.path)
        before, state.offline = state.offline, not result.online
        if not result.online:
            self._unwatch(root_id)
            if before is not True:
                self._notify("offline", f"{state.path}: offline: {result.offline_reason}; "
                             "its photos are kept and stay searchable.", state.path)
            return
        self._watch(root_id)
        if before is True or (before is None and not was_online):
            self._lib.store.requeue_errors(root_id)
            self._notify("online", f"{state.path}: back online; reconciled by a rescan.", state.path)

    def _forget_old_touches(self) -> None:
        horizon = time.monotonic() - max(self.options.settle, MOVE_PAIRING_DELAY)
        with self._cond:
            self._touched = {p: t for p, t in self._touched.items() if t >= horizon}

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
        report = None
        try:
            while True:
                try:
                    progress = next(work)
                except StopIteration as done:
                    report = done.value
                    break
                self._notify("progress", f"indexing {progress.done}/{progress.total}", progress=progress)
                if self._paused or self._rescan_due():
                    break
        except Exception as e:  # e.g. a model that is not installed: say so, keep watching
            self._set_index_left(False)
            self._notify("error", f"indexing stopped: {e}")
            return
        finally:
            work.close()
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
            if self._stop or self._inbox_due(now) or self._deferred_due(now):
                return True
        if any(s.polling and not s.offline for s in self._roots.values()) and now >= self._next_fallback:
            return True
        if now >= self._next_recheck:
            self._dirty |= self._recheck()
            self._next_recheck = now + self.options.recheck
        return bool(self._dirty)

    def _set_index_left(self, value: bool) -> None:
        with self._cond:
            self._index_left = value

    # -- reporting ----------------------------------------------------------------

    def _drive(self, work):
        while True:
            try:
                progress = next(work)
            except StopIteration as done:
                return done.value
            self._notify("progress", f"scanning {progress.done}/{progress.total}", progress=progress)

    def _notify(self, kind: str, message: str, root: str | None = None, **extra) -> None:
        if self.on_notice is None:
            return
        try:
            self.on_notice(Notice(kind, message, root, **extra))
        except Exception:  # a front end's bug must not stop the watching
            logging.getLogger(__name__).exception("on_notice failed")
