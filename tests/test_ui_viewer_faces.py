"""Faces in the photo viewer, as a user meets them: face boxes drawn apart from person
boxes and labelled, a face named or refused from the photo, a missed face drawn by a
drag that stays through re-index and a face-model change. Real faces (faces-mini) and
dlib's models, installed in the library as a user would; skipped when absent."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from photoorg import people
from photoorg.db import faces as facedb
from photoorg.db.faces import NewFace
from photoorg.library import Library
from photoorg.modelset import ModelSet
from photoorg.progress import drive
from photoorg.ui.tasks import TaskRunner
from photoorg.ui.viewer import ViewerWindow

from .conftest import write_photo
from .facelib import copy_people, model_set, need_faces

WAIT = 60_000


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    files, _ = need_faces()
    root = tmp_path_factory.mktemp("uiviewerfaces")
    truth = copy_people(root / "photos", {"abdullah_gul": 3, "carlos_moya": 3})
    lib = Library(root / "lib")
    lib.add_roots([root / "photos"])
    drive(lib.scan())
    drive(lib.index(models=model_set()))
    # Installed as a user would (`photoorg models import`), so the viewer's drawn faces
    # are described by the library's own face model.
    lib.import_model("dlib-face-landmarks-5", files / "shape_predictor_5_face_landmarks.dat")
    lib.import_model("dlib-face-resnet-v1", files / "dlib_face_recognition_resnet_model_v1.dat")
    lib.close()
    return root, truth


@pytest.fixture
def viewer(qtbot, indexed, tmp_path):
    root, truth = indexed
    shutil.copytree(root / "lib", tmp_path / "lib")
    lib = Library(tmp_path / "lib")  # the test's own reads; the viewer edits on its task thread
    tasks = TaskRunner(tmp_path / "lib")
    tasks.start()
    v = ViewerWindow(tmp_path / "lib" / "thumbs", tasks)
    v.show()
    yield v, lib, truth
    v.close()
    tasks.stop()
    lib.close()


def _open(v, lib, qtbot, path: str):
    photo = lib.photo(path)
    v.show_photo(photo, [photo])
    qtbot.waitUntil(lambda: v.canvas.image is not None and v.tasks.settled, timeout=WAIT)
    return photo


def _settle(v, qtbot) -> None:
    qtbot.waitUntil(lambda: v.tasks.settled, timeout=WAIT)


def _path(truth, who: str, n: int = 0) -> str:
    return sorted(p for p, w in truth.items() if w == who)[n]


def _click(v, qtbot, rect) -> None:
    qtbot.mouseClick(v.canvas, Qt.MouseButton.LeftButton, pos=rect.center().toPoint())


def test_faces_are_drawn_apart_from_boxes_and_named_from_the_photo(viewer, qtbot):
    v, lib, truth = viewer
    photo = _open(v, lib, qtbot, _path(truth, "carlos_moya"))
    (face,) = facedb.faces_of(lib.store, photo.id)
    assert [(f.face.id, f.label) for f in v.canvas.faces] == [(face.id, "Unnamed")]
    assert [d.label for d in v.canvas.boxes] == ["person"]  # the person box is drawn too
    assert v.box_list.item(0).text() == "Face: Unnamed  — click to name"

    _click(v, qtbot, v.canvas.box_rect(face))  # the face wins over its person box
    assert v.canvas.editor.isVisible() and v.face_bar.isVisible()
    qtbot.keyClicks(v.canvas.editor, "Carlos")
    qtbot.keyClick(v.canvas.editor, Qt.Key.Key_Return)
    _settle(v, qtbot)
    assert [f.label for f in v.canvas.faces] == ["Carlos"]
    assert people.find_group(lib.store, "Carlos").size == 3  # the whole unnamed group
    assert lib.detections(photo)[0].subject_name is None  # the person box was not named
    assert {r.photo.id for r in lib.search("person:Carlos")} >= {photo.id}


def test_not_this_person_from_the_viewer_sticks(viewer, qtbot):
    v, lib, truth = viewer
    path = _path(truth, "abdullah_gul")
    (face,) = facedb.faces_of(lib.store, lib.photo(path).id)
    people.name_group(lib.store, face.group_id, "Abdullah")
    _open(v, lib, qtbot, path)
    assert [f.label for f in v.canvas.faces] == ["Abdullah"]
    _click(v, qtbot, v.canvas.box_rect(face))
    assert v.reject_face_button.text() == "Not Abdullah" and v.reject_face_button.isVisible()
    qtbot.keyClick(v.canvas.editor, Qt.Key.Key_Escape)
    qtbot.mouseClick(v.reject_face_button, Qt.MouseButton.LeftButton)
    _settle(v, qtbot)
    assert [f.label for f in v.canvas.faces] == ["Unnamed"]
    assert people.find_group(lib.store, "Abdullah").size == 2
    people.name_group(lib.store, people.find_group(lib.store, "Abdullah").id, "Abdullah")
    people.recluster(lib.store)
    after = facedb.faces(lib.store, [face.id])[0]
    assert after.subject_name is None  # not named again by the group's naming
    assert after.group_id != people.find_group(lib.store, "Abdullah").id  # nor put back by a recluster


def _drag(v, qtbot, start: QPoint, end: QPoint) -> None:
    qtbot.mousePress(v.canvas, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):  # a real drag passes through the points between
        point = start + (end - start) * step / 5
        qtbot.mouseMove(v.canvas, point)
    qtbot.mouseRelease(v.canvas, Qt.MouseButton.LeftButton, pos=end)


def test_draw_a_missed_face_which_survives_re_index_and_a_face_model_change(viewer, qtbot):
    v, lib, truth = viewer
    photo = _open(v, lib, qtbot, _path(truth, "carlos_moya", 1))
    (found,) = facedb.faces_of(lib.store, photo.id)
    with lib.store.transaction():  # the finder missed this face
        facedb.delete_faces(lib.store, [found.id])
    v.refresh()
    _settle(v, qtbot)
    assert v.canvas.faces == []

    rect = v.canvas.box_rect(found)
    _drag(v, qtbot, rect.topLeft().toPoint(), rect.bottomRight().toPoint())
    assert v.canvas.drawing is not None and v.canvas.editor.isVisible()
    qtbot.keyClicks(v.canvas.editor, "Carlos")
    qtbot.keyClick(v.canvas.editor, Qt.Key.Key_Return)
    _settle(v, qtbot)
    (drawn,) = v.canvas.faces
    assert (drawn.label, drawn.face.by_hand) == ("Carlos", True)
    assert drawn.face.model == lib.face_model().model_id  # described, so it can join a group
    assert drawn.face.box == pytest.approx(found.box, abs=0.02)  # where the user dragged
    assert v.box_list.item(0).text() == "Face: Carlos (drawn)"

    # A face-model change re-runs the face stage on every photo: the finder finds this
    # face again, and the drawn one stays as drawn, with its name.
    models = model_set()
    models.faces.model_id += "-next"
    drive(lib.index(models=models))
    v.refresh()
    _settle(v, qtbot)
    assert [(f.face.id, f.face.box, f.label, f.face.by_hand) for f in v.canvas.faces] == [
        (drawn.face.id, drawn.face.box, "Carlos", True)
    ]

    _click(v, qtbot, v.canvas.box_rect(drawn.face))
    assert v.remove_face_button.isVisible()
    qtbot.keyClick(v.canvas.editor, Qt.Key.Key_Escape)
    qtbot.mouseClick(v.remove_face_button, Qt.MouseButton.LeftButton)
    _settle(v, qtbot)
    assert v.canvas.faces == []


def test_a_refused_drawing_says_why_in_one_sentence(viewer, qtbot):
    v, lib, truth = viewer
    photo = _open(v, lib, qtbot, _path(truth, "abdullah_gul", 2))
    (face,) = facedb.faces_of(lib.store, photo.id)
    rect = v.canvas.box_rect(face)
    _drag(v, qtbot, rect.topLeft().toPoint(), rect.bottomRight().toPoint())
    qtbot.keyClick(v.canvas.editor, Qt.Key.Key_Return)
    _settle(v, qtbot)
    assert v.message.text() == f"There is already a face there (face {face.id}); name that one instead."
    assert [f.face.id for f in v.canvas.faces] == [face.id]


def test_a_suggested_face_is_confirmed_from_the_photo_and_pets_stay_boxes(viewer, qtbot):
    v, lib, truth = viewer
    path = _path(truth, "carlos_moya", 2)
    photo = lib.photo(path)
    (face,) = facedb.faces_of(lib.store, photo.id)
    people.name_group(lib.store, face.group_id, "Carlos")
    facedb.name_face(lib.store, face.id, None, None)  # in Carlos's group, not named: a suggestion
    person_box = lib.detections(photo)[0]
    facedb.insert_face(  # a pet likeness row is its box: drawn as the box, not as a face
        lib.store, photo.id, "m", NewFace("dog", person_box.box, 0.9, 1.0, np.ones(8, np.float32))
    )
    _open(v, lib, qtbot, path)
    assert [(f.face.id, f.label) for f in v.canvas.faces] == [(face.id, "Carlos?")]
    _click(v, qtbot, v.canvas.box_rect(face))
    assert v.canvas.editor.text() == "Carlos"
    assert v.confirm_face_button.isVisible() and v.confirm_face_button.text() == "Yes, Carlos"
    qtbot.keyClick(v.canvas.editor, Qt.Key.Key_Escape)
    qtbot.mouseClick(v.confirm_face_button, Qt.MouseButton.LeftButton)
    _settle(v, qtbot)
    assert [f.label for f in v.canvas.faces] == ["Carlos"]
    assert facedb.faces(lib.store, [face.id])[0].named_by == "user"


def test_a_face_drawn_on_a_rotated_photo_is_stored_upright(qtbot, tmp_path):
    """The viewer shows the photo upright (EXIF orientation 6: stored 64x32, shown
    32x64); a drag over the shown top half is the top half of the upright photo."""
    write_photo(tmp_path / "photos" / "turned.jpg", size=(64, 32), orientation=6)
    with Library(tmp_path / "lib") as lib:
        lib.add_roots([tmp_path / "photos"])
        drive(lib.scan())
        drive(lib.index(models=ModelSet()))
    lib = Library(tmp_path / "lib")
    tasks = TaskRunner(tmp_path / "lib")
    tasks.start()
    v = ViewerWindow(tmp_path / "lib" / "thumbs", tasks)
    v.show()
    try:
        photo = _open(v, lib, qtbot, str(tmp_path / "photos" / "turned.jpg"))
        assert (photo.width, photo.height) == (v.canvas.image.width(), v.canvas.image.height()) == (32, 64)
        area = v.canvas.image_rect()
        _drag(v, qtbot, area.topLeft().toPoint(), area.center().toPoint())
        qtbot.keyClick(v.canvas.editor, Qt.Key.Key_Return)  # unnamed: kept, it was missed
        _settle(v, qtbot)
        (drawn,) = v.canvas.faces
        assert (drawn.label, drawn.face.model) == ("Unnamed", "drawn-by-hand")  # no face model here
        assert drawn.face.box == pytest.approx((0.0, 0.0, 0.5, 0.5), abs=0.03)
    finally:
        v.close()
        tasks.stop()
        lib.close()
