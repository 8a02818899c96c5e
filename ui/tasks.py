"""Background work for the window. Two kinds of thread, each with its own Library
(SQLite connections belong to the thread that opened them):

- IndexWorker: the long jobs (scan, index, watching) over the Qt-free generators
  and services of the engine; their progress events become signals. Its thread is
  the process's one writer: edits are handed to its `inbox` and run there between
  two batches (photoorg.watch.Inbox), as Picard keeps its saving apart.
- TaskRunner: short reads a user is waiting for (search, pages of the grid, cut-outs,
  big image decodes), one at a time, newest request of a kind first; `edit()` sends
  a write to the writer instead, with the same callbacks.

The GUI thread never touches SQLite. Workers never touch widgets: results travel back
as signals, which Qt delivers on the GUI thread.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from ..errors import UserError
from ..library import Library
from ..progress import Control, drive
from ..watch import Inbox, WatchService


def describe(error: BaseException) -> str:
    """One sentence for the status bar: user errors as they are, bugs with their type."""
    if isinstance(error, UserError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class IndexWorker(QThread):
    """Keeps the library in step in the background. With `watch`, the engine's
    WatchService does it (it rescans on changes and on start, and indexes what is
    pending); without, scan()/index() requests run here one at a time. Either way
    one thread writes, and its events become signals."""

    progress = Signal(object)  # photoorg.progress.Progress
    changed = Signal(str)  # what changed, one line ("batch", "indexed", "offline", ...)
    message = Signal(str)  # one sentence for the status bar (degraded watching, errors)
    busyChanged = Signal(bool)

    def __init__(self, folder: Path, watch: bool = True, parent: QObject | None = None):
        super().__init__(parent)
        self.folder = Path(folder)
        self.watch = watch
        self.control = Control()
        self._jobs: queue.Queue = queue.Queue()
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = False
        self.busy = False
        self.service = WatchService(self.folder, Library, on_notice=self._notice) if watch else None
        # Edits from the window: the watch service runs them between its batches;
        # without it, this thread's job loop does.
        self.inbox = self.service.inbox if watch else Inbox(wake=lambda: self._put("inbox", None))

    # -- GUI-thread API --------------------------------------------------------

    def scan(self, paths: list[str] | None = None) -> None:
        """Without watching, rescan (then index); a watch service finds new and
        changed folders by itself within its recheck period."""
        if not self.watch:
            self._put("scan", paths)

    def index(self) -> None:
        """Index what is pending (after a model was installed, say). The watch
        service is asked for a pass rather than run a second writer beside it."""
        if not self.watch:
            self._put("index", None)
        elif self.service is not None:
            self.service.request_index()

    def pause(self) -> None:
        (self.service or self.control).pause()

    def resume(self) -> None:
        (self.service or self.control).resume()

    @property
    def paused(self) -> bool:
        return (self.service or self.control).paused

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Cancel what runs (the engine commits per batch, so nothing done is lost)
        and wait for the threads to close their libraries."""
        self._stopping = True
        self.control.cancel()
        self._jobs.put(None)
        return self.wait(timeout_ms)

    def _put(self, name: str, arg) -> None:
        key = f"{name}:{arg}"
        with self._lock:
            if key in self._queued:  # a burst of requests is one job
                return
            self._queued.add(key)
        self._jobs.put((name, arg, key))

    # -- worker thread ---------------------------------------------------------

    def run(self) -> None:
        if self.watch:
            self._watch()
            return
        lib = Library(self.folder)
        try:
            while not self._stopping:
                job = self._jobs.get()
                if job is None:
                    break
                name, arg, key = job
                with self._lock:
                    self._queued.discard(key)
                if name == "inbox":
                    self.inbox.run(lib)
                else:
                    self._run_job(lib, name, arg)
        finally:
            self.inbox.run(lib)  # an edit made just before closing is kept
            lib.close()

    def _watch(self) -> None:
        self.service.start()
        try:
            self._jobs.get()  # only stop() puts here in watch mode
        finally:
            self.service.stop()
            self._set_busy(False)

    def _notice(self, notice) -> None:
        """From the watch service's thread: its notices as signals."""
        if notice.kind == "progress" and notice.progress is not None:
            self._set_busy(notice.progress.done < notice.progress.total)
            self.progress.emit(notice.progress)
        elif notice.kind in ("degraded", "error"):
            self.message.emit(notice.message)
        else:
            if notice.kind == "indexed":
                self._set_busy(False)
            self.changed.emit(notice.kind)
            if notice.kind in ("offline", "online"):
                self.message.emit(notice.message)

    def _run_job(self, lib: Library, name: str, arg) -> None:
        self._set_busy(True)
        try:
            work = lib.scan(arg) if name == "scan" else lib.index(control=self.control)
            # Between two scan batches a stop keeps what is committed; the next start
            # rescans. (An index run stops itself through the cancelled Control.)
            drive(
                work,
                lambda p: (self.inbox.run(lib), self.progress.emit(p)),  # edits between batches
                stop=(lambda: self._stopping) if name == "scan" else None,
            )
            self.changed.emit("batch" if name == "scan" else "indexed")
            if name == "scan" and not self._stopping:
                self.index()
        except Exception as e:  # noqa: BLE001 - the window must outlive any job
            self.message.emit(f"{name} stopped: {describe(e)}")
        finally:
            self._set_busy(not self._jobs.empty())

    def _set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busyChanged.emit(busy)


@dataclass
class _Task:
    token: int
    kind: str
    fn: Callable
    runner: TaskRunner
    cancel: threading.Event = field(default_factory=threading.Event)


class TaskRunner(QThread):
    """Runs fn(lib, task) callables one at a time on a thread with its own Library.
    A newer task of the same kind replaces one still waiting (a search typed on
    top of another). `edit()` runs fn on the writer's thread instead (its inbox),
    in order, none replacing another. Callbacks run on the GUI thread."""

    done = Signal(int, object)
    failed = Signal(int, str)
    progress = Signal(int, object)
    ready = Signal()  # the thread's Library is open (a new library is created by then)

    def __init__(self, folder: Path, parent: QObject | None = None, writer: Inbox | None = None):
        super().__init__(parent)
        self.folder = Path(folder)
        self.writer = writer
        self._edits: dict[int, _Task] = {}  # handed to the writer, not finished yet
        self._tokens = itertools.count(1)
        self._waiting: list[_Task] = []
        self._cv = threading.Condition()
        self._current: _Task | None = None
        self._callbacks: dict[int, tuple] = {}
        self._stopping = False
        self.done.connect(self._on_done)
        self.failed.connect(self._on_failed)
        self.progress.connect(self._on_progress)

    def submit(
        self,
        kind: str,
        fn: Callable,
        on_done: Callable | None = None,
        on_error: Callable | None = None,
        on_progress: Callable | None = None,
    ) -> int:
        token = next(self._tokens)
        self._callbacks[token] = (on_done, on_error, on_progress)
        with self._cv:
            for old in [t for t in self._waiting if t.kind == kind]:
                self._waiting.remove(old)
                self._callbacks.pop(old.token, None)
            self._waiting.append(_Task(token, kind, fn, self))
            self._cv.notify()
        return token

    def edit(
        self,
        fn: Callable,
        on_done: Callable | None = None,
        on_error: Callable | None = None,
        on_progress: Callable | None = None,
    ) -> int:
        """Write: fn(lib, task) on the writer's thread. Without a writer (a view tested
        on its own) this runner's thread runs it."""
        if self.writer is None:
            return self.submit(f"edit-{next(self._tokens)}", fn, on_done, on_error, on_progress)
        token = next(self._tokens)
        self._callbacks[token] = (on_done, on_error, on_progress)
        task = self._edits[token] = _Task(token, "edit", fn, self)
        self.writer.put(lambda lib: self._execute(task, lib))
        return token

    @property
    def settled(self) -> bool:
        """Nothing waits or runs, and every result has reached its callback."""
        with self._cv:
            return not self._waiting and self._current is None and not self._callbacks

    def cancel(self, token: int) -> None:
        with self._cv:
            self._waiting = [t for t in self._waiting if t.token != token]
            if self._current and self._current.token == token:
                self._current.cancel.set()
        self.interrupt(token)
        self._callbacks.pop(token, None)

    def interrupt(self, token: int) -> None:
        """Ask a running task to end early; it still reports what it finished."""
        with self._cv:
            if self._current and self._current.token == token:
                self._current.cancel.set()
        edit = self._edits.get(token)
        if edit is not None:
            edit.cancel.set()

    def stop(self, timeout_ms: int = 30_000) -> bool:
        with self._cv:
            self._stopping = True
            self._waiting.clear()
            if self._current:
                self._current.cancel.set()
            self._cv.notify()
        return self.wait(timeout_ms)

    def report(self, task: _Task, event) -> None:
        """Called by a task's fn (on this thread) to send progress to the GUI."""
        self.progress.emit(task.token, event)

    def run(self) -> None:
        lib = Library(self.folder)
        self.ready.emit()
        try:
            while True:
                with self._cv:
                    while not self._waiting and not self._stopping:
                        self._cv.wait()
                    if self._stopping:
                        return
                    self._current = task = self._waiting.pop(0)
                try:
                    self._execute(task, lib)
                finally:
                    with self._cv:
                        self._current = None
        finally:
            lib.close()

    def _execute(self, task: _Task, lib: Library) -> None:
        """On the thread that runs the task: its result or failure back as a signal."""
        try:
            result = task.fn(lib, task)
        except Exception as e:  # noqa: BLE001 - a failed task is a message, not a crash
            self.failed.emit(task.token, describe(e))
        else:
            self.done.emit(task.token, result)

    def _on_done(self, token: int, result) -> None:
        self._edits.pop(token, None)
        on_done, _, _ = self._callbacks.pop(token, (None, None, None))
        if on_done:
            on_done(result)

    def _on_failed(self, token: int, message: str) -> None:
        self._edits.pop(token, None)
        _, on_error, _ = self._callbacks.pop(token, (None, None, None))
        if on_error:
            on_error(message)

    def _on_progress(self, token: int, event) -> None:
        _, _, on_progress = self._callbacks.get(token, (None, None, None))
        if on_progress:
            on_progress(event)
