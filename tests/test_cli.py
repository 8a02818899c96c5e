"""The CLI end to end, as a user runs it: a real subprocess on real files."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from tests.conftest import write_photo


def photoorg(library, *args, check=True):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-m", "photoorg", "--library", str(library), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def messy_dir(photo_dir):
    good = photo_dir / "rotated.jpg"
    (photo_dir / "bad").mkdir()
    (photo_dir / "bad" / "truncated.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (photo_dir / "bad" / "notes.jpg").write_text("a text file named .jpg")
    (photo_dir / "bad" / "empty.jpg").write_bytes(b"")
    Image.new("1", (30000, 30000)).save(photo_dir / "bad" / "huge.png")
    os.symlink("loop.jpg", photo_dir / "bad" / "loop.jpg")
    with open(os.fsencode(photo_dir / "bad") + b"/\xff\xfe.jpg", "wb") as f:
        f.write(good.read_bytes())
    return photo_dir


def test_add_status_errors_end_to_end(tmp_path, messy_dir):
    lib = tmp_path / "lib"
    added = photoorg(lib, "add", str(messy_dir))
    for name, reason in [
        ("truncated.jpg", "truncated"),
        ("notes.jpg", "not an image"),
        ("empty.jpg", "empty"),
        ("huge.png", "megapixel"),
        ("loop.jpg", "symlink loop"),
        (".jpg", "UTF-8"),
    ]:
        assert any(name in line and reason in line for line in added.stdout.splitlines()), (
            name,
            added.stdout,
        )
    status = json.loads(photoorg(lib, "status", "--json").stdout)
    assert status["counts"] == {"pending": 0, "indexed": 4, "error": 4, "missing": 0}
    assert status["roots"] == [
        {
            "path": str(messy_dir),
            "online": True,
            "offline_reason": None,
            "counts": status["counts"],
            "unconfirmed_missing": 0,
        }
    ]
    errors = json.loads(photoorg(lib, "errors", "--json").stdout)
    assert len(errors) == 6
    assert all(e["path"].startswith(str(messy_dir)) and e["reason"] for e in errors)


def test_missing_path_is_a_sentence_and_exit_2(tmp_path):
    done = photoorg(tmp_path / "lib", "add", str(tmp_path / "nope"), check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == f"photoorg: {tmp_path / 'nope'}: no such folder."


def test_library_that_is_not_sqlite_is_refused(tmp_path, photo_dir):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "library.db").write_text("shopping list: milk, eggs")
    done = photoorg(lib, "status", check=False)
    assert done.returncode == 2 and "not an SQLite database" in done.stderr
    assert (lib / "library.db").read_text() == "shopping list: milk, eggs"


def test_manual_tags_and_remove_root_keep_files(tmp_path, photo_dir):
    lib = tmp_path / "lib"
    photoorg(lib, "add", str(photo_dir))
    photo = photo_dir / "beach" / "sunny_day.jpg"
    assert photoorg(lib, "tag", str(photo), "--add", "Surf trip").stdout.strip() == "Surf trip"
    assert photoorg(lib, "tag", str(photo), "--remove", "nope", check=False).returncode == 2
    photoorg(lib, "remove", str(photo_dir))
    assert photo.exists() and len(list(photo_dir.rglob("*.*"))) == 4
    assert json.loads(photoorg(lib, "status", "--json").stdout)["roots"] == []


def test_library_defaults_to_env_variable(tmp_path, photo_dir):
    env = {**os.environ, "PHOTOORG_LIBRARY": str(tmp_path / "envlib")}
    done = subprocess.run(
        [sys.executable, "-m", "photoorg", "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(done.stdout)["library"] == str(tmp_path / "envlib")


def test_progress_is_plain_lines_when_not_a_terminal(tmp_path):
    folder = tmp_path / "many"
    for i in range(30):
        write_photo(folder / f"{i}.jpg", size=(16, 16))
    done = photoorg(tmp_path / "lib", "add", str(folder))
    assert "\r" not in done.stderr
    assert "scan: 30/30" in done.stderr and "index: 30/30" in done.stderr


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_search_limit_below_one_is_a_mistake_not_no_match(tmp_path, photo_dir, capsys, limit):
    from photoorg.cli import main

    lib = tmp_path / "lib"
    assert main(["--library", str(lib), "add", str(photo_dir)]) == 0
    capsys.readouterr()
    assert main(["--library", str(lib), "search", "", "--limit", limit]) == 2
    out = capsys.readouterr()
    assert "--limit" in out.err and "No photos match" not in out.out


def test_library_pointed_at_a_photo_folder_is_refused(tmp_path, photo_dir):
    done = photoorg(photo_dir / "beach", "status", check=False)
    assert done.returncode == 2
    assert "holds photos" in done.stderr and "photoorg add" in done.stderr
    assert not (photo_dir / "beach" / "library.db").exists()
