"""Faces of one photo: drawn by hand (LibrePhotos #598), named or refused from the
photo, kept through re-index and a face-model change. On real faces (faces-mini and
dlib's models; skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoorg import people, photo_faces, xmp
from photoorg.cli import main
from photoorg.db import faces as facedb
from photoorg.db.faces import NewFace
from photoorg.library import Library
from photoorg.models.detect import Detection
from photoorg.modelset import ModelSet
from photoorg.people import PeopleError
from photoorg.progress import drive

from .conftest import write_photo
from .facelib import copy_people, model_set, need_faces


@pytest.fixture
def faces_library(tmp_path):
    need_faces()
    truth = copy_people(tmp_path / "photos", {"abdullah_gul": 3, "carlos_moya": 3})
    lib = Library(tmp_path / "lib")
    lib.add_roots([tmp_path / "photos"])
    drive(lib.scan())
    models = model_set()
    drive(lib.index(models=models))
    yield lib, truth, models
    lib.close()


def _photo_of(lib, truth, who: str, n: int = 0):
    return lib.photo(sorted(p for p, w in truth.items() if w == who)[n])


def _missed(lib, photo):
    """Make the finder's face on `photo` a missed one: gone from the library."""
    (face,) = facedb.faces_of(lib.store, photo.id)
    with lib.store.transaction():
        facedb.delete_faces(lib.store, [face.id])
        facedb.drop_empty_groups(lib.store)
    return face


def test_a_drawn_face_is_described_and_joins_its_persons_group(faces_library):
    lib, truth, models = faces_library
    photo = _photo_of(lib, truth, "abdullah_gul")
    missed = _missed(lib, photo)
    group = people.find_group(
        lib.store, str(facedb.faces_of(lib.store, _photo_of(lib, truth, "abdullah_gul", 1).id)[0].group_id)
    )
    people.name_group(lib.store, group.id, "Abdullah")
    x0, y0, x1, y1 = missed.box
    drawn = lib.draw_face(photo, (x0 + 0.01, y0 - 0.01, x1 + 0.01, y1), model=models.faces)
    assert (drawn.by_hand, drawn.model, drawn.group_id) == (True, models.faces.model_id, group.id)
    assert drawn.subject_name == "Abdullah"  # as close as the found face: named automatically
    assert people.find_group(lib.store, "Abdullah").size == 3


def test_a_drawn_face_survives_re_index_and_a_face_model_change(faces_library):
    lib, truth, models = faces_library
    photo = _photo_of(lib, truth, "carlos_moya")
    missed = _missed(lib, photo)
    drawn = lib.draw_face(photo, missed.box, name="Carlos", model=models.faces)
    # Without the face model, a face drawn on a sleeve is a plain named box.
    other = _photo_of(lib, truth, "abdullah_gul")
    plain = lib.draw_face(other, (0.02, 0.75, 0.3, 0.98), name="Hat")
    assert (plain.model, plain.subject_name, plain.by_hand) == (photo_faces.HAND_MODEL, "Hat", True)
    people.group_new_faces(lib.store)  # a face with no vector is never grouped by likeness
    assert facedb.faces(lib.store, [plain.id])[0].model == photo_faces.HAND_MODEL

    # Re-index after an edit: the finder finds the drawn face again; the drawn one stays.
    image = Image.open(photo.path)
    shifted = Image.new("RGB", image.size, (128, 128, 128))
    shifted.paste(image, (2, 2))
    shifted.save(photo.path, quality=95)
    drive(lib.scan())
    assert lib.store.photo(photo.id).state == "pending"
    drive(lib.index(models=models))
    after = facedb.faces_of(lib.store, photo.id)
    assert [(f.id, f.box, f.subject_name, f.by_hand) for f in after] == [
        (drawn.id, drawn.box, "Carlos", True)
    ]

    # A new face model requeues the face stage: both drawn faces stay, described by it.
    models.faces.model_id += "-next"
    try:
        report = drive(lib.index(models=models))
        assert report.requeued == 6
        kept = {f.id: f for f in facedb.faces(lib.store, [drawn.id, plain.id])}
        assert [(f.box, f.subject_name, f.model) for f in kept.values()] == [
            (drawn.box, "Carlos", models.faces.model_id),
            (plain.box, "Hat", models.faces.model_id),
        ]
        assert [f.id for f in facedb.faces_of(lib.store, photo.id)] == [drawn.id]
    finally:
        models.faces.model_id = models.faces.model_id.removesuffix("-next")
    assert {r.photo.id for r in lib.search("person:Hat")} == {other.id}


def test_naming_and_refusing_from_the_photo(faces_library):
    lib, truth, _ = faces_library
    photo = _photo_of(lib, truth, "carlos_moya")
    (face,) = facedb.faces_of(lib.store, photo.id)
    named = lib.name_face(face.id, "Carlos")  # an unnamed group is named whole
    assert people.find_group(lib.store, "Carlos").size == 3 and named.subject_name == "Carlos"
    new_group = lib.not_this_person(face.id)
    (after,) = lib.faces(photo)
    assert (after.face.group_id, after.face.subject_name, after.label) == (new_group, None, "Unnamed")
    assert people.find_group(lib.store, "Carlos").size == 2
    people.name_group(lib.store, people.find_group(lib.store, "Carlos").id, "Carlos")
    assert facedb.faces(lib.store, [face.id])[0].subject_name is None  # "not Carlos" sticks
    with pytest.raises(PeopleError, match="^This face has no name to say no to; name it instead.$"):
        lib.not_this_person(face.id)


def test_bad_drawn_boxes_are_one_sentence(faces_library):
    lib, truth, models = faces_library
    photo = _photo_of(lib, truth, "carlos_moya")
    (face,) = facedb.faces_of(lib.store, photo.id)
    with pytest.raises(PeopleError, match=rf"^There is already a face there \(face {face.id}\)"):
        lib.draw_face(photo, face.box, model=models.faces)
    with pytest.raises(PeopleError, match=r"at least 12 pixels wide and high .* this box is 3 x 3\.$"):
        lib.draw_face(photo, (0.5, 0.5, 0.5 + 3 / photo.width, 0.5 + 3 / photo.height))
    with pytest.raises(PeopleError, match=rf"^Face {face.id} was found by the face finder, not drawn"):
        lib.remove_drawn_face(face.id)


def test_cli_face_add_list_and_remove(faces_library, capsys):
    lib, truth, _ = faces_library
    folder, path = str(lib.folder), _photo_of(lib, truth, "abdullah_gul").path
    assert main(["--library", folder, "face", "add", path, "5,110,30,30", "--name", "Cap", "Man"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Drew face ") and "as Cap Man; the face models are not installed" in out
    face_id = int(out.split()[2])
    assert main(["--library", folder, "face", "list", path, "--json"]) == 0
    listing = {f["face"]: f for f in json.loads(capsys.readouterr().out)}
    assert (listing[face_id]["name"], listing[face_id]["by_hand"]) == ("Cap Man", True)
    assert listing[face_id]["box"] == pytest.approx([5 / 150, 110 / 150, 35 / 150, 140 / 150])
    assert main(["--library", folder, "face", "list", path]) == 0
    assert f"{face_id:>6}  Cap Man: 5,110,30,30 (drawn by hand)" in capsys.readouterr().out
    assert main(["--library", folder, "face", "add", path, "10,120,40,80"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "photoorg: The box 10,120,40,80 is not inside the photo, which is 150 x 150 pixels."
    )
    assert main(["--library", folder, "face", "add", path, "ten"]) == 2
    assert "'ten' is not a box; write X,Y,W,H in pixels" in capsys.readouterr().err
    assert main(["--library", folder, "face", "remove", str(face_id)]) == 0
    assert face_id not in {f.face.id for f in lib.faces(lib.photo(path))}


# -- named faces in XMP sidecars ----------------------------------------------------------


def test_named_faces_drawn_faces_and_pets_go_out_as_mwg_regions(library, tmp_path):
    folder = tmp_path / "photos"
    write_photo(folder / "upright.jpg", size=(64, 48))
    write_photo(folder / "rotated.jpg", size=(64, 32), orientation=6)
    library.add_roots([folder])
    drive(library.scan())
    drive(library.index(models=ModelSet()))
    store = library.store
    photo = library.photo(folder / "upright.jpg")
    ana, rex = store.subject("Ana", "person"), store.subject("Rex", "pet")
    box, cleo = store.replace_detections(
        photo.id,
        "test-detector",
        [Detection("person", 0.9, (0.1, 0.1, 0.6, 0.9)), Detection("cat", 0.8, (0.7, 0.5, 0.95, 0.95))],
    )
    store.name_detection(box, ana.id)
    store.name_detection(cleo, store.subject("Cleo", "pet").id)
    vector = np.ones(128, np.float32)
    found = facedb.insert_face(
        store, photo.id, "m", NewFace("person", (0.25, 0.125, 0.5, 0.375), 1, 1, vector)
    )
    facedb.name_face(store, found, ana.id, "user")
    dog = facedb.insert_face(store, photo.id, "m", NewFace("dog", (0.0, 0.5, 0.25, 1.0), 1, 1, vector))
    facedb.name_face(store, dog, rex.id, "user")
    library.draw_face(photo, (0.625, 0.0, 0.875, 0.5), name="Ben")  # no face model: a plain box
    rotated = library.photo(folder / "rotated.jpg")
    library.draw_face(rotated, (0.0, 0.0, 0.5, 0.25), name="Ben")  # top-left as shown

    assert len(xmp.write(store, [photo, rotated]).written) == 2
    regions = xmp.parse(Path(photo.path + ".xmp").read_bytes()).regions
    assert sorted((r.name, r.kind, r.box) for r in regions) == [
        ("Ana", "Face", (0.25, 0.125, 0.5, 0.375)),  # the face, not its person box
        ("Ben", "Face", (0.625, 0.0, 0.875, 0.5)),  # drawn by hand
        ("Cleo", "Pet", (0.7, 0.5, 0.95, 0.95)),  # a named box no face carries
        ("Rex", "Pet", (0.0, 0.5, 0.25, 1.0)),
    ]
    turned = xmp.parse(Path(rotated.path + ".xmp").read_bytes()).regions
    assert [(r.name, tuple(round(v, 6) for v in r.box)) for r in turned] == [("Ben", (0.0, 0.5, 0.25, 1.0))]
    # Read back into the same library: every name is there already, nothing is added.
    before = [len(library.detections(p)) for p in (photo, rotated)]
    assert xmp.read(store, [photo, rotated]).names == 0
    assert [len(library.detections(p)) for p in (photo, rotated)] == before
