"""The People & Pets view on a 10,000-face library (a real SQLite library of synthetic
faces and vectors, tests/facelib.py): it opens, and a merge of its two biggest groups
keeps every face, with every database read and write on the task thread, never on the
GUI thread. (How long the GUI thread is busy is printed by bench/people_view.py; tests
assert no times.)"""

from __future__ import annotations

import threading

from photoorg import people
from photoorg.db import faces as facedb
from photoorg.library import Library
from photoorg.ui import people as people_view
from photoorg.ui.mainwindow import MainWindow
from photoorg.ui.people import CroppedRole, GroupRole

from .facelib import synthetic_face_library

WAIT = 120_000


def test_a_ten_thousand_face_library_opens_and_merges_off_the_gui_thread(qtbot, tmp_path, monkeypatch):
    made = synthetic_face_library(tmp_path / "lib")
    threads: dict[str, set[str]] = {}
    for name in ("group_new_faces", "groups", "merge", "members", "face_crop"):
        original = getattr(people, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            threads.setdefault(_name, set()).add(threading.current_thread().name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(people, name, spy)
    w = MainWindow(tmp_path / "lib", watch=False)
    check = Library(tmp_path / "lib")  # the test's own connection (the window holds none)
    w.show()
    try:
        view = w.people
        w.show_people()
        shown = min(made["groups"], people_view.MAX_TILES)
        qtbot.waitUntil(lambda: view.tiles.count() == shown and w.tasks.settled, timeout=WAIT)
        counts = people.group_counts(check.store)  # the 100 new faces were grouped as it opened
        assert counts["groups"] > made["groups"]
        assert view.summary.text().startswith(
            f"{counts['groups']} groups (the {shown} largest shown), 20 named"
        )
        assert all(view.tiles.item(r).data(CroppedRole) for r in range(view.tiles.count()))
        assert [view.tiles.item(r).text() for r in (0, 1)] == ["Unnamed\n1200 faces"] * 2

        view.tiles.clearSelection()
        for row in (0, 1):
            view.tiles.item(row).setSelected(True)
        qtbot.waitUntil(lambda: w.tasks.settled, timeout=WAIT)  # the group's members
        view.merge_selected()
        qtbot.waitUntil(lambda: view.tiles.item(0).text() == "Unnamed\n2400 faces", timeout=WAIT)
        qtbot.waitUntil(lambda: w.tasks.settled, timeout=WAIT)
        assert view.tiles.item(0).data(GroupRole) in made["big"]
        assert check.store.db.execute("SELECT count(*) FROM faces").fetchone()[0] == 10_000
    finally:
        w.close()
        check.close()
    gui = threading.main_thread().name
    assert set(threads) == {"group_new_faces", "groups", "merge", "members", "face_crop"}
    assert all(gui not in names for names in threads.values()), threads


def test_a_batch_that_reads_then_writes_waits_for_another_writer(tmp_path):
    """The People view groups new faces (read, then write) while the indexer may do the
    same on its own connection: the batch waits for the other writer instead of failing
    with "database is locked" (the view showed that sentence before)."""
    Library(tmp_path / "lib").close()
    read, other_wrote, failures = threading.Event(), threading.Event(), []

    def batch():  # its own connection, on its own thread, like the task runner's
        with Library(tmp_path / "lib") as lib:
            try:
                with lib.store.transaction():
                    facedb.group_counts(lib.store)  # the read that starts the snapshot
                    read.set()
                    other_wrote.wait(timeout=1)  # the other writer commits here, if it can
                    facedb.new_group(lib.store, "person")
            except Exception as e:  # noqa: BLE001 - the failure is the finding
                failures.append(str(e))

    thread = threading.Thread(target=batch)
    thread.start()
    with Library(tmp_path / "lib") as other:
        read.wait(timeout=60)
        facedb.new_group(other.store, "person")
        other_wrote.set()
        thread.join()
        assert failures == []
        assert other.store.db.execute("SELECT count(*) FROM face_groups").fetchone()[0] == 2
