"""The People & Pets view on a 10,000-face library: how long the GUI thread is busy
while the view opens, and while it merges its two biggest groups.

    python bench/people_view.py [--faces 10000] [--big 1200] [--rounds 2]

The library is real SQLite with synthetic faces and vectors (tests/facelib.py:
2,500 photos, four faces each, ~850 groups, two unnamed groups of --big faces on photos
of their own, 100 faces not grouped yet), opened in the real main window (offscreen
unless QT_QPA_PLATFORM says otherwise). For each step, printed:
- gui_cpu_ms: CPU time of the GUI thread (time.thread_time) from the click until the
  view shows the result (tiles and their crops; the merged tile). The wait sleeps in
  the Qt event loop, so this is the GUI's own work; a 5-ms heartbeat timer adds ~1%.
- longest_stall_ms: the longest gap between two heartbeat ticks, wall time: the
  longest the window did not answer (noisy under load; 5 ms is the floor).
- wall_s: wall time until the result is shown (the task thread's work included).
- process_cpu_s: CPU time of the whole process (all threads) over the step.
Figures move with the machine's load: run it twice.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Heartbeat:
    """A 5-ms timer on the GUI thread; the longest gap between ticks is the longest
    stretch the GUI thread was busy elsewhere."""

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.longest = 0.0
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def reset(self) -> None:
        self.last, self.longest = time.perf_counter(), 0.0


def _wait(condition, timeout_s: float = 600) -> None:
    """Sleep in the Qt event loop until condition() holds (checked every 20 ms)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, check = QEventLoop(), QTimer()
    deadline = time.perf_counter() + timeout_s

    def poll():
        if condition() or time.perf_counter() > deadline:
            loop.quit()

    check.timeout.connect(poll)
    check.start(20)
    loop.exec()
    check.stop()
    if not condition():
        raise SystemExit("timed out waiting for the view")


def _measure(step, done, beat: Heartbeat) -> dict:
    beat.reset()
    wall, gui, process = time.perf_counter(), time.thread_time(), _process_cpu()
    step()
    _wait(done)
    return {
        "gui_cpu_ms": round((time.thread_time() - gui) * 1000, 1),
        "longest_stall_ms": round(beat.longest * 1000, 1),
        "wall_s": round(time.perf_counter() - wall, 2),
        "process_cpu_s": round(_process_cpu() - process, 2),
    }


def run_once(faces: int, big: int) -> dict:
    from photoorg.ui.app import make_app
    from photoorg.ui.mainwindow import MainWindow
    from photoorg.ui.people import MAX_TILES, CroppedRole
    from tests.facelib import synthetic_face_library

    folder = Path(tempfile.mkdtemp(prefix="photoorg-people-view-"))
    made = synthetic_face_library(folder / "lib", faces=faces, big=big)
    app = make_app()
    window = MainWindow(folder / "lib", watch=False)
    window.resize(1400, 900)
    window.show()
    _wait(lambda: window.tasks.settled and not window.worker.busy)
    view, beat = window.people, Heartbeat()
    shown = min(made["groups"] + 100, MAX_TILES)

    def opened() -> bool:
        return (
            window.tasks.settled
            and view.tiles.count() >= min(shown, made["groups"])
            and all(view.tiles.item(r).data(CroppedRole) for r in range(view.tiles.count()))
        )

    figures = {"open": _measure(window.show_people, opened, beat)}
    if "locked" in view.summary.text() or not view.tiles.count():
        figures["open"]["failed"] = view.summary.text()
        window.close()
        return figures

    def select_and_merge():
        view.tiles.clearSelection()
        for row in (0, 1):
            view.tiles.item(row).setSelected(True)
        view.merge_selected()

    merged = f"Unnamed\n{2 * big} faces"
    figures["merge"] = _measure(
        select_and_merge, lambda: window.tasks.settled and view.tiles.item(0).text() == merged, beat
    )
    figures["groups"] = view.summary.text().split(" groups")[0]
    window.close()
    app.processEvents()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(
        f"People view, {args.faces} faces, merge of two groups of {args.big}; load {os.getloadavg()[0]:.1f}"
    )
    for n in range(args.rounds):
        print(f"round {n + 1}: {run_once(args.faces, args.big)}")


if __name__ == "__main__":
    main()
