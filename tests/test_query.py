"""The query parser: terms, phrases, filters, negation, and the errors it gives."""

import pytest

from photoorg.query import QueryError, fts_query, parse


def test_words_phrases_and_filters():
    q = parse('dog "kids playing" tag:beach -tag:snow -in:Screenshots person:Ana')
    assert q.terms == ("dog", "kids playing") and q.phrases == {"kids playing"}
    assert q.text == "dog kids playing"
    assert [(f.key, f.value, f.negated) for f in q.filters] == [
        ("tag", "beach", False),
        ("tag", "snow", True),
        ("in", "Screenshots", True),
        ("person", "Ana", False),
    ]


def test_quoted_filter_values_and_quoted_keys():
    q = parse('tag:"birthday cake" in:"My Trip/Day 1" "tag:dog"')
    assert [f.value for f in q.filters] == ["birthday cake", "My Trip/Day 1"]
    assert q.terms == ("tag:dog",)


@pytest.mark.parametrize(
    "text,span",
    [
        ("after:2021", ("2021-01-01", None)),
        ("after:2021-06", ("2021-06-01", None)),
        ("before:2021-06-30", (None, "2021-06-30")),
        ("year:2020", ("2020-01-01", "2021-01-01")),
        ("2019", ("2019-01-01", "2020-01-01")),
        ("after:2021/12", ("2021-12-01", None)),
    ],
)
def test_dates(text, span):
    assert parse(text).filters[0].value == span


def test_negated_words_and_similar():
    q = parse('-beach -"snow day" similar:"/a b/c.jpg"')
    assert q.excluded == ("beach", "snow day") and q.similar == "/a b/c.jpg" and q.terms == ()


def test_syntax_characters_stay_text():
    q = parse("% * NEAR -- ' \"unclosed phrase")
    assert q.terms == ("%", "*", "NEAR", "--", "'", "unclosed phrase")
    assert fts_query(q.terms) == '"NEAR"* AND "unclosed" + "phrase"*'
    assert fts_query(['a"b']) == '"a" + "b"*'
    assert fts_query(["%", "--"]) is None
    assert parse('"2021"').filters == () and parse("12:30").terms == ("12:30",)


def test_empty():
    assert parse("").empty and parse("   ").empty and not parse("x").empty


@pytest.mark.parametrize(
    "text",
    [
        "after:yesterdayish",
        "in:",
        "in: Holidays",
        "before:2021-02-30",
        "year:2021-02",
        "has:horse",
        "colour:red",
        "similar:a similar:b",
        "-similar:a",
        "camera:",
    ],
)
def test_malformed(text):
    with pytest.raises(QueryError) as e:
        parse(text)
    assert "'" in str(e.value) and str(e.value).endswith(".")
