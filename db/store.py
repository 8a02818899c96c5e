"""The one place that speaks SQL. Plain rows in, dataclasses out."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from .rows import PHOTO_STATES, Detection, Photo, PhotoMeta, Root, ScanProblem, Subject, Tag
from .schema import DatabaseTooNew, migrate
from ..errors import UserError


class NotALibrary(UserError):
    """The library file exists but is not an SQLite database."""


@dataclass(frozen=True)
class KnownFile:
    """What the store remembers of a file, for the scan's change test."""

    id: int
    size: int
    mtime_ns: int
    state: str
    hash: str | None


_PHOTO_COLUMNS = (
    "p.id, p.root_id, p.rel_path, r.path, p.size, p.mtime_ns, p.hash, p.width, p.height, "
    "p.taken_at, p.camera_make, p.camera_model, p.lat, p.lon, p.state, p.error"
)


def _photo(row: tuple) -> Photo:
    values = list(row)
    values[3] = os.path.join(values[3], values[2])
    return Photo(*values)


def _foreign_tables(conn: sqlite3.Connection) -> list[str]:
    """Tables of a database photoorg never migrated (user_version 0), other than the
    migrations log an interrupted first open leaves: such a file belongs to someone else."""
    if conn.execute("PRAGMA user_version").fetchone()[0]:
        return []
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'migrations' "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    return [r[0] for r in rows]


class Store:
    """A photoorg library database: WAL, foreign keys, migrated on open."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            foreign = _foreign_tables(conn)
            if not foreign:
                conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as e:  # the file is fine as far as we know
            raise NotALibrary(
                f"Cannot open the library {self.path} ({e}); check that its folder is writable "
                "and its drive connected."
            ) from None
        except sqlite3.DatabaseError as e:
            raise NotALibrary(
                f"{self.path} is not a photoorg library (not an SQLite database: {e})."
            ) from None
        if foreign:  # another program's database: migrating would write into it
            conn.close()
            raise NotALibrary(
                f"{self.path} is not a photoorg library (another program's database, with "
                f"tables such as {foreign[0]}); choose another library folder."
            )
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        self.db = Database(conn)
        try:
            migrate(self.db, self.path)
        except DatabaseTooNew:
            conn.close()
            raise

    def close(self) -> None:
        self.db.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One batch, all or nothing; nests as a savepoint."""
        with self.db.atomic():
            yield

    def _rows(self, sql: str, params: Iterable = ()) -> list[tuple]:
        return self.db.execute(sql, list(params)).fetchall()

    def _one(self, sql: str, params: Iterable = ()):
        row = self.db.execute(sql, list(params)).fetchone()
        return row[0] if row else None

    # -- roots -------------------------------------------------------------

    def add_root(self, path: str) -> Root:
        self.db.execute(
            "INSERT OR IGNORE INTO roots (path, added_at) VALUES (?, ?)", [path, time.time()]
        )
        return self.root_by_path(path)

    def roots(self) -> list[Root]:
        rows = self._rows("SELECT id, path, online, last_scan, offline_reason FROM roots ORDER BY path")
        return [Root(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

    def root_by_path(self, path: str) -> Root | None:
        return next((r for r in self.roots() if r.path == path), None)

    def root(self, root_id: int) -> Root:
        return next(r for r in self.roots() if r.id == root_id)

    def remove_root(self, root_id: int) -> None:
        # Cascades to the photos' rows only; files on disk are never touched.
        with self.transaction():
            self.db.execute(
                "DELETE FROM photos_fts WHERE rowid IN (SELECT id FROM photos WHERE root_id = ?)",
                [root_id],
            )
            self.db.execute("DELETE FROM roots WHERE id = ?", [root_id])

    def set_root_online(self, root_id: int, online: bool, reason: str | None = None) -> None:
        self.db.execute(
            "UPDATE roots SET online = ?, offline_reason = ? WHERE id = ?",
            [int(online), None if online else reason, root_id],
        )

    def mark_root_scanned(self, root_id: int) -> None:
        self.db.execute("UPDATE roots SET last_scan = ? WHERE id = ?", [time.time(), root_id])

    def replace_scan_problems(self, root_id: int, problems: list[ScanProblem]) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM scan_problems WHERE root_id = ?", [root_id])
            self.db.conn.executemany(
                "INSERT INTO scan_problems (root_id, path, reason) VALUES (?, ?, ?)",
                [(p.root_id, p.path, p.reason) for p in problems],
            )

    def scan_problems(self) -> list[ScanProblem]:
        return [ScanProblem(*r) for r in self._rows("SELECT root_id, path, reason FROM scan_problems")]

    # -- photos: what the scanner needs ------------------------------------

    def known_files(self, root_id: int) -> dict[str, KnownFile]:
        rows = self._rows(
            "SELECT rel_path, id, size, mtime_ns, state, hash FROM photos WHERE root_id = ?",
            [root_id],
        )
        return {r[0]: KnownFile(*r[1:]) for r in rows}

    def count_present(self, root_id: int) -> int:
        return self._one(
            "SELECT count(*) FROM photos WHERE root_id = ? AND state != 'missing'", [root_id]
        )

    def add_photo(self, root_id: int, rel_path: str, size: int, mtime_ns: int, hash: str) -> int:
        cur = self.db.execute(
            "INSERT INTO photos (root_id, rel_path, size, mtime_ns, hash, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [root_id, rel_path, size, mtime_ns, hash, time.time()],
        )
        self._refresh_fts(cur.lastrowid)
        return cur.lastrowid

    def mark_changed(self, photo_id: int, size: int, mtime_ns: int, hash: str) -> None:
        """New content: every automatic result of the old content is void (user tags and
        named boxes stay), so the indexer runs all its stages again."""
        with self.transaction():
            self.db.execute(
                "UPDATE photos SET size = ?, mtime_ns = ?, hash = ?, state = 'pending', error = NULL "
                "WHERE id = ?",
                [size, mtime_ns, hash, photo_id],
            )
            self.db.execute("DELETE FROM processed WHERE photo_id = ?", [photo_id])
            self.db.execute("DELETE FROM tags WHERE photo_id = ? AND source = 'auto'", [photo_id])
            self.db.execute("DELETE FROM embeddings WHERE photo_id = ?", [photo_id])
            self.db.execute(
                "DELETE FROM detections WHERE photo_id = ? AND subject_id IS NULL", [photo_id]
            )
            self._refresh_fts(photo_id)

    def move_photo(self, photo_id: int, root_id: int, rel_path: str, size: int, mtime_ns: int) -> None:
        """Same content at a new path: the row, its tags, names and embeddings stay."""
        self.db.execute(
            "UPDATE photos SET root_id = ?, rel_path = ?, size = ?, mtime_ns = ?, "
            "state = CASE WHEN state = 'missing' THEN "
            "  CASE WHEN EXISTS (SELECT 1 FROM processed WHERE photo_id = photos.id) "
            "  THEN 'indexed' ELSE 'pending' END ELSE state END "
            "WHERE id = ?",
            [root_id, rel_path, size, mtime_ns, photo_id],
        )
        self._refresh_fts(photo_id)

    def movable_by_hash(self, hash: str, exclude_root_paths: set[tuple[int, str]] = frozenset()) -> int | None:
        """A missing photo with this content, which a new file may be the moved copy of."""
        for photo_id, root_id, rel_path in self._rows(
            "SELECT id, root_id, rel_path FROM photos WHERE hash = ? AND state = 'missing' "
            "ORDER BY id",
            [hash],
        ):
            if (root_id, rel_path) not in exclude_root_paths:
                return photo_id
        return None

    def file_at(self, root_id: int, rel_path: str) -> KnownFile | None:
        rows = self._rows(
            "SELECT id, size, mtime_ns, state, hash FROM photos WHERE root_id = ? AND rel_path = ?",
            [root_id, rel_path],
        )
        return KnownFile(*rows[0]) if rows else None

    def files_under(self, root_id: int, folder: str) -> dict[str, KnownFile]:
        """Rows whose rel_path lies inside `folder` (relative to the root)."""
        prefix = folder.rstrip(os.sep) + os.sep
        rows = self._rows(
            "SELECT rel_path, id, size, mtime_ns, state, hash FROM photos "
            "WHERE root_id = ? AND substr(rel_path, 1, ?) = ?",
            [root_id, len(prefix), prefix],
        )
        return {r[0]: KnownFile(*r[1:]) for r in rows}

    def requeue_errors(self, root_id: int) -> int:
        """A root back online: photos that failed while it vanished get another try."""
        return self.db.execute(
            "UPDATE photos SET state = 'pending', error = NULL WHERE root_id = ? AND state = 'error'",
            [root_id],
        ).rowcount

    def mark_missing(self, photo_ids: Iterable[int]) -> None:
        self.db.conn.executemany(
            "UPDATE photos SET state = 'missing' WHERE id = ?", [(i,) for i in photo_ids]
        )

    def purge_missing(self) -> int:
        with self.transaction():
            self.db.execute(
                "DELETE FROM photos_fts WHERE rowid IN (SELECT id FROM photos WHERE state = 'missing')"
            )
            return self.db.execute("DELETE FROM photos WHERE state = 'missing'").rowcount

    # -- photos: what the indexer needs ------------------------------------

    def pending(self, limit: int | None = None, after_id: int = 0) -> list[Photo]:
        return self.photos_where(
            "p.state = 'pending' AND r.online = 1 AND p.id > ? ORDER BY p.id"
            + (f" LIMIT {int(limit)}" if limit else ""),
            [after_id],
        )

    def set_meta(self, photo_id: int, meta: PhotoMeta) -> None:
        self.db.execute(
            "UPDATE photos SET width = ?, height = ?, taken_at = ?, camera_make = ?, "
            "camera_model = ?, lat = ?, lon = ? WHERE id = ?",
            [meta.width, meta.height, meta.taken_at, meta.camera_make, meta.camera_model,
             meta.lat, meta.lon, photo_id],
        )

    def set_state(self, photo_id: int, state: str, error: str | None = None) -> None:
        assert state in PHOTO_STATES
        self.db.execute(
            "UPDATE photos SET state = ?, error = ? WHERE id = ?", [state, error, photo_id]
        )

    def set_processed(self, photo_id: int, stage: str, model: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO processed (photo_id, stage, model) VALUES (?, ?, ?)",
            [photo_id, stage, model],
        )

    def requeue_stale(self, stage: str, model: str) -> int:
        """Photos whose `stage` ran with another model (or never ran) go back to pending."""
        return self.db.execute(
            "UPDATE photos SET state = 'pending' WHERE state = 'indexed' AND NOT EXISTS "
            "(SELECT 1 FROM processed WHERE photo_id = photos.id AND stage = ? AND model = ?)",
            [stage, model],
        ).rowcount

    def processed_model(self, photo_id: int, stage: str) -> str | None:
        return self._one(
            "SELECT model FROM processed WHERE photo_id = ? AND stage = ?", [photo_id, stage]
        )

    def processed_of(self, photo_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        """photo id -> {stage: model} for a batch of photos."""
        ids = list(photo_ids)
        found: dict[int, dict[str, str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for pid, stage, model in self._rows(
                f"SELECT photo_id, stage, model FROM processed WHERE photo_id IN ({marks})", chunk
            ):
                found.setdefault(pid, {})[stage] = model
        return found

    def pending_count(self) -> int:
        """Pending photos the indexer can reach now (their folder is online)."""
        return self._one(
            "SELECT count(*) FROM photos p JOIN roots r ON r.id = p.root_id "
            "WHERE p.state = 'pending' AND r.online = 1"
        )

    # -- photos: reading ---------------------------------------------------

    def photos_where(self, where: str, params: Iterable = ()) -> list[Photo]:
        rows = self._rows(
            f"SELECT {_PHOTO_COLUMNS} FROM photos p JOIN roots r ON r.id = p.root_id WHERE {where}",
            params,
        )
        return [_photo(r) for r in rows]

    def photo(self, photo_id: int) -> Photo | None:
        found = self.photos_where("p.id = ?", [photo_id])
        return found[0] if found else None

    def photos(self, ids: Iterable[int]) -> list[Photo]:
        """Photos in the order of `ids`."""
        ids = list(ids)
        by_id: dict[int, Photo] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            by_id.update((p.id, p) for p in self.photos_where(f"p.id IN ({marks})", chunk))
        return [by_id[i] for i in ids if i in by_id]

    def photo_by_path(self, path: str) -> Photo | None:
        for root in sorted(self.roots(), key=lambda r: -len(r.path)):
            prefix = root.path.rstrip(os.sep) + os.sep
            if path.startswith(prefix):
                found = self.photos_where(
                    "p.root_id = ? AND p.rel_path = ?", [root.id, path[len(prefix):]]
                )
                return found[0] if found else None
        return None

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(PHOTO_STATES, 0)
        counts.update(self._rows("SELECT state, count(*) FROM photos GROUP BY state"))
        return counts

    def counts_by_root(self) -> dict[int, dict[str, int]]:
        result: dict[int, dict[str, int]] = {}
        for root_id, state, n in self._rows(
            "SELECT root_id, state, count(*) FROM photos GROUP BY root_id, state"
        ):
            result.setdefault(root_id, dict.fromkeys(PHOTO_STATES, 0))[state] = n
        return result

    def errors(self) -> list[Photo]:
        return self.photos_where("p.state = 'error' ORDER BY r.path, p.rel_path")

    def missing(self) -> list[Photo]:
        return self.photos_where("p.state = 'missing' ORDER BY r.path, p.rel_path")

    def recent_ids(self, limit: int) -> list[int]:
        return [r[0] for r in self._rows(
            "SELECT id FROM photos WHERE state != 'missing' "
            "ORDER BY coalesce(taken_at, '') DESC, id DESC LIMIT ?", [limit]
        )]

    # -- tags ----------------------------------------------------------------

    def tags_of(self, photo_id: int, include_rejected: bool = False) -> list[Tag]:
        where = "" if include_rejected else " AND source != 'rejected'"
        return [Tag(*r) for r in self._rows(
            f"SELECT tag, score, source, model FROM tags WHERE photo_id = ?{where} "
            "ORDER BY source = 'auto', score DESC, tag",
            [photo_id],
        )]

    def add_user_tag(self, photo_id: int, tag: str) -> None:
        self.db.execute(
            "INSERT INTO tags (photo_id, tag, score, source, model) VALUES (?, ?, 1.0, 'user', NULL) "
            "ON CONFLICT (photo_id, tag) DO UPDATE SET source = 'user', score = 1.0, model = NULL",
            [photo_id, tag],
        )
        self._refresh_fts(photo_id)

    def remove_tag(self, photo_id: int, tag: str) -> bool:
        """A user tag is deleted; an automatic one is remembered as rejected, so a
        re-index does not bring it back."""
        with self.transaction():
            changed = self.db.execute(
                "DELETE FROM tags WHERE photo_id = ? AND tag = ? AND source = 'user'", [photo_id, tag]
            ).rowcount
            changed += self.db.execute(
                "UPDATE tags SET source = 'rejected' WHERE photo_id = ? AND tag = ? AND source = 'auto'",
                [photo_id, tag],
            ).rowcount
            self._refresh_fts(photo_id)
        return changed > 0

    def replace_auto_tags(self, photo_id: int, model: str, tags: Iterable[tuple[str, float]]) -> None:
        """New automatic tags; user tags and rejections are left as they are."""
        self.db.execute("DELETE FROM tags WHERE photo_id = ? AND source = 'auto'", [photo_id])
        self.db.conn.executemany(
            "INSERT INTO tags (photo_id, tag, score, source, model) VALUES (?, ?, ?, 'auto', ?) "
            "ON CONFLICT (photo_id, tag) DO NOTHING",
            [(photo_id, tag, float(score), model) for tag, score in tags],
        )
        self._refresh_fts(photo_id)

    def set_auto_tags(self, photo_id: int, rows: Iterable[tuple[str, float, str]]) -> None:
        """All automatic (tag, score, model) rows of a photo at once; user tags and
        rejections stay as they are, and the first row of a tag wins."""
        self.db.execute("DELETE FROM tags WHERE photo_id = ? AND source = 'auto'", [photo_id])
        self.db.conn.executemany(
            "INSERT INTO tags (photo_id, tag, score, source, model) VALUES (?, ?, ?, 'auto', ?) "
            "ON CONFLICT (photo_id, tag) DO NOTHING",
            [(photo_id, tag, float(score), model) for tag, score, model in rows],
        )
        self._refresh_fts(photo_id)

    def add_auto_tags(self, model: str, rows: Iterable[tuple[int, str, float]]) -> None:
        """Automatic tags for many photos at once (a user-added vocabulary word)."""
        rows = list(rows)
        self.db.conn.executemany(
            "INSERT INTO tags (photo_id, tag, score, source, model) VALUES (?, ?, ?, 'auto', ?) "
            "ON CONFLICT (photo_id, tag) DO NOTHING",
            [(pid, tag, float(score), model) for pid, tag, score in rows],
        )
        for pid in {r[0] for r in rows}:
            self._refresh_fts(pid)

    def tag_counts(self) -> list[tuple[str, int]]:
        return self._rows(
            "SELECT t.tag, count(*) FROM tags t JOIN photos p ON p.id = t.photo_id "
            "WHERE t.source != 'rejected' AND p.state != 'missing' "
            "GROUP BY t.tag COLLATE NOCASE ORDER BY count(*) DESC, t.tag"
        )

    # -- vocabulary ----------------------------------------------------------

    def add_vocabulary(self, word: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO vocabulary (word, added_at) VALUES (?, ?)", [word, time.time()]
        )

    def vocabulary(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT word FROM vocabulary ORDER BY added_at")]

    # -- detections, subjects ----------------------------------------------

    def replace_detections(self, photo_id: int, model: str, detections: Iterable) -> list[int]:
        """New automatic boxes. Named boxes are user data and stay."""
        self.db.execute(
            "DELETE FROM detections WHERE photo_id = ? AND subject_id IS NULL", [photo_id]
        )
        ids = []
        for d in detections:
            x0, y0, x1, y1 = d.box
            cur = self.db.execute(
                "INSERT INTO detections (photo_id, label, score, x0, y0, x1, y1, model) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [photo_id, d.label, float(d.score), x0, y0, x1, y1, model],
            )
            ids.append(cur.lastrowid)
        return ids

    def detections_of(self, photo_id: int) -> list[Detection]:
        return [self._detection(r) for r in self._rows(
            "SELECT d.id, d.photo_id, d.label, d.score, d.x0, d.y0, d.x1, d.y1, d.model, "
            "d.subject_id, s.name FROM detections d LEFT JOIN subjects s ON s.id = d.subject_id "
            "WHERE d.photo_id = ? ORDER BY d.score DESC",
            [photo_id],
        )]

    def detection(self, detection_id: int) -> Detection | None:
        rows = self._rows(
            "SELECT d.id, d.photo_id, d.label, d.score, d.x0, d.y0, d.x1, d.y1, d.model, "
            "d.subject_id, s.name FROM detections d LEFT JOIN subjects s ON s.id = d.subject_id "
            "WHERE d.id = ?",
            [detection_id],
        )
        return self._detection(rows[0]) if rows else None

    @staticmethod
    def _detection(r: tuple) -> Detection:
        return Detection(r[0], r[1], r[2], r[3], (r[4], r[5], r[6], r[7]), r[8], r[9], r[10])

    def subject(self, name: str, kind: str = "person") -> Subject:
        self.db.execute(
            "INSERT OR IGNORE INTO subjects (name, kind) VALUES (?, ?)", [name, kind]
        )
        row = self._rows("SELECT id, name, kind FROM subjects WHERE name = ?", [name])[0]
        return Subject(*row)

    def subjects(self) -> list[Subject]:
        return [Subject(*r) for r in self._rows(
            "SELECT s.id, s.name, s.kind, (SELECT count(*) FROM detections WHERE subject_id = s.id) "
            "+ (SELECT count(*) FROM faces WHERE subject_id = s.id) FROM subjects s ORDER BY s.name"
        )]

    def name_detection(self, detection_id: int, subject_id: int | None) -> None:
        photo_id = self._one("SELECT photo_id FROM detections WHERE id = ?", [detection_id])
        self.db.execute(
            "UPDATE detections SET subject_id = ? WHERE id = ?", [subject_id, detection_id]
        )
        if photo_id is not None:
            self._refresh_fts(photo_id)

    def reject_suggestion(self, detection_id: int, subject_id: int) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO rejected_suggestions (detection_id, subject_id) VALUES (?, ?)",
            [detection_id, subject_id],
        )

    def rejected_suggestions(self, detection_ids: Iterable[int]) -> set[tuple[int, int]]:
        ids = list(detection_ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {(r[0], r[1]) for r in self._rows(
            f"SELECT detection_id, subject_id FROM rejected_suggestions "
            f"WHERE detection_id IN ({marks})", ids
        )}

    def box_vectors(self, detection_ids: Iterable[int]) -> list[tuple[int, str, np.ndarray]]:
        """(detection_id, model, vector) for these boxes' region embeddings."""
        ids = list(detection_ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return [(r[0], r[1], np.frombuffer(r[2], np.float32)) for r in self._rows(
            f"SELECT detection_id, model, vector FROM embeddings WHERE detection_id IN ({marks})",
            ids,
        )]

    def named_box_vectors(self, model: str) -> list[tuple[int, int, np.ndarray]]:
        """(detection_id, subject_id, vector) for every named box embedded by `model`."""
        return [(r[0], r[1], np.frombuffer(r[2], np.float32)) for r in self._rows(
            "SELECT d.id, d.subject_id, e.vector FROM detections d "
            "JOIN embeddings e ON e.detection_id = d.id "
            "WHERE d.subject_id IS NOT NULL AND e.model = ?", [model]
        )]

    def browse_ids(self, root_id: int | None = None) -> list[int]:
        """Every present photo (of one folder), newest first: the grid's order."""
        # For the whole library a scan and sort beats walking an index with a table
        # lookup per row (3x at 100,000 photos); one folder uses its index.
        source, where, params = (("photos", "AND root_id = ? ", [root_id]) if root_id is not None
                                 else ("photos NOT INDEXED", "", []))
        return [r[0] for r in self._rows(
            f"SELECT id FROM {source} WHERE state != 'missing' {where}"
            "ORDER BY coalesce(taken_at, '') DESC, id DESC", params
        )]

    # -- embeddings ----------------------------------------------------------

    def replace_embeddings(self, photo_id: int, model: str,
                           vectors: Iterable[tuple[int | None, np.ndarray]]) -> None:
        """(detection_id or None for the whole photo, vector) pairs for one photo."""
        self.db.execute(
            "DELETE FROM embeddings WHERE photo_id = ? AND model = ?", [photo_id, model]
        )
        self.db.conn.executemany(
            "INSERT INTO embeddings (photo_id, detection_id, model, vector) VALUES (?, ?, ?, ?)",
            [(photo_id, det, model, np.asarray(v, dtype=np.float32).tobytes()) for det, v in vectors],
        )

    def embeddings(self, model: str, regions: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(photo_ids, detection_ids or -1, matrix) for every present photo's vectors."""
        where = "e.detection_id IS NOT NULL" if regions else "e.detection_id IS NULL"
        rows = self._rows(
            f"SELECT e.photo_id, coalesce(e.detection_id, -1), e.vector FROM embeddings e "
            f"JOIN photos p ON p.id = e.photo_id WHERE e.model = ? AND {where} "
            f"AND p.state != 'missing' ORDER BY e.id",
            [model],
        )
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 0), np.float32)
        ids = np.array([r[0] for r in rows], np.int64)
        dets = np.array([r[1] for r in rows], np.int64)
        matrix = np.stack([np.frombuffer(r[2], np.float32) for r in rows])
        return ids, dets, matrix

    def replace_region_embeddings(self, photo_id: int, model: str,
                                  vectors: Iterable[tuple[int, np.ndarray]]) -> None:
        """(detection_id, vector) pairs for one photo's boxes; its whole-photo vector stays."""
        self.db.execute(
            "DELETE FROM embeddings WHERE photo_id = ? AND model = ? AND detection_id IS NOT NULL",
            [photo_id, model],
        )
        self.db.conn.executemany(
            "INSERT INTO embeddings (photo_id, detection_id, model, vector) VALUES (?, ?, ?, ?)",
            [(photo_id, det, model, np.asarray(v, dtype=np.float32).tobytes()) for det, v in vectors],
        )

    def embedding_of(self, photo_id: int, model: str) -> np.ndarray | None:
        blob = self._one(
            "SELECT vector FROM embeddings WHERE photo_id = ? AND model = ? AND detection_id IS NULL",
            [photo_id, model],
        )
        return None if blob is None else np.frombuffer(blob, np.float32)

    def embedding_models(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT DISTINCT model FROM embeddings")]

    # -- full-text index -----------------------------------------------------

    def _refresh_fts(self, photo_id: int) -> None:
        row = self._rows(
            "SELECT r.path, p.rel_path, "
            " (SELECT group_concat(tag, ' ') FROM tags WHERE photo_id = p.id AND source != 'rejected'), "
            " (SELECT group_concat(s.name, ' ') FROM subjects s WHERE s.id IN "
            "  (SELECT subject_id FROM detections WHERE photo_id = p.id "
            "   UNION SELECT subject_id FROM faces WHERE photo_id = p.id)) "
            "FROM photos p JOIN roots r ON r.id = p.root_id WHERE p.id = ?",
            [photo_id],
        )
        self.db.execute("DELETE FROM photos_fts WHERE rowid = ?", [photo_id])
        if row:
            root, rel, tags, names = row[0]
            # Path words: folder and file names, with separators as spaces.
            words = os.path.splitext(rel)[0].replace(os.sep, " ").replace("_", " ").replace("-", " ")
            self.db.execute(
                "INSERT INTO photos_fts (rowid, path, tags, names) VALUES (?, ?, ?, ?)",
                [photo_id, f"{os.path.basename(root)} {words}", tags or "", names or ""],
            )

    def integrity_ok(self) -> bool:
        return self._one("PRAGMA integrity_check") == "ok"
