"""kill -9 in the middle of an index run or of `photoorg watch`: the next start
resumes, every photo ends indexed exactly once, and the database is intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from photoorg.db import Store
from photoorg.library import Library
from photoorg.progress import drive
from photoorg.thumbs import thumbnail_path

PHOTOS = 240


def make_photos(root: Path) -> set[str]:
    # Big enough that decoding and thumbnailing them takes a few seconds: room to
    # kill the run in the middle.
    root.mkdir()
    names = set()
    for i in range(PHOTOS):
        name = f"{i // 100}/{i:03d}.jpg"
        (root / name).parent.mkdir(exist_ok=True)
        Image.new("RGB", (640, 480), (i % 256, (i * 7) % 256, (i * 13) % 256)).save(root / name)
        names.add(name)
    return names


def photoorg(library: Path, *args: str) -> subprocess.Popen:
    # Output to a file, not a pipe nobody reads while waiting: a full pipe would
    # block the process and the test would measure nothing.
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    log = open(library.parent / f"{args[0]}-{time.monotonic_ns()}.log", "w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "photoorg", "--library", str(library), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    proc.log = log
    return proc


def output(proc: subprocess.Popen) -> str:
    proc.log.seek(0)
    text = proc.log.read().decode(errors="replace")
    proc.log.close()
    return text


def counts(library: Path) -> dict[str, int]:
    store = Store(library / "library.db")
    try:
        return store.counts()
    finally:
        store.close()


def until(condition, timeout: float, what: str, proc: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None and proc.returncode != 0:
            raise AssertionError(f"photoorg exited {proc.returncode}: {output(proc)}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def kill_mid_run(library: Path, proc: subprocess.Popen) -> int:
    until(lambda: counts(library)["indexed"] >= 10, 120, "the first indexed photos", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    output(proc)
    indexed = counts(library)["indexed"]
    assert indexed < PHOTOS, "the run finished before it could be killed: use more photos"
    return indexed


def check_library(library: Path, root: Path, names: set[str]) -> None:
    with sqlite3.connect(library / "library.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT rel_path, state FROM photos").fetchall()
    assert sorted(r[0] for r in rows) == sorted(names)  # one row per file, none twice
    assert {r[1] for r in rows} == {"indexed"}
    with Library(library) as lib:
        photos = lib.store.photos_where("1 = 1")
        assert all(thumbnail_path(lib.thumbs_dir, p).exists() for p in photos)


def test_index_killed_mid_run_resumes(tmp_path):
    root, library = tmp_path / "photos", tmp_path / "library"
    names = make_photos(root)
    with Library(library) as lib:
        lib.add_roots([root])
        drive(lib.scan())

    kill_mid_run(library, photoorg(library, "index"))

    again = photoorg(library, "index")
    again.wait(300)
    text = output(again)
    assert again.returncode == 0, text
    check_library(library, root, names)


def test_watch_killed_mid_run_resumes(tmp_path):
    root, library = tmp_path / "photos", tmp_path / "library"
    names = make_photos(root)
    with Library(library) as lib:
        lib.add_roots([root])  # not scanned: the watcher's first pass does it

    kill_mid_run(library, photoorg(library, "watch", "--quiet", "0.2"))

    again = photoorg(library, "watch", "--quiet", "0.2")
    try:
        until(lambda: counts(library)["indexed"] == PHOTOS, 300, "every photo indexed", again)
    finally:
        again.send_signal(signal.SIGTERM)  # the same clean stop as Ctrl-C
        again.wait(60)
    text = output(again)
    assert again.returncode == 0, text
    assert "Stopped watching" in text
    check_library(library, root, names)
