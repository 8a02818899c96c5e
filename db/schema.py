"""The schema as a ladder of named migrations, recorded in the database.

Each migration runs in one transaction together with its record, after the file has
been backed up. PRAGMA user_version mirrors the number applied, so a database written
by a newer photoorg (more migrations than we know) is refused instead of damaged.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable

from sqlite_utils import Database
from ..errors import UserError


class DatabaseTooNew(UserError):
    """The file has more migrations than this photoorg knows; it is left untouched."""


def _run(db: Database, script: str) -> None:
    # sqlite3's executescript() commits first, which would break the migration's
    # transaction, so statements run one by one.
    for statement in script.split(";\n"):
        if statement.strip():
            db.execute(statement)


def _initial(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE roots (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            online INTEGER NOT NULL DEFAULT 1,
            offline_reason TEXT,
            added_at REAL NOT NULL,
            last_scan REAL
        );
        CREATE TABLE photos (
            id INTEGER PRIMARY KEY,
            root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
            rel_path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            hash TEXT,
            width INTEGER,
            height INTEGER,
            taken_at TEXT,
            camera_make TEXT,
            camera_model TEXT,
            lat REAL,
            lon REAL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'indexed', 'error', 'missing')),
            error TEXT,
            added_at REAL NOT NULL,
            UNIQUE (root_id, rel_path)
        );
        CREATE INDEX photos_state ON photos(state);
        CREATE INDEX photos_hash ON photos(hash);
        CREATE INDEX photos_taken_at ON photos(taken_at);
        CREATE TABLE subjects (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            kind TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'pet'))
        );
        CREATE TABLE tags (
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            tag TEXT NOT NULL COLLATE NOCASE,
            score REAL NOT NULL DEFAULT 1.0,
            source TEXT NOT NULL CHECK (source IN ('auto', 'user', 'rejected')),
            model TEXT,
            PRIMARY KEY (photo_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX tags_by_tag ON tags(tag, source, photo_id);
        CREATE TABLE detections (
            id INTEGER PRIMARY KEY,
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            label TEXT NOT NULL,
            score REAL NOT NULL,
            x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
            model TEXT NOT NULL,
            subject_id INTEGER REFERENCES subjects(id) ON DELETE SET NULL
        );
        CREATE INDEX detections_photo ON detections(photo_id);
        CREATE INDEX detections_label ON detections(label);
        CREATE INDEX detections_subject ON detections(subject_id);
        CREATE TABLE embeddings (
            id INTEGER PRIMARY KEY,
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            detection_id INTEGER REFERENCES detections(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            vector BLOB NOT NULL
        );
        CREATE INDEX embeddings_photo ON embeddings(photo_id, model);
        CREATE INDEX embeddings_detection ON embeddings(detection_id);
        -- Which model last ran each stage on each photo: a model change re-indexes
        -- exactly the photos whose stage ran with another model.
        CREATE TABLE processed (
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            stage TEXT NOT NULL,
            model TEXT NOT NULL,
            PRIMARY KEY (photo_id, stage)
        ) WITHOUT ROWID;
        CREATE TABLE vocabulary (
            word TEXT PRIMARY KEY COLLATE NOCASE,
            added_at REAL NOT NULL
        );
        CREATE TABLE scan_problems (
            root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            reason TEXT NOT NULL
        );
        CREATE VIRTUAL TABLE photos_fts USING fts5(
            path, tags, names,
            tokenize = 'unicode61 remove_diacritics 2',
            prefix = '2 3'
        )
        """
    )


def _rejected_suggestions(db: Database) -> None:
    # "This box is not Ana": remembered so the viewer does not offer it again.
    db.execute(
        "CREATE TABLE rejected_suggestions ("
        " detection_id INTEGER NOT NULL REFERENCES detections(id) ON DELETE CASCADE,"
        " subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,"
        " PRIMARY KEY (detection_id, subject_id)) WITHOUT ROWID"
    )


def _search(db: Database) -> None:
    # Indexes the search needs at a million photos: tags ranked by score within a tag
    # (an exact tag query reads only its first page), photos by recency (an empty or
    # filter-only query reads only its first page), and a per-photo change log that the
    # vector index files next to the database replay to stay in step. The log holds one
    # row per photo (the latest change), so it never grows past the library.
    db.execute("CREATE INDEX tags_by_tag_score ON tags(tag, score DESC, source)")
    db.execute("CREATE INDEX photos_recent ON photos(coalesce(taken_at, ''), id)")
    db.execute(
        "CREATE TABLE embedding_changes (photo_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)"
    )
    db.execute("CREATE INDEX embedding_changes_seq ON embedding_changes(seq)")
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        # Trigger bodies contain ';', so they are executed whole, not through _run.
        db.execute(
            f"CREATE TRIGGER embeddings_log_{event.lower()} AFTER {event} ON embeddings BEGIN "
            f"INSERT INTO embedding_changes (photo_id, seq) VALUES ({row}.photo_id, "
            f"(SELECT coalesce(max(seq), 0) + 1 FROM embedding_changes)) "
            f"ON CONFLICT (photo_id) DO UPDATE SET seq = excluded.seq; END"
        )


def _detector_thresholds(db: Database) -> None:
    # has: now reads label tags, which the detector writes under its calibrated tag cuts.
    # A library indexed before holds its people as count tags ("1 person", "3 people")
    # only: give those photos the "person" tag too, so has:person keeps finding them.
    db.execute(
        "INSERT OR IGNORE INTO tags (photo_id, tag, score, source, model) "
        "SELECT photo_id, 'person', max(score), 'auto', model FROM tags "
        "WHERE source = 'auto' AND (tag = '1 person' OR tag GLOB '[0-9]* people') "
        "GROUP BY photo_id"
    )


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("0001_initial", _initial),
    ("0002_rejected_suggestions", _rejected_suggestions),
    ("0003_search", _search),
    ("0009_detector_thresholds", _detector_thresholds),
]


def _backup(conn: sqlite3.Connection, path: Path, version: int) -> None:
    target = path.with_name(f"{path.name}.before-v{version + 1}.bak")
    with sqlite3.connect(target) as dest:
        conn.backup(dest)
    dest.close()


def migrate(db: Database, path: Path | None) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise DatabaseTooNew(
            f"This library was written by a newer photoorg (schema {version}, this "
            f"version knows {len(MIGRATIONS)}); upgrade photoorg to open it."
        )
    if version == len(MIGRATIONS):
        return
    if version > 0 and path is not None:
        _backup(db.conn, path, version)
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    for number, (name, apply) in enumerate(MIGRATIONS[version:], start=version + 1):
        with db.atomic():
            apply(db)
            db.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", [name, time.time()]
            )
            db.execute(f"PRAGMA user_version = {number}")
