"""SQL for organizing: per-photo duplicate features, the file-operation journal, and
the row updates that let the library follow files photoorg moved (no re-index)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from .store import Store


@dataclass(frozen=True)
class Features:
    """What duplicate finding knows of one photo, computed from `content` (photos.hash)."""

    photo_id: int
    content: str
    model: str
    phash: int | None
    dhash: int | None
    sharpness: float | None
    full_hash: str | None
    pixel_hash: str | None
    shot_at: str | None  # ISO local time with fraction, from the EXIF tag in shot_from
    shot_from: str | None  # SubSecDateTimeOriginal | DateTimeOriginal | CreateDate


@dataclass(frozen=True)
class Candidate:
    """A present photo with what grouping and the keeper rule look at."""

    id: int
    path: str
    root_id: int
    rel_path: str
    hash: str | None
    size: int
    mtime_ns: int
    width: int | None
    height: int | None
    taken_at: str | None
    camera: str | None
    user_tags: int
    names: int


@dataclass(frozen=True)
class Op:
    id: int
    run_id: int
    op: str  # mkdir | move | copy | trash
    src: str
    dst: str | None
    size: int | None
    mtime_ns: int | None
    photo_id: int | None
    src_root_id: int | None
    src_rel: str | None
    dst_root_id: int | None
    dst_rel: str | None
    keeper_id: int | None
    state: str  # planned | done | undone


@dataclass(frozen=True)
class Run:
    id: int
    kind: str
    description: str
    started_at: float
    finished_at: float | None
    undone_at: float | None


def _dicts(cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


class OrganizeStore:
    """The organize tables of one Store (same connection, same transactions)."""

    def __init__(self, store: Store):
        self.store = store
        self.db = store.db

    # -- features --------------------------------------------------------------

    def features(self) -> dict[int, Features]:
        """Features still valid for their photo's current content."""
        rows = _dicts(
            self.db.execute(
                "SELECT f.* FROM photo_features f JOIN photos p ON p.id = f.photo_id WHERE f.content = p.hash"
            )
        )
        return {r["photo_id"]: Features(**r) for r in rows}

    def save_features(self, rows: Iterable[Features]) -> None:
        self.db.conn.executemany(
            "INSERT OR REPLACE INTO photo_features (photo_id, content, model, phash, dhash, "
            "sharpness, full_hash, pixel_hash, shot_at, shot_from) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    f.photo_id,
                    f.content,
                    f.model,
                    f.phash,
                    f.dhash,
                    f.sharpness,
                    f.full_hash,
                    f.pixel_hash,
                    f.shot_at,
                    f.shot_from,
                )
                for f in rows
            ],
        )

    def set_full_hash(self, photo_id: int, full_hash: str) -> None:
        self.db.execute(
            "UPDATE photo_features SET full_hash = ? WHERE photo_id = ?",
            [full_hash, photo_id],
        )

    def set_pixel_hash(self, photo_id: int, pixel_hash: str) -> None:
        self.db.execute(
            "UPDATE photo_features SET pixel_hash = ? WHERE photo_id = ?",
            [pixel_hash, photo_id],
        )

    def candidates(self, ids: Iterable[int] | None = None) -> list[Candidate]:
        """Present photos (all, or these ids) with their counts of user tags and names."""
        where, params = "", []
        if ids is not None:
            ids = list(ids)
            where = f"AND p.id IN ({','.join('?' * len(ids))})" if ids else "AND 0"
            params = ids
        rows = _dicts(
            self.db.execute(
                "SELECT p.id, r.path AS root, p.root_id, p.rel_path, p.hash, p.size, p.mtime_ns, "
                "p.width, p.height, p.taken_at, "
                "nullif(trim(coalesce(p.camera_make, '') || ' ' || coalesce(p.camera_model, '')), '') "
                "AS camera, "
                "(SELECT count(*) FROM tags t WHERE t.photo_id = p.id AND t.source = 'user') AS user_tags, "
                "(SELECT count(*) FROM detections d WHERE d.photo_id = p.id AND d.subject_id IS NOT NULL) "
                "AS names "
                f"FROM photos p JOIN roots r ON r.id = p.root_id WHERE p.state != 'missing' {where} "
                "ORDER BY p.id",
                params,
            )
        )
        for r in rows:
            r["path"] = os.path.join(r.pop("root"), r["rel_path"])
        return [Candidate(**r) for r in rows]

    def top_tags(self) -> dict[int, str]:
        """photo id -> its first user tag (alphabetical), else its best automatic tag."""
        found: dict[int, str] = {}
        for photo_id, tag in self.db.execute(
            "SELECT photo_id, tag FROM tags WHERE source != 'rejected' "
            "ORDER BY photo_id, source = 'auto', CASE source WHEN 'user' THEN tag END, score DESC"
        ).fetchall():
            found.setdefault(photo_id, tag)
        return found

    def main_subjects(self) -> dict[int, dict[str, str]]:
        """photo id -> {'person': name, 'pet': name} of the largest named box of each kind."""
        found: dict[int, dict[str, str]] = {}
        for photo_id, kind, name in self.db.execute(
            "SELECT d.photo_id, s.kind, s.name FROM detections d JOIN subjects s ON s.id = d.subject_id "
            "ORDER BY d.photo_id, (d.x1 - d.x0) * (d.y1 - d.y0) DESC"
        ).fetchall():
            found.setdefault(photo_id, {}).setdefault(kind, name)
        return found

    def shot_dates(self) -> dict[int, tuple[str, str]]:
        """photo id -> (ISO time, EXIF tag it came from), where duplicate finding read it."""
        return {
            r[0]: (r[1], r[2])
            for r in self.db.execute(
                "SELECT f.photo_id, f.shot_at, f.shot_from FROM photo_features f "
                "JOIN photos p ON p.id = f.photo_id WHERE f.content = p.hash AND f.shot_at IS NOT NULL"
            ).fetchall()
        }

    # -- carrying user data to a keeper ------------------------------------------

    def carry_over(self, from_id: int, to_id: int, same_framing: bool) -> None:
        """The user's tags, and (when both show the same framing) named boxes, of a
        photo about to be trashed go to the photo that is kept."""
        self.db.execute(
            "INSERT INTO tags (photo_id, tag, score, source, model) "
            "SELECT ?, tag, 1.0, 'user', NULL FROM tags WHERE photo_id = ? AND source = 'user' "
            "ON CONFLICT (photo_id, tag) DO UPDATE SET source = 'user', score = 1.0, model = NULL",
            [to_id, from_id],
        )
        if same_framing:
            self.db.execute(
                "INSERT INTO detections (photo_id, label, score, x0, y0, x1, y1, model, subject_id) "
                "SELECT ?, d.label, d.score, d.x0, d.y0, d.x1, d.y1, d.model, d.subject_id "
                "FROM detections d WHERE d.photo_id = ? AND d.subject_id IS NOT NULL "
                "AND d.subject_id NOT IN (SELECT subject_id FROM detections WHERE photo_id = ? "
                "AND subject_id IS NOT NULL)",
                [to_id, from_id, to_id],
            )

    def add_named_box(self, photo_id: int, label: str, box, subject_id: int, model: str) -> int:
        """A box another app named (read from its XMP regions), with no detector behind it."""
        x0, y0, x1, y1 = box
        cur = self.db.execute(
            "INSERT INTO detections (photo_id, label, score, x0, y0, x1, y1, model, subject_id) "
            "VALUES (?, ?, 1.0, ?, ?, ?, ?, ?, ?)",
            [photo_id, label, x0, y0, x1, y1, model, subject_id],
        )
        return cur.lastrowid

    # -- following moved files ---------------------------------------------------

    def set_photo_path(self, photo_id: int, root_id: int, rel_path: str) -> None:
        """The same file (same content) now lives here: tags, names and vectors stay."""
        self.db.execute(
            "UPDATE photos SET root_id = ?, rel_path = ? WHERE id = ?",
            [root_id, rel_path, photo_id],
        )

    def rel_paths(self, root_id: int) -> set[str]:
        """Every rel_path the library knows in a root, lower-cased (targets must avoid them)."""
        return {
            r[0].lower()
            for r in self.db.execute("SELECT rel_path FROM photos WHERE root_id = ?", [root_id]).fetchall()
        }

    # -- the journal ---------------------------------------------------------------

    def start_run(self, kind: str, description: str) -> int:
        return self.db.execute(
            "INSERT INTO journal_runs (kind, description, started_at) VALUES (?, ?, ?)",
            [kind, description, time.time()],
        ).lastrowid

    def finish_run(self, run_id: int) -> None:
        self.db.execute(
            "UPDATE journal_runs SET finished_at = ? WHERE id = ?",
            [time.time(), run_id],
        )

    def mark_undone(self, run_id: int) -> None:
        self.db.execute("UPDATE journal_runs SET undone_at = ? WHERE id = ?", [time.time(), run_id])

    def add_op(
        self,
        run_id: int,
        op: str,
        src: str,
        dst: str | None = None,
        *,
        size: int | None = None,
        mtime_ns: int | None = None,
        photo_id: int | None = None,
        src_root_id: int | None = None,
        src_rel: str | None = None,
        dst_root_id: int | None = None,
        dst_rel: str | None = None,
        keeper_id: int | None = None,
    ) -> int:
        return self.db.execute(
            "INSERT INTO journal_ops (run_id, op, src, dst, size, mtime_ns, photo_id, src_root_id, "
            "src_rel, dst_root_id, dst_rel, keeper_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                run_id,
                op,
                src,
                dst,
                size,
                mtime_ns,
                photo_id,
                src_root_id,
                src_rel,
                dst_root_id,
                dst_rel,
                keeper_id,
            ],
        ).lastrowid

    def set_op_state(self, op_id: int, state: str) -> None:
        self.db.execute("UPDATE journal_ops SET state = ? WHERE id = ?", [state, op_id])

    def ops(self, run_id: int) -> list[Op]:
        return [
            Op(**r)
            for r in _dicts(
                self.db.execute("SELECT * FROM journal_ops WHERE run_id = ? ORDER BY id", [run_id])
            )
        ]

    def runs(self) -> list[Run]:
        """Newest first."""
        return [Run(**r) for r in _dicts(self.db.execute("SELECT * FROM journal_runs ORDER BY id DESC"))]

    def mark_missing(self, photo_id: int) -> None:
        self.store.mark_missing([photo_id])
