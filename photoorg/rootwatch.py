"""Which roots the watcher follows, and how: watched by the OS, polled (the OS refused a
watch: inotify limits), or offline; and which of them need a rescan because the folder
itself vanished, was replaced (a drive mounted or unmounted there) or came back.

The scan decides whether a root is online; `RootTracker.after_scan` is the one place
the watcher acts on that decision. The watchdog observer is passed in, and reached
into only here (its emitters and inotify watch counts)."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

from .db import Root
from .roots import ignorable


@dataclass
class RootState:
    path: str
    presence: tuple | None = ("unknown",)  # differs from any real presence: first check rescans
    watch: object | None = None  # watchdog ObservedWatch
    watch_ident: tuple[int, int] | None = None
    polling: bool = False  # the OS refused a watch: periodic rescans instead
    offline: bool | None = None  # None until the first scan says


def presence(path: str) -> tuple | None:
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


def new_observer():
    from watchdog.observers import Observer

    return Observer()


def schedule(observer, handler, path: str):
    return observer.schedule(handler, path, recursive=True)


def watch_is_complete(observer, watch, root: str) -> bool:
    """watchdog skips, silently, the subfolders it cannot watch (also when the
    inotify watch limit runs out halfway through a tree). Count its watches
    against the readable folders; other backends have nothing to count."""
    emitter = getattr(observer, "_emitter_for_watch", {}).get(watch)
    watched = getattr(getattr(emitter, "_inotify", None), "_active_callbacks_by_path", None)
    if watched is None:
        return True
    folders = 1
    for top, dirs, _ in os.walk(root):
        folders += sum(
            1
            for d in dirs
            if not os.path.islink(os.path.join(top, d)) and os.access(os.path.join(top, d), os.R_OK | os.X_OK)
        )
    return len(watched) >= folders


def refusal(root: str, error: OSError, interval: float) -> str:
    if error.errno == errno.ENOSPC:
        why = "the system's limit on watched folders is reached (raise fs.inotify.max_user_watches)"
    elif error.errno == errno.EMFILE:
        why = "the system's limit on folder watchers is reached (raise fs.inotify.max_user_instances)"
    else:
        why = f"it cannot be watched ({error.strerror or error})"
    return f"{root}: {why}; rescanning it every {interval:g} s instead."


class RootTracker:
    """The roots' states, for the watcher's worker thread. `lock` guards the table
    against readers on other threads (watched_roots)."""

    def __init__(
        self,
        make_handler: Callable[[int, str], object],
        on_refused: Callable[[RootState, OSError], None],
        lock=None,
    ):
        self.observer = None  # set when the worker starts
        self.roots: dict[int, RootState] = {}
        self.lock = lock or threading.RLock()
        self._make_handler = make_handler
        self._on_refused = on_refused

    def paths(self) -> dict[int, str]:
        return {root_id: state.path for root_id, state in self.roots.items()}

    def modes(self) -> dict[str, str]:
        """Each root's path and how it is followed: watched | polling | offline."""
        with self.lock:
            return {
                s.path: "offline" if s.offline else "polling" if s.polling else "watched"
                for s in self.roots.values()
            }

    def polled(self) -> set[int]:
        """Roots the OS refused to watch and that are reachable: rescanned on a timer."""
        return {i for i, s in self.roots.items() if s.polling and not s.offline}

    def roots_of(self, paths: set[str]) -> set[int]:
        return {
            root_id
            for root_id, state in self.roots.items()
            if any(PurePath(p).is_relative_to(state.path) and p != state.path for p in paths)
        }

    def still_watched(self, root_id: int) -> bool:
        """The root is the very folder the OS watches (not a mount point left behind)."""
        state = self.roots[root_id]
        try:
            st = os.stat(state.path)
        except OSError:
            return False
        return state.watch is not None and state.watch_ident == (st.st_dev, st.st_ino)

    def recheck(self, known: list[Root]) -> set[int]:
        """Roots added or removed by someone else, roots that vanished, were replaced
        by another folder (a drive mounted or unmounted there) or came back: all of
        them need a rescan, which decides online or offline."""
        dirty = set()
        by_id = {r.id: r for r in known}
        for root_id in set(self.roots) - set(by_id):
            self.unwatch(root_id)
            with self.lock:
                del self.roots[root_id]
        for root in by_id.values():
            with self.lock:
                state = self.roots.setdefault(root.id, RootState(root.path))
            seen = presence(root.path)
            if state.watch is not None:
                # A watched root's content is told by its events; only the folder
                # itself vanishing or being replaced needs a look from here.
                if seen is not None and seen[:2] == state.watch_ident and self._emitter_alive(state.watch):
                    continue
                self.unwatch(root.id)
            elif seen == state.presence:
                continue
            state.presence = seen
            dirty.add(root.id)
        return dirty

    def after_scan(self, root_id: int, online: bool, was_online: bool) -> str | None:
        """Follow what the scan found: "offline" when the root just went offline,
        "online" when it came back, None when nothing changed."""
        state = self.roots[root_id]
        state.presence = presence(state.path)
        before, state.offline = state.offline, not online
        if not online:
            self.unwatch(root_id)
            return "offline" if before is not True else None
        self.watch(root_id)
        return "online" if before is True or (before is None and not was_online) else None

    def _emitter_alive(self, watch) -> bool:
        # An emitter thread that died (an error inside watchdog) reports nothing
        # more: rescan its root and watch it again.
        return any(e.watch == watch and e.is_alive() for e in self.observer.emitters)

    def watch(self, root_id: int) -> None:
        state = self.roots[root_id]
        if state.watch is not None or state.polling:
            return
        try:
            st = os.stat(state.path)
            watch = schedule(self.observer, self._make_handler(root_id, state.path), state.path)
        except OSError as e:
            self._fall_back(state, e)
            return
        state.watch, state.watch_ident = watch, (st.st_dev, st.st_ino)
        if not watch_is_complete(self.observer, watch, state.path):
            self.unwatch(root_id)
            self._fall_back(state, OSError(errno.ENOSPC, "inotify watch limit reached"))

    def _fall_back(self, state: RootState, error: OSError) -> None:
        state.polling = True
        self._on_refused(state, error)

    def unwatch(self, root_id: int) -> None:
        state = self.roots.get(root_id)
        if state is None or state.watch is None:
            return
        try:
            self.observer.unschedule(state.watch)
        except KeyError:  # its emitter already ended (the folder was deleted)
            pass
        state.watch = state.watch_ident = None
