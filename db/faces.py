"""Every SQL statement about faces, pet likenesses, their groups and their names.

A face row is a face (kind 'person') or, for a pet, its whole box (kind = species);
`group_id` is the cluster it was put in, `subject_id` its name. Rows come out by name.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .store import Store

_CHUNK = 500


@dataclass(frozen=True)
class Face:
    id: int
    photo_id: int
    detection_id: int | None
    kind: str  # "person", or a pet's species
    box: tuple[float, float, float, float]  # normalised to the upright photo, like detections
    score: float
    clarity: float
    model: str
    group_id: int | None
    subject_id: int | None
    subject_name: str | None
    named_by: str | None  # "user" | "auto" | None
    by_hand: bool = False  # drawn by the user: the face stage never replaces or drops it


@dataclass(frozen=True)
class FaceGroup:
    id: int
    kind: str
    subject_id: int | None
    name: str | None
    size: int
    cover_id: int  # the clearest face, for the tile
    cover_photo_id: int
    cover_box: tuple[float, float, float, float]


@dataclass(frozen=True)
class NewFace:
    kind: str
    box: tuple[float, float, float, float]
    score: float
    clarity: float
    vector: np.ndarray
    detection_id: int | None = None


_FACE_SQL = (
    "SELECT f.id, f.photo_id, f.detection_id, f.kind, f.x0, f.y0, f.x1, f.y1, f.score, "
    "f.clarity, f.model, f.group_id, f.subject_id, s.name AS subject_name, f.named_by, f.by_hand "
    "FROM faces f LEFT JOIN subjects s ON s.id = f.subject_id"
)


def _rows(store: Store, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
    cursor = store.db.conn.cursor()
    cursor.row_factory = sqlite3.Row
    return cursor.execute(sql, list(params)).fetchall()


def _face(r: sqlite3.Row) -> Face:
    return Face(
        r["id"],
        r["photo_id"],
        r["detection_id"],
        r["kind"],
        (r["x0"], r["y0"], r["x1"], r["y1"]),
        r["score"],
        r["clarity"],
        r["model"],
        r["group_id"],
        r["subject_id"],
        r["subject_name"],
        r["named_by"],
        bool(r["by_hand"]),
    )


def _chunks(ids: list[int]):
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def faces_of(store: Store, photo_id: int, kinds: str = "all") -> list[Face]:
    """One photo's faces; kinds "person", "pet" (every species) or "all"."""
    where = {"person": " AND f.kind = 'person'", "pet": " AND f.kind != 'person'"}.get(kinds, "")
    return [
        _face(r) for r in _rows(store, f"{_FACE_SQL} WHERE f.photo_id = ?{where} ORDER BY f.id", [photo_id])
    ]


def faces(store: Store, ids: Iterable[int]) -> list[Face]:
    found = {}
    for chunk, marks in _chunks(list(ids)):
        found.update((r["id"], _face(r)) for r in _rows(store, f"{_FACE_SQL} WHERE f.id IN ({marks})", chunk))
    return list(found.values())


def faces_in_group(store: Store, group_id: int, limit: int | None = None) -> list[Face]:
    limit_sql = f" LIMIT {int(limit)}" if limit else ""
    return [
        _face(r)
        for r in _rows(
            store, f"{_FACE_SQL} WHERE f.group_id = ? ORDER BY f.clarity DESC, f.id{limit_sql}", [group_id]
        )
    ]


# What a face finder sets; a user's group, name and marks are not among them.
FACE_COLUMNS = ("detection_id", "kind", "x0", "y0", "x1", "y1", "score", "clarity", "model", "vector")


def _face_values(model: str, face: NewFace) -> list:
    """The columns a face finder sets, in FACE_COLUMNS order (insert and update share them)."""
    return [
        face.detection_id,
        face.kind,
        *face.box,
        face.score,
        face.clarity,
        model,
        np.asarray(face.vector, np.float32).tobytes(),
    ]


def insert_face(store: Store, photo_id: int, model: str, face: NewFace, by_hand: bool = False) -> int:
    columns = ("photo_id", *FACE_COLUMNS, "by_hand")
    return store.db.execute(
        f"INSERT INTO faces ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [photo_id, *_face_values(model, face), int(by_hand)],
    ).lastrowid


def update_face(store: Store, face_id: int, model: str, face: NewFace) -> None:
    """The same face seen again (re-index, edit, model change): its id, group, name and
    "not this person" marks stay; what the model says about it is replaced."""
    assignments = ", ".join(f"{c} = ?" for c in FACE_COLUMNS)
    store.db.execute(f"UPDATE faces SET {assignments} WHERE id = ?", [*_face_values(model, face), face_id])


def delete_faces(store: Store, ids: Iterable[int]) -> None:
    store.db.conn.executemany("DELETE FROM faces WHERE id = ?", [(i,) for i in ids])


def set_scan(store: Store, photo_id: int, found: int, too_small: int, capped: int) -> None:
    store.db.execute(
        "INSERT OR REPLACE INTO face_scans (photo_id, found, too_small, capped) VALUES (?, ?, ?, ?)",
        [photo_id, found, too_small, capped],
    )


def scan_totals(store: Store) -> dict[str, int]:
    row = _rows(
        store,
        "SELECT count(*) AS photos, coalesce(sum(found), 0) AS found, "
        "coalesce(sum(too_small), 0) AS too_small, coalesce(sum(capped), 0) AS capped, "
        "coalesce(sum(capped > 0), 0) AS crowded FROM face_scans",
    )[0]
    return dict(row)


# -- grouping ---------------------------------------------------------------------


def vectors(store: Store, model: str, kind: str, where: str = "1") -> tuple[np.ndarray, ...]:
    """(face ids, photo ids, group ids or -1, matrix) of one model's faces of one kind."""
    rows = _rows(
        store,
        f"SELECT id, photo_id, coalesce(group_id, -1) AS g, vector FROM faces "
        f"WHERE model = ? AND kind = ? AND length(vector) > 0 AND {where} ORDER BY id",
        [model, kind],
    )
    if not rows:
        return (np.empty(0, np.int64),) * 3 + (np.empty((0, 0), np.float32),)
    return (
        np.array([r["id"] for r in rows], np.int64),
        np.array([r["photo_id"] for r in rows], np.int64),
        np.array([r["g"] for r in rows], np.int64),
        # One buffer for every row: 100k separate frombuffer calls cost 0.3 s.
        np.frombuffer(b"".join(r["vector"] for r in rows), np.float32).reshape(len(rows), -1),
    )


def ungrouped(store: Store) -> list[tuple[str, str]]:
    """(model, kind) pairs that have faces not in any group yet."""
    return [
        (r["model"], r["kind"])
        for r in _rows(
            store, "SELECT DISTINCT model, kind FROM faces WHERE group_id IS NULL AND length(vector) > 0"
        )
    ]


def new_group(store: Store, kind: str, subject_id: int | None = None) -> int:
    return store.db.execute(
        "INSERT INTO face_groups (kind, subject_id, created_at) VALUES (?, ?, ?)",
        [kind, subject_id, time.time()],
    ).lastrowid


def set_groups(store: Store, pairs: Iterable[tuple[int, int | None]]) -> None:
    """(face id, group id) for many faces at once."""
    store.db.conn.executemany("UPDATE faces SET group_id = ? WHERE id = ?", [(g, f) for f, g in pairs])


def drop_empty_groups(store: Store) -> int:
    return store.db.execute(
        "DELETE FROM face_groups WHERE NOT EXISTS (SELECT 1 FROM faces WHERE group_id = face_groups.id)"
    ).rowcount


def group_counts(store: Store) -> dict[str, int]:
    row = _rows(
        store, "SELECT count(*) AS groups, coalesce(sum(subject_id IS NOT NULL), 0) AS named FROM face_groups"
    )[0]
    return dict(row)


def group(store: Store, group_id: int) -> FaceGroup | None:
    found = groups(store, where="g.id = ?", params=[group_id])
    return found[0] if found else None


def groups(
    store: Store,
    where: str = "1",
    params: Iterable = (),
    limit: int | None = None,
) -> list[FaceGroup]:
    """Groups largest first, each with its clearest face (named faces first)."""
    limit_sql = f" LIMIT {int(limit)}" if limit else ""
    rows = _rows(
        store,
        f"""
        SELECT g.id, g.kind, g.subject_id, s.name, count(f.id) AS size,
               (SELECT c.id FROM faces c WHERE c.group_id = g.id
                ORDER BY c.subject_id IS NULL, c.clarity DESC, c.id LIMIT 1) AS cover_id
        FROM face_groups g JOIN faces f ON f.group_id = g.id
        LEFT JOIN subjects s ON s.id = g.subject_id
        WHERE {where} GROUP BY g.id ORDER BY size DESC, g.id{limit_sql}""",
        params,
    )
    covers = {f.id: f for f in faces(store, [r["cover_id"] for r in rows])}
    return [
        FaceGroup(
            r["id"],
            r["kind"],
            r["subject_id"],
            r["name"],
            r["size"],
            r["cover_id"],
            covers[r["cover_id"]].photo_id,
            covers[r["cover_id"]].box,
        )
        for r in rows
    ]


def group_photo_ids(store: Store, group_id: int) -> set[int]:
    return {r["photo_id"] for r in _rows(store, "SELECT photo_id FROM faces WHERE group_id = ?", [group_id])}


# -- names ------------------------------------------------------------------------


def name_group(store: Store, group_id: int, subject_id: int | None) -> list[int]:
    """Name the group and every face in it (except faces the user said are not this
    subject); returns the photos whose names changed."""
    photos = sorted(group_photo_ids(store, group_id))
    store.db.execute("UPDATE face_groups SET subject_id = ? WHERE id = ?", [subject_id, group_id])
    store.db.execute(
        "UPDATE faces SET subject_id = ?, named_by = CASE WHEN ? IS NULL THEN NULL ELSE 'user' END "
        "WHERE group_id = ? AND NOT EXISTS (SELECT 1 FROM face_rejections r "
        "WHERE r.face_id = faces.id AND r.subject_id = ?)",
        [subject_id, subject_id, group_id, subject_id],
    )
    return photos


def name_face(store: Store, face_id: int, subject_id: int | None, named_by: str | None) -> None:
    store.db.execute(
        "UPDATE faces SET subject_id = ?, named_by = ? WHERE id = ?",
        [subject_id, named_by if subject_id is not None else None, face_id],
    )


def move_faces(store: Store, from_group: int, to_group: int) -> None:
    store.db.execute("UPDATE faces SET group_id = ? WHERE group_id = ?", [to_group, from_group])


def set_apart(store: Store, face_id: int, other_ids: Iterable[int]) -> None:
    store.db.conn.executemany(
        "INSERT OR IGNORE INTO faces_apart (face_id, other_id) VALUES (?, ?)",
        [pair for other in other_ids if other != face_id for pair in ((face_id, other), (other, face_id))],
    )


def apart_pairs(store: Store) -> set[tuple[int, int]]:
    return {(r["face_id"], r["other_id"]) for r in _rows(store, "SELECT * FROM faces_apart")}


def reject(store: Store, face_id: int, subject_id: int) -> None:
    store.db.execute(
        "INSERT OR IGNORE INTO face_rejections (face_id, subject_id) VALUES (?, ?)", [face_id, subject_id]
    )


def rejections(store: Store) -> set[tuple[int, int]]:
    return {(r["face_id"], r["subject_id"]) for r in _rows(store, "SELECT * FROM face_rejections")}


# -- faces drawn by hand ----------------------------------------------------------


def drawn_not_by(store: Store, model: str) -> list[Face]:
    """Hand-drawn faces without a vector of `model` (drawn before it was installed, or
    under another face model)."""
    return [_face(r) for r in _rows(store, f"{_FACE_SQL} WHERE f.by_hand = 1 AND f.model != ?", [model])]


def set_vector(store: Store, face_id: int, model: str, vector: np.ndarray) -> None:
    store.db.execute(
        "UPDATE faces SET model = ?, vector = ? WHERE id = ?",
        [model, np.asarray(vector, np.float32).tobytes(), face_id],
    )


def group_names(store: Store, group_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """group id -> (subject id, name) of the named ones among `group_ids`."""
    found = {}
    for chunk, marks in _chunks(sorted(set(group_ids))):
        found.update(
            (r["id"], (r["subject_id"], r["name"]))
            for r in _rows(
                store,
                "SELECT g.id, g.subject_id, s.name FROM face_groups g "
                f"JOIN subjects s ON s.id = g.subject_id WHERE g.id IN ({marks})",
                chunk,
            )
        )
    return found
