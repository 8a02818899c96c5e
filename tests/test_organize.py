"""Organize and rename on real folders: the preview changes nothing, apply moves
photos with their sidecars and the library follows, undo restores every byte, name
and mtime, and every refusal is one sentence with nothing half done."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from photoorg.cli import main
from photoorg.dupes import find_groups
from photoorg.errors import UserError
from photoorg.journal import Busy, library_lock, undo
from photoorg.modelset import ModelSet
from photoorg.organize import PatternError, PlanStale, apply, plan, select
from photoorg.progress import drive

from .organize_photos import save, scene

CANON = ("Canon", "EOS R6")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    save(
        scene(1),
        folder / "Rome" / "IMG_1.jpg",
        taken="2021:07:14 12:00:00",
        camera=CANON,
    )
    save(
        scene(2),
        folder / "Rome" / "IMG_2.jpg",
        taken="2021:07:15 09:30:00",
        camera=CANON,
    )
    save(scene(3), folder / "misc" / "IMG_1.jpg", taken="2021:07:20 08:00:00")
    save(scene(4), folder / "nodate.png")
    os.utime(folder / "nodate.png", (1_600_000_000, 1_600_000_000))  # 2020-09-13
    (folder / "Rome" / "IMG_1.jpg.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    (folder / "Rome" / "IMG_1.AAE").write_text("edits")
    (folder / "Rome" / "IMG_1.CR2").write_bytes(b"raw bytes")
    (folder / "Rome" / "IMG_1.jpg.supplemental-metadata.json").write_text("{}")
    for p in folder.rglob("*"):
        if p.is_file() and p.name != "nodate.png":
            os.utime(p, ns=(1_626_000_000_000_000_000, 1_626_000_000_000_000_000))
    return folder


@pytest.fixture
def lib(library, photos):
    library.add_roots([photos])
    drive(library.scan())
    drive(library.index(models=ModelSet()))
    return library


def _plan(lib, into, pattern="{year}/{month:02}-{event}", **kw):
    return plan(lib, select(lib, []), pattern, into=into, **kw)


def test_dry_run_plans_every_change_and_touches_nothing(lib, photos, tmp_path):
    before = snapshot(photos)
    p = _plan(lib, tmp_path / "sorted")
    moves = {
        os.path.relpath(c.src, photos): (
            os.path.relpath(c.dst, tmp_path / "sorted"),
            c.date_from,
        )
        for c in p.changes
    }
    assert moves == {
        "Rome/IMG_1.jpg": ("2021/07-Rome/IMG_1.jpg", "EXIF date as indexed"),
        "Rome/IMG_1.AAE": ("2021/07-Rome/IMG_1.AAE", ""),
        "Rome/IMG_1.CR2": ("2021/07-Rome/IMG_1.CR2", ""),
        "Rome/IMG_1.jpg.xmp": ("2021/07-Rome/IMG_1.jpg.xmp", ""),
        "Rome/IMG_1.jpg.supplemental-metadata.json": (
            "2021/07-Rome/IMG_1.jpg.supplemental-metadata.json",
            "",
        ),
        "Rome/IMG_2.jpg": ("2021/07-Rome/IMG_2.jpg", "EXIF date as indexed"),
        "misc/IMG_1.jpg": ("2021/07-misc/IMG_1.jpg", "EXIF date as indexed"),
        "nodate.png": ("2020/09/nodate.png", "file time"),
    }
    assert snapshot(photos) == before
    assert not (tmp_path / "sorted").exists()


def test_apply_then_undo_restores_bytes_names_and_mtimes(lib, photos, tmp_path):
    before = snapshot(photos)
    photo = lib.photo(photos / "Rome" / "IMG_1.jpg")
    lib.tag(photo.path, add=["Trip"])
    drive(apply(lib, _plan(lib, tmp_path / "sorted")))
    sorted_dir = tmp_path / "sorted"
    assert sorted(snapshot(sorted_dir)) == [
        "2020/09/nodate.png",
        "2021/07-Rome/IMG_1.AAE",
        "2021/07-Rome/IMG_1.CR2",
        "2021/07-Rome/IMG_1.jpg",
        "2021/07-Rome/IMG_1.jpg.supplemental-metadata.json",
        "2021/07-Rome/IMG_1.jpg.xmp",
        "2021/07-Rome/IMG_2.jpg",
        "2021/07-misc/IMG_1.jpg",
    ]
    moved = lib.store.photo(photo.id)
    assert moved.path == str(sorted_dir / "2021" / "07-Rome" / "IMG_1.jpg")
    assert (moved.state, [t.tag for t in lib.tags_of(moved)]) == ("indexed", ["Trip"])
    assert snapshot(photos) == {}
    report = undo(lib.store, lib.folder)
    assert report.problems == [] and report.restored == 8
    assert snapshot(photos) == before
    assert not sorted_dir.exists()  # the folders it made are gone too
    assert lib.store.photo(photo.id).path == photo.path
    assert [r.path for r in lib.roots()] == [str(photos)]


def test_conflicts_get_a_counter_and_compare_without_case(lib, photos, tmp_path):
    target = tmp_path / "flat" / "all"
    target.mkdir(parents=True)
    (target / "img_2.JPG").write_bytes(b"someone else's")
    p = _plan(lib, tmp_path / "flat", pattern="all")
    names = sorted(os.path.basename(c.dst) for c in p.changes if c.photo_id)
    assert names == ["IMG_1 (2).jpg", "IMG_1.jpg", "IMG_2 (2).jpg", "nodate.png"]
    drive(apply(lib, p))
    assert (target / "img_2.JPG").read_bytes() == b"someone else's"


def test_rename_with_counter_keeps_one_extension(lib, photos):
    picked = [str(photos / "Rome" / "IMG_1.jpg"), str(photos / "Rome" / "IMG_2.jpg")]
    p = plan(lib, select(lib, picked), "Rome_{year}_{counter:03}.jpg", rename=True)
    assert [os.path.relpath(c.dst, photos) for c in p.changes] == [
        "Rome/Rome_2021_001.jpg",
        "Rome/Rome_2021_001.AAE",
        "Rome/Rome_2021_001.CR2",
        "Rome/Rome_2021_001.jpg.supplemental-metadata.json",
        "Rome/Rome_2021_001.jpg.xmp",
        "Rome/Rome_2021_002.jpg",
    ]


def test_fallback_fields_and_literals(lib, photos, tmp_path):
    p = _plan(lib, tmp_path / "t", pattern='{person|tag|"nobody"}/{camera|"unknown camera"}')
    got = {os.path.relpath(c.dst, tmp_path / "t") for c in p.changes if c.photo_id}
    assert got == {
        "nobody/Canon EOS R6/IMG_1.jpg",
        "nobody/Canon EOS R6/IMG_2.jpg",
        "nobody/unknown camera/IMG_1.jpg",
        "nobody/unknown camera/nodate.png",
    }
    immich = _plan(lib, tmp_path / "t", pattern="{{y}}/{{MM}}/{{dd}}")
    exiftool = _plan(lib, tmp_path / "t", pattern="%Y/%m/%d")
    assert [c.dst for c in immich.changes] == [c.dst for c in exiftool.changes]
    assert str(tmp_path / "t" / "2021" / "07" / "14" / "IMG_1.jpg") in [c.dst for c in immich.changes]


@pytest.mark.parametrize(
    "pattern, words",
    [
        ("../{year}", "'..'"),
        ("/etc/{year}", "absolute path"),
        ("{yaer}", "Unknown field {yaer}"),
        ("{year", "unmatched brace"),
    ],
)
def test_bad_patterns_are_one_sentence(lib, tmp_path, pattern, words):
    with pytest.raises(PatternError, match=words.replace("{", r"\{").replace("}", r"\}")):
        _plan(lib, tmp_path / "t", pattern=pattern)


def test_target_inside_library_folder_is_refused(lib, photos):
    with pytest.raises(UserError, match="inside photoorg's own library folder"):
        _plan(lib, lib.folder / "sorted")


def test_read_only_target_is_refused(lib, photos, tmp_path, monkeypatch):
    # Tests run as root, which writes anywhere: os.access answers as a user would.
    real = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, m: False if str(p) == str(tmp_path / "ro") else real(p, m),
    )
    (tmp_path / "ro").mkdir()
    with pytest.raises(UserError, match=r"ro is read-only; choose a folder you can write to\."):
        _plan(lib, tmp_path / "ro" / "sorted")


def test_photo_changed_since_the_plan_moves_nothing(lib, photos, tmp_path):
    before = snapshot(photos)
    p = _plan(lib, tmp_path / "sorted")
    with open(photos / "misc" / "IMG_1.jpg", "ab") as f:
        f.write(b"edited")
    before["misc/IMG_1.jpg"] = (
        (photos / "misc" / "IMG_1.jpg").read_bytes(),
        (photos / "misc" / "IMG_1.jpg").stat().st_mtime_ns,
    )
    with pytest.raises(PlanStale, match="IMG_1.jpg changed since the preview; nothing was changed"):
        drive(apply(lib, p))
    assert snapshot(photos) == before


def test_two_runs_at_once_are_refused(lib, photos, tmp_path):
    p = _plan(lib, tmp_path / "sorted")
    with (
        library_lock(lib.folder),
        pytest.raises(Busy, match="Another organize, rename or undo is running"),
    ):
        drive(apply(lib, p))
    assert not (tmp_path / "sorted").exists()


def test_disk_full_mid_copy_leaves_whole_files_and_undo_cleans(lib, photos, tmp_path, monkeypatch):
    import shutil

    from photoorg import journal

    before = snapshot(photos)
    calls, real_copy = [], shutil.copy2

    def filling_copy(src, dst):
        calls.append(src)
        if len(calls) == 3:
            Path(dst).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, dst)

    monkeypatch.setattr(journal.shutil, "copy2", filling_copy)
    p = _plan(lib, tmp_path / "copies", copy=True)
    with pytest.raises(journal.DiskFull, match="is full; .* was left where it was"):
        drive(apply(lib, p))
    copied = snapshot(tmp_path / "copies")
    assert len(copied) == 2 and not any(".photoorg-part" in name for name in copied)
    assert snapshot(photos) == before
    assert undo(lib.store, lib.folder).removed_copies == 2
    assert not (tmp_path / "copies").exists()
    assert snapshot(photos) == before


KILLER = textwrap.dedent("""
    import os, sys, time
    import photoorg.journal as journal
    real, count = journal.place_file, [0]
    def slow(src, dst, keep_source=False):
        real(src, dst, keep_source)
        count[0] += 1
        if count[0] == 3:  # the file is moved; the journal does not know it is done
            print("ready", flush=True)
            time.sleep(60)
    journal.place_file = slow
    from photoorg.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_kill_9_mid_move_then_undo_restores_everything(lib, photos, tmp_path):
    before = snapshot(photos)
    ids = {p.rel_path: p.id for p in select(lib, [])}
    lib.close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLER,
            "--library",
            str(lib.folder),
            "organize",
            "--into",
            str(tmp_path / "sorted"),
            "--pattern",
            "{year}/{event}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "ready\n" in iter(proc.stdout.readline, "")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert len(snapshot(tmp_path / "sorted")) == 3
    assert main(["--library", str(lib.folder), "undo"]) == 0
    assert snapshot(photos) == before
    assert not (tmp_path / "sorted").exists()
    from photoorg.library import Library

    with Library(lib.folder) as again:
        assert {p.rel_path: p.id for p in select(again, [])} == ids


def test_cli_dry_run_prints_old_new_and_date_source(lib, photos, tmp_path, capsys):
    lib.close()
    before = snapshot(photos)
    assert (
        main(
            [
                "--library",
                str(lib.folder),
                "organize",
                "--into",
                str(tmp_path / "s"),
                "--dry-run",
                "--pattern",
                "{year}",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"{photos / 'nodate.png'} -> {tmp_path / 's' / '2020' / 'nodate.png'}  (date: file time)" in out
    assert "Dry run: 8 files would be moved; nothing was changed." in out
    assert snapshot(photos) == before


def test_after_dupes_the_plan_names_the_exact_exif_date_tag(library, tmp_path):
    folder = tmp_path / "p"
    save(scene(5), folder / "a.jpg", taken="2019:12:31 23:59:59", subsec="900")
    library.add_roots([folder])
    drive(library.scan())
    drive(library.index(models=ModelSet()))
    drive(find_groups(library.store, library.thumbs_dir))
    [change] = _plan(library, tmp_path / "s", pattern="{year}/{date}").changes
    assert (change.dst, change.date_from) == (
        str(tmp_path / "s" / "2019" / "2019-12-31" / "a.jpg"),
        "SubSecDateTimeOriginal",
    )


def test_sorting_inside_the_folder_needs_no_rescan(lib, photos):
    photo = lib.photo(photos / "misc" / "IMG_1.jpg")
    drive(apply(lib, _plan(lib, photos / "Sorted", pattern="{year}")))
    moved = lib.store.photo(photo.id)
    # Rome's IMG_1.jpg (July 14) comes first and keeps the name; this one (July 20) gets " (2)".
    assert (moved.root_id, moved.rel_path, moved.state) == (
        photo.root_id,
        "Sorted/2021/IMG_1 (2).jpg",
        "indexed",
    )
    [result] = drive(lib.scan())
    assert (result.new, result.changed, result.moved, result.missing) == (0, 0, 0, 0)


def test_rename_apply_and_undo_from_the_command_line(lib, photos, capsys):
    before = snapshot(photos)
    lib.close()
    target = str(photos / "Rome" / "IMG_2.jpg")
    assert (
        main(
            [
                "--library",
                str(lib.folder),
                "rename",
                "--pattern",
                "{date}_{camera}",
                target,
            ]
        )
        == 0
    )
    assert (photos / "Rome" / "2021-07-15_Canon EOS R6.jpg").exists()
    assert not Path(target).exists()
    assert main(["--library", str(lib.folder), "undo"]) == 0
    assert "1 files put back" in capsys.readouterr().out
    assert snapshot(photos) == before
