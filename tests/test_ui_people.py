"""The People & Pets view in the real window, on a library built from real faces
(faces-mini, dlib's models): name a group, merge two, move a face out, "not this
person". Skipped where the faces or the face models are absent."""

from __future__ import annotations

import shutil

import pytest

from photoorg.db import faces as facedb
from photoorg.library import Library
from photoorg.progress import drive
from photoorg.ui.mainwindow import MainWindow
from photoorg.ui.people import CroppedRole, FaceRole, GroupRole

from .facelib import copy_people, model_set, need_faces

WAIT = 60_000


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    need_faces()
    root = tmp_path_factory.mktemp("uipeople")
    truth = copy_people(root / "photos", {"abdullah_gul": 3, "carlos_moya": 3, "antonio_palocci": 3})
    lib = Library(root / "lib")
    lib.add_roots([root / "photos"])
    drive(lib.scan())
    drive(lib.index(models=model_set()))
    lib.close()
    return root, truth


@pytest.fixture
def window(qtbot, indexed, tmp_path, monkeypatch):
    monkeypatch.delenv("PHOTOORG_RANDOM_WEIGHTS", raising=False)
    root, truth = indexed
    shutil.copytree(root / "lib", tmp_path / "lib")  # each test edits its own copy
    w = MainWindow(tmp_path / "lib", watch=False)
    w.lib = Library(tmp_path / "lib")  # the test's own connection, to check on the window's work
    w.show()
    yield w, truth
    w.close()
    w.lib.close()


def _open_people(w, qtbot) -> None:
    qtbot.waitUntil(lambda: bool(w.sidebar.entries("people")), timeout=WAIT)
    w.sidebar.itemClicked.emit(w.sidebar.entries("people")[0], 0)
    assert w.stack.currentWidget() is w.people
    qtbot.waitUntil(lambda: w.people.tiles.count() == 3, timeout=WAIT)


def _tile(w, row: int):
    return w.people.tiles.item(row)


def _select(view, rows: list[int]) -> None:
    view.clearSelection()
    for row in rows:
        view.item(row).setSelected(True)


def test_tiles_show_groups_largest_first_with_crops(window, qtbot):
    w, _ = window
    _open_people(w, qtbot)
    labels = [_tile(w, r).text() for r in range(3)]
    assert labels == ["Unnamed\n3 faces"] * 3
    qtbot.waitUntil(lambda: all(_tile(w, r).data(CroppedRole) for r in range(3)), timeout=WAIT)
    image = _tile(w, 0).icon().pixmap(w.people.tiles.iconSize()).toImage()
    assert image.width() == image.height() == w.people.tiles.iconSize().width()


def test_name_a_group_then_find_it_by_name(window, qtbot):
    w, _ = window
    _open_people(w, qtbot)
    _select(w.people.tiles, [0])
    group_id = _tile(w, 0).data(GroupRole)
    w.people.name_selected("Ana")
    qtbot.waitUntil(
        lambda: any(_tile(w, r).text().startswith("Ana\n") for r in range(w.people.tiles.count())),
        timeout=WAIT,
    )
    named = facedb.faces_in_group(w.lib.store, group_id)
    assert [f.subject_name for f in named] == ["Ana"] * 3
    qtbot.waitUntil(lambda: any("Ana" in i.text(0) for i in w.sidebar.entries("query")), timeout=WAIT)
    assert len(w.lib.search("person:Ana")) == 3


def test_merge_two_groups(window, qtbot):
    w, _ = window
    _open_people(w, qtbot)
    _select(w.people.tiles, [0, 1])
    assert w.people.merge_button.isEnabled()
    w.people.merge_selected()
    qtbot.waitUntil(lambda: w.people.tiles.count() == 2, timeout=WAIT)
    assert _tile(w, 0).text() == "Unnamed\n6 faces"


def test_move_out_and_not_this_person(window, qtbot):
    w, _ = window
    _open_people(w, qtbot)
    _select(w.people.tiles, [0])
    group_id = _tile(w, 0).data(GroupRole)
    w.people.name_selected("Ana")
    qtbot.waitUntil(
        lambda: any(_tile(w, r).text().startswith("Ana\n") for r in range(w.people.tiles.count())),
        timeout=WAIT,
    )
    row = next(r for r in range(w.people.tiles.count()) if _tile(w, r).data(GroupRole) == group_id)
    _select(w.people.tiles, [row])
    qtbot.waitUntil(lambda: w.people.members.count() == 3, timeout=WAIT)
    assert w.people.reject_button.isEnabled()
    face_id = w.people.members.item(2).data(FaceRole)
    w.people.members.item(2).setSelected(True)
    w.people.move_out_selected(not_this_person=True)
    qtbot.waitUntil(lambda: w.people.tiles.count() == 4, timeout=WAIT)
    face = facedb.faces(w.lib.store, [face_id])[0]
    assert face.subject_id is None and face.group_id != group_id
    assert facedb.rejections(w.lib.store) == {(face_id, facedb.group(w.lib.store, group_id).subject_id)}
    assert [f.subject_name for f in facedb.faces_in_group(w.lib.store, group_id)] == ["Ana"] * 2
    # Naming the group again (confirming it) does not bring the face back.
    _select(
        w.people.tiles,
        [next(r for r in range(w.people.tiles.count()) if _tile(w, r).data(GroupRole) == group_id)],
    )
    w.people.name_selected("Ana")
    qtbot.waitUntil(lambda: w.people.summary.text().startswith("4 groups"), timeout=WAIT)
    assert facedb.faces(w.lib.store, [face_id])[0].subject_id is None


def test_an_empty_library_says_how_faces_come(qtbot, tmp_path):
    w = MainWindow(tmp_path / "empty", watch=False)
    w.show()
    try:
        w.show_people()
        qtbot.waitUntil(lambda: w.people.summary.text().startswith("No faces yet"), timeout=WAIT)
        assert w.people.tiles.count() == 0 and not w.people.merge_button.isEnabled()
    finally:
        w.close()


def test_a_ten_thousand_face_merge_through_the_view(window, qtbot):
    w, _ = window
    store = w.lib.store
    photos = sorted(p.id for p in store.photos_where("1"))
    big = [facedb.new_group(store, "person"), facedb.new_group(store, "person")]
    vector = bytes(128 * 4)
    store.db.conn.executemany(
        "INSERT INTO faces (photo_id, kind, x0, y0, x1, y1, score, clarity, model, vector, "
        "group_id) VALUES (?, 'person', 0.2, 0.2, 0.6, 0.6, 1, 1, 'm', ?, ?)",
        [(photos[n % 2], vector, big[n % 2]) for n in range(10_000)],
    )
    w.show_people()
    qtbot.waitUntil(lambda: w.people.tiles.count() == 5, timeout=WAIT)
    assert {_tile(w, 0).data(GroupRole), _tile(w, 1).data(GroupRole)} == set(big)
    _select(w.people.tiles, [0, 1])
    w.people.merge_selected()
    qtbot.waitUntil(lambda: w.people.tiles.count() == 4, timeout=WAIT)
    assert _tile(w, 0).text() == "Unnamed\n10000 faces"
