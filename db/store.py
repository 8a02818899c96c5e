"""The one place that speaks SQL. Plain rows in, dataclasses out; rows are read by
column name (sqlite3.Row), so a new column cannot shift the others. The full-text index
follows photos, tags and names by itself (triggers, migration 0005_fts_triggers).

The Store speaks to its plain sqlite3 connection (autocommit, so sqlite-utils' execute
adds nothing to it); sqlite-utils (`db`, for savepoints and the other db modules) and
numpy (vectors) are imported when first used. Opening a current library and reading the
grid's first page then costs no import beyond sqlite3: sqlite-utils pulls in numpy,
dateutil, click and pluggy: 0.23 of the 0.68 s the window took to import (-X importtime)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from ..errors import UserError
from .rows import (
    PHOTO_STATES,
    Photo,
    PhotoMeta,
    Root,
    ScanProblem,
    StoredDetection,
    Subject,
    Tag,
)
from .schema import DatabaseTooNew, migrate

if TYPE_CHECKING:
    import numpy as np
    from sqlite_utils import Database


def _jsonable(row: dict) -> dict:
    return {
        k: {"base64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v for k, v in row.items()
    }


def _from_json(value):
    return base64.b64decode(value["base64"]) if isinstance(value, dict) else value


class NotALibrary(UserError):
    """The library file exists but is not an SQLite database."""


class LibraryFull(UserError):
    """SQLite could not grow the library: the statement (and its transaction) was
    rolled back, so nothing is half-written."""

    def __init__(self, path: Path):
        super().__init__(
            f"The disk holding the library is full ({path.parent}); free some "
            "space and run the command again. Nothing was half-written."
        )


_SQLITE_FULL = 13


def _is_full(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorcode", None) == _SQLITE_FULL or "disk is full" in str(error)


class LibraryReadOnly(UserError):
    """A change asked of a library that can only be read."""

    def __init__(self, path: Path):
        super().__init__(
            f"The library {path.parent} is read-only here (its folder or drive "
            "cannot be written); it can be read (status, search), not changed."
        )


_SQLITE_READONLY = 8
_SQLITE_IOERR = 10


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 64 * 1024  # less than a few SQLite pages
    except OSError:
        return False


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    if not read_only:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30, factory=_Connection)
    else:
        # mode=ro still needs to create the -shm file of a WAL database; where even
        # that is impossible, immutable=1 reads the file as it is.
        uri = path.absolute().as_uri()
        conn = sqlite3.connect(
            f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=30, factory=_Connection
        )
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except (sqlite3.OperationalError, LibraryReadOnly):  # SQLITE_READONLY_CANTINIT
            conn.close()
            conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, factory=_Connection)
    conn.library = path
    return conn


class _Connection(sqlite3.Connection):
    """Says "the disk is full" as a sentence wherever a write hits it (a COMMIT, an
    INSERT, a checkpoint), instead of an OperationalError traceback."""

    library: Path = Path("library.db")
    disk_full = False  # opened for reading because the disk was full: a write says so

    def execute(self, *args, **kwargs):
        try:
            return super().execute(*args, **kwargs)
        except sqlite3.Error as e:
            translated = _translated(e, self.library, self.disk_full)
            if translated is None:
                raise
            raise translated from e

    def executemany(self, *args, **kwargs):
        try:
            return super().executemany(*args, **kwargs)
        except sqlite3.Error as e:
            translated = _translated(e, self.library, self.disk_full)
            if translated is None:
                raise
            raise translated from e


def _translated(error: sqlite3.Error, library: Path, disk_full: bool = False) -> UserError | None:
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
    # A full disk shows as SQLITE_FULL, or as an I/O error when the WAL cannot grow.
    if _is_full(error) or (code == _SQLITE_IOERR and _disk_full(library.parent)):
        return LibraryFull(library)
    if code == _SQLITE_READONLY:
        return LibraryFull(library) if disk_full else LibraryReadOnly(library)
    return None


@dataclass(frozen=True)
class KnownFile:
    """What the store remembers of a file, for the scan's change test."""

    id: int
    size: int
    mtime_ns: int
    state: str
    hash: str | None


def _known_file(row: sqlite3.Row) -> KnownFile:
    return KnownFile(row["id"], row["size"], row["mtime_ns"], row["state"], row["hash"])


_PHOTO_COLUMNS = (
    "p.id, p.root_id, p.rel_path, r.path AS root_path, p.size, p.mtime_ns, p.hash, p.width, "
    "p.height, p.taken_at, p.camera_make, p.camera_model, p.lat, p.lon, p.state, p.error"
)
_DETECTION_COLUMNS = (
    "d.id, d.photo_id, d.label, d.score, d.x0, d.y0, d.x1, d.y1, d.model, d.subject_id, "
    "s.name AS subject_name FROM detections d LEFT JOIN subjects s ON s.id = d.subject_id"
)


def _photo(row: sqlite3.Row) -> Photo:
    fields = {k: row[k] for k in row.keys() if k != "root_path"}
    return Photo(**fields, path=os.path.join(row["root_path"], row["rel_path"]))


def _detection(row: sqlite3.Row) -> StoredDetection:
    box = (row["x0"], row["y0"], row["x1"], row["y1"])
    return StoredDetection(**{k: row[k] for k in row.keys() if k not in ("x0", "y0", "x1", "y1")}, box=box)


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
        # A library on read-only media (a DVD, a read-only mount, another user's
        # folder) can still be read: status and search work, changes are refused.
        self.read_only = self.path.exists() and not (
            os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)
        )
        try:
            try:
                conn = _connect(self.path, self.read_only)
                foreign = _foreign_tables(conn)
            except LibraryFull:
                if not self.path.exists():
                    raise
                # A disk too full even for the WAL's index file: the library can still
                # be read (status, search); a change says the disk is full.
                self.read_only = True
                conn = _connect(self.path, True)
                conn.disk_full = True
                foreign = _foreign_tables(conn)
            if not foreign and not self.read_only:
                conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as e:  # the file is fine as far as we know
            if _disk_full(self.path.parent):
                raise LibraryFull(self.path) from None
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
        conn.execute("PRAGMA recursive_triggers = ON")  # as sqlite-utils sets it on a connection
        if not self.read_only:
            conn.execute("PRAGMA synchronous = NORMAL")
        self.conn = conn
        try:
            migrate(conn, None if self.read_only else self.path)
        except (DatabaseTooNew, LibraryReadOnly):
            conn.close()
            raise
        except sqlite3.OperationalError as e:
            conn.close()
            if self.read_only:
                raise LibraryReadOnly(self.path) from None
            raise NotALibrary(f"Cannot open the library {self.path} ({e}).") from None

    @cached_property
    def db(self) -> Database:
        """sqlite-utils over the same connection, made when first asked for: its import
        (numpy, dateutil, click: 0.23-0.28 s) is not paid by a window that only reads.
        The Store's own statements run on `conn` (autocommit, so the two are the same)."""
        from sqlite_utils import Database

        return Database(self.conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One batch, all or nothing; nests as a savepoint. The outermost one takes the
        write lock first (BEGIN IMMEDIATE, waiting up to the busy timeout for another
        writer): a batch that reads, then writes, would otherwise fail at once with
        "database is locked" when another connection committed in between (the People
        view grouping new faces while the indexer did the same)."""
        if self.read_only or self.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def _rows(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        cursor = self.conn.execute(sql, list(params))
        cursor.row_factory = sqlite3.Row  # by name here; other readers keep plain tuples
        return cursor.fetchall()

    def _column(self, sql: str, params: Iterable = ()) -> list:
        """The one column a query selects (ids): no row objects, half the time of
        _rows for the grid's 100,000 ids."""
        return [value for (value,) in self.conn.execute(sql, list(params))]

    def _one(self, sql: str, params: Iterable = ()):
        row = self.conn.execute(sql, list(params)).fetchone()
        return row[0] if row else None

    # -- roots -------------------------------------------------------------

    def add_root(self, path: str) -> Root:
        self.conn.execute("INSERT OR IGNORE INTO roots (path, added_at) VALUES (?, ?)", [path, time.time()])
        return self.root_by_path(path)

    def roots(self) -> list[Root]:
        rows = self._rows(
            "SELECT id, path, online, last_scan, offline_reason, device FROM roots ORDER BY path"
        )
        return [Root(**{**r, "online": bool(r["online"])}) for r in map(dict, rows)]

    def root_by_path(self, path: str) -> Root | None:
        return next((r for r in self.roots() if r.path == path), None)

    def root(self, root_id: int) -> Root:
        return next(r for r in self.roots() if r.id == root_id)

    def remove_root(self, root_id: int) -> None:
        # Cascades to the photos' rows only; files on disk are never touched.
        self.conn.execute("DELETE FROM roots WHERE id = ?", [root_id])

    def set_root_online(
        self, root_id: int, online: bool, reason: str | None = None, device: int | None = None
    ) -> None:
        """Online or offline; an online root's device is remembered as evidence."""
        self.conn.execute(
            "UPDATE roots SET online = ?, offline_reason = ?, device = coalesce(?, device) WHERE id = ?",
            [int(online), None if online else reason, device if online else None, root_id],
        )

    def replace_unconfirmed(self, root_id: int, photo_ids: Iterable[int]) -> None:
        """The photos a scan found gone in bulk (not marked missing) for one root."""
        with self.transaction():
            self.conn.execute("DELETE FROM unconfirmed_missing WHERE root_id = ?", [root_id])
            self.conn.executemany(
                "INSERT INTO unconfirmed_missing (photo_id, root_id, noted_at) VALUES (?, ?, ?)",
                [(i, root_id, time.time()) for i in photo_ids],
            )

    def unconfirmed_counts(self) -> dict[int, int]:
        """root id -> photos gone in bulk, waiting for the user's word."""
        return dict(self._rows("SELECT root_id, count(*) FROM unconfirmed_missing GROUP BY root_id"))

    def mark_root_scanned(self, root_id: int) -> None:
        self.conn.execute("UPDATE roots SET last_scan = ? WHERE id = ?", [time.time(), root_id])

    def replace_scan_problems(self, root_id: int, problems: list[ScanProblem]) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM scan_problems WHERE root_id = ?", [root_id])
            self.conn.executemany(
                "INSERT INTO scan_problems (root_id, path, reason) VALUES (?, ?, ?)",
                [(p.root_id, p.path, p.reason) for p in problems],
            )

    def scan_problems(self) -> list[ScanProblem]:
        return [ScanProblem(**r) for r in self._rows("SELECT root_id, path, reason FROM scan_problems")]

    # -- photos: what the scanner needs ------------------------------------

    def known_files(self, root_id: int) -> dict[str, KnownFile]:
        rows = self._rows(
            "SELECT rel_path, id, size, mtime_ns, state, hash FROM photos WHERE root_id = ?",
            [root_id],
        )
        return {r["rel_path"]: _known_file(r) for r in rows}

    def count_present(self, root_id: int) -> int:
        return self._one("SELECT count(*) FROM photos WHERE root_id = ? AND state != 'missing'", [root_id])

    def add_photo(self, root_id: int, rel_path: str, size: int, mtime_ns: int, hash: str) -> int:
        cur = self.conn.execute(
            "INSERT INTO photos (root_id, rel_path, size, mtime_ns, hash, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [root_id, rel_path, size, mtime_ns, hash, time.time()],
        )
        return cur.lastrowid

    def mark_changed(self, photo_id: int, size: int, mtime_ns: int, hash: str) -> None:
        """New content: every automatic result of the old content is void (user tags and
        named boxes stay), so the indexer runs all its stages again."""
        with self.transaction():
            self.conn.execute(
                "UPDATE photos SET size = ?, mtime_ns = ?, hash = ?, state = 'pending', error = NULL "
                "WHERE id = ?",
                [size, mtime_ns, hash, photo_id],
            )
            self.conn.execute("DELETE FROM processed WHERE photo_id = ?", [photo_id])
            self.conn.execute("DELETE FROM tags WHERE photo_id = ? AND source = 'auto'", [photo_id])
            self.conn.execute("DELETE FROM embeddings WHERE photo_id = ?", [photo_id])
            self.conn.execute("DELETE FROM detections WHERE photo_id = ? AND subject_id IS NULL", [photo_id])

    def move_photo(self, photo_id: int, root_id: int, rel_path: str, size: int, mtime_ns: int) -> None:
        """Same content at a new path: the row, its tags, names and embeddings stay."""
        self.conn.execute(
            "UPDATE photos SET root_id = ?, rel_path = ?, size = ?, mtime_ns = ?, "
            "state = CASE WHEN state = 'missing' THEN "
            "  CASE WHEN EXISTS (SELECT 1 FROM processed WHERE photo_id = photos.id) "
            "  THEN 'indexed' ELSE 'pending' END ELSE state END "
            "WHERE id = ?",
            [root_id, rel_path, size, mtime_ns, photo_id],
        )

    def movable_by_hash(
        self, hash: str, exclude_root_paths: set[tuple[int, str]] = frozenset()
    ) -> int | None:
        """A missing photo with this content, which a new file may be the moved copy of."""
        for row in self._rows(
            "SELECT id, root_id, rel_path FROM photos WHERE hash = ? AND state = 'missing' ORDER BY id",
            [hash],
        ):
            if (row["root_id"], row["rel_path"]) not in exclude_root_paths:
                return row["id"]
        return None

    def file_at(self, root_id: int, rel_path: str) -> KnownFile | None:
        rows = self._rows(
            "SELECT id, size, mtime_ns, state, hash FROM photos WHERE root_id = ? AND rel_path = ?",
            [root_id, rel_path],
        )
        return KnownFile(**rows[0]) if rows else None

    def files_under(self, root_id: int, folder: str) -> dict[str, KnownFile]:
        """Rows whose rel_path lies inside `folder` (relative to the root)."""
        prefix = folder.rstrip(os.sep) + os.sep
        rows = self._rows(
            "SELECT rel_path, id, size, mtime_ns, state, hash FROM photos "
            "WHERE root_id = ? AND substr(rel_path, 1, ?) = ?",
            [root_id, len(prefix), prefix],
        )
        return {r["rel_path"]: _known_file(r) for r in rows}

    def requeue_errors(self, root_id: int) -> int:
        """A root back online: photos that failed while it vanished get another try."""
        return self.conn.execute(
            "UPDATE photos SET state = 'pending', error = NULL WHERE root_id = ? AND state = 'error'",
            [root_id],
        ).rowcount

    def mark_missing(self, photo_ids: Iterable[int]) -> None:
        self.conn.executemany("UPDATE photos SET state = 'missing' WHERE id = ?", [(i,) for i in photo_ids])

    def purge(self, photo_ids: Iterable[int]) -> int:
        """Delete these missing photos' rows, every row that hangs on them kept in the
        purge journal first (one purge number for the lot): `restore_purge` undoes it."""
        ids = list(photo_ids)
        with self.transaction():
            purge = (self._one("SELECT max(purge) FROM purge_journal") or 0) + 1
            now = time.time()
            removed = 0
            for photo_id in ids:
                if self._one("SELECT state FROM photos WHERE id = ?", [photo_id]) != "missing":
                    continue  # came back since it was listed: not purged
                self.conn.execute(
                    "INSERT INTO purge_journal (purge, purged_at, photo_id, rows) VALUES (?, ?, ?, ?)",
                    [purge, now, photo_id, json.dumps(self._rows_hanging_on("photos", [photo_id]))],
                )
                removed += self.conn.execute("DELETE FROM photos WHERE id = ?", [photo_id]).rowcount
        return removed

    def last_purge(self) -> tuple[int, int] | None:
        """(purge number, photos in it) of the latest purge still in the journal."""
        rows = self._rows(
            "SELECT purge, count(*) FROM purge_journal GROUP BY purge ORDER BY purge DESC LIMIT 1"
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def restore_purge(self, purge: int) -> list[int]:
        """Put back every row a purge removed (the photos come back as missing, with
        their tags, names, boxes and embeddings); the journal entry is then dropped."""
        restored = []
        with self.transaction():
            # Parents and children are inserted table by table; the keys are checked
            # once all are back.
            self.conn.execute("PRAGMA defer_foreign_keys = ON")
            for photo_id, rows in self._rows(
                "SELECT photo_id, rows FROM purge_journal WHERE purge = ? ORDER BY id", [purge]
            ):
                if self._one("SELECT 1 FROM photos WHERE id = ?", [photo_id]):
                    continue  # a new photo took its id meanwhile: left in the journal
                for table, table_rows in json.loads(rows).items():
                    for row in table_rows:
                        self._insert_row(table, row)
                restored.append(photo_id)
            self.conn.executemany(
                "DELETE FROM purge_journal WHERE purge = ? AND photo_id = ?", [(purge, i) for i in restored]
            )
        return restored

    def _rows_hanging_on(self, table: str, ids: list[int]) -> dict[str, list[dict]]:
        """The rows of `table` with these ids and, recursively, every row whose foreign
        key points at them (tags, boxes, embeddings...: whatever tables exist now)."""
        found: dict[str, list[dict]] = {}
        todo = [(table, "id", ids)]
        while todo:
            name, column, keys = todo.pop()
            if not keys:
                continue
            marks = ",".join("?" * len(keys))
            cursor = self.conn.execute(f"SELECT * FROM [{name}] WHERE [{column}] IN ({marks})", keys)
            columns = [d[0] for d in cursor.description]
            rows = [dict(zip(columns, r)) for r in cursor.fetchall()]
            known = found.setdefault(name, [])
            rows = [r for r in rows if _jsonable(r) not in map(_jsonable, known)]
            known.extend(rows)
            ids_here = [r["id"] for r in rows if "id" in r]
            for child, child_column in self._children(name):
                todo.append((child, child_column, ids_here))
        return {name: [_jsonable(r) for r in rows] for name, rows in found.items() if rows}

    def _children(self, parent: str) -> list[tuple[str, str]]:
        """(table, column) pairs whose foreign key references parent(id), FTS excluded."""
        tables = [
            r[0]
            for r in self._rows(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
            )
        ]
        return [
            (t, fk[3])
            for t in tables
            for fk in self.conn.execute(f"PRAGMA foreign_key_list([{t}])").fetchall()
            if fk[2] == parent and fk[4] == "id"
        ]

    def _insert_row(self, table: str, row: dict) -> None:
        values = {k: _from_json(v) for k, v in row.items()}
        if values.get("subject_id") is not None and not self._one(
            "SELECT 1 FROM subjects WHERE id = ?", [values["subject_id"]]
        ):
            values["subject_id"] = None  # the name was deleted since: the box stays unnamed
        columns = ", ".join(f"[{k}]" for k in values)
        self.conn.execute(
            f"INSERT OR IGNORE INTO [{table}] ({columns}) VALUES ({','.join('?' * len(values))})",
            list(values.values()),
        )

    # -- photos: what the indexer needs ------------------------------------

    def pending(self, limit: int | None = None, after_id: int = 0) -> list[Photo]:
        return self.photos_where(
            "p.state = 'pending' AND r.online = 1 AND p.id > ? ORDER BY p.id"
            + (f" LIMIT {int(limit)}" if limit else ""),
            [after_id],
        )

    def set_meta(self, photo_id: int, meta: PhotoMeta) -> None:
        self.conn.execute(
            "UPDATE photos SET width = ?, height = ?, taken_at = ?, camera_make = ?, "
            "camera_model = ?, lat = ?, lon = ? WHERE id = ?",
            [
                meta.width,
                meta.height,
                meta.taken_at,
                meta.camera_make,
                meta.camera_model,
                meta.lat,
                meta.lon,
                photo_id,
            ],
        )

    def set_state(self, photo_id: int, state: str, error: str | None = None) -> None:
        assert state in PHOTO_STATES
        self.conn.execute("UPDATE photos SET state = ?, error = ? WHERE id = ?", [state, error, photo_id])

    def set_processed(self, photo_id: int, stage: str, model: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO processed (photo_id, stage, model) VALUES (?, ?, ?)",
            [photo_id, stage, model],
        )

    def requeue_stale(self, stage: str, model: str) -> int:
        """Photos whose `stage` ran with another model (or never ran) go back to pending."""
        return self.conn.execute(
            "UPDATE photos SET state = 'pending' WHERE state = 'indexed' AND NOT EXISTS "
            "(SELECT 1 FROM processed WHERE photo_id = photos.id AND stage = ? AND model = ?)",
            [stage, model],
        ).rowcount

    def requeue_changed(self, stage: str, model: str) -> int:
        """Photos whose `stage` ran with another model go back to pending (a model
        change; a stage that never ran is the passes' own work, requeue_stale)."""
        return self.conn.execute(
            "UPDATE photos SET state = 'pending' WHERE state = 'indexed' AND EXISTS "
            "(SELECT 1 FROM processed WHERE photo_id = photos.id AND stage = ? AND model != ?)",
            [stage, model],
        ).rowcount

    def processed_of(self, photo_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        """photo id -> {stage: model} for a batch of photos."""
        ids = list(photo_ids)
        found: dict[int, dict[str, str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._rows(
                f"SELECT photo_id, stage, model FROM processed WHERE photo_id IN ({marks})", chunk
            ):
                found.setdefault(r["photo_id"], {})[r["stage"]] = r["model"]
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
            if path != root.path and PurePath(path).is_relative_to(root.path):
                rel = str(PurePath(path).relative_to(root.path))
                found = self.photos_where("p.root_id = ? AND p.rel_path = ?", [root.id, rel])
                return found[0] if found else None
        return None

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(PHOTO_STATES, 0)
        counts.update(
            (r["state"], r["n"]) for r in self._rows("SELECT state, count(*) AS n FROM photos GROUP BY state")
        )
        return counts

    def counts_by_root(self) -> dict[int, dict[str, int]]:
        result: dict[int, dict[str, int]] = {}
        for r in self._rows("SELECT root_id, state, count(*) AS n FROM photos GROUP BY root_id, state"):
            result.setdefault(r["root_id"], dict.fromkeys(PHOTO_STATES, 0))[r["state"]] = r["n"]
        return result

    def errors(self) -> list[Photo]:
        return self.photos_where("p.state = 'error' ORDER BY r.path, p.rel_path")

    def missing(self) -> list[Photo]:
        return self.photos_where("p.state = 'missing' ORDER BY r.path, p.rel_path")

    # -- tags ----------------------------------------------------------------

    def tags_of(self, photo_id: int, include_rejected: bool = False) -> list[Tag]:
        where = "" if include_rejected else " AND source != 'rejected'"
        return [
            Tag(**r)
            for r in self._rows(
                f"SELECT tag, score, source, model FROM tags WHERE photo_id = ?{where} "
                "ORDER BY source = 'auto', score DESC, tag",
                [photo_id],
            )
        ]

    def add_user_tag(self, photo_id: int, tag: str) -> None:
        self.conn.execute(
            "INSERT INTO tags (photo_id, tag, score, source, model) VALUES (?, ?, 1.0, 'user', NULL) "
            "ON CONFLICT (photo_id, tag) DO UPDATE SET source = 'user', score = 1.0, model = NULL",
            [photo_id, tag],
        )

    def remove_tag(self, photo_id: int, tag: str) -> bool:
        """A user tag is deleted; an automatic one is remembered as rejected, so a
        re-index does not bring it back."""
        with self.transaction():
            changed = self.conn.execute(
                "DELETE FROM tags WHERE photo_id = ? AND tag = ? AND source = 'user'", [photo_id, tag]
            ).rowcount
            changed += self.conn.execute(
                "UPDATE tags SET source = 'rejected' WHERE photo_id = ? AND tag = ? AND source = 'auto'",
                [photo_id, tag],
            ).rowcount
        return changed > 0

    def set_auto_tags(self, photo_id: int, rows: Iterable[tuple[str, float, str]]) -> None:
        """All automatic (tag, score, model) rows of a photo at once; user tags and
        rejections stay as they are, and the first row of a tag wins."""
        self.conn.execute("DELETE FROM tags WHERE photo_id = ? AND source = 'auto'", [photo_id])
        self.conn.executemany(
            "INSERT INTO tags (photo_id, tag, score, source, model) VALUES (?, ?, ?, 'auto', ?) "
            "ON CONFLICT (photo_id, tag) DO NOTHING",
            [(photo_id, tag, float(score), model) for tag, score, model in rows],
        )

    def add_auto_tags(self, model: str, rows: Iterable[tuple[int, str, float]]) -> None:
        """Automatic tags for many photos at once (a user-added vocabulary word)."""
        self.conn.executemany(
            "INSERT INTO tags (photo_id, tag, score, source, model) VALUES (?, ?, ?, 'auto', ?) "
            "ON CONFLICT (photo_id, tag) DO NOTHING",
            [(pid, tag, float(score), model) for pid, tag, score in rows],
        )

    def tag_counts(self) -> list[tuple[str, int]]:
        return [
            (r["tag"], r["n"])
            for r in self._rows(
                "SELECT t.tag, count(*) AS n FROM tags t JOIN photos p ON p.id = t.photo_id "
                "WHERE t.source != 'rejected' AND p.state != 'missing' "
                "GROUP BY t.tag COLLATE NOCASE ORDER BY count(*) DESC, t.tag"
            )
        ]

    # -- vocabulary ----------------------------------------------------------

    def add_vocabulary(self, word: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO vocabulary (word, added_at) VALUES (?, ?)", [word, time.time()]
        )

    def vocabulary(self) -> list[str]:
        return [r["word"] for r in self._rows("SELECT word FROM vocabulary ORDER BY added_at")]

    # -- detections, subjects ----------------------------------------------

    def replace_detections(self, photo_id: int, model: str, detections: Iterable) -> list[int]:
        """New automatic boxes. Named boxes are user data and stay."""
        self.conn.execute("DELETE FROM detections WHERE photo_id = ? AND subject_id IS NULL", [photo_id])
        ids = []
        for d in detections:
            x0, y0, x1, y1 = d.box
            cur = self.conn.execute(
                "INSERT INTO detections (photo_id, label, score, x0, y0, x1, y1, model) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [photo_id, d.label, float(d.score), x0, y0, x1, y1, model],
            )
            ids.append(cur.lastrowid)
        return ids

    def detections_of(self, photo_id: int) -> list[StoredDetection]:
        return [
            _detection(r)
            for r in self._rows(
                f"SELECT {_DETECTION_COLUMNS} WHERE d.photo_id = ? ORDER BY d.score DESC", [photo_id]
            )
        ]

    def detection(self, detection_id: int) -> StoredDetection | None:
        rows = self._rows(f"SELECT {_DETECTION_COLUMNS} WHERE d.id = ?", [detection_id])
        return _detection(rows[0]) if rows else None

    def subject(self, name: str, kind: str = "person") -> Subject:
        self.conn.execute("INSERT OR IGNORE INTO subjects (name, kind) VALUES (?, ?)", [name, kind])
        return Subject(**self._rows("SELECT id, name, kind FROM subjects WHERE name = ?", [name])[0])

    def subjects(self) -> list[Subject]:
        return [
            Subject(**r)
            for r in self._rows(
                "SELECT s.id, s.name, s.kind, "
                "(SELECT count(*) FROM detections WHERE subject_id = s.id) "
                "+ (SELECT count(*) FROM faces WHERE subject_id = s.id) AS count "
                "FROM subjects s ORDER BY s.name"
            )
        ]

    def name_detection(self, detection_id: int, subject_id: int | None) -> None:
        self.conn.execute("UPDATE detections SET subject_id = ? WHERE id = ?", [subject_id, detection_id])

    def reject_suggestion(self, detection_id: int, subject_id: int) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO rejected_suggestions (detection_id, subject_id) VALUES (?, ?)",
            [detection_id, subject_id],
        )

    def rejected_suggestions(self, detection_ids: Iterable[int]) -> set[tuple[int, int]]:
        ids = list(detection_ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {
            (r["detection_id"], r["subject_id"])
            for r in self._rows(
                f"SELECT detection_id, subject_id FROM rejected_suggestions WHERE detection_id IN ({marks})",
                ids,
            )
        }

    def box_vectors(self, detection_ids: Iterable[int]) -> list[tuple[int, str, np.ndarray]]:
        """(detection_id, model, vector) for these boxes' region embeddings."""
        import numpy as np  # heavy (0.15 s): only the engine's vector work needs it

        ids = list(detection_ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return [
            (r["detection_id"], r["model"], np.frombuffer(r["vector"], np.float32))
            for r in self._rows(
                f"SELECT detection_id, model, vector FROM embeddings WHERE detection_id IN ({marks})",
                ids,
            )
        ]

    def named_box_vectors(self, model: str) -> list[tuple[int, int, np.ndarray]]:
        """(detection_id, subject_id, vector) for every named box embedded by `model`."""
        import numpy as np

        return [
            (r["id"], r["subject_id"], np.frombuffer(r["vector"], np.float32))
            for r in self._rows(
                "SELECT d.id, d.subject_id, e.vector FROM detections d "
                "JOIN embeddings e ON e.detection_id = d.id "
                "WHERE d.subject_id IS NOT NULL AND e.model = ?",
                [model],
            )
        ]

    def browse_ids(self, root_id: int | None = None, limit: int | None = None) -> list[int]:
        """Every present photo (of one folder), newest first: the grid's order; only
        the first `limit` of them when given (the grid's first screenful)."""
        # For the whole library a scan and sort beats walking an index with a table
        # lookup per row (3x at 100,000 photos); one folder uses its index. The first
        # few hundred come faster by walking photos_recent (5.7 ms against 240-300 ms
        # for all 100,000), which SQLite picks by itself once there is a LIMIT.
        source, where, params = (
            ("photos", "AND root_id = ? ", [root_id])
            if root_id is not None
            else ("photos" if limit else "photos NOT INDEXED", "", [])
        )
        return self._column(
            f"SELECT id FROM {source} WHERE state != 'missing' {where}"
            "ORDER BY coalesce(taken_at, '') DESC, id DESC" + (" LIMIT ?" if limit else ""),
            params + ([limit] if limit else []),
        )

    # -- embeddings ----------------------------------------------------------

    def replace_embeddings(
        self, photo_id: int, model: str, vectors: Iterable[tuple[int | None, np.ndarray]]
    ) -> None:
        """(detection_id or None for the whole photo, vector) pairs for one photo."""
        import numpy as np

        self.conn.execute("DELETE FROM embeddings WHERE photo_id = ? AND model = ?", [photo_id, model])
        self.conn.executemany(
            "INSERT INTO embeddings (photo_id, detection_id, model, vector) VALUES (?, ?, ?, ?)",
            [(photo_id, det, model, np.asarray(v, dtype=np.float32).tobytes()) for det, v in vectors],
        )

    def embeddings(self, model: str, regions: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(photo_ids, detection_ids or -1, matrix) for every present photo's vectors."""
        import numpy as np

        where = "e.detection_id IS NOT NULL" if regions else "e.detection_id IS NULL"
        rows = self._rows(
            f"SELECT e.photo_id, coalesce(e.detection_id, -1) AS detection_id, e.vector FROM embeddings e "
            f"JOIN photos p ON p.id = e.photo_id WHERE e.model = ? AND {where} "
            f"AND p.state != 'missing' ORDER BY e.id",
            [model],
        )
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 0), np.float32)
        ids = np.array([r["photo_id"] for r in rows], np.int64)
        dets = np.array([r["detection_id"] for r in rows], np.int64)
        matrix = np.stack([np.frombuffer(r["vector"], np.float32) for r in rows])
        return ids, dets, matrix

    def replace_region_embeddings(
        self, photo_id: int, model: str, vectors: Iterable[tuple[int, np.ndarray]]
    ) -> None:
        """(detection_id, vector) pairs for one photo's boxes; its whole-photo vector stays."""
        import numpy as np

        self.conn.execute(
            "DELETE FROM embeddings WHERE photo_id = ? AND model = ? AND detection_id IS NOT NULL",
            [photo_id, model],
        )
        self.conn.executemany(
            "INSERT INTO embeddings (photo_id, detection_id, model, vector) VALUES (?, ?, ?, ?)",
            [(photo_id, det, model, np.asarray(v, dtype=np.float32).tobytes()) for det, v in vectors],
        )

    def embedding_of(self, photo_id: int, model: str) -> np.ndarray | None:
        import numpy as np

        blob = self._one(
            "SELECT vector FROM embeddings WHERE photo_id = ? AND model = ? AND detection_id IS NULL",
            [photo_id, model],
        )
        return None if blob is None else np.frombuffer(blob, np.float32)

    def embedding_models(self) -> list[str]:
        """The CLIP models that have embeddings here (duplicate finding compares within one)."""
        return [r["model"] for r in self._rows("SELECT DISTINCT model FROM embeddings")]

    def integrity_ok(self) -> bool:
        return self._one("PRAGMA integrity_check") == "ok"
