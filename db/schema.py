"""The schema as a ladder of named migrations, recorded in the database.

Each migration runs in one transaction together with its record, after the file has
been backed up. PRAGMA user_version mirrors the number applied, so a database written
by a newer photoorg (more migrations than we know) is refused instead of damaged.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:
    from sqlite_utils import Database


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
        """,
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
    db.execute("CREATE TABLE embedding_changes (photo_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)")
    db.execute("CREATE INDEX embedding_changes_seq ON embedding_changes(seq)")
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        # Trigger bodies contain ';', so they are executed whole, not through _run.
        db.execute(
            f"CREATE TRIGGER embeddings_log_{event.lower()} AFTER {event} ON embeddings BEGIN "
            f"INSERT INTO embedding_changes (photo_id, seq) VALUES ({row}.photo_id, "
            f"(SELECT coalesce(max(seq), 0) + 1 FROM embedding_changes)) "
            f"ON CONFLICT (photo_id) DO UPDATE SET seq = excluded.seq; END"
        )


def _root_evidence(db: Database) -> None:
    # Offline by evidence (photoorg/roots.py): the device a root was last seen on.
    # Photos a scan found gone in bulk wait for the user's word instead of going
    # missing, and every purge keeps a journal of the rows it removed, so
    # `purge --undo` can put them back.
    db.execute("ALTER TABLE roots ADD COLUMN device INTEGER")
    db.execute(
        "CREATE TABLE unconfirmed_missing ("
        " photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,"
        " root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,"
        " noted_at REAL NOT NULL)"
    )
    db.execute(
        "CREATE TABLE purge_journal ("
        " id INTEGER PRIMARY KEY,"
        " purge INTEGER NOT NULL,"
        " purged_at REAL NOT NULL,"
        " photo_id INTEGER NOT NULL,"
        " rows TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX purge_journal_purge ON purge_journal(purge)")


def _fts_source(sep: str, named: tuple[str, ...]) -> str:
    """Each photo's full-text row: its root folder's name and its relative path without
    the extension, with separators, '_' and '-' as spaces; its tags (not the rejected
    ones); the names given in the `named` tables (photo_id, subject_id: boxes, faces).
    (os.path.basename and splitext, spelled in SQL so the
    triggers need no Python function: any SQLite client may write to the tables.)"""

    def basename(path: str) -> str:
        return f"substr({path}, length(rtrim({path}, replace({path}, '{sep}', ''))) + 1)"

    # to_dot: the file name up to its last '.'; it has an extension when something
    # other than dots comes before that '.' (".hidden" has none, as for splitext).
    return f"""
        SELECT id, root_name || ' ' || replace(replace(replace(
                   CASE WHEN length(to_dot) > 0
                             AND ltrim(substr(to_dot, 1, length(to_dot) - 1), '.') != ''
                        THEN substr(rel_path, 1, length(rel_path) - length(name) + length(to_dot) - 1)
                        ELSE rel_path END,
                   '{sep}', ' '), '_', ' '), '-', ' ') AS path,
               tags, names
        FROM (SELECT *, rtrim(name, replace(name, '.', '')) AS to_dot FROM (
            SELECT p.id, p.rel_path, {basename("r.path")} AS root_name,
                   {basename("p.rel_path")} AS name,
                   coalesce((SELECT group_concat(t.tag, ' ') FROM tags t
                             WHERE t.photo_id = p.id AND t.source != 'rejected'), '') AS tags,
                   coalesce((SELECT group_concat(s.name, ' ') FROM subjects s WHERE s.id IN (
                             {
        " UNION ".join(f"SELECT subject_id FROM {t} WHERE photo_id = p.id" for t in named)
    })), '') AS names
            FROM photos p JOIN roots r ON r.id = p.root_id))"""


def _fts_refresh(photo_id: str) -> str:
    return (
        f"DELETE FROM photos_fts WHERE rowid = {photo_id}; "
        f"INSERT INTO photos_fts (rowid, path, tags, names) "
        f"SELECT id, path, tags, names FROM photos_fts_source WHERE id = {photo_id};"
    )


def _fts_rename(named: tuple[str, ...]) -> tuple[str, str]:
    """A renamed subject: every photo that carries the name, in any of `named`."""
    photos = " UNION ".join(f"SELECT photo_id FROM {t} WHERE subject_id = NEW.id" for t in named)
    return (
        "AFTER UPDATE OF name ON subjects",
        f"DELETE FROM photos_fts WHERE rowid IN ({photos}); "
        "INSERT INTO photos_fts (rowid, path, tags, names) SELECT id, path, tags, names "
        f"FROM photos_fts_source WHERE id IN ({photos});",
    )


def _fts_triggers(db: Database) -> None:
    # The full-text index follows its sources by itself, as the embedding change log
    # does: nine store methods refreshed it by hand, and a forgotten one left search stale.
    db.execute(f"CREATE VIEW photos_fts_source AS {_fts_source(os.sep, ('detections',))}")
    refresh = _fts_refresh
    triggers = {
        "photos_fts_insert": ("AFTER INSERT ON photos", refresh("NEW.id")),
        "photos_fts_move": ("AFTER UPDATE OF root_id, rel_path ON photos", refresh("NEW.id")),
        "photos_fts_delete": ("AFTER DELETE ON photos", "DELETE FROM photos_fts WHERE rowid = OLD.id;"),
        "tags_fts_insert": ("AFTER INSERT ON tags", refresh("NEW.photo_id")),
        "tags_fts_update": ("AFTER UPDATE ON tags", refresh("NEW.photo_id")),
        "tags_fts_delete": ("AFTER DELETE ON tags", refresh("OLD.photo_id")),
        "detections_fts_insert": (
            "AFTER INSERT ON detections WHEN NEW.subject_id IS NOT NULL",
            refresh("NEW.photo_id"),
        ),
        "detections_fts_name": ("AFTER UPDATE OF subject_id ON detections", refresh("NEW.photo_id")),
        "detections_fts_delete": (
            "AFTER DELETE ON detections WHEN OLD.subject_id IS NOT NULL",
            refresh("OLD.photo_id"),
        ),
        "subjects_fts_rename": _fts_rename(("detections",)),
    }
    for name, (when, body) in triggers.items():
        db.execute(f"CREATE TRIGGER {name} {when} BEGIN {body} END")
    # Rows written by hand before are rebuilt from their sources.
    db.execute("DELETE FROM photos_fts")
    db.execute(
        "INSERT INTO photos_fts (rowid, path, tags, names) "
        "SELECT id, path, tags, names FROM photos_fts_source"
    )


def _faces(db: Database) -> None:
    # Faces (and, for pets, their whole boxes: kind is the species) with their vector,
    # the group they were clustered into, and the name the user gave (named_by 'user')
    # or photoorg gave above its strict threshold ('auto'). Names live on the face rows
    # and on the groups, and both point at the one subjects table that search uses.
    _run(
        db,
        """
        CREATE TABLE face_groups (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            subject_id INTEGER REFERENCES subjects(id) ON DELETE SET NULL,
            created_at REAL NOT NULL
        );
        CREATE TABLE faces (
            id INTEGER PRIMARY KEY,
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            detection_id INTEGER REFERENCES detections(id) ON DELETE SET NULL,
            kind TEXT NOT NULL,
            x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
            score REAL NOT NULL,
            clarity REAL NOT NULL,
            model TEXT NOT NULL,
            vector BLOB NOT NULL,
            group_id INTEGER REFERENCES face_groups(id) ON DELETE SET NULL,
            subject_id INTEGER REFERENCES subjects(id) ON DELETE SET NULL,
            named_by TEXT CHECK (named_by IN ('user', 'auto'))
        );
        CREATE INDEX faces_photo ON faces(photo_id);
        CREATE INDEX faces_group ON faces(group_id);
        CREATE INDEX faces_subject ON faces(subject_id);
        CREATE INDEX faces_model ON faces(model, kind);
        -- "Not this person": two faces never grouped together again.
        CREATE TABLE faces_apart (
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            other_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            PRIMARY KEY (face_id, other_id)
        ) WITHOUT ROWID;
        -- "Not Ana": never named or suggested as this subject again.
        CREATE TABLE face_rejections (
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
            PRIMARY KEY (face_id, subject_id)
        ) WITHOUT ROWID;
        -- What the face stage left out of each photo, so it can be said.
        CREATE TABLE face_scans (
            photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
            found INTEGER NOT NULL,
            too_small INTEGER NOT NULL,
            capped INTEGER NOT NULL
        )
        """,
    )
    # Named faces are names in the full-text index too (`person:Ana`, the word "Ana").
    named = ("detections", "faces")
    db.execute("DROP VIEW photos_fts_source")
    db.execute(f"CREATE VIEW photos_fts_source AS {_fts_source(os.sep, named)}")
    db.execute("DROP TRIGGER subjects_fts_rename")
    triggers = {
        "subjects_fts_rename": _fts_rename(named),
        "faces_fts_insert": (
            "AFTER INSERT ON faces WHEN NEW.subject_id IS NOT NULL",
            _fts_refresh("NEW.photo_id"),
        ),
        "faces_fts_name": ("AFTER UPDATE OF subject_id ON faces", _fts_refresh("NEW.photo_id")),
        "faces_fts_delete": (
            "AFTER DELETE ON faces WHEN OLD.subject_id IS NOT NULL",
            _fts_refresh("OLD.photo_id"),
        ),
    }
    for name, (when, body) in triggers.items():
        db.execute(f"CREATE TRIGGER {name} {when} BEGIN {body} END")


def _organize(db: Database) -> None:
    # Per-photo features for duplicate finding, keyed on the content they were computed
    # from (photos.hash), so an edited photo is recomputed. And the journal of every
    # file operation photoorg made on the user's files (organize, rename, trash): each
    # op is written before the file is touched, so undo can restore even a killed run.
    _run(
        db,
        """
        CREATE TABLE photo_features (
            photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
            content TEXT NOT NULL,
            model TEXT NOT NULL,
            phash INTEGER,
            dhash INTEGER,
            sharpness REAL,
            full_hash TEXT,
            pixel_hash TEXT,
            shot_at TEXT,
            shot_from TEXT
        );
        CREATE INDEX photo_features_full ON photo_features(full_hash);
        CREATE TABLE journal_runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('organize', 'rename', 'trash')),
            description TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL,
            undone_at REAL
        );
        CREATE TABLE journal_ops (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES journal_runs(id) ON DELETE CASCADE,
            op TEXT NOT NULL CHECK (op IN ('root', 'mkdir', 'move', 'copy', 'trash')),
            src TEXT NOT NULL,
            dst TEXT,
            size INTEGER,
            mtime_ns INTEGER,
            photo_id INTEGER,
            src_root_id INTEGER,
            src_rel TEXT,
            dst_root_id INTEGER,
            dst_rel TEXT,
            keeper_id INTEGER,
            state TEXT NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'done', 'undone'))
        );
        CREATE INDEX journal_ops_run ON journal_ops(run_id, id)
        """,
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


def _faces_by_hand(db: Database) -> None:
    # A face the user drew (the finder missed it) is user data like a name: the face
    # stage never replaces or drops it, and it may have no vector (no face model yet).
    db.execute("ALTER TABLE faces ADD COLUMN by_hand INTEGER NOT NULL DEFAULT 0")


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("0001_initial", _initial),
    ("0002_rejected_suggestions", _rejected_suggestions),
    ("0003_search", _search),
    ("0004_root_evidence", _root_evidence),
    ("0005_fts_triggers", _fts_triggers),
    ("0006_faces", _faces),
    ("0007_organize", _organize),
    ("0009_detector_thresholds", _detector_thresholds),
    ("0010_faces_by_hand", _faces_by_hand),
]


def _backup(conn: sqlite3.Connection, path: Path, version: int) -> None:
    target = path.with_name(f"{path.name}.before-v{version + 1}.bak")
    with sqlite3.connect(target) as dest:
        conn.backup(dest)
    dest.close()


def migrate(conn: sqlite3.Connection, path: Path | None) -> None:
    """Apply the migrations this file lacks. A current file (every open but the first
    after an upgrade) is only read, without importing sqlite-utils."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise DatabaseTooNew(
            f"This library was written by a newer photoorg (schema {version}, this "
            f"version knows {len(MIGRATIONS)}); upgrade photoorg to open it."
        )
    if version == len(MIGRATIONS):
        return
    from sqlite_utils import Database  # heavy (numpy, click...): only an upgrade needs it

    db = Database(conn)
    if version > 0 and path is not None:
        _backup(conn, path, version)
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    for number, (name, apply) in enumerate(MIGRATIONS[version:], start=version + 1):
        with db.atomic():
            apply(db)
            db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", [name, time.time()])
            db.execute(f"PRAGMA user_version = {number}")
