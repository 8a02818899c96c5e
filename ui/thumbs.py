"""Thumbnails for the grid: read (or made) off the GUI thread, newest request first,
kept in a bounded in-memory cache as pixmaps.

The cached JPEG is decoded and scaled to the cell's size in one QImageReader.read(),
which PySide6 runs with the GIL released: 262 us of CPU per thumbnail against 583 us
for QImage(path) then QImage.scaled (measured here), and QImage.scaled holds the GIL,
so the GUI thread waited on it between two painted tiles. Results reach the GUI
thread in batches (one signal for all that finished since the last batch was taken),
so a screenful of arrivals is one slot call and one repaint, not forty.

The newest-first order matters when scrolling fast: the cells on screen now were
asked for last, so they load before the ones that have already scrolled away; the
oldest requests are dropped when too many wait.

Pool threads linger a little for the next request instead of ending when the queue
is empty: starting one costs the GUI thread about 1 ms (QThreadPool.start), and a
scroll used to start one for nearly every new cell (1,091 starts in 100 page steps,
a fifth of their time, profiled with bench/gui.py).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict, deque
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

from ..db import Photo
from ..thumbs import thumbnail

MAX_WAITING = 300
LINGER_S = 0.5  # how long an idle pool thread waits for the next request
# Leave one core to the GUI thread: with two decoding threads on a 2-core machine a
# page step cost the process 50 ms of CPU against the GUI thread's 18 (bench/gui.py).
THREADS = max(1, min(2, (os.cpu_count() or 2) - 1))


class _Runner(QRunnable):
    def __init__(self, loader: ThumbnailLoader):
        super().__init__()
        self.loader = loader

    def run(self) -> None:
        while (photo := self.loader._take()) is not None:
            image = self.loader.read(photo)
            self.loader._finish(photo.id, image)


class ThumbnailLoader(QObject):
    """request(photo) -> later `arrived`, then take() gives (photo_id, QImage or None
    when the photo has no preview) for every thumbnail finished since the last take()."""

    arrived = Signal()

    def __init__(
        self, cache_dir: Path, side: int = 160, threads: int = THREADS, parent: QObject | None = None
    ):
        super().__init__(parent)
        self.cache_dir = Path(cache_dir)
        self.side = side
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._waiting: deque[Photo] = deque()
        self._inflight: set[int] = set()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._runners = 0
        self._idle = 0  # runners waiting for a request
        self._closing = False
        self._finished: list[tuple[int, QImage | None]] = []

    def request(self, photo: Photo) -> None:
        with self._lock:
            if photo.id in self._inflight:
                return
            self._inflight.add(photo.id)
            self._waiting.append(photo)
            while len(self._waiting) > MAX_WAITING:
                self._inflight.discard(self._waiting.popleft().id)
            if self._idle:
                self._work.notify()
            start = not self._idle and self._runners < self.pool.maxThreadCount()
            if start:
                self._runners += 1
        if start:
            self.pool.start(_Runner(self))

    def read(self, photo: Photo) -> QImage | None:
        """On a pool thread: the cached thumbnail (made from the photo when the
        folder is online), scaled to the cell. QImage, unlike QPixmap, is safe here."""
        try:
            path = thumbnail(self.cache_dir, photo)
        except Exception:  # noqa: BLE001 - unreadable or offline: the cell says "no preview"
            return None
        reader = QImageReader(str(path))
        size = reader.size()
        if size.isValid():
            size.scale(QSize(self.side, self.side), Qt.AspectRatioMode.KeepAspectRatio)
            reader.setScaledSize(size)
        image = reader.read()
        return None if image.isNull() else image

    def clear(self) -> None:
        with self._lock:
            for photo in self._waiting:
                self._inflight.discard(photo.id)
            self._waiting.clear()

    def shutdown(self) -> None:
        self.clear()
        with self._lock:
            self._closing = True
            self._work.notify_all()
        self.pool.waitForDone(5000)

    def _take(self) -> Photo | None:
        with self._lock:
            if not self._waiting and not self._closing:
                self._idle += 1
                self._work.wait(LINGER_S)
                self._idle -= 1
            if self._waiting:
                return self._waiting.pop()
            self._runners -= 1
            return None

    def take(self) -> list[tuple[int, QImage | None]]:
        """On the GUI thread: the thumbnails finished since the last take()."""
        with self._lock:
            finished, self._finished = self._finished, []
        return finished

    def _finish(self, photo_id: int, image: QImage | None) -> None:
        with self._lock:
            self._inflight.discard(photo_id)
            first = not self._finished
            self._finished.append((photo_id, image))
        if first:  # one signal per batch: the GUI thread takes everything then
            self.arrived.emit()


class PixmapCache:
    """The most recently used thumbnails as pixmaps: 600 cells of 160 px are about
    45 MB, a dozen screenfuls to scroll back through; older ones are dropped and
    re-read from the disk cache when they come back into view."""

    def __init__(self, capacity: int = 600):
        self.capacity = capacity
        self._items: OrderedDict[int, QPixmap] = OrderedDict()

    def get(self, photo_id: int) -> QPixmap | None:
        pixmap = self._items.get(photo_id)
        if pixmap is not None:
            self._items.move_to_end(photo_id)
        return pixmap

    def put(self, photo_id: int, pixmap: QPixmap) -> None:
        self._items[photo_id] = pixmap
        self._items.move_to_end(photo_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def discard(self, photo_id: int) -> None:
        self._items.pop(photo_id, None)

    def __len__(self) -> int:
        return len(self._items)
