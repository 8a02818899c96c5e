"""Ranking, cut-off, filters, similar:, regions and FTS edge cases on real temp libraries
built through Store, with constructed embeddings and a fake text encoder (a test double:
the text vectors are chosen by the test)."""

import numpy as np
import pytest

from photoorg.db import PhotoMeta, Store
from photoorg.search import QUERY_HELP, QueryError, completions, cutoff, search
from photoorg.vectors import VectorIndex

DIM = 32
MODEL = "fake-clip"


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def axis(i, noise=0.0, rng=None):
    v = np.zeros(DIM, np.float32)
    v[i] = 1.0
    if noise:
        v = v + rng.normal(0, noise, DIM).astype(np.float32)
    return unit(v)


class FakeEncoder:
    """Maps known phrases to constructed directions, like a text tower would."""

    model_id = MODEL

    def __init__(self, table):
        self.table = table
        self.calls = []

    def embed_texts(self, texts):
        self.calls.append(list(texts))
        return np.stack([self.table[t] for t in texts]).astype(np.float32)


class Lib:
    def __init__(self, tmp_path):
        self.store = Store(tmp_path / "lib.db")
        self.root = self.store.add_root(str(tmp_path / "Pictures"))
        self.rng = np.random.default_rng(7)
        self.n = 0

    def add(self, rel, vector=None, tags=(), taken=None, camera=None, gps=False, state="indexed"):
        self.n += 1
        pid = self.store.add_photo(self.root.id, rel, 100, self.n, f"h{self.n}")
        self.store.set_meta(
            pid,
            PhotoMeta(640, 480, taken, camera, camera and "X100", 1.0 if gps else None, 2.0 if gps else None),
        )
        self.store.set_state(pid, state)
        if tags:
            self.store.set_auto_tags(pid, [(tag, score, MODEL) for tag, score in tags])
        if vector is not None:
            self.store.replace_embeddings(pid, MODEL, [(None, vector)])
        return pid

    def background(self, count=80):
        # Unrelated photos: random directions in the dimensions no query uses.
        ids = []
        for i in range(count):
            v = np.zeros(DIM, np.float32)
            v[8:] = self.rng.normal(0, 1, DIM - 8)
            ids.append(self.add(f"misc/bg{i:03}.jpg", unit(v), taken=f"2015-01-{i % 28 + 1:02}T10:00:00"))
        return ids

    def path(self, hit):
        return hit.photo.rel_path


@pytest.fixture
def lib(tmp_path):
    lib = Lib(tmp_path)
    yield lib
    lib.store.close()


def paths(hits):
    return [h.photo.rel_path for h in hits]


def test_exact_tags_rank_first_then_similarity_with_cutoff(lib):
    lib.background()
    tagged = lib.add("a/tagged.jpg", axis(5), tags=[("dog", 0.6)])
    strong = lib.add("a/strong.jpg", axis(0), tags=[("dog", 0.9)])
    close = lib.add("a/close.jpg", unit(axis(0) + 0.3 * axis(9)))
    nearer = lib.add("a/nearer.jpg", unit(axis(0) + 0.8 * axis(9)))
    enc = FakeEncoder({"dog": axis(0)})
    hits = search(lib.store, "dog", text_encoder=enc)
    assert paths(hits) == ["a/strong.jpg", "a/tagged.jpg", "a/close.jpg", "a/nearer.jpg"]
    assert hits[0].why == ["tag: dog (0.90)"] and hits[0].score == pytest.approx(2.9)
    assert hits[2].why[0].startswith("text similarity") and hits[2].score < 1
    assert hits[2].score > hits[3].score
    assert enc.calls == [["dog"]]
    # No background photo passes the cut-off.
    assert {h.photo.id for h in hits} == {tagged, strong, close, nearer}


def test_cutoff_is_median_plus_three_robust_sigmas():
    rng = np.random.default_rng(0)
    null = rng.normal(0.2, 0.01, 10000).astype(np.float32)
    assert cutoff(null) == pytest.approx(0.23, abs=0.002)
    small = np.array([0.1, 0.2, 0.9], np.float32)
    assert 0.2 < cutoff(small) < 0.9  # tiny library: the better half
    assert cutoff(np.empty(0, np.float32)) == float("inf")


def test_free_text_without_encoder_uses_words_only(lib):
    lib.background(10)
    lib.add("Holidays 2019/beach_day.jpg", axis(0))
    lib.add("other/x.jpg", axis(0), tags=[("seaside", 0.8)])
    hits = search(lib.store, "beach")
    assert paths(hits) == ["Holidays 2019/beach_day.jpg"]
    assert hits[0].why == ["word: beach in path"] and 1 < hits[0].score < 2
    assert paths(search(lib.store, "seas")) == ["other/x.jpg"]  # prefix of a tag


def test_fts_is_case_and_accent_insensitive(lib):
    pid = lib.add("people/x.jpg")
    det = lib.store.replace_detections(
        pid, "det", [type("D", (), {"label": "person", "score": 0.9, "box": (0.1, 0.2, 0.5, 0.9)})()]
    )[0]
    lib.store.name_detection(det, lib.store.subject("Zoë Müller").id)
    for text in ("zoe", "ZOË", "mull", "Müller"):
        hits = search(lib.store, text)
        assert paths(hits) == ["people/x.jpg"], text
        assert hits[0].why == [f"word: {text} in name"], text


@pytest.mark.parametrize(
    "text",
    [
        "'",
        "%",
        "*",
        "--",
        "NEAR",
        'NEAR("a" "b")',
        "nothing OR dog",
        "x' OR '1'='1",
        "\\",
        "_",
        "(",
        "^",
        "a AND",
        "-",
        '"-x"',
    ],
)
def test_sql_and_fts_syntax_is_just_text(lib, text):
    lib.add("plain/photo.jpg", tags=[("dog", 0.5)])
    lib.add("plain/100%_real.jpg")
    # As SQL or FTS syntax each would match everything, or fail; as words, nothing here.
    assert search(lib.store, text) == []
    assert search(lib.store, f"tag:x{text} in:x{text}") == []
    assert lib.store.counts()["indexed"] == 2  # and nothing was written


def test_quote_and_star_are_query_syntax_not_injection(lib):
    lib.add("plain/photo.jpg", tags=[("dog", 0.5)])
    lib.add("plain/100%_real.jpg")
    assert paths(search(lib.store, "dog*")) == ["plain/photo.jpg"]  # a prefix, as typed
    # A lone quote opens an empty phrase: no words, so every photo, newest first.
    assert paths(search(lib.store, '"')) == ["plain/100%_real.jpg", "plain/photo.jpg"]
    assert search(lib.store, 'tag:x" in:x"') == []


def test_percent_and_underscore_are_literal_in_folder_filter(lib):
    lib.add("100%/a.jpg")
    lib.add("100x/b.jpg")
    lib.add("a_b/c.jpg")
    lib.add("axb/d.jpg")
    assert paths(search(lib.store, "in:100%")) == ["100%/a.jpg"]
    assert paths(search(lib.store, "in:a_b")) == ["a_b/c.jpg"]


def test_names_first_and_point_at_the_box(lib):
    a = lib.add("x/ana.jpg", tags=[("Ana", 0.4)])
    lib.add("x/other.jpg", tags=[("ana", 0.3)])
    det = lib.store.replace_detections(
        a, "det", [type("D", (), {"label": "person", "score": 0.9, "box": (0.0, 0.0, 0.5, 0.5)})()]
    )[0]
    lib.store.name_detection(det, lib.store.subject("Ana").id)
    hits = search(lib.store, "ana")
    assert paths(hits) == ["x/ana.jpg", "x/other.jpg"]
    assert "name: Ana" in hits[0].why and hits[0].box == (0.0, 0.0, 0.5, 0.5)
    assert hits[0].detection_id == det
    hits = search(lib.store, "person:ana")
    assert paths(hits) == ["x/ana.jpg"] and hits[0].why == ["name: Ana"]
    assert search(lib.store, "pet:ana") == []
    assert paths(search(lib.store, "-person:Ana")) == ["x/other.jpg"]


def test_multi_word_exact_needs_every_term(lib):
    lib.add("x/both.jpg", tags=[("dog", 0.5), ("beach", 0.7)])
    lib.add("x/dog.jpg", tags=[("dog", 0.9)])
    lib.add("x/cake.jpg", tags=[("birthday cake", 0.8)])
    hits = search(lib.store, "dog beach")
    assert paths(hits) == ["x/both.jpg"]
    assert sorted(hits[0].why) == ["tag: beach (0.70)", "tag: dog (0.50)"]
    assert paths(search(lib.store, "birthday cake"))[0] == "x/cake.jpg"
    assert paths(search(lib.store, 'tag:"birthday cake"')) == ["x/cake.jpg"]


def test_each_filter_and_its_negation(lib):
    a = lib.add(
        "2021/Rome/a.jpg", tags=[("snow", 0.5)], taken="2021-03-05T10:00:00", camera="Canon", gps=True
    )
    b = lib.add("2022/Screenshots/b.png", taken="2022-07-01T09:00:00", camera="Apple")
    c = lib.add("2019/c.jpg", taken="2019-12-31T23:00:00")
    d = lib.add("broken/d.jpg", state="error")
    dog = type("D", (), {"label": "dog", "score": 0.8, "box": (0.2, 0.2, 0.4, 0.4)})()
    lib.store.replace_detections(c, "det", [dog])
    lib.store.set_auto_tags(c, [("dog", 0.8, "det")])  # the box passed the tag cut
    ids = lambda q: {h.photo.id for h in search(lib.store, q)}  # noqa: E731
    assert ids("tag:snow") == {a} and ids("-tag:snow") == {b, c, d}
    assert ids("in:Rome") == {a} and ids("in:2021/Rome") == {a} and ids("-in:Screenshots") == {a, c, d}
    assert ids(f"in:{lib.root.path}/2022") == {b} and ids("in:Pictures") == {a, b, c, d}
    assert ids("in:Rom") == set()  # a folder name, not a prefix
    assert ids("after:2021") == {a, b} and ids("after:2021-03-06") == {b}
    assert ids("before:2021") == {c} and ids("before:2020-01-01") == {c}
    assert ids("year:2021") == {a} and ids("2022") == {b} and ids("-year:2021") == {b, c, d}
    assert ids("camera:canon") == {a} and ids("camera:x100") == {a, b}
    assert ids("has:gps") == {a} and ids("has:error") == {d} and ids("has:dog") == {c}
    assert ids("-has:error") == {a, b, c}
    assert ids("after:2019 before:2022 -tag:snow") == {c}
    hit = search(lib.store, "has:dog")[0]
    assert hit.why == ["tag: dog (0.80)", "box: dog"] and hit.box == (0.2, 0.2, 0.4, 0.4)


def test_has_finds_label_tags_not_every_drawn_box(lib):
    """A box under the detector's tag cut is drawn and nameable, but its photo is no
    "dog" photo: has: follows the label tags."""
    weak = lib.add("x/teddy.jpg")
    teddy = type("D", (), {"label": "dog", "score": 0.3, "box": (0.1, 0.1, 0.5, 0.5)})()
    lib.store.replace_detections(weak, "det", [teddy])
    sure = lib.add("x/rex.jpg")
    rex = type("D", (), {"label": "dog", "score": 0.9, "box": (0.2, 0.2, 0.6, 0.6)})()
    lib.store.replace_detections(sure, "det", [rex])
    lib.store.set_auto_tags(sure, [("dog", 0.9, "det")])
    assert [h.photo.id for h in search(lib.store, "has:dog")] == [sure]
    assert len(lib.store.detections_of(weak)) == 1


def test_missing_photos_never_match(lib):
    a = lib.add("x/a.jpg", tags=[("dog", 0.5)])
    lib.store.mark_missing([a])
    assert search(lib.store, "dog") == [] and search(lib.store, "") == []


def test_empty_query_is_most_recent_and_pages(lib):
    for i in range(5):
        lib.add(f"x/{i}.jpg", taken=f"2020-01-0{i + 1}T00:00:00")
    hits = search(lib.store, "   ")
    assert paths(hits) == [f"x/{i}.jpg" for i in (4, 3, 2, 1, 0)]
    assert hits[0].why == ["most recent"]
    assert paths(search(lib.store, "", limit=2, offset=1)) == ["x/3.jpg", "x/2.jpg"]


def test_paging_across_tiers(lib):
    lib.background()
    for i in range(3):
        lib.add(f"t/{i}.jpg", axis(1), tags=[("cat", 0.5 + i / 10)])
    for i in range(3):
        lib.add(f"v/{i}.jpg", unit(axis(1) + 0.1 * i * axis(12)))
    enc = FakeEncoder({"cat": axis(1)})
    full = paths(search(lib.store, "cat", text_encoder=enc))
    assert full[:3] == ["t/2.jpg", "t/1.jpg", "t/0.jpg"] and len(full) == 6
    pages = [paths(search(lib.store, "cat", limit=2, offset=o, text_encoder=enc)) for o in (0, 2, 4)]
    assert sum(pages, []) == full


def test_filters_apply_to_similarity_hits(lib):
    lib.background()
    lib.add("keep/a.jpg", axis(2), taken="2022-05-01T00:00:00")
    lib.add("keep/old.jpg", axis(2), taken="2010-05-01T00:00:00")
    lib.add("drop/b.jpg", axis(2), taken="2022-05-01T00:00:00")
    enc = FakeEncoder({"sunset": axis(2)})
    assert paths(search(lib.store, "sunset in:keep after:2020", text_encoder=enc)) == ["keep/a.jpg"]
    assert len(search(lib.store, "sunset", text_encoder=enc)) == 3


def test_region_match_points_at_the_box(lib):
    lib.background()
    pid = lib.add("home/sofa.jpg", axis(3))
    det = lib.store.replace_detections(
        pid, "det", [type("D", (), {"label": "dog", "score": 0.9, "box": (0.5, 0.5, 0.9, 0.9)})()]
    )[0]
    lib.store.replace_embeddings(pid, MODEL, [(None, axis(3)), (det, unit(axis(4) + 0.2 * axis(3)))])
    enc = FakeEncoder({"dog on a sofa": axis(4)})
    hits = search(lib.store, "dog on a sofa", text_encoder=enc)
    assert paths(hits) == ["home/sofa.jpg"]
    assert hits[0].box == (0.5, 0.5, 0.9, 0.9) and hits[0].detection_id == det
    assert "box: dog" in hits[0].why and hits[0].why[0].startswith("text similarity")


def test_similar_ranks_by_look_and_leaves_out_the_photo(lib, tmp_path):
    lib.background()
    lib.add("q/query.jpg", axis(6))
    lib.add("q/twin.jpg", unit(axis(6) + 0.1 * axis(10)))
    lib.add("q/cousin.jpg", unit(axis(6) + 0.6 * axis(10)))
    lib.add("q/no-embedding.jpg")
    full = str(tmp_path / "Pictures" / "q" / "query.jpg")
    for ref in (full, "q/query.jpg", "query.jpg"):
        hits = search(lib.store, f"similar:{ref}")
        assert paths(hits) == ["q/twin.jpg", "q/cousin.jpg"], ref
        assert hits[0].why[0].startswith("looks like")
    assert paths(search(lib.store, f'similar:"{full}" -in:q')) == []
    with pytest.raises(QueryError, match="not a photo in this library"):
        search(lib.store, "similar:nope.jpg")
    with pytest.raises(QueryError, match="no embedding"):
        search(lib.store, "similar:q/no-embedding.jpg")


@pytest.mark.parametrize(
    "text,token",
    [
        ("after:yesterdayish", "after:yesterdayish"),
        ("in:", "in:"),
        ("dog in: ", "in:"),
        ("before:2021-13", "before:2021-13"),
        ("year:21", "year:21"),
        ("has:unicorn", "has:unicorn"),
        ("tga:dog", "tga:dog"),
        ("tag:", "tag:"),
        ("similar:", "similar:"),
        ("-similar:x.jpg", "-similar:x.jpg"),
    ],
)
def test_malformed_filters_name_the_token(lib, text, token):
    with pytest.raises(QueryError) as e:
        search(lib.store, text)
    message = str(e.value)
    assert f"'{token}'" in message and message.count(".") >= 1 and "\n" not in message


def test_supplied_index_is_kept_in_step(lib):
    lib.background()
    enc = FakeEncoder({"tree": axis(7)})
    index = VectorIndex.open(lib.store, MODEL)
    assert search(lib.store, "tree", text_encoder=enc, vectors=index) == []
    pid = lib.add("new/t1.jpg", axis(7))
    assert paths(search(lib.store, "tree", text_encoder=enc, vectors=index)) == ["new/t1.jpg"]
    lib.store.replace_embeddings(pid, MODEL, [(None, axis(11))])
    assert search(lib.store, "tree", text_encoder=enc, vectors=index) == []


def test_completions(lib):
    pid = lib.add("x/a.jpg", tags=[("dog", 0.5), ("dolphin", 0.4), ("birthday cake", 0.3)])
    lib.store.subject("Dora", "pet")
    assert completions(lib.store, "do")[:2] == ["dog", "dolphin"] and "Dora" in completions(lib.store, "do")
    assert completions(lib.store, "beach ta") == ["beach tag:"]
    assert completions(lib.store, "tag:bi") == ['tag:"birthday cake"']
    assert completions(lib.store, "pet:D") == ["pet:Dora"] and completions(lib.store, "person:D") == []
    assert completions(lib.store, "-has:g") == ["-has:gps"]
    assert pid


def test_help_documents_every_filter():
    for key in (
        "tag:",
        "person:",
        "pet:",
        "in:",
        "after:",
        "before:",
        "year:",
        "camera:",
        "has:",
        "similar:",
    ):
        assert key in QUERY_HELP


def test_filter_listing_is_newest_first_whether_walked_or_sorted(lib):
    # limit 3 of 40: a tag on 30 photos is walked along the recency index, a tag on 2
    # photos is read and sorted; both must list newest first.
    import datetime

    for i in range(40):
        tags = [("common", 0.5)] if i < 30 else []
        tags += [("rare", 0.5)] if i in (5, 20) else []
        day = datetime.date(2020, 1, 1) + datetime.timedelta(days=(i * 7) % 40)
        lib.add(f"x/{i:02}.jpg", tags=tags, taken=f"{day.isoformat()}T10:00:00")
    newest = sorted(range(30), key=lambda i: (i * 7) % 40, reverse=True)
    assert paths(search(lib.store, "tag:common", limit=3)) == [f"x/{i:02}.jpg" for i in newest[:3]]
    assert paths(search(lib.store, "tag:rare", limit=3)) == ["x/05.jpg", "x/20.jpg"]  # days 35, 20


def test_negated_word_alone_and_text_with_similar(lib, tmp_path):
    lib.background()
    lib.add("trip/beach_1.jpg", axis(0), tags=[("sand", 0.7)])
    lib.add("trip/forest.jpg", unit(axis(0) + 0.5 * axis(1)))
    lib.add("trip/forest_beach.jpg", unit(axis(0) + axis(1)))
    assert "trip/beach_1.jpg" not in paths(search(lib.store, "-beach", limit=200))
    assert "trip/forest.jpg" in paths(search(lib.store, "-beach", limit=200))
    assert set(paths(search(lib.store, "in:trip -sand"))) == {"trip/forest.jpg", "trip/forest_beach.jpg"}
    enc = FakeEncoder({"leaves": axis(1)})
    hits = search(lib.store, "leaves similar:trip/beach_1.jpg", text_encoder=enc)
    assert paths(hits)[0] == "trip/forest_beach.jpg"  # between the photo and the text
    assert hits[0].why[0].startswith("similarity to text and photo")
    assert search(lib.store, "sand", limit=0) == [] and search(lib.store, "sand", offset=5) == []
