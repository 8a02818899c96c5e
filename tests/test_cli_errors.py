"""Every command's failure paths, as a user meets them: a real `photoorg` process each,
ending in one sentence on stderr and exit code 2, never a traceback. Argument mistakes
are argparse's usage line plus its one `error:` line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from photoorg.library import Library
from photoorg.progress import drive
from tests.conftest import write_photo

# (arguments after --library LIB, a fragment of the one sentence). In the arguments,
# {d} is the test's folder: photos/a.jpg is in the library, file.txt is a plain file.
MISTAKES = [
    (["add", "{d}/nope"], "{d}/nope: no such folder."),
    (["add", "{d}/file.txt"], "is a file, not a folder"),
    (["remove", "{d}/nope"], "is not a library folder (folders: {d}/photos)."),
    (["tag", "{d}/nope.jpg", "--add", "x"], "{d}/nope.jpg is not a photo in this library."),
    (["tag", "{d}/photos/a.jpg"], "say what to do: --add TAG and/or --remove TAG."),
    (["tag", "{d}/photos/a.jpg", "--remove", "zzz"], "has no tag 'zzz'."),
    (["search", "tag:"], "'tag:' has no value; write it like tag:beach."),
    (["search", "--limit", "0", "beach"], "--limit 0: give how many photos to show"),
    (["index", "--batch-size", "0"], "--batch-size must be at least 1."),
    (["models", "download", "nope"], "There is no model called 'nope'"),
    (["models", "import", "yolox-nano", "{d}/nope.onnx"], "{d}/nope.onnx is not a readable file."),
    (["vocab", "add", " "], "A vocabulary word cannot be empty."),
    (["cutout", "{d}/nope.jpg", "-o", "{d}/out.png"], "{d}/nope.jpg is not a photo in this library."),
    (["cutout", "{d}/photos/a.jpg", "-o", "{d}/out.jpg"], "a cut-out is a PNG with transparency"),
    (["cutout", "{d}/photos/a.jpg", "-o", "{d}/out.png", "--label", "dog"], "has no dog box"),
]

# The library folder itself is wrong (relative to the test's folder).
BAD_LIBRARIES = [
    ("file.txt", "file.txt is a file; a library is a folder."),
    ("photos", "holds photos, and a library folder is where photoorg keeps its own files"),
    ("badlib", "is not a photoorg library"),
    ("/proc/photoorg/lib", "Cannot create the library folder /proc/photoorg/lib"),  # cannot exist
]

ARGUMENT_MISTAKES = [
    ["add"],
    ["bogus"],
    ["watch", "--quiet", "nan"],
]


def photoorg(library, args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "photoorg", "--library", str(library), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def run_all(calls) -> list[subprocess.CompletedProcess]:
    # Each is a fresh interpreter (about half a second of CPU); three at a time.
    with ThreadPoolExecutor(3) as pool:
        return list(pool.map(lambda call: photoorg(*call), calls))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli-errors")
    write_photo(d / "photos" / "a.jpg")
    (d / "file.txt").write_text("not a folder")
    (d / "badlib").mkdir()
    (d / "badlib" / "library.db").write_text("not SQLite")
    with Library(d / "lib") as lib:
        lib.add_roots([d / "photos"])
        drive(lib.scan())
    return d


def one_sentence(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("photoorg: "), done.stderr
    return lines[0].removeprefix("photoorg: ")


def test_each_mistake_is_one_sentence_and_exit_2(folder):
    calls = [(folder / "lib", [a.format(d=folder) for a in args]) for args, _ in MISTAKES]
    for (args, expected), done in zip(MISTAKES, run_all(calls)):
        sentence = one_sentence(done)
        assert expected.format(d=folder) in sentence, (args, sentence)
        assert sentence.endswith("."), sentence


def test_a_bad_library_folder_is_one_sentence_for_every_command(folder):
    # Every command opens the library the same way (open_library); `gui` before Qt starts.
    calls = [(folder / lib, args) for lib, _ in BAD_LIBRARIES for args in (["status"], ["gui"])]
    results = iter(run_all(calls))
    for lib, expected in BAD_LIBRARIES:
        for args in (["status"], ["gui"]):
            sentence = one_sentence(next(results))
            assert expected in sentence, (lib, args, sentence)
    assert not (folder / "photos" / "library.db").exists()  # nothing was made among the photos


def test_argument_mistakes_are_usage_and_one_error_line(folder):
    error_line = re.compile(r"^photoorg( [a-z]+)*: error: \S.*$")
    for args, done in zip(ARGUMENT_MISTAKES, run_all([(folder / "lib", a) for a in ARGUMENT_MISTAKES])):
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == 2, (args, done.returncode)
        lines = done.stderr.splitlines()
        assert lines[0].startswith("usage: photoorg"), (args, done.stderr)
        assert error_line.match(lines[-1]), (args, done.stderr)
        assert [line for line in lines if "error:" in line] == [lines[-1]], done.stderr
