"""The indexing pipeline: pending photos are decoded in a thread pool (a bounded
look-ahead of batches), understood batch by batch, and written in one transaction
per batch. A crash loses at most the batch in flight; the next run resumes the
photos still pending. A photo that fails gets an error row and the run goes on."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .db import Photo, PhotoMeta, Store
from .imaging import DecodeError, load_image, read_meta
from .progress import Progress, Work
from .thumbs import THUMB_SIDE, save_thumbnail

LOOKAHEAD_BATCHES = 2
DECODE_STAGE_ID = f"pillow:thumb{THUMB_SIDE}"


@dataclass
class Decoded:
    photo: Photo
    image: Image.Image | None = None
    meta: PhotoMeta | None = None
    error: str | None = None


@dataclass
class IndexReport:
    indexed: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    cancelled: bool = False


class Cancelled(Exception):
    pass


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


def decode(photo: Photo, side: int) -> Decoded:
    try:
        meta = read_meta(photo.path)
        return Decoded(photo, load_image(photo.path, max_side=side), meta)
    except DecodeError as e:
        return Decoded(photo, error=str(e))
    except Exception as e:  # a decoder bug must cost one photo, not the run
        return Decoded(photo, error=f"cannot decode: {type(e).__name__}: {e}")


def _batches(store: Store, batch_size: int) -> Iterator[list[Photo]]:
    last_id = 0
    while batch := store.pending(batch_size, after_id=last_id):
        last_id = batch[-1].id
        yield batch


def decoded_batches(store: Store, batch_size: int, side: int,
                    workers: int | None = None) -> Iterator[list[Decoded]]:
    """Batches of decoded photos; decoding runs ahead of the consumer by a bounded
    number of batches so memory stays flat however large the library is."""
    workers = workers or min(8, os.cpu_count() or 2)
    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
        queue: list[list[Future]] = []
        source = _batches(store, batch_size)
        for batch in source:
            queue.append([pool.submit(decode, p, side) for p in batch])
            if len(queue) > LOOKAHEAD_BATCHES:
                yield [f.result() for f in queue.pop(0)]
        while queue:
            yield [f.result() for f in queue.pop(0)]


def run_index(store: Store, thumbs_dir: Path, batch_size: int = 16,
              control: Control | None = None) -> Work[IndexReport]:
    control = control or Control()
    report = IndexReport()
    total = store.counts()["pending"]
    progress = Progress("index", 0, total)
    try:
        for batch in decoded_batches(store, batch_size, side=THUMB_SIDE * 2):
            control.checkpoint()
            with store.transaction():
                for item in batch:
                    _store_decoded(store, thumbs_dir, item, report)
            progress = Progress("index", report.indexed + report.failed, total, progress.started)
            yield progress
    except Cancelled:
        report.cancelled = True
    return report


def _store_decoded(store: Store, thumbs_dir: Path, item: Decoded, report: IndexReport) -> None:
    if item.error:
        store.set_state(item.photo.id, "error", item.error)
        report.failed += 1
        report.errors.append((item.photo.path, item.error))
        return
    store.set_meta(item.photo.id, item.meta)
    try:
        save_thumbnail(thumbs_dir, item.photo, item.image)
    except OSError as e:
        store.set_state(item.photo.id, "error", f"cannot write thumbnail: {e.strerror or e}")
        report.failed += 1
        return
    store.set_processed(item.photo.id, "decode", DECODE_STAGE_ID)
    store.set_state(item.photo.id, "indexed")
    report.indexed += 1
