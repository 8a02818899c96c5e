"""Faces found, grouped and named in bulk; names that survive re-index, model change,
moves and edits. Grouping rules are tested on vectors made here; the face stage on
real faces (faces-mini and dlib's models, skipped when absent)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoorg import face_stage, people
from photoorg.db import faces as facedb
from photoorg.db.faces import NewFace
from photoorg.library import Library
from photoorg.progress import drive

from .conftest import write_photo
from .facelib import copy_people, face_model, model_set, need_faces

MODEL = "test-face-model"


# -- grouping rules, on vectors made here ---------------------------------------------


def _library_with_photos(tmp_path: Path, n: int) -> tuple[Library, list[int]]:
    for i in range(n):
        write_photo(tmp_path / "photos" / f"p{i:03}.jpg")
    lib = Library(tmp_path / "lib")
    lib.add_roots([tmp_path / "photos"])
    drive(lib.scan())
    return lib, sorted(p.id for p in lib.store.photos_where("1"))


def _vector(person: int, jitter: float, rng) -> np.ndarray:
    base = np.zeros(128, np.float32)
    base[person] = 1.0  # people 1.0 * sqrt(2) apart; jitter keeps one person within ~0.3
    return base + rng.normal(0, jitter / np.sqrt(128), 128).astype(np.float32)


def _add_face(lib, photo_id, vector, box=(0.1, 0.1, 0.3, 0.3), kind="person") -> int:
    return facedb.insert_face(lib.store, photo_id, MODEL, NewFace(kind, box, 1.0, 50.0, vector))


def _groups_of(lib, face_ids) -> list[int | None]:
    by_id = {f.id: f.group_id for f in facedb.faces(lib.store, face_ids)}
    return [by_id[f] for f in face_ids]


def test_new_faces_join_the_closest_group_or_start_one(tmp_path):
    rng = np.random.default_rng(1)
    lib, photos = _library_with_photos(tmp_path, 9)
    faces = [_add_face(lib, photos[i], _vector(i % 3, 0.3, rng)) for i in range(9)]
    assert people.group_new_faces(lib.store) == 9
    groups = _groups_of(lib, faces)
    assert len(set(groups)) == 3
    assert all(groups[i] == groups[i % 3] for i in range(9))
    # Incremental: a new face joins its person's group; nothing else moves.
    more = _add_face(lib, photos[0], _vector(1, 0.3, rng), box=(0.5, 0.5, 0.7, 0.7))
    assert people.group_new_faces(lib.store) == 1
    assert _groups_of(lib, faces) == groups and _groups_of(lib, [more]) == [groups[1]]
    lib.close()


def test_only_groups_whose_centroid_is_near_are_measured_and_none_is_missed():
    """The centroid bound prunes groups without changing the choice: the groups found
    are exactly those whose average distance (face to members, or group to group) is
    under the limit, in the same order, as a plain average over every member says."""
    rng = np.random.default_rng(5)
    centres = rng.normal(0, 0.045, (40, 128))  # people ~0.7 apart, near the limits
    who = rng.integers(0, 40, 600)
    matrix = (centres[who] + rng.normal(0, 0.03, (600, 128))).astype(np.float32)
    group_of = np.where(np.arange(600) < 500, who * 3 + rng.integers(0, 3, 600), -1).astype(np.int64)
    faces = people._Faces("person", np.arange(600), np.arange(600), group_of.copy(), matrix)
    groups = sorted(set(group_of[group_of >= 0].tolist()))
    checked = 0
    for k in range(500, 600):
        face = matrix[k : k + 1]
        plain = []
        for g in groups:
            members = matrix[group_of == g]
            average = float(np.linalg.norm(members - face[0], axis=1).mean())
            if average < people._thresholds("person", np.array([len(members)]))[0]:
                plain.append((average, g))
        found = faces.near(face)
        assert [g for _, g in found] == [g for _, g in sorted(plain)]
        np.testing.assert_allclose([d for d, _ in found], [d for d, _ in sorted(plain)], rtol=1e-5)
        checked += len(found)
    assert checked > 50  # the limits were reached often: the test measured something
    mine = matrix[group_of == groups[0]]
    plain = sorted(
        (float(np.linalg.norm(mine[:, None] - matrix[group_of == g][None], axis=2).mean()), g)
        for g in groups[1:]
        if np.linalg.norm(mine[:, None] - matrix[group_of == g][None], axis=2).mean()
        < people._thresholds("person", np.array([min(len(mine), int((group_of == g).sum()))]))[0]
    )
    assert len(plain) >= 1
    assert [g for _, g in faces.near(mine, exclude=groups[0])] == [g for _, g in plain]


def test_two_faces_of_one_photo_are_never_one_group(tmp_path):
    rng = np.random.default_rng(2)
    lib, photos = _library_with_photos(tmp_path, 2)
    twins = [
        _add_face(lib, photos[0], _vector(0, 0.1, rng), box=(0.0, 0.0, 0.2, 0.2)),
        _add_face(lib, photos[0], _vector(0, 0.1, rng), box=(0.5, 0.5, 0.7, 0.7)),
    ]
    people.group_new_faces(lib.store)
    first, second = _groups_of(lib, twins)
    assert first != second
    with pytest.raises(people.PeopleError, match="two faces of one photo"):
        people.merge(lib.store, first, second)
    assert _groups_of(lib, twins) == [first, second]
    lib.close()


def test_naming_a_group_names_every_face_and_search_finds_them(tmp_path):
    rng = np.random.default_rng(3)
    lib, photos = _library_with_photos(tmp_path, 6)
    faces = [_add_face(lib, photos[i], _vector(i % 2, 0.3, rng)) for i in range(6)]
    people.group_new_faces(lib.store)
    ana_group = _groups_of(lib, faces)[0]
    people.name_group(lib.store, ana_group, "  Ana  ")
    named = {f.id: f.subject_name for f in facedb.faces(lib.store, faces)}
    assert [named[f] for f in faces] == ["Ana", None, "Ana", None, "Ana", None]
    found = {r.photo.id for r in lib.search("person:Ana")}
    assert found == {photos[0], photos[2], photos[4]}
    with pytest.raises(Exception, match="cannot contain ':'"):
        people.name_group(lib.store, ana_group, "a:b")
    lib.close()


def test_a_named_persons_new_face_is_named_only_above_the_strict_threshold(tmp_path):
    lib, photos = _library_with_photos(tmp_path, 4)
    base = np.zeros(128, np.float32)
    first = _add_face(lib, photos[0], base)
    people.group_new_faces(lib.store)
    people.name_group(lib.store, _groups_of(lib, [first])[0], "Ana")
    near, far = base.copy(), base.copy()
    near[0] = 0.4
    far[0] = 0.7  # averages (0.7 + 0.3) / 2 = 0.5 from the two faces below
    faces = [_add_face(lib, photos[1], near)]
    people.group_new_faces(lib.store)
    faces.append(_add_face(lib, photos[2], far))
    people.group_new_faces(lib.store)
    rows = {f.id: f for f in facedb.faces(lib.store, faces)}
    assert (rows[faces[0]].subject_name, rows[faces[0]].named_by) == ("Ana", "auto")
    # Close enough to join as a suggestion, not to be named without the user.
    assert rows[faces[1]].group_id == rows[faces[0]].group_id
    assert rows[faces[1]].subject_id is None
    lib.close()


def test_not_this_person_is_remembered_through_a_recluster(tmp_path):
    rng = np.random.default_rng(4)
    lib, photos = _library_with_photos(tmp_path, 5)
    faces = [_add_face(lib, photos[i], _vector(0, 0.3, rng)) for i in range(5)]
    people.group_new_faces(lib.store)
    group = _groups_of(lib, faces)[0]
    people.name_group(lib.store, group, "Ana")
    alone = people.move_out(lib.store, faces[4], not_this_person=True)
    after = {f.id: f for f in facedb.faces(lib.store, faces)}
    assert after[faces[4]].group_id == alone and after[faces[4]].subject_id is None
    people.recluster(lib.store)
    people.name_group(lib.store, group, "Ana")  # confirming the group again
    after = {f.id: f for f in facedb.faces(lib.store, faces)}
    assert after[faces[4]].group_id != group and after[faces[4]].subject_id is None
    assert [after[f].subject_name for f in faces[:4]] == ["Ana"] * 4
    lib.close()


def test_naming_a_second_group_with_a_known_name_merges_it(tmp_path):
    rng = np.random.default_rng(5)
    lib, photos = _library_with_photos(tmp_path, 4)
    a = [_add_face(lib, photos[i], _vector(0, 0.2, rng)) for i in range(2)]
    b = [_add_face(lib, photos[i + 2], _vector(5, 0.2, rng)) for i in range(2)]
    people.group_new_faces(lib.store)
    people.name_group(lib.store, _groups_of(lib, a)[0], "Ana")
    group = people.name_group(lib.store, _groups_of(lib, b)[0], "ana")
    assert group.size == 4 and group.name == "Ana"
    assert len(people.groups(lib.store)) == 1
    with pytest.raises(people.PeopleError, match="no group '77'"):
        people.merge(lib.store, "77", "Ana")
    lib.close()


def test_a_ten_thousand_face_merge_keeps_every_face(tmp_path):
    lib, photos = _library_with_photos(tmp_path, 2)
    g1, g2 = facedb.new_group(lib.store, "person"), facedb.new_group(lib.store, "person")
    rows = [(photos[0], g1)] * 5000 + [(photos[1], g2)] * 5000
    vec = np.zeros(128, np.float32).tobytes()
    lib.store.db.conn.executemany(
        "INSERT INTO faces (photo_id, kind, x0, y0, x1, y1, score, clarity, model, vector, group_id) "
        "VALUES (?, 'person', 0, 0, 0.1, 0.1, 1, 1, ?, ?, ?)",
        [(p, MODEL, vec, g) for p, g in rows],
    )
    people.name_group(lib.store, g2, "Crowd")
    group = people.merge(lib.store, g1, "Crowd")
    assert (group.id, group.size, group.name) == (g1, 10_000, "Crowd")
    assert (
        lib.store.db.execute("SELECT count(*) FROM faces WHERE subject_id IS NOT NULL").fetchone()[0]
        == 10_000
    )
    lib.close()


def test_pets_are_grouped_per_species_from_their_box_vectors(tmp_path):
    """Plumbing only: with no CLIP weights here, the vectors are made up."""
    lib, photos = _library_with_photos(tmp_path, 3)
    store = lib.store

    class Box:
        def __init__(self, label, box):
            self.label, self.box, self.score = label, box, 0.9

    clip = "clip-test"
    for pid, label in zip(photos, ("dog", "dog", "cat")):
        ids = store.replace_detections(pid, "det", [Box(label, (0.1, 0.1, 0.6, 0.6))])
        store.replace_embeddings(pid, clip, [(ids[0], np.ones(32, np.float32))])
        face_stage.save_pets(store, pid, f"{clip}|det")
    people.group_new_faces(store)
    pets = people.groups(store, "pet")
    assert sorted((g.kind, g.size) for g in pets) == [("cat", 1), ("dog", 2)]
    assert people.groups(store, "person") == []
    lib.close()


# -- real faces ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faces_library(tmp_path_factory):
    """Three people from faces-mini, indexed with the real face model (and YOLOX when
    the shared copy is here)."""
    need_faces()
    root = tmp_path_factory.mktemp("faces")
    truth = copy_people(root / "photos", {"abdullah_gul": 4, "carlos_moya": 4, "antonio_palocci": 4})
    lib = Library(root / "lib")
    lib.add_roots([root / "photos"])
    drive(lib.scan())
    models = model_set()
    report = drive(lib.index(models=models))
    assert (report.indexed, report.failed) == (12, 0)
    yield lib, truth, models
    lib.close()


def _person_of_group(lib, truth) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for g in people.groups(lib.store):
        paths = {
            p.id: p.path for p in lib.store.photos({f.photo_id for f in people.members(lib.store, g.id)})
        }
        out[g.id] = {truth[paths[f.photo_id]] for f in people.members(lib.store, g.id)}
    return out


def test_real_faces_are_found_embedded_and_grouped_by_person(faces_library):
    lib, truth, models = faces_library
    rows = lib.store.db.execute("SELECT count(DISTINCT photo_id), model FROM faces").fetchall()
    assert rows == [(12, models.faces.model_id)]
    groups = _person_of_group(lib, truth)
    assert all(len(who) == 1 for who in groups.values())  # precision: no group mixes people
    assert sorted(len(people.members(lib.store, g)) for g in groups) == [4, 4, 4]
    stages = {
        r[0]
        for r in lib.store.db.execute("SELECT stage FROM processed WHERE model = ?", [models.faces.model_id])
    }
    assert stages == {"faces"}
    first = lib.store.db.execute("SELECT x0, y0, x1, y1 FROM faces LIMIT 1").fetchone()
    assert 0 <= first[0] < first[2] <= 1 and 0 <= first[1] < first[3] <= 1


def test_names_survive_a_face_model_change_which_requeues_only_faces(faces_library):
    lib, truth, models = faces_library
    group = next(g for g, who in _person_of_group(lib, truth).items() if who == {"abdullah_gul"})
    people.name_group(lib.store, group, "Abdullah")
    before_faces = lib.store.db.execute("SELECT id, subject_id FROM faces ORDER BY id").fetchall()
    before_boxes = lib.store.db.execute("SELECT id FROM detections ORDER BY id").fetchall()
    models.faces.model_id += "-next"
    try:
        report = drive(lib.index(models=models))
        assert (report.requeued, report.indexed) == (12, 12)
        assert lib.store.db.execute("SELECT id, subject_id FROM faces ORDER BY id").fetchall() == before_faces
        assert lib.store.db.execute("SELECT id FROM detections ORDER BY id").fetchall() == before_boxes
        assert {r[0] for r in lib.store.db.execute("SELECT DISTINCT model FROM faces")} == {
            models.faces.model_id
        }
    finally:
        models.faces.model_id = models.faces.model_id.removesuffix("-next")
    assert len(lib.search("person:Abdullah")) == 4


def test_a_name_survives_an_edit_that_moves_the_face_and_a_move(faces_library, tmp_path):
    lib, truth, models = faces_library
    path = next(p for p, who in truth.items() if who == "carlos_moya")
    photo = lib.photo(path)
    face = facedb.faces_of(lib.store, photo.id)[0]
    group = people.name_group(lib.store, face.group_id, "Carlos")
    # The edit: the photo shifted 3 px right and down (a crop or a re-save would do this).
    image = Image.open(path)
    shifted = Image.new("RGB", image.size, (128, 128, 128))
    shifted.paste(image, (3, 3))
    shifted.save(path, quality=95)
    drive(lib.scan())
    assert lib.store.photo(photo.id).state == "pending"
    drive(lib.index(models=models))
    after = facedb.faces_of(lib.store, photo.id)
    assert [(f.id, f.subject_name) for f in after] == [(face.id, "Carlos")]
    assert after[0].box != face.box
    # The move: same content at a new path keeps the row, so the face and name stay.
    moved = Path(path).with_name("moved.jpg")
    shutil.move(path, moved)
    drive(lib.scan())
    assert lib.photo(moved).id == photo.id
    assert [(f.id, f.subject_name) for f in facedb.faces_of(lib.store, photo.id)] == [(face.id, "Carlos")]
    assert lib.photo(moved).id in {r.photo.id for r in lib.search("person:Carlos")}
    assert people.find_group(lib.store, "Carlos").id == group.id


def test_cli_people_name_and_merge(faces_library, capsys):
    from photoorg.cli import main

    lib, _, _ = faces_library
    folder = str(lib.folder)
    assert main(["--library", folder, "people", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    unnamed = [g for g in listing["groups"] if g["name"] is None]
    assert listing["scanned"]["photos"] == 12 and unnamed
    assert main(["--library", folder, "name", str(unnamed[0]["group"]), "Zoe", "Q"]) == 0
    assert "Named group" in capsys.readouterr().out
    assert main(["--library", folder, "merge", str(unnamed[0]["group"]), "nope"]) == 2
    assert (
        capsys.readouterr().err.strip() == "photoorg: There is no group 'nope'; `photoorg people` lists them."
    )
    assert main(["--library", folder, "people"]) == 0
    assert "Zoe Q: 4 faces" in capsys.readouterr().out


# -- bad input ----------------------------------------------------------------------------


def test_photo_without_faces_and_tiny_faces_are_counted_not_failed(tmp_path):
    _, images = need_faces()
    sample = min((images / "abdullah_gul").glob("*.jpg"))
    folder = tmp_path / "photos"
    write_photo(folder / "plain.jpg", size=(320, 240))
    tiny = Image.new("RGB", (1600, 1200), (90, 90, 90))
    tiny.paste(Image.open(sample).resize((60, 60)), (700, 500))  # a face of about 30 px
    tiny.save(folder / "tiny.jpg")
    lib = Library(tmp_path / "lib")
    lib.add_roots([folder])
    drive(lib.scan())
    report = drive(lib.index(models=model_set(with_detector=False)))
    assert (report.indexed, report.failed) == (2, 0)
    assert lib.store.db.execute("SELECT count(*) FROM faces").fetchone()[0] == 0
    assert facedb.scan_totals(lib.store)["photos"] == 2
    lib.close()


def test_a_crowd_is_capped_and_the_cap_is_counted(tmp_path):
    _, images = need_faces()
    samples = sorted(images.glob("*/*.jpg"))
    crowd = Image.new("RGB", (2100, 2100), (60, 60, 60))
    for i in range(49):  # a 7 x 7 grid of photos, each face about 150 px
        crowd.paste(Image.open(samples[i * 6]).resize((300, 300)), ((i % 7) * 300, (i // 7) * 300))
    path = tmp_path / "crowd.jpg"
    crowd.save(path)
    boxes = [
        ("person", 0.9, ((i % 7) / 7, (i // 7) / 7, (i % 7 + 1) / 7, (i // 7 + 1) / 7)) for i in range(49)
    ]
    scan = face_stage.scan_photo(face_model(), path, Image.open(path).convert("RGB"), crowd.size, boxes)
    assert scan.capped == 49 - face_stage.MAX_PERSON_BOXES
    assert face_stage.MAX_FACES - 5 <= len(scan.faces) <= face_stage.MAX_FACES


def test_a_face_below_the_size_limit_is_skipped_and_counted(monkeypatch):
    _, images = need_faces()
    path = min((images / "abdullah_gul").glob("*.jpg"))
    image = Image.open(path).convert("RGB")
    model = face_model()
    assert len(face_stage.scan_photo(model, path, image, image.size, []).faces) == 1
    monkeypatch.setattr(face_stage, "MIN_FACE_PX", 200)  # the 150-px photo's face is ~70 px
    scan = face_stage.scan_photo(model, path, image, image.size, [])
    assert (len(scan.faces), scan.too_small, scan.capped) == (0, 1, 0)


def test_a_sideways_face_is_not_found_and_nothing_fails(tmp_path):
    _, images = need_faces()
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.open(min((images / "abdullah_gul").glob("*.jpg"))).rotate(90).save(folder / "side.jpg")
    lib = Library(tmp_path / "lib")
    lib.add_roots([folder])
    drive(lib.scan())
    report = drive(lib.index(models=model_set(with_detector=False)))
    assert (report.indexed, report.failed) == (1, 0)
    assert facedb.scan_totals(lib.store)["found"] == 0
    lib.close()


def test_a_face_model_failure_costs_the_faces_only(tmp_path, monkeypatch):
    _, images = need_faces()
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(min((images / "abdullah_gul").glob("*.jpg")), folder / "a.jpg")
    lib = Library(tmp_path / "lib")
    lib.add_roots([folder])
    drive(lib.scan())
    models = model_set(with_detector=False)

    def broken(chips):
        raise RuntimeError("descriptor exploded")

    monkeypatch.setattr(models.faces, "describe", broken)
    report = drive(lib.index(models=models))
    assert (report.indexed, report.failed) == (1, 0)
    stages = {r[0] for r in lib.store.db.execute("SELECT stage FROM processed")}
    assert stages == {"decode"}
    monkeypatch.undo()
    report = drive(lib.index(models=models))  # the face stage, never done, runs again
    assert (report.requeued, report.failed) == (0, 0)  # no model changed; nothing failed
    assert lib.store.db.execute("SELECT count(*) FROM faces").fetchone()[0] == 1
    lib.close()


def test_a_face_cut_by_the_photo_edge_is_stored_on_the_photo():
    """HOG's rectangles for the faces at both edges reach past them (x0 -0.06, x1 1.0067
    on this photo); the stored boxes are clipped to the photo, as every other box is."""
    from PIL import Image

    from photoorg.face_stage import scan_photo

    _, images = need_faces()
    path = images / "george_robertson" / "George_Robertson_0003.jpg"
    image = Image.open(path).convert("RGB")
    scan = scan_photo(face_model(), path, image, image.size, [])
    boxes = sorted(face.box for face in scan.faces)
    assert len(boxes) == 3
    assert all(0.0 <= v <= 1.0 for box in boxes for v in box)
    assert boxes[0][0] == 0.0 and boxes[-1][2] == 1.0  # the edge faces end at the edges
