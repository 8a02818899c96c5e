"""People and pets that group themselves: faces clustered, groups named in bulk.

Grouping is incremental average linkage: a new face joins the group whose members lie
closest to it on average, if that average is under the kind's threshold, else it
starts a group. Nothing is re-clustered per photo; `recluster` redoes the unnamed
groups on demand (clearest faces first, by the same rule). Two faces of one photo are
never put in one group, nor two faces the user set apart ("not this person").

Thresholds, measured with bench/people.py on faces-mini (329 LFW photos, 30 people,
dlib HOG + 5-point + ResNet). A face joins a group when its average distance to the
members is under GROUP_DISTANCE 0.58, or SMALL_GROUP_DISTANCE 0.55 for a group of one
or two faces (their average is noisy); then each group that grew is merged into the
closest unnamed group while their average distance is under the same limit. Photos
arriving 16 at a time, three shuffled orders: pairwise precision 0.993-1.000, recall
0.977-0.989 (32-33 groups for 30 people); a recluster: 1.000 / 0.994 (31 groups).
Without the merge step recall was 0.91-0.94; with 0.6 for every group precision fell
to 0.93 in some orders. A face joining a named group is named automatically only when
its average distance is under AUTO_NAME_DISTANCE 0.45 (878 labelled pairs closer than
that: all one person); between that and the limit it joins as a suggestion (shown in
the group, named when the user confirms the group).

Pets use the same rule on their boxes' CLIP vectors (unit length, per species) with
PET_GROUP_DISTANCE. No CLIP weights exist on the development machines, so that
threshold is a first guess (cosine similarity 0.875), tested only for plumbing.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from .db import Store
from .db import faces as facedb
from .db.faces import Face, FaceGroup
from .errors import UserError
from .imaging import DecodeError, load_image
from .naming import NamingError
from .thumbs import THUMB_SIDE, thumbnail_path

GROUP_DISTANCE = 0.58  # faces-mini: see the module docstring and bench/people.py
# A group of one or two faces is a noisy average: joining it takes a closer face.
SMALL_GROUP = 3
SMALL_GROUP_DISTANCE = 0.55
AUTO_NAME_DISTANCE = 0.45
PET_GROUP_DISTANCE = 0.5  # unit CLIP vectors; unmeasured (no CLIP weights here)
APART_ANCHORS = 20  # a face moved out is set apart from this many of the group's clearest


class PeopleError(UserError):
    """A grouping or naming request that cannot be done; str() is one sentence."""


def _thresholds(kind: str, counts: np.ndarray) -> np.ndarray:
    """Per group, the average distance under which a face may join it."""
    if kind != "person":
        return np.full(len(counts), PET_GROUP_DISTANCE)
    return np.where(counts >= SMALL_GROUP, GROUP_DISTANCE, SMALL_GROUP_DISTANCE)


def _prepare(kind: str, matrix: np.ndarray) -> np.ndarray:
    if kind == "person" or not matrix.size:
        return matrix
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


# -- grouping -------------------------------------------------------------------------


def group_new_faces(store: Store) -> int:
    """Every face not in a group joins one (or starts one); returns how many moved."""
    moved = 0
    with store.transaction():
        for model, kind in facedb.ungrouped(store):
            touched = _assign(store, model, kind)
            moved += len(touched)
            _consolidate(store, model, kind, touched)
    return moved


def recluster(store: Store) -> int:
    """Redo the unnamed groups from scratch (named groups and named faces stay);
    returns the number of groups afterwards."""
    with store.transaction():
        store.db.execute(
            "UPDATE faces SET group_id = NULL WHERE subject_id IS NULL AND group_id IN "
            "(SELECT id FROM face_groups WHERE subject_id IS NULL)"
        )
        facedb.drop_empty_groups(store)
        for model, kind in facedb.ungrouped(store):
            _consolidate(store, model, kind, _assign(store, model, kind))
    return len(facedb.groups(store))


def _assign(store: Store, model: str, kind: str) -> dict[int, int]:
    """Each ungrouped face into the group it is closest to on average (or a new one);
    returns face id -> group id of the faces placed."""
    ids, photos, group_of, matrix = facedb.vectors(store, model, kind)
    if not len(ids):
        return {}
    # Grouped faces first, then the new ones clearest first (a sharp, large face seeds
    # a group better than a blurred one: on faces-mini 0.993 pairwise precision against
    # 0.931 in photo order). Face k then compares with rows [:k], a view, not a copy.
    clarity = {f.id: f.clarity for f in facedb.faces(store, ids[group_of < 0].tolist())}
    order = sorted(range(len(ids)), key=lambda i: (group_of[i] < 0, -clarity.get(int(ids[i]), 0)))
    ids, photos, group_of = ids[order], photos[order], group_of[order]
    matrix = _prepare(kind, matrix[order])
    group_ids = sorted({int(g) for g in group_of if g >= 0})
    dense = {g: n for n, g in enumerate(group_ids)}
    slot = np.array([dense.get(int(g), -1) for g in group_of], np.int64)
    rules = _Rules(store, ids)
    changes, auto_named = [], []
    for k in range(int((slot >= 0).sum()), len(ids)):
        distances = np.linalg.norm(matrix[:k] - matrix[k], axis=1)
        sums = np.bincount(slot[:k], distances, minlength=len(group_ids))
        counts = np.bincount(slot[:k], minlength=len(group_ids))
        average = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
        barred = set(slot[:k][photos[:k] == photos[k]].tolist()) | rules.apart_slots(k, slot)
        limits = _thresholds(kind, counts)
        choice = next(
            (
                int(s)
                for s in np.argsort(average)
                if average[s] < limits[s]
                and int(s) not in barred
                and not rules.rejected(int(ids[k]), group_ids[s])
            ),
            -1,
        )
        if choice < 0:
            group_ids.append(facedb.new_group(store, kind))
            choice = len(group_ids) - 1
        elif rules.named.get(group_ids[choice]) and average[choice] < AUTO_NAME_DISTANCE:
            auto_named.append((int(ids[k]), rules.named[group_ids[choice]], int(photos[k])))
        slot[k] = choice
        changes.append((int(ids[k]), group_ids[choice]))
    facedb.set_groups(store, changes)
    for face_id, subject_id, _ in auto_named:
        facedb.name_face(store, face_id, subject_id, "auto")
    return dict(changes)


def _consolidate(store: Store, model: str, kind: str, placed: dict[int, int]) -> None:
    """Merge each unnamed group that just grew or started into the unnamed group it is
    closest to on average, while that is under the join limit: a face that came early
    may have started a second group for its person (faces-mini, photos 16 at a time:
    recall 0.94 without this step, 0.98 with it, precision unchanged)."""
    ids, photos, group_of, matrix = facedb.vectors(store, model, kind)
    matrix = _prepare(kind, matrix)
    rules = _Rules(store, ids)
    touched = {g for g in placed.values() if g not in rules.named}
    merged: dict[int, int] = {}
    while touched:
        group = touched.pop()
        into = _closest_group(group, group_of, photos, matrix, kind, rules)
        if into is not None:
            group_of[group_of == group] = into
            merged[group] = into
            touched.add(into)
    for source, target in merged.items():
        facedb.move_faces(store, source, target)
    facedb.drop_empty_groups(store)


def _closest_group(
    group: int, group_of: np.ndarray, photos: np.ndarray, matrix: np.ndarray, kind: str, rules: _Rules
) -> int | None:
    mine = np.flatnonzero(group_of == group)
    if not len(mine):
        return None
    others, dense = np.unique(group_of, return_inverse=True)
    distances = np.sqrt(
        np.maximum(
            (matrix[mine] ** 2).sum(1)[:, None] + (matrix**2).sum(1)[None, :] - 2 * matrix[mine] @ matrix.T, 0
        )
    ).sum(0)
    counts = np.bincount(dense)
    average = np.bincount(dense, distances) / (counts * len(mine))
    limits = _thresholds(kind, np.minimum(counts, len(mine)))
    barred = set(group_of[np.isin(photos, photos[mine])].tolist())
    barred |= {int(group_of[j]) for i in mine for j in rules.apart[int(i)]}
    for n in np.argsort(average):
        if average[n] >= limits[n]:
            continue
        candidate = int(others[n])
        if candidate not in barred and candidate not in rules.named and candidate >= 0:
            return candidate
    return None


class _Rules:
    """What the user said: faces set apart, names a face is not, named groups."""

    def __init__(self, store: Store, ids: np.ndarray):
        position = {int(f): i for i, f in enumerate(ids)}
        self.apart: dict[int, set[int]] = defaultdict(set)
        for a, b in facedb.apart_pairs(store):
            if a in position and b in position:
                self.apart[position[a]].add(position[b])
        self.not_named: dict[int, set[int]] = defaultdict(set)
        for face_id, subject_id in facedb.rejections(store):
            self.not_named[face_id].add(subject_id)
        self.named = {g.id: g.subject_id for g in facedb.groups(store, "g.subject_id IS NOT NULL")}

    def apart_slots(self, k: int, slot: np.ndarray) -> set[int]:
        return {int(slot[j]) for j in self.apart[k] if slot[j] >= 0}

    def rejected(self, face_id: int, group_id: int) -> bool:
        subject = self.named.get(group_id)
        return subject is not None and subject in self.not_named[face_id]


# -- reading --------------------------------------------------------------------------


def groups(store: Store, kind: str | None = None, limit: int | None = None) -> list[FaceGroup]:
    """Groups largest first; kind "person", "pet" or None for both."""
    where = {"person": "g.kind = 'person'", "pet": "g.kind != 'person'"}.get(kind or "", "1")
    return facedb.groups(store, where, limit=limit)


def find_group(store: Store, ref: str) -> FaceGroup:
    """A group by its number, or a named group by its name."""
    ref = " ".join(str(ref).split())
    found = (
        facedb.group(store, int(ref))
        if ref.isdigit()
        else next(iter(facedb.groups(store, "s.name = ?", [ref])), None)
    )
    if found is None:
        raise PeopleError(f"There is no group {ref!r}; `photoorg people` lists them.")
    return found


def members(store: Store, group_id: int, limit: int | None = None) -> list[Face]:
    return facedb.faces_in_group(store, group_id, limit)


def scan_totals(store: Store) -> dict[str, int]:
    """Photos scanned for faces, faces found, left out as too small or beyond the cap."""
    return facedb.scan_totals(store)


def group_counts(store: Store) -> dict[str, int]:
    """{"groups": all groups, "named": the named ones}."""
    return facedb.group_counts(store)


# -- naming ---------------------------------------------------------------------------


def _clean(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise NamingError("A name cannot be empty.")
    if ":" in name:
        raise NamingError(f"{name!r}: a name cannot contain ':' (it would read as a search filter).")
    return name


def name_group(store: Store, group_id: int, name: str) -> FaceGroup:
    """Name a group and every face in it. A name another group already has means the
    same person: the two groups become one (refused if that would make two faces of
    one photo the same person)."""
    name = _clean(name)
    target = find_group(store, str(group_id))
    with store.transaction():
        subject = store.subject(name, "person" if target.kind == "person" else "pet")
        if subject.kind != ("person" if target.kind == "person" else "pet"):
            raise PeopleError(f"{name!r} is already the name of a {subject.kind}.")
        same = [g for g in facedb.groups(store, "g.subject_id = ? AND g.id != ?", [subject.id, target.id])]
        facedb.name_group(store, target.id, subject.id)
        for other in same:
            _merge(store, other, target)
    return facedb.group(store, target.id)


def unname_group(store: Store, group_id: int) -> None:
    with store.transaction():
        facedb.name_group(store, find_group(store, str(group_id)).id, None)


def merge(store: Store, into: str | int, other: str | int) -> FaceGroup:
    """Put `other`'s faces into `into`; names and "not this person" marks are kept."""
    target, source = find_group(store, str(into)), find_group(store, str(other))
    if target.id == source.id:
        raise PeopleError("Those are the same group.")
    if (target.kind == "person") != (source.kind == "person") or (
        target.kind != "person" and target.kind != source.kind
    ):
        raise PeopleError(
            f"Group {target.id} holds {target.kind} faces and group {source.id} "
            f"{source.kind}; they cannot be one."
        )
    if target.name and source.name and target.subject_id != source.subject_id:
        raise PeopleError(
            f"Group {target.id} is {target.name} and group {source.id} is "
            f"{source.name}; rename one of them first."
        )
    with store.transaction():
        _merge(store, source, target)
    return facedb.group(store, target.id)


def _merge(store: Store, source: FaceGroup, target: FaceGroup) -> None:
    shared = facedb.group_photo_ids(store, source.id) & facedb.group_photo_ids(store, target.id)
    if shared:
        photo = store.photo(min(shared))
        raise PeopleError(
            f"Groups {target.id} and {source.id} both have a face in {photo.path if photo else min(shared)}, "
            f"and two faces of one photo are never the same person; move the wrong face out first."
        )
    subject_id = target.subject_id or source.subject_id
    facedb.move_faces(store, source.id, target.id)
    facedb.drop_empty_groups(store)
    if subject_id is not None:
        facedb.name_group(store, target.id, subject_id)


def move_out(store: Store, face_id: int, not_this_person: bool = False) -> int:
    """Take a wrongly grouped face out into a group of its own, and remember that it
    is not with this group's faces (and, with not_this_person, not this name: never
    named or suggested as it again). Returns the face's new group."""
    found = facedb.faces(store, [face_id])
    if not found:
        raise PeopleError(f"There is no face {face_id}; the photo may have been re-indexed.")
    face = found[0]
    with store.transaction():
        if face.group_id is not None:
            anchors = [f.id for f in facedb.faces_in_group(store, face.group_id, APART_ANCHORS + 1)]
            facedb.set_apart(store, face.id, anchors)
            group = facedb.group(store, face.group_id)
            if not_this_person and group is not None and group.subject_id is not None:
                facedb.reject(store, face.id, group.subject_id)
        new = facedb.new_group(store, face.kind)
        facedb.set_groups(store, [(face.id, new)])
        facedb.name_face(store, face.id, None, None)
        facedb.drop_empty_groups(store)
    return new


# -- tiles ----------------------------------------------------------------------------

CROP_SIDE = 112
CROP_MARGIN = 0.3
MAX_CROP_DECODE = 2048


def face_crop(photo, thumbs_dir: Path, box, side: int = CROP_SIDE) -> Image.Image:
    """A square crop around a face (or pet box) for a tile: from the cached thumbnail
    when it is sharp enough there, else from the photo decoded near the size needed;
    grey when neither can be read (an offline drive without a thumbnail)."""
    width = max(box[2] - box[0], box[3] - box[1], 1e-3) * (1 + 2 * CROP_MARGIN)
    thumb = thumbnail_path(thumbs_dir, photo)
    sources = [lambda: Image.open(thumb).convert("RGB")] if thumb.exists() else []
    if width * THUMB_SIDE < side * 0.75 or not sources:
        wanted = min(MAX_CROP_DECODE, int(side / width) + 1)
        sources.insert(0, lambda: load_image(photo.path, max_side=wanted))
    for source in sources:
        try:
            image = source()
        except (DecodeError, OSError):
            continue
        return _square(image, box, side)
    return Image.new("RGB", (side, side), (128, 128, 128))


def _square(image: Image.Image, box, side: int) -> Image.Image:
    w, h = image.size
    cx, cy = (box[0] + box[2]) / 2 * w, (box[1] + box[3]) / 2 * h
    half = max((box[2] - box[0]) * w, (box[3] - box[1]) * h) * (0.5 + CROP_MARGIN)
    crop = image.crop((int(cx - half), int(cy - half), int(cx + half), int(cy + half)))
    return crop.resize((side, side), Image.Resampling.BILINEAR)
