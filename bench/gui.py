"""GUI figures on a synthetic library of 100,000 photos: time to the first painted
window, and the thumbnail grid's frame times while scrolling.

    python bench/gui.py [--photos 100000] [--frames 300]

Rows are inserted straight through the Store in one transaction; all photos share a
handful of cached thumbnails (keyed by content hash), so the disk cache is warm as it
is for a library that has been indexed; their folder is offline, so the start-up rescan
changes nothing while frames are timed. Runs on the offscreen platform unless
QT_QPA_PLATFORM says otherwise. Each figure is measured in a fresh process.

A frame is what a scroll costs the GUI thread before the screen is right again: the
scroll bar moves, then Qt's events run (fetchMore, thumbnails that arrived, layout)
together with the paint that the scroll scheduled; a frame that had no paint due gets
one. (Until session 4 every frame was also repainted after the events, so a frame
painted its screenful twice.) Wall time is given with the GUI thread's own CPU time
per frame: on this shared machine the wall figure waits for other processes too.
Scrolling is timed once the window's start-up reads are done. The first screenful is
timed from the start of the process's imports, and from the moment the window is
shown.

photoorg's own modules are byte-compiled before the first run, as installing it does
(pip compiles a wheel's modules; a checkout writes them on its first start): where
PYTHONDONTWRITEBYTECODE is set, as on this project's machine, every start otherwise
compiles them again, 0.3-0.4 s of the first screenful loaded, which no installed app
pays. Until session 5 the figure included that when the checkout had no bytecode."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED_THUMBS = 16


def build(folder: Path, n: int) -> None:
    from PIL import Image

    from photoorg.db import Photo
    from photoorg.library import Library
    from photoorg.thumbs import save_thumbnail

    with Library(folder) as lib:
        store = lib.store
        # The folder does not exist: the start-up rescan finds it offline and leaves
        # every row as it is (an unplugged drive, browsable from cached thumbnails).
        root = folder / "unplugged-drive"
        with store.transaction():
            root_id = store.add_root(str(root)).id
            store.db.conn.executemany(
                "INSERT INTO photos (root_id, rel_path, size, mtime_ns, hash, width, height, "
                "taken_at, state, added_at) VALUES (?, ?, 1000, 0, ?, 640, 480, ?, 'indexed', 0)",
                [
                    (
                        root_id,
                        f"{i // 1000:03}/IMG_{i:06}.jpg",
                        f"h{i % SHARED_THUMBS:04}",
                        f"20{10 + i % 14}-{1 + i % 12:02}-{1 + i % 28:02}T12:00:00",
                    )
                    for i in range(n)
                ],
            )
        for k in range(SHARED_THUMBS):
            colour = (40 + 12 * k, 200 - 9 * k, 90 + 5 * k)
            photo = Photo(
                0,
                root_id,
                "",
                "",
                0,
                0,
                f"h{k:04}",
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                "indexed",
                None,
            )
            save_thumbnail(lib.thumbs_dir, photo, Image.new("RGB", (320, 240), colour))


def _app_and_window(folder: Path):
    from photoorg.ui.app import make_app

    app = make_app()
    from photoorg.ui.mainwindow import MainWindow

    window = MainWindow(folder, watch=False)
    window.resize(1400, 900)
    return app, window


def child_first_window(folder: Path) -> dict:
    """In a fresh process: imports + library open + first paint, in seconds."""
    from PySide6.QtCore import QEvent, QObject

    start = time.perf_counter()
    app, window = _app_and_window(folder)
    painted = []

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint and not painted:
                painted.append(time.perf_counter())
            return False

    spy = FirstPaint()
    window.grid.viewport().installEventFilter(spy)
    shown_at = time.perf_counter()
    window.show()
    while not painted:
        app.processEvents()
    first = painted[0] - start
    from photoorg.ui.photomodel import ThumbStateRole

    def thumbs_shown() -> bool:
        rows = [window.model.index(r) for r in range(min(window.model.rowCount(), 20))]
        return bool(rows) and all(i.data(ThumbStateRole) == "ready" for i in rows)

    while not thumbs_shown():
        app.processEvents()
    window.grid.viewport().repaint()
    shown = time.perf_counter() - start
    window.close()
    return {
        "first_window_s": round(first, 3),
        "first_thumbnails_s": round(shown, 3),
        "first_thumbnails_after_show_s": round(shown - (shown_at - start), 3),
        "first_thumbnails_cpu_s": round(time.process_time(), 3),
        "peak_rss_mb": _peak_rss_mb(),
        "torch_loaded": "torch" in sys.modules,
    }


def _peak_rss_mb() -> int:
    """This process's peak resident memory (VmHWM), in MiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmHWM"))


def child_scroll(folder: Path, frames: int) -> dict:
    """In a fresh process: per-frame times of wheel-sized scroll steps and page jumps."""
    app, window = _app_and_window(folder)
    window.show()
    while window.model.rowCount() == 0:  # the id list arrives from the task thread
        app.processEvents()
    # Time scrolling, not start-up: the window's start-up reads (the whole id list, the
    # sidebar's counts) run on other threads for a second or so at 100,000 photos.
    while not (window.tasks.settled and window.pages.settled and not window.worker.busy):
        app.processEvents()
        time.sleep(0.002)
    for _ in range(20):
        app.processEvents()
    bar = window.grid.verticalScrollBar()
    from PySide6.QtCore import QEvent, QObject

    paints = [0]

    class PaintCount(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint:
                paints[0] += 1
            return False

    spy = PaintCount()
    window.grid.viewport().installEventFilter(spy)
    cpu: dict[str, float] = {}
    gui_cpu: dict[str, list[float]] = {}

    def frame(value: int) -> tuple[float, float]:
        """Wall and GUI-thread CPU ms of one scroll step."""
        t, g = time.perf_counter(), time.thread_time()
        before = paints[0]
        bar.setValue(value)
        app.processEvents()  # fetchMore, thumbnails that arrived, layout, the paint
        if paints[0] == before:
            window.grid.viewport().repaint()  # nothing was due: every frame paints once
        return (time.perf_counter() - t) * 1000, (time.thread_time() - g) * 1000

    def timed(kind: str, values) -> list[float]:
        """Frame times of one scroll kind, and the CPU time per frame: of the GUI thread
        (what a frame waits for) and of the process (all threads)."""
        c = time.process_time()
        wall, gui = zip(*[frame(v() if callable(v) else v) for v in values])
        n = max(1, len(wall))
        gui_cpu[kind] = _stats(list(gui))
        cpu[kind] = {
            "gui_thread": round(sum(gui) / n, 2),
            "process": round((time.process_time() - c) * 1000 / n, 2),
        }
        return list(wall)

    wheel = timed("wheel_ms", [lambda: bar.value() + 120] * frames)
    pages = timed("page_ms", [lambda: bar.value() + bar.pageStep()] * frames)
    rows_loaded = window.model.rowCount()
    t = time.perf_counter()
    while window.model.canFetchMore():
        window.model.fetchMore()
    fetch_all = time.perf_counter() - t
    jumps = timed("jump_ms", range(0, bar.maximum(), max(1, bar.maximum() // frames)))
    total = window.model.total()
    window.close()
    return {
        "wheel_ms": _stats(wheel),
        "page_ms": _stats(pages),
        "jump_ms": _stats(jumps),
        "cpu_ms_per_frame": cpu,
        "gui_cpu_ms": gui_cpu,
        "rows_fetched_while_scrolling": rows_loaded,
        "fetch_all_rows_s": round(fetch_all, 3),
        "total_photos": total,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _stats(ms: list[float]) -> dict:
    ordered = sorted(ms)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max": round(ordered[-1], 2),
        "frames": len(ordered),
    }


def compile_photoorg() -> None:
    """Byte-compile photoorg, db and ui into their __pycache__ folders (see above)."""
    import compileall

    import photoorg
    import photoorg.db
    import photoorg.ui

    for package in (photoorg, photoorg.db, photoorg.ui):
        compileall.compile_dir(os.path.dirname(package.__file__), quiet=1)


def _run_child(kind: str, folder: Path, frames: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--folder", str(folder), "--frames", str(frames)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--child")
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--library", type=Path, help="build the library here once and reuse it")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.child == "first":
        print(json.dumps(child_first_window(args.folder)))
        return 0
    if args.child == "scroll":
        print(json.dumps(child_scroll(args.folder, args.frames)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.library or Path(tmp) / "library"
        if not (folder / "library.db").exists():
            t = time.perf_counter()
            build(folder, args.photos)
            print(f"synthetic library: {args.photos} photos in {time.perf_counter() - t:.1f} s")
        compile_photoorg()
        runs = [_run_child("first", folder, args.frames) for _ in range(3)]
        first = [r["first_window_s"] for r in runs]
        shown = [r["first_thumbnails_s"] for r in runs]
        print(
            f"time to first painted window: best {min(first):.3f} s, runs {first} "
            f"(Python start-up excluded; imports, library open and first paint included; "
            f"photoorg byte-compiled, as installed)"
        )
        cpu = [r["first_thumbnails_cpu_s"] for r in runs]
        print(f"time to the first screenful of thumbnails: best {min(shown):.3f} s, runs {shown} (wall)")
        after = [r["first_thumbnails_after_show_s"] for r in runs]
        print(f"  of which after the window was shown: best {min(after):.3f} s, runs {after} (wall)")
        print(f"  CPU time of the process to that point: best {min(cpu):.3f} s, runs {cpu}")
        print(
            f"peak RSS of the GUI to the first screenful, no model loaded: "
            f"{max(r['peak_rss_mb'] for r in runs)} MiB (goal <= 300; torch imported: "
            f"{any(r['torch_loaded'] for r in runs)})"
        )
        scroll = _run_child("scroll", folder, args.frames)
        for key, what in (
            ("wheel_ms", "wheel steps (120 px)"),
            ("page_ms", "page steps"),
            ("jump_ms", "jumps across all 100k rows"),
        ):
            s, g = scroll[key], scroll["gui_cpu_ms"][key]
            print(
                f"grid frame time, {what}: p50 {s['p50']} ms, p95 {s['p95']} ms, "
                f"max {s['max']} ms over {s['frames']} frames (wall); "
                f"GUI-thread CPU per frame p50 {g['p50']} ms, p95 {g['p95']} ms, "
                f"mean {scroll['cpu_ms_per_frame'][key]['gui_thread']} ms; "
                f"process CPU per frame {scroll['cpu_ms_per_frame'][key]['process']} ms"
            )
        print(
            f"rows fetched while scrolling: {scroll['rows_fetched_while_scrolling']} of "
            f"{scroll['total_photos']}; fetching all the rest: {scroll['fetch_all_rows_s']} s"
        )
        print(f"peak RSS after scrolling through every row: {scroll['peak_rss_mb']} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
