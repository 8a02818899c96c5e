"""A library made by the first release (the first migration only, rows written as that
release wrote them) opens with today's code: every row and name survives, each later
migration is recorded, and search finds the same photos by path, tag and name."""

from __future__ import annotations

import sqlite3
import time

import numpy as np
from sqlite_utils import Database

from photoorg.db import MIGRATIONS, Store
from photoorg.search import search

ROOT = "/media/photos/Pictures"
TABLES = (
    "roots",
    "photos",
    "subjects",
    "tags",
    "detections",
    "embeddings",
    "processed",
    "vocabulary",
    "scan_problems",
)


def first_release_library(path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    db = Database(conn)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    name, initial = MIGRATIONS[0]
    assert name == "0001_initial"
    with db.atomic():
        initial(db)
        db.execute("INSERT INTO migrations VALUES (?, ?)", [name, time.time() - 86400])
        db.execute("PRAGMA user_version = 1")
    vector = np.arange(4, dtype=np.float32).tobytes()
    statements = [
        ("INSERT INTO roots VALUES (1, ?, 1, NULL, 1.0, 2.0)", [ROOT]),
        ("INSERT INTO roots VALUES (2, '/media/old-drive', 0, 'not mounted', 1.0, NULL)", []),
        (
            "INSERT INTO photos VALUES (1, 1, 'Holidays 2019/beach_day.jpg', 2048, 111, 'h1', 640, 480, "
            "'2019-07-14T12:00:00', 'Canon', 'EOS R6', 43.5, -1.5, 'indexed', NULL, 1.0)",
            [],
        ),
        (
            "INSERT INTO photos VALUES (2, 1, 'home/rex.png', 1024, 222, 'h2', 80, 60, NULL, NULL, NULL, "
            "NULL, NULL, 'indexed', NULL, 1.0)",
            [],
        ),
        (
            "INSERT INTO photos VALUES (3, 1, 'broken.jpg', 10, 333, 'h3', NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, 'error', 'truncated file', 1.0)",
            [],
        ),
        (
            "INSERT INTO photos VALUES (4, 2, 'gone.jpg', 10, 444, 'h4', NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, 'missing', NULL, 1.0)",
            [],
        ),
        ("INSERT INTO subjects VALUES (1, 'Zoë Müller', 'person'), (2, 'Rex', 'pet')", []),
        (
            "INSERT INTO tags VALUES (1, 'beach', 0.9, 'auto', 'clip-1'), "
            "(1, 'surf trip', 1.0, 'user', NULL), (1, 'snow', 0.4, 'rejected', 'clip-1'), "
            "(2, 'dog', 0.8, 'auto', 'clip-1')",
            [],
        ),
        (
            "INSERT INTO detections VALUES (1, 1, 'person', 0.95, 0.1, 0.2, 0.5, 0.9, 'det-1', 1), "
            "(2, 2, 'dog', 0.9, 0.2, 0.2, 0.8, 0.8, 'det-1', 2), "
            "(3, 1, 'surfboard', 0.5, 0.6, 0.6, 0.9, 0.9, 'det-1', NULL)",
            [],
        ),
        ("INSERT INTO embeddings VALUES (1, 1, NULL, 'clip-1', ?), (2, 1, 1, 'clip-1', ?)", [vector, vector]),
        (
            "INSERT INTO processed VALUES (1, 'clip', 'clip-1'), (1, 'detect', 'det-1'), "
            "(2, 'clip', 'clip-1')",
            [],
        ),
        ("INSERT INTO vocabulary VALUES ('kite surfing', 5.0)", []),
        ("INSERT INTO scan_problems VALUES (1, 'Holidays 2019/notes.jpg', 'not an image')", []),
        # The first release wrote the full-text rows itself.
        (
            "INSERT INTO photos_fts (rowid, path, tags, names) VALUES "
            "(1, 'Pictures Holidays 2019 beach day', 'beach surf trip', 'Zoë Müller'), "
            "(2, 'Pictures home rex', 'dog', 'Rex'), (3, 'Pictures broken', '', ''), "
            "(4, 'old-drive gone', '', '')",
            [],
        ),
    ]
    for sql, params in statements:
        db.execute(sql, params)
    conn.close()


def snapshot(conn: sqlite3.Connection, columns: dict | None = None) -> dict:
    """Each table's columns and rows; with `columns`, only those (later migrations add
    columns of their own, and the first release's rows must survive in the old ones)."""
    shot = {}
    for t in TABLES:
        names = columns[t][0] if columns else [c[1] for c in conn.execute(f"PRAGMA table_info({t})")]
        listed = ", ".join(f"[{n}]" for n in names)
        shot[t] = (names, conn.execute(f"SELECT {listed} FROM {t} ORDER BY 1, 2").fetchall())
    return shot


def test_a_first_release_library_opens_with_every_row_and_name(tmp_path):
    path = tmp_path / "library.db"
    first_release_library(path)
    before = snapshot(sqlite3.connect(path))
    fts_before = sqlite3.connect(path).execute("SELECT rowid, * FROM photos_fts ORDER BY rowid").fetchall()

    store = Store(path)
    try:
        assert snapshot(store.db.conn, before) == before
        assert [r[0] for r in store.db.execute("SELECT name FROM migrations ORDER BY applied_at")] == [
            name for name, _ in MIGRATIONS
        ]
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert (tmp_path / "library.db.before-v2.bak").is_file()  # the backup of release 1's file
        # The full-text rows, now kept by triggers, read as the first release wrote them.
        assert store.db.execute("SELECT rowid, * FROM photos_fts ORDER BY rowid").fetchall() == fts_before

        # And through the typed rows the front ends see.
        assert [(r.path, r.online, r.offline_reason) for r in store.roots()] == [
            ("/media/old-drive", False, "not mounted"),
            (ROOT, True, None),
        ]
        beach = store.photo(1)
        assert beach.path == f"{ROOT}/Holidays 2019/beach_day.jpg"
        assert (beach.taken_at, beach.camera_make, beach.lat, beach.state) == (
            "2019-07-14T12:00:00",
            "Canon",
            43.5,
            "indexed",
        )
        assert [(t.tag, t.source) for t in store.tags_of(1)] == [("surf trip", "user"), ("beach", "auto")]
        assert [(d.id, d.label, d.model, d.subject_name) for d in store.detections_of(1)] == [
            (1, "person", "det-1", "Zoë Müller"),
            (3, "surfboard", "det-1", None),
        ]
        assert [(s.name, s.kind, s.count) for s in store.subjects()] == [
            ("Rex", "pet", 1),
            ("Zoë Müller", "person", 1),
        ]
        assert store.counts() == {"pending": 0, "indexed": 2, "error": 1, "missing": 1}
        assert store.vocabulary() == ["kite surfing"]

        def found(text):
            return [h.photo.id for h in search(store, text)]

        assert found("beach") == [1]
        assert found("zoe") == [1]
        assert found("pet:Rex") == [2]
        assert found("person:Rex") == []
        assert found("snow") == []  # a rejected tag stays rejected
        assert found("gone") == []  # missing photos never match
        store.add_user_tag(2, "good boy")  # written after the upgrade: the trigger keeps it
        assert found("good boy") == [2]
        store.db.execute("UPDATE subjects SET name = 'Zoë Smith' WHERE id = 1")  # any client may
        assert (found("smith"), found("muller")) == ([1], [])
        store.remove_root(1)
        assert store.db.execute("SELECT rowid FROM photos_fts").fetchall() == [(4,)]
    finally:
        store.close()
