"""Issue 10, "Nothing lost, ever": each case the adversarial pass found, written as its
reproduction, on real folders, the real CLI and real SQLite files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photoorg.cli import main
from photoorg.errors import UserError
from photoorg.library import Library
from photoorg.progress import drive
from tests.conftest import fill_disk, tmpfs, write_photo


def run(library: Path, *args: str) -> int:
    return main(["--library", str(library), *args])


def make_photos(root: Path, n: int) -> list[Path]:
    return [write_photo(root / f"p{i:03d}.jpg", color=(i * 7 % 256, i * 13 % 256, i % 256)) for i in range(n)]


def counts(library: Path) -> dict[str, int]:
    with Library(library) as lib:
        return lib.store.counts()


# -- 1. purge re-checks at the moment of purging -----------------------------------


def test_purge_keeps_a_photo_whose_file_came_back(tmp_path, capsys):
    # add r; tag r/a.jpg --add Wedding; mv r/a.jpg ../a.jpg; scan; mv ../a.jpg r/;
    # purge --missing --yes  -> the photo and its tag used to be gone.
    lib, root = tmp_path / "lib", tmp_path / "r"
    make_photos(root, 5)
    a = root / "p000.jpg"
    assert run(lib, "add", "--no-index", str(root)) == 0
    assert run(lib, "tag", str(a), "--add", "Wedding") == 0
    shutil.move(a, tmp_path / "a.jpg")
    assert run(lib, "scan", "--no-index") == 0
    assert counts(lib)["missing"] == 1
    shutil.move(tmp_path / "a.jpg", a)
    capsys.readouterr()
    assert run(lib, "purge", "--missing", "--yes", "--include-user-data") == 0
    out = capsys.readouterr().out
    assert "its file is there again" in out
    with Library(lib) as opened:
        photo = opened.photo(a)
        assert [t.tag for t in opened.tags_of(photo)] == ["Wedding"]
        assert sum(opened.store.counts().values()) == 5


def test_purge_keeps_photos_of_a_folder_gone_offline_since_the_scan(tmp_path, capsys):
    lib, root = tmp_path / "lib", tmp_path / "drive"
    make_photos(root, 5)
    assert run(lib, "add", "--no-index", str(root)) == 0
    os.remove(root / "p001.jpg")
    assert run(lib, "scan", "--no-index") == 0
    assert counts(lib)["missing"] == 1
    os.rename(root, tmp_path / "drive.away")  # unplugged; the mount point stays
    root.mkdir()
    (root / ".DS_Store").write_bytes(b"\0")
    capsys.readouterr()
    assert run(lib, "purge", "--missing", "--yes") == 0
    assert "offline" in capsys.readouterr().out
    assert counts(lib)["missing"] == 1


def test_purge_lists_user_data_needs_consent_and_can_be_undone(tmp_path, capsys):
    lib, root = tmp_path / "lib", tmp_path / "r"
    photos = make_photos(root, 6)
    assert run(lib, "add", "--no-index", str(root)) == 0
    assert run(lib, "tag", str(photos[0]), "--add", "Wedding", "--add", "Ana's day") == 0
    with Library(lib) as opened:  # a named box, as the viewer stores it
        from photoorg.models.detect import Detection

        photo = opened.photo(photos[0])
        [box] = opened.store.replace_detections(
            photo.id,
            "onnx:yolox-nano",
            [Detection("person", 0.9, (0.1, 0.1, 0.5, 0.9))],
        )
        opened.name_box(box, "Ana")
    os.remove(photos[0])
    os.remove(photos[1])
    assert run(lib, "scan", "--no-index") == 0
    capsys.readouterr()

    assert run(lib, "purge", "--missing", "--yes") == 0
    out = capsys.readouterr().out
    assert "--include-user-data" in out
    assert "Removed 1 missing photo from" in out
    assert counts(lib)["missing"] == 1  # the tagged one stays without consent

    assert run(lib, "purge", "--missing", "--yes", "--include-user-data") == 0
    out = capsys.readouterr().out
    assert f"{photos[0]}  (tags: Ana's day, Wedding; names: Ana)" in out
    assert counts(lib)["missing"] == 0

    assert run(lib, "purge", "--undo") == 0
    assert "Put back 1 missing photo" in capsys.readouterr().out
    write_photo(photos[0], color=(0, 0, 0))  # same name, and the row came back as missing
    with Library(lib) as opened:
        [back] = opened.missing()
        assert back.path == str(photos[0])
        assert sorted(t.tag for t in opened.store.tags_of(back.id)) == [
            "Ana's day",
            "Wedding",
        ]
        assert [d.subject_name for d in opened.store.detections_of(back.id)] == ["Ana"]
        drive(opened.scan())  # the file is there again: the row takes it back
        assert [h.photo.id for h in opened.search("person:Ana", limit=5)] == [back.id]
        assert opened.store.integrity_ok()
    assert run(lib, "purge", "--undo") == 0  # the earlier purge, of the untagged photo
    assert counts(lib)["missing"] == 1  # the first one is back in its file
    assert run(lib, "purge", "--undo") == 2  # nothing left to undo: a sentence


# -- 2. offline by evidence, not emptiness -----------------------------------------


def _stray(root: Path, kind: str) -> None:
    if kind.endswith("/"):
        (root / kind.rstrip("/")).mkdir()
    else:
        (root / kind).write_text("left on the mount point")


@pytest.mark.parametrize("stray", [".DS_Store", ".hidden", "lost+found/", ".Trash-0/", "readme.txt"])
def test_a_mount_point_with_a_stray_entry_is_offline_not_all_missing(tmp_path, stray, capsys):
    lib, root = tmp_path / "lib", tmp_path / "drive"
    make_photos(root, 10)
    assert run(lib, "add", "--no-index", str(root)) == 0
    assert run(lib, "tag", str(root / "p003.jpg"), "--add", "Wedding") == 0
    os.rename(root, tmp_path / "drive.away")
    root.mkdir()
    _stray(root, stray)
    assert run(lib, "scan", "--no-index") == 0
    out = capsys.readouterr().out
    assert "offline" in out
    with Library(lib) as opened:
        assert opened.store.counts()["missing"] == 0
        assert not opened.roots()[0].online
    assert run(lib, "purge", "--missing", "--yes") == 0
    shutil.rmtree(root)
    os.rename(tmp_path / "drive.away", root)  # plugged back in
    assert run(lib, "scan", "--no-index") == 0
    with Library(lib) as opened:
        assert opened.roots()[0].online
        assert opened.store.counts() == {
            "pending": 10,
            "indexed": 0,
            "error": 0,
            "missing": 0,
        }


def test_a_real_unmounted_tmpfs_under_a_stray_file_is_offline(tmp_path):
    root = tmp_path / "mnt"
    root.mkdir()
    (root / "readme.txt").write_text("mount the photo drive here")  # under the mount
    with tmpfs(root, "4m"):
        make_photos(root, 8)
        with Library(tmp_path / "lib") as lib:
            lib.add_roots([root])
            drive(lib.scan())
            device = lib.roots()[0].device
    with Library(tmp_path / "lib") as lib:
        [result] = drive(lib.scan())
        assert not result.online and "another device" in result.offline_reason
        assert os.stat(root).st_dev != device
        assert lib.store.counts()["missing"] == 0


def test_many_photos_gone_at_once_are_unconfirmed_until_the_user_says(tmp_path, capsys):
    lib, root = tmp_path / "lib", tmp_path / "r"
    photos = make_photos(root, 30)
    assert run(lib, "add", "--no-index", str(root)) == 0
    for p in photos[:12]:  # 40% of the folder, in one pass
        os.remove(p)
    assert run(lib, "scan", "--no-index") == 0
    assert "12 photos look gone at once" in capsys.readouterr().out
    assert counts(lib)["missing"] == 0
    assert run(lib, "status") == 0
    assert "12 photos looked gone at once and are kept, unconfirmed" in capsys.readouterr().out
    assert run(lib, "scan", "--no-index", "--confirm-missing", str(root)) == 0
    assert counts(lib)["missing"] == 12
    assert run(lib, "status") == 0
    assert "unconfirmed" not in capsys.readouterr().out


def test_a_few_photos_gone_are_simply_missing(tmp_path):
    lib, root = tmp_path / "lib", tmp_path / "r"
    photos = make_photos(root, 30)
    assert run(lib, "add", "--no-index", str(root)) == 0
    for p in photos[:5]:
        os.remove(p)
    assert run(lib, "scan", "--no-index") == 0
    assert counts(lib)["missing"] == 5


def test_the_watcher_takes_a_mount_point_with_a_ds_store_for_offline(tmp_path):
    from tests.test_watch import Watched, until, write

    w = Watched(tmp_path)
    try:
        root = w.roots[0]
        for i in range(4):
            write(os.path.join(root, f"{i}.png"), 300 + i)
        until(lambda: w.lib.store.counts()["pending"] == 4, what="four photos")
        os.rename(root, root + ".drive")
        os.mkdir(root)
        Path(root, ".DS_Store").write_bytes(b"\0")
        Path(root, "lost+found").mkdir()
        until(lambda: not w.lib.roots()[0].online, what="the root offline")
        assert w.lib.store.counts() == {
            "pending": 4,
            "indexed": 0,
            "error": 0,
            "missing": 0,
        }
    finally:
        w.close()


# -- 3. atomic writes ----------------------------------------------------------------


@pytest.fixture
def cutout_lib(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOORG_RANDOM_WEIGHTS", "1")
    photo = write_photo(tmp_path / "photos" / "wide.jpg", size=(300, 200))
    lib = Library(tmp_path / "lib")
    lib.add_roots([photo.parent])
    drive(lib.scan())
    yield lib, photo
    lib.close()


def test_cutout_force_onto_a_link_to_dev_full_is_refused_and_the_link_kept(cutout_lib, tmp_path, capsys):
    lib, photo = cutout_lib
    link = tmp_path / "keep.png"
    os.symlink("/dev/full", link)
    assert run(lib.folder, "cutout", str(photo), "-o", str(link), "--force") == 2
    assert "not a regular file" in capsys.readouterr().err
    assert os.readlink(link) == "/dev/full"


def test_cutout_force_on_a_full_disk_keeps_the_old_file(cutout_lib, tmp_path):
    from PIL import Image

    from photoorg.modelops import write_png

    small = tmp_path / "small"
    small.mkdir()
    with tmpfs(small, "256k"):
        keep = small / "keep.png"
        keep.write_bytes(b"the user's old cut-out")
        fill_disk(small)  # to the last block
        noise = Image.frombytes("RGBA", (400, 400), os.urandom(400 * 400 * 4))
        with pytest.raises(UserError, match="full"):
            write_png(noise, keep, force=True)
        assert keep.read_bytes() == b"the user's old cut-out"
        assert sorted(p.name for p in small.iterdir()) == ["filler", "keep.png"]


# -- 4. no traceback for any input ----------------------------------------------------


def cli(library: Path, *args: str | bytes) -> subprocess.CompletedProcess:
    """The real command in a subprocess: arguments may be raw bytes, as a shell passes them."""
    argv = [
        os.fsencode(sys.executable),
        b"-m",
        b"photoorg",
        b"--library",
        os.fsencode(library),
        *(a if isinstance(a, bytes) else a.encode() for a in args),
    ]
    return subprocess.run(argv, capture_output=True, timeout=120, check=False)


@pytest.fixture
def small_library(tmp_path):
    lib, root = tmp_path / "lib", tmp_path / "r"
    make_photos(root, 3)
    assert run(lib, "add", "--no-index", str(root)) == 0
    return lib, root


@pytest.mark.parametrize("query", ["year:9999", "-year:9999", "after:9999", "before:0001-01-01", "year:0"])
def test_dates_out_of_range_are_a_sentence(small_library, query):
    lib, _ = small_library
    done = cli(lib, "search", "--", query)
    assert b"Traceback" not in done.stderr
    assert done.returncode in (0, 2)
    if done.returncode == 2:
        assert done.stderr.count(b"\n") == 1 and b"year" in done.stderr


def test_a_thousand_terms_are_refused_with_a_limit(small_library):
    lib, _ = small_library
    done = cli(lib, "search", " ".join(f"w{i}" for i in range(1000)))
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert b"at most" in done.stderr


def test_many_terms_within_the_limit_search(small_library):
    from photoorg.query import MAX_TERMS

    lib, root = small_library
    with Library(lib) as opened:
        hits = opened.search(" ".join(["-nothing"] * (MAX_TERMS - 1) + ["p001"]), limit=5)
        assert [h.photo.path for h in hits] == [str(root / "p001.jpg")]


@pytest.mark.parametrize(
    "args, said",
    [
        ((b"search", b"caf\xe9"), b"UTF-8"),
        ((b"tag", b"PHOTO", b"--add", b"caf\xe9"), b"UTF-8"),
        ((b"tag", b"r/\xff.jpg", b"--add", b"x"), b"not valid UTF-8"),
        ((b"add", b"FOLDER"), b"not valid UTF-8"),
    ],
)
def test_non_utf8_arguments_are_a_sentence(small_library, args, said):
    lib, root = small_library
    (root.parent / os.fsdecode(b"\xffolder")).mkdir()
    (root / os.fsdecode(b"\xff.jpg")).write_bytes((root / "p000.jpg").read_bytes())
    args = [
        a.replace(b"PHOTO", os.fsencode(root / "p000.jpg"))
        .replace(b"r/", os.fsencode(root) + b"/")
        .replace(b"FOLDER", os.fsencode(root.parent) + b"/\xffolder")
        for a in args
    ]
    done = cli(lib, *args)
    assert done.returncode == 2, done.stderr
    assert b"Traceback" not in done.stderr and said in done.stderr
    assert done.stderr.count(b"\n") == 1
    with Library(lib) as opened:
        assert [r.path for r in opened.roots()] == [str(root)]


@pytest.mark.parametrize("bad", ["a\0b", "x" * 100_000, "\x07bell", "caf\udce9", "  "])
def test_tag_and_name_limits_hold_in_the_engine(small_library, bad):
    from photoorg.models.detect import Detection

    lib, root = small_library
    with Library(lib) as opened:
        photo = opened.photo(root / "p000.jpg")
        with pytest.raises(UserError):
            opened.tag(photo.path, add=[bad])
        [box] = opened.store.replace_detections(photo.id, "m", [Detection("dog", 0.9, (0, 0, 1, 1))])
        with pytest.raises(UserError):
            opened.name_box(box, bad)
        assert opened.tags_of(photo) == [] and opened.subjects() == []
