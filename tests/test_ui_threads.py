"""The GUI thread never runs SQL, and one thread writes: every SQLite statement of a
real session (a watched library of real photos: the grid scrolled, the viewer with a
tag added, a folder added and removed, the cut-out dialog, the banner, a search) is
recorded with the thread that ran it, through each connection's trace callback."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass

import pytest
from PySide6.QtCore import Qt

from photoorg.library import Library
from photoorg.progress import drive
from photoorg.ui.mainwindow import MainWindow
from photoorg.ui.sidebar import ValueRole
from tests.conftest import write_photo

WAIT = 60_000
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@dataclass
class Box:
    label: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class Statement:
    on_gui_thread: bool
    thread: str
    sql: str


@pytest.fixture
def statements(monkeypatch) -> list[Statement]:
    """Every statement of every connection opened from now on, with its thread."""
    seen: list[Statement] = []
    connect = sqlite3.connect

    def traced(*args, **kwargs):
        conn = connect(*args, **kwargs)

        def record(sql: str) -> None:  # called on the thread that runs the statement
            thread = threading.current_thread()
            seen.append(Statement(thread is threading.main_thread(), thread.name, sql))

        conn.set_trace_callback(record)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    return seen


@pytest.fixture
def library(tmp_path, photo_dir):
    """Indexed before the session, with a box on one photo (opened before recording:
    this connection is the test's own)."""
    lib = Library(tmp_path / "library")
    lib.add_roots([photo_dir])
    drive(lib.scan())
    drive(lib.index())
    sunny = lib.photo(photo_dir / "beach" / "sunny_day.jpg")
    lib.store.replace_detections(sunny.id, "test-detector", [Box("dog", 0.9, (0.2, 0.2, 0.8, 0.8))])
    yield lib
    lib.close()


def _session(w: MainWindow, qtbot, tmp_path) -> str:
    """What a user does in a few minutes; returns the tag added in the viewer."""
    qtbot.waitUntil(lambda: w.model.rowCount() == 4, timeout=WAIT)
    w.grid.verticalScrollBar().setValue(w.grid.verticalScrollBar().maximum())
    w.grid.viewport().repaint()  # painting asks for the rows' photos
    qtbot.waitUntil(lambda: all(w.model.item(r) is not None for r in range(4)), timeout=WAIT)
    sunny = next(
        w.model.item(r).photo for r in range(4) if w.model.item(r).photo.rel_path.endswith("sunny_day.jpg")
    )

    w.open_viewer(sunny)
    viewer = w.viewer
    qtbot.waitUntil(lambda: viewer.canvas.image is not None and len(viewer.canvas.boxes) == 1, timeout=WAIT)
    viewer.tag_edit.setText("picnic")
    qtbot.keyClick(viewer.tag_edit, Qt.Key.Key_Return)
    texts = lambda: [viewer.tag_list.item(i).text() for i in range(viewer.tag_list.count())]  # noqa: E731
    qtbot.waitUntil(lambda: "picnic" in texts(), timeout=WAIT)

    more = tmp_path / "more"
    write_photo(more / "extra.jpg")
    w.add_folders([str(more)])
    folders = lambda: [i.data(0, ValueRole).path for i in w.sidebar.entries("folder")]  # noqa: E731
    qtbot.waitUntil(lambda: str(more) in folders(), timeout=WAIT)
    added = next(
        i.data(0, ValueRole) for i in w.sidebar.entries("folder") if i.data(0, ValueRole).path == str(more)
    )
    w.remove_folder(added, confirm=False)
    qtbot.waitUntil(lambda: str(more) not in folders() and w.model.total() == 4, timeout=WAIT)

    dialog = w.open_cutout(sunny)
    qtbot.waitUntil(lambda: dialog.subject.count() == 2, timeout=WAIT)  # main subject + the dog
    dialog.close()

    qtbot.waitUntil(lambda: bool(w.banner.missing), timeout=WAIT)
    bogus = tmp_path / "not-weights.onnx"
    bogus.write_bytes(b"nonsense")
    w.banner.import_file(next(n for n in w.banner.missing if n.name == "picodet-s"), str(bogus))
    qtbot.waitUntil(lambda: "checksum" in w.banner.text.text(), timeout=WAIT)

    w.search.setText("sunny")
    w.run_search("sunny")
    qtbot.waitUntil(lambda: getattr(w.model.source(), "title", "") == "Search: sunny", timeout=WAIT)
    qtbot.waitUntil(lambda: w.model.rowCount() == 1, timeout=WAIT)
    return "picnic"


def test_the_gui_thread_runs_no_sql_and_one_thread_writes(qtbot, library, statements, tmp_path):
    w = MainWindow(library.folder, watch=True)
    w.show()
    try:
        tag = _session(w, qtbot, tmp_path)
    finally:
        w.close()
    assert len(statements) > 100  # the trace saw the session's work
    assert [s.sql for s in statements if s.on_gui_thread] == []
    writes = [s for s in statements if s.sql.lstrip().upper().startswith(WRITES)]
    assert any("tags" in s.sql for s in writes)  # the tag edit and the folders are among them
    assert {s.thread for s in writes} == {"photoorg-watch"}  # the watch service's worker
    sunny = library.photo(library.roots()[0].path + "/beach/sunny_day.jpg")
    assert tag in [t.tag for t in library.tags_of(sunny)]
    assert [r.path for r in library.roots()] == [library.roots()[0].path]  # the extra folder is gone

    # The check can fail: a statement on this thread is seen.
    Library(library.folder).close()
    assert any(s.on_gui_thread for s in statements)


@pytest.mark.parametrize("watch", [True, False])
def test_an_edit_handed_to_the_writer_just_before_closing_is_kept(qtbot, library, photo_dir, watch):
    w = MainWindow(library.folder, watch=watch)
    w.show()
    qtbot.waitUntil(lambda: w.model.rowCount() == 4 and w.worker.isRunning(), timeout=WAIT)
    path = str(photo_dir / "home" / "cat.png")
    w.tasks.edit(lambda lib, task: lib.tag(path, add=["kept"]))
    w.close()  # the writer runs what it was handed before it closes its library
    assert [t.tag for t in library.tags_of(library.photo(path)) if t.source == "user"] == ["kept"]
