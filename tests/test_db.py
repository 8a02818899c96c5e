import sqlite3

import pytest

from photoorg.db import MIGRATIONS, DatabaseTooNew, NotALibrary, Store


def test_fresh_library_is_migrated_and_recorded(tmp_path):
    store = Store(tmp_path / "library.db")
    names = [r[0] for r in store.db.execute("SELECT name FROM migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    store.close()


def test_database_from_a_newer_photoorg_is_refused_untouched(tmp_path):
    path = tmp_path / "library.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    before = path.read_bytes()
    with pytest.raises(DatabaseTooNew, match="newer photoorg"):
        Store(path)
    assert path.read_bytes() == before


def test_upgrade_backs_up_and_runs_pending_migrations(tmp_path, monkeypatch):
    path = tmp_path / "library.db"
    Store(path).close()
    applied = []
    monkeypatch.setattr(
        "photoorg.db.schema.MIGRATIONS",
        MIGRATIONS
        + [
            (
                "9999_test_column",
                lambda db: applied.append(db.execute("ALTER TABLE photos ADD COLUMN rating INTEGER")),
            )
        ],
    )
    store = Store(path)
    assert applied
    assert "rating" in [c[1] for c in store.db.execute("PRAGMA table_info(photos)")]
    assert (tmp_path / f"library.db.before-v{len(MIGRATIONS) + 1}.bak").exists()
    store.close()


def test_failed_migration_leaves_database_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "library.db"
    Store(path).close()

    def broken(db):
        db.execute("ALTER TABLE photos ADD COLUMN half_done INTEGER")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("photoorg.db.schema.MIGRATIONS", MIGRATIONS + [("9999_broken", broken)])
    with pytest.raises(RuntimeError):
        Store(path)
    monkeypatch.undo()
    store = Store(path)
    assert "half_done" not in [c[1] for c in store.db.execute("PRAGMA table_info(photos)")]
    assert store.integrity_ok()
    store.close()


def test_a_file_that_is_not_sqlite_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "library.db"
    path.write_text("these are my holiday notes, not a database\n" * 100)
    with pytest.raises(NotALibrary, match="not an SQLite database"):
        Store(path)
    assert path.read_text().startswith("these are my holiday notes")


def test_another_apps_sqlite_database_is_refused_and_left_untouched(tmp_path):
    # e.g. --library pointed at a music manager's folder that has its own library.db
    path = tmp_path / "library.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT)")
    other.commit()
    other.close()
    before = path.read_bytes()
    with pytest.raises(NotALibrary, match="not a photoorg library"):
        Store(path)
    assert path.read_bytes() == before  # no photoorg tables, no WAL switch


def test_a_library_that_cannot_be_opened_is_not_called_not_a_library(tmp_path):
    # Read-only media or a folder where the file should be: the library may be fine,
    # and "not a photoorg library" would invite deleting it.
    path = tmp_path / "library.db"
    path.mkdir()
    with pytest.raises(NotALibrary, match="Cannot open") as caught:
        Store(path)
    assert "not a photoorg library" not in str(caught.value)


def test_user_tags_and_rejections_survive_automatic_retagging(tmp_path):
    store = Store(tmp_path / "library.db")
    root = store.add_root("/photos")
    pid = store.add_photo(root.id, "a.jpg", 1, 1, "h")
    store.set_auto_tags(pid, [("beach", 0.9, "clip-1"), ("dog", 0.8, "clip-1")])
    store.add_user_tag(pid, "Holiday")
    assert store.remove_tag(pid, "dog")
    store.set_auto_tags(pid, [("beach", 0.7, "clip-2"), ("dog", 0.95, "clip-2"), ("sea", 0.6, "clip-2")])
    tags = {t.tag: t.source for t in store.tags_of(pid)}
    assert tags == {"Holiday": "user", "beach": "auto", "sea": "auto"}
    store.close()


def test_named_boxes_survive_new_detections(tmp_path):
    from photoorg.models.detect import Detection

    store = Store(tmp_path / "library.db")
    root = store.add_root("/photos")
    pid = store.add_photo(root.id, "a.jpg", 1, 1, "h")
    first, second = store.replace_detections(
        pid,
        "det-1",
        [Detection("person", 0.9, (0.1, 0.1, 0.5, 0.9)), Detection("dog", 0.8, (0.6, 0.5, 0.9, 0.9))],
    )
    store.name_detection(first, store.subject("Ana").id)
    store.replace_detections(pid, "det-2", [Detection("cat", 0.7, (0.2, 0.2, 0.4, 0.4))])
    kept = {(d.label, d.subject_name) for d in store.detections_of(pid)}
    assert kept == {("person", "Ana"), ("cat", None)}
    store.close()


def test_detector_thresholds_migration_keeps_has_person_for_old_count_tags(tmp_path):
    from photoorg.db.schema import _detector_thresholds

    store = Store(tmp_path / "library.db")
    root = store.db.execute("INSERT INTO roots (path, added_at) VALUES ('/p', 0) RETURNING id").fetchone()[0]
    ids = [
        store.db.execute(
            "INSERT INTO photos (root_id, rel_path, size, mtime_ns, added_at) "
            "VALUES (?, ?, 1, 1, 0) RETURNING id",
            [root, name],
        ).fetchone()[0]
        for name in "abcd"
    ]
    rows = [
        (ids[0], "3 people", 0.6, "auto", "det"),
        (ids[1], "1 person", 0.9, "auto", "det"),
        (ids[2], "dog", 0.8, "auto", "det"),
        (ids[3], "1 person", 1.0, "user", None),
        (ids[1], "beach", 0.7, "auto", "clip"),
    ]
    store.db.conn.executemany("INSERT INTO tags VALUES (?, ?, ?, ?, ?)", rows)
    _detector_thresholds(store.db)
    person = store.db.execute(
        "SELECT photo_id, score, source, model FROM tags WHERE tag = 'person' ORDER BY photo_id"
    ).fetchall()
    assert [tuple(r) for r in person] == [(ids[0], 0.6, "auto", "det"), (ids[1], 0.9, "auto", "det")]
    store.close()
