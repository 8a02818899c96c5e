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

Scale (bench/people.py --scale, synthetic vectors, 30 faces per person, CPU seconds of
one group_new_faces call): 10k faces 0.19 s plus 16 ms per new face before, 0.03 s plus
0.3 ms now; 100k faces 1.4 s plus 111 ms per new face before, 0.4-0.8 s plus 3 ms now.
Each group's centroid (held in one matrix, updated as faces join) bounds the average
distance from below, so a new face is measured against the members of the few groups
it could join, not every face (see _Faces). What remains per call is reading the
vectors from the database (about 0.4 s at 100k faces).

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
            faces = _Faces.read(store, model, kind)
            touched = _assign(store, faces)
            moved += len(touched)
            _consolidate(store, faces, touched)
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
            faces = _Faces.read(store, model, kind)
            _consolidate(store, faces, _assign(store, faces))
    return len(facedb.groups(store))


class _Faces:
    """One model's faces of one kind, and their groups held as running sums.

    Average linkage needs a face's distance to every member of a group, but only for
    groups it could join: the distance to a group's centroid is never more than the
    average distance to its members (the norm is convex), so a group whose centroid
    lies beyond the limit is out without looking at its members. At 100k faces in
    3,333 groups that is one 3,333-row matrix per new face instead of 100k rows (the
    choice is the same: tests/test_people.py compares both)."""

    def __init__(self, kind: str, ids, photos, group_of, matrix):
        self.kind, self.ids, self.photos, self.matrix = kind, ids, photos, _prepare(kind, matrix)
        self.group_of = group_of  # group id per row, -1: not grouped yet
        grouped = np.flatnonzero(group_of >= 0)
        by_group = grouped[np.argsort(group_of[grouped], kind="stable")]
        self.groups, starts = np.unique(group_of[by_group], return_index=True)
        self.groups = self.groups.tolist()  # row of the sums -> group id
        self.slot = {g: n for n, g in enumerate(self.groups)}  # group id -> row of the sums
        ends = [*starts[1:].tolist(), len(by_group)]
        self.rows: dict[int, list[int]] = defaultdict(list)  # group id -> its rows
        self.rows.update((g, by_group[a:b].tolist()) for g, a, b in zip(self.groups, starts.tolist(), ends))
        # Room for one new group per new face.
        capacity = len(self.groups) + len(group_of) - len(grouped)
        self.sums = np.zeros((capacity, self.matrix.shape[1] if self.matrix.size else 0), np.float64)
        self.counts = np.zeros(capacity, np.int64)
        if len(by_group):
            self.sums[: len(starts)] = np.add.reduceat(self.matrix[by_group], starts, dtype=np.float64)
            self.counts[: len(starts)] = np.diff([*starts.tolist(), len(by_group)])
        self.centroids = (self.sums / np.maximum(self.counts, 1)[:, None]).astype(np.float32)

    @classmethod
    def read(cls, store: Store, model: str, kind: str) -> _Faces:
        return cls(kind, *facedb.vectors(store, model, kind))

    def join(self, row: int, group: int) -> None:
        if group not in self.slot:
            self.slot[group] = len(self.groups)
            self.groups.append(group)
        self.rows[group].append(row)
        self.group_of[row] = group
        n = self.slot[group]
        self.sums[n] += self.matrix[row]
        self.counts[n] += 1
        self.centroids[n] = self.sums[n] / self.counts[n]

    def move(self, source: int, target: int) -> None:
        """Every face of `source` into `target`."""
        for row in self.rows.pop(source):
            self.join(row, target)
        n = self.slot[source]
        self.sums[n], self.counts[n] = 0, 0

    def near(self, vectors: np.ndarray, exclude: int | None = None) -> list[tuple[float, int]]:
        """(average distance, group) of the groups that `vectors` (one face, or all of
        one group) could join, closest first: those under their limit."""
        used = len(self.groups)
        counts = self.counts[:used]
        bound = np.where(
            counts > 0, np.linalg.norm(self.centroids[:used] - vectors.mean(axis=0), axis=1), np.inf
        )
        limits = _thresholds(self.kind, np.minimum(counts, len(vectors)) if exclude is not None else counts)
        found = []
        for n in np.flatnonzero(bound < limits + 1e-4):  # slack: float32 centroids
            group = self.groups[n]
            if group == exclude:
                continue
            members = self.matrix[self.rows[group]]
            average = _pair_distances(vectors, members).mean()
            if average < limits[n]:
                found.append((float(average), group))
        return sorted(found)


def _pair_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 1:  # one face: exact differences (the expansion below loses digits)
        return np.linalg.norm(b - a[0], axis=1)
    return np.sqrt(np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T, 0))


def _assign(store: Store, faces: _Faces) -> dict[int, int]:
    """Each ungrouped face into the group it is closest to on average (or a new one);
    returns face id -> group id of the faces placed."""
    new = np.flatnonzero(faces.group_of < 0)
    if not len(new):
        return {}
    # The new faces clearest first (a sharp, large face seeds a group better than a
    # blurred one: on faces-mini 0.993 pairwise precision against 0.931 in photo order).
    clarity = {f.id: f.clarity for f in facedb.faces(store, faces.ids[new].tolist())}
    new = sorted(new.tolist(), key=lambda i: -clarity.get(int(faces.ids[i]), 0))
    rules = _Rules(store, faces.ids)
    # Groups already holding a face of a new face's photo (a photo indexed again).
    in_photo: dict[int, set[int]] = defaultdict(set)
    same_photo = np.isin(faces.photos, faces.photos[new]) & (faces.group_of >= 0)
    for row in np.flatnonzero(same_photo).tolist():
        in_photo[int(faces.photos[row])].add(int(faces.group_of[row]))
    changes, auto_named = [], []
    for k in new:
        photo = int(faces.photos[k])
        barred = in_photo[photo] | {int(faces.group_of[j]) for j in rules.apart[k] if faces.group_of[j] >= 0}
        near = faces.near(faces.matrix[k : k + 1])
        average, group = next(
            ((d, g) for d, g in near if g not in barred and not rules.rejected(int(faces.ids[k]), g)),
            (None, None),
        )
        if group is None:
            group = facedb.new_group(store, faces.kind)
        elif rules.named.get(group) and average < AUTO_NAME_DISTANCE:
            auto_named.append((int(faces.ids[k]), rules.named[group]))
        faces.join(k, group)
        in_photo[photo].add(group)
        changes.append((int(faces.ids[k]), group))
    facedb.set_groups(store, changes)
    for face_id, subject_id in auto_named:
        facedb.name_face(store, face_id, subject_id, "auto")
    return dict(changes)


def _consolidate(store: Store, faces: _Faces, placed: dict[int, int]) -> None:
    """Merge each unnamed group that just grew or started into the unnamed group it is
    closest to on average, while that is under the join limit: a face that came early
    may have started a second group for its person (faces-mini, photos 16 at a time:
    recall 0.94 without this step, 0.98 with it, precision unchanged)."""
    rules = _Rules(store, faces.ids)
    touched = {g for g in placed.values() if g not in rules.named}
    merged: dict[int, int] = {}
    while touched:
        group = touched.pop()
        into = _closest_group(group, faces, rules)
        if into is not None:
            faces.move(group, into)
            merged[group] = into
            touched.add(into)
    for source, target in merged.items():
        facedb.move_faces(store, source, target)
    facedb.drop_empty_groups(store)


def _closest_group(group: int, faces: _Faces, rules: _Rules) -> int | None:
    mine = faces.rows.get(group)
    if not mine:
        return None
    barred = set(faces.group_of[np.isin(faces.photos, faces.photos[mine])].tolist())
    barred |= {int(faces.group_of[j]) for i in mine for j in rules.apart[i]}
    for _, candidate in faces.near(faces.matrix[mine], exclude=group):
        if candidate not in barred and candidate not in rules.named:
            return candidate
    return None


class _Rules:
    """What the user said: faces set apart, names a face is not, named groups."""

    def __init__(self, store: Store, ids: np.ndarray):
        pairs = facedb.apart_pairs(store)
        apart_ids = np.array(sorted({f for pair in pairs for f in pair}), np.int64)
        rows = np.flatnonzero(np.isin(ids, apart_ids))
        position = dict(zip(ids[rows].tolist(), rows.tolist()))
        self.apart: dict[int, set[int]] = defaultdict(set)  # row -> rows
        for a, b in pairs:
            if a in position and b in position:
                self.apart[position[a]].add(position[b])
        self.not_named: dict[int, set[int]] = defaultdict(set)
        for face_id, subject_id in facedb.rejections(store):
            self.not_named[face_id].add(subject_id)
        self.named = {g.id: g.subject_id for g in facedb.groups(store, "g.subject_id IS NOT NULL")}

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
