"""Property tests: any string a user can type, as a query, a tag or a name, gives a
result or one UserError, never another exception (no traceback for any input)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from photoorg.errors import UserError
from photoorg.library import Library
from photoorg.models.detect import Detection
from photoorg.progress import drive
from photoorg.query import FILTER_KEYS, parse
from tests.conftest import write_photo

# Every code point, surrogates included (a shell passes undecodable bytes as them).
ANY_CHAR = st.characters(codec=None, exclude_categories=())
# Pieces of the query language, so the parser's branches are reached, not only words.
PIECES = st.sampled_from(
    [f"{k}:" for k in FILTER_KEYS]
    + [
        "-",
        '"',
        " ",
        "9999",
        "2021-06-31",
        "0",
        "*",
        "NEAR(",
        "AND",
        "--",
        "'",
        "%",
        "\0",
        "\udcff",
        "ı",
        "ß",
        "e\u0301",
    ]
)
QUERY = st.lists(st.one_of(PIECES, st.text(ANY_CHAR, max_size=8)), max_size=30).map("".join)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("any_input")
    for i, name in enumerate(["beach.jpg", "Ana 2021.jpg", "dog_park.png"]):
        write_photo(
            folder / "photos" / name,
            color=(i * 60, 90, 20),
            taken=f"202{i}:06:01 10:00:00",
        )
    lib = Library(folder / "lib")
    lib.add_roots([folder / "photos"])
    drive(lib.scan())
    photo = lib.photo(folder / "photos" / "beach.jpg")
    lib.tag(photo.path, add=["Wedding"])
    [box] = lib.store.replace_detections(photo.id, "m", [Detection("person", 0.9, (0, 0, 1, 1))])
    lib.name_box(box, "Ana")
    yield lib, photo, box
    lib.close()


@FUZZ
@given(QUERY)
@example("year:9999")  # the cases the adversarial pass found, always tried
@example("-year:9999")
@example(" ".join(["w"] * 1000))
@example("caf\udce9")
@example('after:"0\n"')  # found by hypothesis: the message quoted the newline
@example('tag:"\n"')
def test_the_parser_reads_anything_or_says_why(text):
    try:
        parse(text)
    except UserError as e:
        assert str(e) and "\n" not in str(e)


@FUZZ
@given(QUERY)
@example("year:9999")
@example("similar:\0")  # found by hypothesis: os.path's ValueError came through
@example(" ".join(f"-w{i}" for i in range(1000)))
def test_search_answers_anything_or_says_why(library, text):
    lib, _, _ = library
    try:
        hits = lib.search(text, limit=5)
    except UserError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert all(h.photo.state != "missing" for h in hits)


@FUZZ
@given(st.text(ANY_CHAR, max_size=300))
@example("a\0b")
@example("x" * 100_000)
def test_tags_and_names_are_stored_whole_or_refused(library, text):
    lib, photo, box = library
    try:
        tags = lib.tag(photo.path, add=[text])
    except UserError:
        assert lib.store.integrity_ok()
    else:
        stored = " ".join(text.split())
        assert stored.casefold() in [t.tag.casefold() for t in tags]
        assert 0 < len(stored) <= 200 and "\0" not in stored
        if stored.casefold() != "wedding":
            lib.tag(photo.path, remove=[text])
    try:
        lib.name_box(box, text)
    except UserError:
        pass
    else:
        assert lib.detections(photo)[0].subject_name.casefold() == " ".join(text.split()).casefold()
    lib.name_box(box, "Ana")
