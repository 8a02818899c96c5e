"""Issue 10's smaller cases, each as its reproduction: a FIFO or /dev/zero where a photo
was, a read-only library, two indexers at once, `index` with nothing to do, the year:
message, and a folder added by another process while `watch` runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from photoorg.cli import main
from photoorg.library import Library
from photoorg.modelset import ModelSet
from photoorg.progress import drive
from tests.conftest import write_photo


@pytest.fixture
def scanned(tmp_path):
    root = tmp_path / "r"
    for i in range(3):
        write_photo(root / f"p{i}.jpg", color=(i * 50, 10, 10))
    lib = Library(tmp_path / "lib")
    lib.add_roots([root])
    drive(lib.scan())
    yield lib, root
    lib.close()


def test_a_fifo_or_dev_zero_swapped_in_after_a_scan_is_named_as_such(scanned):
    lib, root = scanned
    os.remove(root / "p0.jpg")
    os.mkfifo(root / "p0.jpg")  # opening it to read would wait forever
    os.remove(root / "p1.jpg")
    os.symlink("/dev/zero", root / "p1.jpg")  # reading it would never end
    drive(lib.index(models=ModelSet()))
    reasons = {Path(p.path).name: p.reason for p in lib.problems()}
    assert reasons["p0.jpg"].startswith("not a regular file")
    assert reasons["p1.jpg"].startswith("not a regular file")
    assert lib.store.counts()["indexed"] == 1


def test_a_read_only_library_can_still_be_read(scanned, tmp_path, capsys):
    lib, root = scanned
    lib.tag(root / "p2.jpg", add=["Wedding"])
    folder = lib.folder
    lib.close()
    if subprocess.run(
        ["mount", "--bind", str(folder), str(folder)], capture_output=True, check=False
    ).returncode:
        pytest.skip("a read-only bind mount needs privileges this machine does not give")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        args = ["--library", str(folder)]
        assert main([*args, "status"]) == 0
        assert "3 pending" in capsys.readouterr().out
        assert main([*args, "search", "tag:Wedding"]) == 0
        assert str(root / "p2.jpg") in capsys.readouterr().out
        assert main([*args, "tag", str(root / "p0.jpg"), "--add", "x"]) == 2
        assert "read-only" in capsys.readouterr().err
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)  # even if a failure left a file open
    with Library(folder) as again:  # writable again, and whole
        assert again.store.integrity_ok()


def test_a_second_indexer_is_told_instead_of_indexing_the_same_photos(scanned, capsys):
    from photoorg.indexstate import index_lock

    lib, _ = scanned
    with index_lock(lib.folder):  # `watch` (or the app) is indexing this library
        assert main(["--library", str(lib.folder), "index"]) == 2
        assert "Another photoorg process" in capsys.readouterr().err
    assert lib.store.counts()["pending"] == 3


def test_index_with_nothing_pending_loads_no_model(scanned, monkeypatch):
    lib, _ = scanned
    drive(lib.index())  # no weights installed: decodes and thumbnails, names the models
    assert lib.store.counts()["indexed"] == 3

    def loading(*args, **kwargs):
        raise AssertionError("a model was loaded with nothing to index")

    monkeypatch.setattr("photoorg.library.load_model_set", loading)
    lib._model_key = None  # no models kept from the run above
    report = drive(lib.index())
    assert (
        report.indexed == 0 and len(report.waiting) == 3
    )  # still says which are missing (CLIP, detector, faces)
    lib.use_model("clip-vit-b-32-laion2b")  # a change: the next run must look again
    with pytest.raises(AssertionError, match="model was loaded"):
        drive(lib.index())


def test_year_error_offers_only_what_it_accepts(scanned):
    from photoorg.query import QueryError, parse

    with pytest.raises(QueryError) as refused:
        parse("year:June")
    message = str(refused.value)
    assert "year:2021" in message and "year:2021-06" not in message
