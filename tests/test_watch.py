"""The watcher with real watchdog observers on temp folders. Every wait is a bounded
poll on what the library says; intervals are short so the module stays fast."""

from __future__ import annotations

import errno
import io
import os
import time

import pytest
from PIL import Image

from photoorg.cli import main
from photoorg.library import Library
from photoorg.progress import drive
from photoorg.watch import Notice, WatchOptions

FAST = WatchOptions(quiet=0.15, max_delay=1.0, settle=0.05, recheck=0.1, fallback_interval=0.3, index=False)


def png_bytes(i: int) -> bytes:
    # Distinct pixels, so distinct content hashes: moves are told apart by content.
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (i % 256, (i // 256) % 256, 90)).save(out, "PNG")
    return out.getvalue()


def write(path, i: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(png_bytes(i))


def until(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Watched:
    """A library on temp folders with a running watcher and its notices."""

    def __init__(self, tmp_path, names=("photos",), options=FAST):
        self.roots = [tmp_path / name for name in names]
        for root in self.roots:
            root.mkdir(exist_ok=True)
        self.lib = Library(tmp_path / "library")
        self.lib.add_roots(self.roots)
        self.roots = [str(r.resolve()) for r in self.roots]
        self.notices: list[Notice] = []
        self.service = self.lib.watcher(on_notice=self.notices.append, options=options).start()
        assert self.service.wait_idle(20), "the first pass did not finish"

    def photo(self, path):
        return self.lib.store.photo_by_path(str(path))

    def kinds(self, kind: str) -> list[Notice]:
        return [n for n in self.notices if n.kind == kind]

    def close(self) -> None:
        self.service.stop()
        self.lib.close()
        assert not self.service.running
        assert self.kinds("error") == [], self.kinds("error")


@pytest.fixture
def watched(tmp_path):
    w = Watched(tmp_path)
    yield w
    w.close()


@pytest.fixture
def two_roots(tmp_path):
    w = Watched(tmp_path, names=("a", "b"))
    yield w
    w.close()


def test_create_modify_delete(watched):
    path = os.path.join(watched.roots[0], "a.png")
    write(path, 1)
    photo = until(lambda: watched.photo(path), what="the new photo")
    assert photo.state == "pending"

    write(path, 2)
    changed = until(
        lambda: (p := watched.photo(path)) and p.hash != photo.hash and p, what="the changed photo"
    )
    assert changed.id == photo.id

    os.remove(path)
    until(lambda: watched.photo(path).state == "missing", what="the photo marked missing")
    assert watched.photo(path).id == photo.id  # kept, with its tags, until purged


def test_rename_file_keeps_row_and_tags(watched):
    old = os.path.join(watched.roots[0], "old.png")
    write(old, 3)
    photo = until(lambda: watched.photo(old), what="the photo")
    watched.lib.tag(old, add=["Grandma's garden"])

    new = os.path.join(watched.roots[0], "new name.png")
    os.rename(old, new)
    moved = until(lambda: watched.photo(new), what="the renamed photo")
    assert moved.id == photo.id
    assert [t.tag for t in watched.lib.store.tags_of(moved.id)] == ["Grandma's garden"]
    assert watched.photo(old) is None
    assert watched.lib.store.counts()["missing"] == 0


def test_rename_folder_keeps_rows(watched):
    root = watched.roots[0]
    paths = [os.path.join(root, "trip", "day1", f"{i}.png") for i in range(3)]
    for i, path in enumerate(paths):
        write(path, 10 + i)
    ids = [until(lambda p=p: watched.photo(p), what="the photos").id for p in paths]

    os.rename(os.path.join(root, "trip"), os.path.join(root, "Trip 2024"))
    renamed = [p.replace(os.sep + "trip" + os.sep, os.sep + "Trip 2024" + os.sep) for p in paths]
    until(lambda: all(watched.photo(p) for p in renamed), what="the renamed folder")
    assert [watched.photo(p).id for p in renamed] == ids
    assert watched.lib.store.counts()["missing"] == 0
    assert watched.service.wait_idle(20)  # the batch notice follows the write
    assert sum(n.batch.moved for n in watched.kinds("batch")) == 3


def test_move_between_roots_keeps_row(two_roots):
    a, b = two_roots.roots
    src = os.path.join(a, "dog.png")
    write(src, 20)
    photo = until(lambda: two_roots.photo(src), what="the photo in a")
    two_roots.lib.tag(src, add=["Rex"])

    dest = os.path.join(b, "pets", "dog.png")
    os.makedirs(os.path.dirname(dest))
    os.replace(src, dest)
    moved = until(lambda: two_roots.photo(dest), what="the photo in b")
    assert moved.id == photo.id
    assert [t.tag for t in two_roots.lib.store.tags_of(moved.id)] == ["Rex"]
    until(lambda: two_roots.photo(src) is None, what="the old path gone")
    assert two_roots.lib.store.counts()["missing"] == 0


def test_root_moved_away_is_offline_then_reconciled(watched):
    root = watched.roots[0]
    for i in range(3):
        write(os.path.join(root, f"{i}.png"), 30 + i)
    until(lambda: watched.lib.store.counts()["pending"] == 3, what="three photos")

    away = root + " (unplugged)"
    os.rename(root, away)
    until(lambda: not watched.lib.roots()[0].online, what="the root offline")
    assert watched.lib.store.counts()["missing"] == 0
    assert watched.lib.store.counts()["pending"] == 3  # still in the library
    assert [n.root for n in watched.kinds("offline")] == [root]

    write(os.path.join(away, "while away.png"), 40)  # changed while nothing watched it
    os.remove(os.path.join(away, "0.png"))
    os.rename(away, root)
    until(lambda: watched.kinds("online"), what="the root back online")
    until(lambda: watched.photo(os.path.join(root, "while away.png")), what="the reconciliation")
    assert watched.lib.roots()[0].online
    assert watched.photo(os.path.join(root, "0.png")).state == "missing"
    assert watched.service.watched_roots() == {root: "watched"}

    write(os.path.join(root, "after.png"), 41)  # watched again
    until(lambda: watched.photo(os.path.join(root, "after.png")), what="a photo after the return")


def test_burst_of_files_takes_few_passes(tmp_path):
    # The timing rules are tests/test_coalesce.py's; this is the wiring, on a real
    # observer. The default max_delay: a burst is cut every 10 s however slow the disk
    # (or a loaded test machine) writes it.
    w = Watched(tmp_path, options=WatchOptions(quiet=0.15, settle=0.05, recheck=0.1, index=False))
    try:
        before = w.service.passes
        for i in range(400):
            write(os.path.join(w.roots[0], f"burst{i // 100}", f"{i}.png"), 1000 + i)
        until(lambda: w.lib.store.counts()["pending"] == 400, timeout=60, what="400 photos")
        assert w.service.wait_idle(30)
        passes = w.service.passes - before
        assert 1 <= passes <= 4, f"{passes} scan passes for one burst"
        assert sum(n.batch.new for n in w.kinds("batch")) == 400
    finally:
        w.close()


def test_file_still_being_written_waits(tmp_path):
    slow = WatchOptions(quiet=0.1, max_delay=1.0, settle=1.5, recheck=0.1, index=False)
    w = Watched(tmp_path, options=slow)
    try:
        path = os.path.join(w.roots[0], "big.png")
        data = png_bytes(50) + b"\0" * 100_000
        with open(path, "wb") as f:
            f.write(data[:1000])
            f.flush()
            passes = w.service.passes
            until(lambda: w.service.passes > passes, what="a pass after the first write")
            assert w.photo(path) is None  # half a file is not taken
            f.write(data[1000:])
        photo = until(lambda: w.photo(path), what="the finished file")
        assert photo.size == len(data)
    finally:
        w.close()


def test_unwatchable_root_falls_back_to_periodic_rescans(tmp_path, monkeypatch):
    def refuse(observer, handler, path):
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr("photoorg.rootwatch.schedule", refuse)
    w = Watched(tmp_path)
    try:
        [degraded] = w.kinds("degraded")
        assert "limit" in degraded.message and degraded.message.count(". ") == 0
        assert w.service.watched_roots() == {w.roots[0]: "polling"}
        path = os.path.join(w.roots[0], "late.png")
        write(path, 60)
        until(lambda: w.photo(path), what="the periodic rescan")
    finally:
        w.close()


def test_new_photos_are_indexed(tmp_path):
    w = Watched(tmp_path, options=WatchOptions(quiet=0.1, settle=0.05, recheck=0.1))
    try:
        for i in range(5):
            write(os.path.join(w.roots[0], f"{i}.png"), 70 + i)
        until(lambda: w.lib.store.counts()["indexed"] == 5, what="five photos indexed")
        assert w.service.wait_idle(20)
    finally:
        w.close()


def test_pause_holds_indexing_not_watching(tmp_path):
    w = Watched(tmp_path, options=WatchOptions(quiet=0.1, settle=0.05, recheck=0.1))
    try:
        w.service.pause()
        for i in range(3):
            write(os.path.join(w.roots[0], f"{i}.png"), 130 + i)
        until(lambda: w.lib.store.counts()["pending"] == 3, what="three photos scanned")
        assert w.service.wait_idle(20) and w.service.paused
        assert w.lib.store.counts()["indexed"] == 0
        w.service.resume()
        until(lambda: w.lib.store.counts()["indexed"] == 3, what="three photos indexed")

        # After a model install: a pass runs although nothing is pending.
        assert w.service.wait_idle(20)
        w.notices.clear()
        w.service.request_index()
        until(
            lambda: any(n.progress and n.progress.stage == "index" for n in w.notices), what="an index pass"
        )
        assert w.service.wait_idle(20)
    finally:
        w.close()


def test_purge_missing_asks_unless_yes(tmp_path, capsys, monkeypatch):
    root = tmp_path / "photos"
    write(str(root / "gone.png"), 80)
    write(str(root / "kept.png"), 81)
    with Library(tmp_path / "library") as lib:
        lib.add_roots([root])
        drive(lib.scan())
        os.remove(root / "gone.png")
        drive(lib.scan())
        assert lib.store.counts()["missing"] == 1
    args = ["--library", str(tmp_path / "library"), "purge", "--missing"]

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(args) == 2
    assert "--yes" in capsys.readouterr().err

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    assert main(args) == 0
    assert "Nothing removed." in capsys.readouterr().out

    assert main(args + ["--yes"]) == 0
    assert "Removed 1 missing photo from" in capsys.readouterr().out
    with Library(tmp_path / "library") as lib:
        assert lib.store.counts()["missing"] == 0
        assert sum(lib.store.counts().values()) == 1
    assert main(args + ["--yes"]) == 0
    assert "No missing photos." in capsys.readouterr().out


def test_partial_recursive_watch_is_detected(tmp_path):
    # watchdog skips the subfolders it cannot watch without a word (the inotify limit
    # running out halfway through a tree): the count of its watches tells.
    from photoorg.rootwatch import new_observer, schedule, watch_is_complete
    from photoorg.watch import _Handler

    for sub in ("a", "a/b", "c"):
        (tmp_path / sub).mkdir()
    observer = new_observer()
    observer.start()
    try:
        watch = schedule(observer, _Handler(None, 1, str(tmp_path)), str(tmp_path))
        assert watch_is_complete(observer, watch, str(tmp_path))
        group = observer._emitter_for_watch[watch]._inotify
        watched, skipped = group._active_callbacks_by_path, os.fsencode(str(tmp_path / "a" / "b"))
        group._active_callbacks_by_path = {p: wd for p, wd in watched.items() if p != skipped}
        try:
            assert not watch_is_complete(observer, watch, str(tmp_path))
        finally:
            group._active_callbacks_by_path = watched
    finally:
        observer.stop()
        observer.join(10)


def test_a_failed_pass_is_retried(tmp_path, monkeypatch):
    import sqlite3

    import photoorg.watch as watch_module

    real_scan, failures = watch_module.scan, []

    def flaky_scan(*args, **kwargs):
        if len(failures) == 0 and watch_module.time.monotonic() > armed[0]:
            failures.append(1)
            raise sqlite3.OperationalError("database is locked")
        return real_scan(*args, **kwargs)

    armed = [float("inf")]
    monkeypatch.setattr(watch_module, "scan", flaky_scan)
    w = Watched(tmp_path)
    try:
        armed[0] = 0.0
        path = os.path.join(w.roots[0], "retried.png")
        write(path, 90)
        until(lambda: w.photo(path), what="the photo after a failed pass")
        [error] = w.kinds("error")
        assert "database is locked" in error.message
        w.notices.remove(error)
    finally:
        w.close()


def test_a_dead_emitter_is_replaced(watched):
    # An error inside watchdog ends its emitter thread without a word; the recheck
    # notices, rescans the root and watches it again.
    [emitter] = list(watched.service._roots.observer.emitters)
    emitter.stop()
    emitter.join(10)
    path = os.path.join(watched.roots[0], "after.png")
    write(path, 95)
    until(lambda: watched.photo(path), what="the photo after the emitter died")
    until(lambda: any(e.is_alive() for e in watched.service._roots.observer.emitters), what="a new emitter")


def test_unmounted_drive_leaves_an_empty_mount_point_offline(watched):
    # The disaster case: the drive goes away and its mount point stays, empty.
    # Nothing may be marked missing; when the drive is back, nothing has changed.
    root = watched.roots[0]
    for i in range(3):
        write(os.path.join(root, f"{i}.png"), 100 + i)
    until(lambda: watched.lib.store.counts()["pending"] == 3, what="three photos")

    drive_away = root + ".drive"
    os.rename(root, drive_away)
    os.mkdir(root)  # the bare mount point
    until(lambda: not watched.lib.roots()[0].online, what="the root offline")
    assert "empty" in watched.lib.roots()[0].offline_reason
    assert watched.lib.store.counts() == {"pending": 3, "indexed": 0, "error": 0, "missing": 0}

    os.rmdir(root)
    os.rename(drive_away, root)  # mounted again
    until(lambda: watched.lib.roots()[0].online, what="the root online")
    assert watched.service.wait_idle(20)
    assert watched.lib.store.counts()["pending"] == 3
    assert watched.lib.store.counts()["missing"] == 0


def test_changes_made_while_not_watching_are_reconciled_at_start(tmp_path):
    w = Watched(tmp_path)
    root = w.roots[0]
    write(os.path.join(root, "kept.png"), 110)
    write(os.path.join(root, "renamed.png"), 111)
    until(lambda: w.lib.store.counts()["pending"] == 2, what="two photos")
    photo = w.photo(os.path.join(root, "renamed.png"))
    w.service.stop()

    os.mkdir(os.path.join(root, "sub"))
    os.rename(os.path.join(root, "renamed.png"), os.path.join(root, "sub", "new name.png"))
    write(os.path.join(root, "added.png"), 112)
    w.notices.clear()
    w.service = w.lib.watcher(on_notice=w.notices.append, options=FAST).start()
    try:
        assert w.service.wait_idle(20)
        assert w.photo(os.path.join(root, "sub", "new name.png")).id == photo.id
        assert w.photo(os.path.join(root, "added.png"))
        assert w.lib.store.counts()["missing"] == 0
    finally:
        w.close()


def test_a_folder_added_elsewhere_is_watched_too(watched, tmp_path):
    # `photoorg add` in another process while the watcher runs.
    other = tmp_path / "later"
    other.mkdir()
    write(str(other / "first.png"), 120)
    with Library(watched.lib.folder) as elsewhere:
        elsewhere.add_roots([other])
    until(lambda: watched.photo(str(other.resolve() / "first.png")), what="the added folder scanned")
    until(
        lambda: watched.service.watched_roots().get(str(other.resolve())) == "watched",
        what="the added folder watched",
    )
    write(str(other / "second.png"), 121)
    until(lambda: watched.photo(str(other.resolve() / "second.png")), what="a new photo there")


def test_a_folder_removed_elsewhere_while_watched_is_no_error(tmp_path):
    # `photoorg remove` from a shell while the GUI watches: an event in that folder
    # before the watcher's next recheck must not fail the pass.
    slow_recheck = WatchOptions(
        quiet=0.15, max_delay=1.0, settle=0.05, recheck=60, fallback_interval=60, index=False
    )
    w = Watched(tmp_path, names=("a", "b"), options=slow_recheck)
    try:
        a, b = w.roots
        with Library(w.lib.folder) as other:
            other.remove_root(a)
        write(os.path.join(a, "late.png"), 30)
        write(os.path.join(b, "kept.png"), 31)
        until(
            lambda: w.photo(os.path.join(b, "kept.png")) or w.kinds("error"),
            what="the photo in b or an error",
        )
        assert w.photo(os.path.join(a, "late.png")) is None
    finally:
        w.close()


@pytest.mark.parametrize(
    "option,value", [("--quiet", "nan"), ("--quiet", "-1"), ("--fallback-interval", "0"), ("--quiet", "inf")]
)
def test_watch_refuses_seconds_that_are_not_a_positive_number(tmp_path, capsys, option, value):
    # nan never came due (nothing was ever rescanned); 0 rescanned without pause.
    (tmp_path / "photos").mkdir()
    with Library(tmp_path / "lib") as lib:
        lib.add_roots([tmp_path / "photos"])
    with pytest.raises(SystemExit) as done:
        main(["--library", str(tmp_path / "lib"), "watch", option, value])
    assert done.value.code == 2 and "seconds" in capsys.readouterr().err
