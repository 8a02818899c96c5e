"""Fault injection: the disk holding the library fills in the middle of `add`, `tag` and
`index`. Each ends in one sentence, nothing is half-registered, and the database passes
PRAGMA integrity_check.

Two ways to fill it: SQLite's own max_page_count (the library file may not grow by one
more page: the same SQLITE_FULL error a full disk gives, on any machine), and a real
tmpfs of 1 MiB where mounting one is allowed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from photoorg.cli import main
from photoorg.db import Store
from photoorg.errors import UserError
from photoorg.library import Library
from photoorg.modelset import ModelSet
from photoorg.progress import drive
from tests.conftest import fill_disk, tmpfs, write_photo

FULL = "the disk holding the library is full"


@pytest.fixture
def no_room(monkeypatch):
    """Every library opened from now on may not grow past its size at opening."""
    opened = Store.__init__

    def capped(self, path):
        opened(self, path)
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        self.db.execute(f"PRAGMA max_page_count = {pages}")

    return lambda: monkeypatch.setattr(Store, "__init__", capped)


def photos(root: Path, n: int) -> list[Path]:
    return [
        write_photo(
            root / f"sub{i % 3}" / f"photo_with_a_long_name_{i:04d}.jpg",
            color=(i % 256, i * 3 % 256, 7),
        )
        for i in range(n)
    ]


def integrity_ok(library: Path) -> bool:
    with Library(library) as lib:
        return lib.store.integrity_ok()


def test_add_on_a_full_disk_registers_nothing(tmp_path, no_room, capsys):
    photos(tmp_path / "r", 200)
    Library(tmp_path / "lib").close()
    no_room()
    assert (
        main(
            [
                "--library",
                str(tmp_path / "lib"),
                "add",
                "--no-index",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert FULL in err.lower() and err.count("\n") == 1
    with Library(tmp_path / "lib") as lib:
        assert lib.roots() == [] and sum(lib.store.counts().values()) == 0
    assert integrity_ok(tmp_path / "lib")


def test_tag_on_a_full_disk_adds_none_of_the_tags(tmp_path, no_room, capsys):
    [first, *_] = photos(tmp_path / "r", 3)
    assert (
        main(
            [
                "--library",
                str(tmp_path / "lib"),
                "add",
                "--no-index",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    no_room()
    tags = [arg for i in range(60) for arg in ("--add", f"a long tag number {i} " + "x" * 150)]
    assert main(["--library", str(tmp_path / "lib"), "tag", str(first), *tags]) == 2
    assert FULL in capsys.readouterr().err.lower()
    with Library(tmp_path / "lib") as lib:
        assert lib.tags_of(lib.photo(first)) == []
    assert integrity_ok(tmp_path / "lib")


def test_index_on_a_full_disk_leaves_every_photo_whole(tmp_path, no_room):
    photos(tmp_path / "r", 300)
    with Library(tmp_path / "lib") as lib:
        lib.add_roots([tmp_path / "r"])
        drive(lib.scan())
    no_room()
    with Library(tmp_path / "lib") as lib:
        with pytest.raises(UserError) as failed:
            drive(lib.index(models=ModelSet(), batch_size=4))
        assert FULL in str(failed.value).lower()
    with Library(tmp_path / "lib") as lib:
        # A photo is indexed with its stage recorded, or still pending without it.
        for photo in lib.store.photos_where("1"):
            done = lib.store.processed_of([photo.id]).get(photo.id, {}).get("decode")
            assert (photo.state, done is not None) in (("indexed", True), ("pending", False))
        assert lib.store.integrity_ok()


def test_add_on_a_real_small_filesystem(tmp_path, capsys):
    disk = tmp_path / "small"
    disk.mkdir()
    with tmpfs(disk, "1m"):
        photos(tmp_path / "r", 4000)
        code = main(["--library", str(disk / "lib"), "add", "--no-index", str(tmp_path / "r")])
        err = capsys.readouterr().err
        assert code == 2 and FULL in err.lower() and "Traceback" not in err
        with Library(disk / "lib") as lib:  # reading still works on the full disk
            assert lib.roots() == [] and sum(lib.store.counts().values()) == 0
            assert lib.store.integrity_ok()


def test_thumbnails_on_a_full_disk_stop_the_run_instead_of_failing_every_photo(tmp_path, monkeypatch):
    import errno
    import os

    from photoorg.errors import UserError

    photos(tmp_path / "r", 6)
    with Library(tmp_path / "lib") as lib:
        lib.add_roots([tmp_path / "r"])
        drive(lib.scan())

        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fsync", full)  # only file writes fsync: the thumbnails
        with pytest.raises(UserError, match="full"):
            drive(lib.index(models=ModelSet(), batch_size=2))
        assert lib.store.counts() == {
            "pending": 6,
            "indexed": 0,
            "error": 0,
            "missing": 0,
        }


def test_a_library_on_a_full_disk_says_full_not_io_error(tmp_path, capsys):
    disk = tmp_path / "small"
    disk.mkdir()
    with tmpfs(disk, "1m"):
        [first] = photos(tmp_path / "r", 1)
        assert (
            main(
                [
                    "--library",
                    str(disk / "lib"),
                    "add",
                    "--no-index",
                    str(tmp_path / "r"),
                ]
            )
            == 0
        )
        fill_disk(disk)  # to the last block
        capsys.readouterr()
        assert main(["--library", str(disk / "lib"), "status"]) == 0  # reading still works
        tags = [arg for i in range(60) for arg in ("--add", f"tag {i} " + "x" * 150)]
        code = main(["--library", str(disk / "lib"), "tag", str(first), *tags])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err
        assert FULL in err.lower() and "writable" not in err
