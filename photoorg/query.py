"""The search query language: words, "quoted phrases", filters, negation, similar:.

parse() turns the text the user typed into a Query. It never builds SQL or FTS syntax
itself; everything it returns is plain values, so quotes, %, *, NEAR or -- in a query
are only ever text. A malformed filter raises QueryError with one sentence naming the
token.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from .errors import UserError

FILTER_KEYS = ("tag", "person", "pet", "in", "after", "before", "year", "camera", "has", "similar")
HAS_VALUES = ("person", "dog", "cat", "gps", "error")
_DATE = re.compile(r"^(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?$")
_BARE_YEAR = re.compile(r"^(18[3-9]\d|19\d\d|2[01]\d\d)$")
_KEY = re.compile(r"^([A-Za-z]+):(.*)$", re.S)
# FTS5's unicode61 tokenizer splits on everything that is not a letter or a digit.
_WORD = re.compile(r"[^\W_]+")


# Each term, phrase and filter becomes a clause of one SQL statement; SQLite refuses
# an expression tree deeper than 1,000, and no person types more than a few dozen.
MAX_TERMS = 100
MAX_YEAR = 9998  # year:9999 would end at year 10000, past what a date can hold


class QueryError(UserError):
    """A query the parser cannot read; str() is one sentence naming the bad token."""


@dataclass(frozen=True)
class Filter:
    key: str  # one of FILTER_KEYS except similar; after/before/year become "date"
    value: str | tuple[str | None, str | None]  # text, or (from, until) ISO dates
    negated: bool
    token: str  # as typed, for messages and reasons


@dataclass(frozen=True)
class Query:
    terms: tuple[str, ...] = ()  # free words and phrases, in the order typed
    phrases: frozenset[str] = frozenset()  # which terms were quoted
    excluded: tuple[str, ...] = ()  # -word and -"phrase"
    filters: tuple[Filter, ...] = ()
    similar: str | None = None
    similar_token: str = field(default="", compare=False)

    @property
    def text(self) -> str:
        """The free text as one string, for the CLIP text encoder."""
        return " ".join(self.terms)

    @property
    def empty(self) -> bool:
        return not (self.terms or self.excluded or self.filters or self.similar)


def words(text: str) -> list[str]:
    """The words FTS5 sees in `text` (letters and digits; NFC so accents stay whole)."""
    return _WORD.findall(unicodedata.normalize("NFC", text))


def _tokens(text: str) -> list[str]:
    """Raw tokens split on spaces outside quotes. A quote opens a phrase anywhere (also
    after `key:` or `-`); an unclosed quote runs to the end, so a stray '"' is text."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        while i < n and not text[i].isspace():
            if text[i] == '"':
                end = text.find('"', i + 1)
                i = n if end < 0 else end + 1
            else:
                i += 1
        out.append(text[start:i])
    return out


def _date_start(value: str, token: str, key: str) -> tuple[date, str]:
    m = _DATE.match(value)
    if key == "year":  # year: takes a plain year only: never offer year:2021-06
        problem = f"'{token}' is not a year; write a year from 1 to {MAX_YEAR}, such as year:2021."
    else:
        problem = (
            f"'{token}' is not a date {key}: understands; write a year, year-month or "
            f"day such as {key}:2021, {key}:2021-06 or {key}:2021-06-30 (years 1 to {MAX_YEAR})."
        )
    if not m:
        raise QueryError(problem)
    year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
    if not 1 <= year <= MAX_YEAR:
        raise QueryError(problem)
    try:
        start = date(year, month, day)
    except ValueError:
        raise QueryError(problem) from None
    unit = "day" if m[3] else "month" if m[2] else "year"
    return start, unit


def _next(start: date, unit: str) -> date:
    if unit == "year":
        return date(start.year + 1, 1, 1)
    if unit == "month":
        return date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return date.fromordinal(start.toordinal() + 1)


def _date_filter(key: str, value: str, negated: bool, token: str) -> Filter:
    start, unit = _date_start(value, token, key)
    if key == "after":  # from the start of that year/month/day on (inclusive)
        span = (start.isoformat(), None)
    elif key == "before":  # strictly before it
        span = (None, start.isoformat())
    else:
        if unit != "year":
            raise QueryError(f"'{token}' needs a plain year, such as year:2021.")
        span = (start.isoformat(), _next(start, unit).isoformat())
    return Filter("date", span, negated, token)


def _filter(key: str, value: str, negated: bool, token: str) -> Filter:
    value = " ".join(value.split())
    if not value:
        example = {"in": "in:Holidays", "has": "has:dog", "tag": "tag:beach", "camera": "camera:canon"}
        raise QueryError(f"'{token}' has no value; write it like {example.get(key, key + ':something')}.")
    if key in ("after", "before", "year"):
        return _date_filter(key, value, negated, token)
    if key == "has":
        if value.lower() not in HAS_VALUES:
            raise QueryError(f"'{token}' is not something has: knows; use one of {', '.join(HAS_VALUES)}.")
        value = value.lower()
    return Filter(key, value, negated, token)


def _checked_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes of another encoding, passed through by the shell
        shown = text.encode("utf-8", "backslashreplace").decode("utf-8")[:60]
        raise QueryError(
            f"The query {shown!r} is not valid UTF-8 text; type it again in a UTF-8 terminal."
        ) from None
    return unicodedata.normalize("NFC", text)


def parse(text: str) -> Query:
    terms, phrases, excluded, filters = [], set(), [], []
    similar, similar_token = None, ""
    tokens = _tokens(_checked_text(text or ""))
    if len(tokens) > MAX_TERMS:
        raise QueryError(f"A query holds at most {MAX_TERMS} words and filters; this one has {len(tokens)}.")
    for raw in tokens:
        # Whitespace inside quotes reads as one space: it splits no word FTS5 sees, and a
        # message quoting the token stays one line ('after:"0<newline>"', found by hypothesis).
        token = " ".join(raw.replace('"', "").split())
        quoted = '"' in raw
        negated = raw.startswith("-") and len(raw) > 1 and raw[1] != "-"
        body = raw[1:] if negated else raw
        key_match = _KEY.match(body)  # the key itself is never inside quotes
        if key_match:
            value = key_match[2].replace('"', "")
            similar, similar_token = _keyed(
                key_match[1].lower(), value, negated, token, filters, (similar, similar_token)
            )
        elif not quoted and _BARE_YEAR.match(body):
            # "Ana 2022": a bare year is a year filter; quote it to search for the text.
            filters.append(_date_filter("year", body, negated, token))
        elif negated:
            if body.replace('"', "").strip():
                excluded.append(body.replace('"', ""))
        elif token.strip():
            terms.append(token)
            if quoted:
                phrases.add(token)
    return Query(tuple(terms), frozenset(phrases), tuple(excluded), tuple(filters), similar, similar_token)


def _keyed(
    key: str, value: str, negated: bool, token: str, filters: list, similar: tuple[str | None, str]
) -> tuple[str | None, str]:
    if key not in FILTER_KEYS:
        raise QueryError(
            f"'{token}' uses an unknown filter '{key}:'; the filters are "
            f"{', '.join(k + ':' for k in FILTER_KEYS)} (put the text in quotes to search for it)."
        )
    if key != "similar":
        filters.append(_filter(key, value, negated, token))
        return similar
    if negated:
        raise QueryError(f"'{token}': similar: cannot be negated.")
    if similar[0] is not None:
        raise QueryError(f"'{token}': only one similar: fits in a query.")
    if not value.strip():
        raise QueryError(f"'{token}' has no value; write it like similar:/path/to/photo.jpg.")
    return value.strip(), token


def fts_query(terms: list[str] | tuple[str, ...]) -> str | None:
    """An FTS5 query matching all terms, each word a prefix: a one-word term becomes
    "word"*, a phrase "w1" + "w2"* (a '"' inside a word is doubled, so nothing the user
    typed is FTS syntax). None when no term has a word."""
    parts = []
    for term in terms:
        ws = words(term)
        if ws:
            parts.append(" + ".join('"' + w.replace('"', '""') + '"' for w in ws) + "*")
    return " AND ".join(parts) if parts else None
