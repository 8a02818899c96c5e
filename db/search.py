"""Every SQL statement the search needs. Functions take a Store and use store.db.

User text only ever reaches SQLite as a bound parameter: LIKE patterns are escaped
here, and FTS5 query strings are built (fully quoted) by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .store import Store

_FROM = "FROM photos p JOIN roots r ON r.id = p.root_id"
_FULL_PATH = "(r.path || '/' || replace(p.rel_path, '\\', '/'))"
HAS_LABELS = ("person", "dog", "cat")


@dataclass(frozen=True)
class Condition:
    """One AND-ed clause of a query, in storage terms."""

    field: str  # tag | person | pet | folder | date | camera | has | words
    value: object  # str; (from, until) ISO strings or None for date; an FTS5 query for words
    negated: bool = False


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_COUNT_CAP = 20_000  # counting a term's photos stops here (index reads only)


def _words_phrase(text: str) -> str | None:
    """An FTS5 phrase on the path column for a folder name (quoted words, never syntax)."""
    import re

    words = re.findall(r"[^\W_]+", text)
    return "path : " + " + ".join('"' + w + '"' for w in words) if words else None


def _clause(c: Condition, drive: bool = False) -> tuple[str, list]:
    """SQL for one condition. Correlated (per-row index probes) by default, which suits
    candidate lists; `drive` gives the set form, for the one selective filter that a
    newest-first listing is driven from."""
    f, v = c.field, c.value
    if f == "tag":
        if drive:
            return "p.id IN (SELECT photo_id FROM tags WHERE tag = ? AND source != 'rejected')", [v]
        return ("EXISTS (SELECT 1 FROM tags WHERE photo_id = p.id AND tag = ? AND source != 'rejected')", [v])
    if f in ("person", "pet"):
        # A name is on a box the user named, or on a face (named in bulk through its group).
        return (
            "p.id IN (SELECT d.photo_id FROM detections d JOIN subjects s ON s.id = d.subject_id "
            "WHERE s.name = ? AND s.kind = ? UNION SELECT f.photo_id FROM faces f "
            "JOIN subjects s ON s.id = f.subject_id WHERE s.name = ? AND s.kind = ?)",
            [v, f, v, f],
        )
    if f == "folder":
        folder = str(v).replace("\\", "/")
        if folder.startswith("/"):
            return f"{_FULL_PATH} LIKE ? ESCAPE '\\'", [_like_escape(folder.rstrip("/")) + "/%"]
        like = (f"('/' || {_FULL_PATH}) LIKE ? ESCAPE '\\'", ["%/" + _like_escape(folder.strip("/")) + "/%"])
        phrase = _words_phrase(folder)
        if drive and phrase:
            # The FTS path column holds the folder words, so its index narrows first.
            return (
                f"p.id IN (SELECT rowid FROM photos_fts WHERE photos_fts MATCH ?) AND {like[0]}",
                [phrase, *like[1]],
            )
        return like
    if f == "date":
        start, end = v
        parts, params = [], []
        if start:
            parts.append("p.taken_at >= ?")
            params.append(start)
        if end:
            parts.append("p.taken_at < ?")
            params.append(end)
        return "(" + " AND ".join(parts) + ")", params
    if f == "camera":
        return (
            "(coalesce(p.camera_make, '') || ' ' || coalesce(p.camera_model, '')) LIKE ? ESCAPE '\\'",
            ["%" + _like_escape(str(v)) + "%"],
        )
    if f == "has":
        if v == "gps":
            return "(p.lat IS NOT NULL AND p.lon IS NOT NULL)", []
        if v == "error":
            return "p.state = 'error'", []
        # The label tag: the detector's when a box passed its calibrated tag cut (a
        # weaker box is drawn but does not make a "dog" photo), the tagger's, or the user's.
        if drive:
            return "p.id IN (SELECT photo_id FROM tags WHERE tag = ? AND source != 'rejected')", [v]
        return ("EXISTS (SELECT 1 FROM tags WHERE photo_id = p.id AND tag = ? AND source != 'rejected')", [v])
    if f == "words":
        return "p.id IN (SELECT rowid FROM photos_fts WHERE photos_fts MATCH ?)", [v]
    raise ValueError(f"unknown search field {f!r}")


def where(conditions: Iterable[Condition], driver: Condition | None = None) -> tuple[str, list]:
    """The WHERE text over `photos p JOIN roots r`, with its parameters. Missing photos
    (files gone from an online folder) never match."""
    parts, params = ["p.state != 'missing'"], []
    for c in conditions:
        sql, values = _clause(c, drive=c is driver)
        # coalesce: a NULL date or camera is "not after 2021", so its negation matches.
        parts.append(f"NOT coalesce({sql}, 0)" if c.negated else sql)
        params.extend(values)
    return " AND ".join(parts), params


def _estimate(store: Store, c: Condition, cap: int) -> int | None:
    """How many photos a positive condition matches, counted up to `cap` (index reads
    only); None where it cannot be counted cheaply."""
    if c.negated:
        return None
    if c.field == "tag":
        sql, params = "SELECT 1 FROM tags WHERE tag = ? AND source != 'rejected'", [c.value]
    elif c.field == "has" and c.value in HAS_LABELS:
        sql, params = "SELECT photo_id FROM tags WHERE tag = ? AND source != 'rejected'", [c.value]
    elif c.field in ("person", "pet"):
        return 0
    elif c.field == "folder" and _words_phrase(str(c.value)) and not str(c.value).startswith("/"):
        sql, params = "SELECT rowid FROM photos_fts WHERE photos_fts MATCH ?", [_words_phrase(str(c.value))]
    else:
        return None
    return store.db.execute(f"SELECT count(*) FROM ({sql} LIMIT ?)", [*params, cap + 1]).fetchone()[0]


def recent(store: Store, conditions: list[Condition], limit: int, offset: int = 0) -> list[int]:
    """Photos matching every condition, newest first. Either walk photos_recent
    backwards until `offset + limit` rows pass (about (offset + limit) * N / m rows for
    a filter matching m of N photos), or read the filter's m photos and sort them; the
    second is cheaper when m * m < (offset + limit) * N."""
    total = store.db.execute("SELECT coalesce(max(id), 0) FROM photos").fetchone()[0]
    cap = int(((offset + limit) * total) ** 0.5)
    counts = [(n, i) for i, c in enumerate(conditions) if (n := _estimate(store, c, cap)) is not None]
    best = min(counts, default=None)
    driver = conditions[best[1]] if best and best[0] <= cap else None
    w, params = where(conditions, driver)
    # "+" stops the recency index from being used for the order, so the planner starts
    # from the small set instead of walking a million rows.
    order = "+coalesce(p.taken_at, '')" if driver else "coalesce(p.taken_at, '')"
    return [
        r[0]
        for r in store.db.execute(
            f"SELECT p.id {_FROM} WHERE {w} ORDER BY {order} DESC, p.id DESC LIMIT ? OFFSET ?",
            params + [limit, offset],
        ).fetchall()
    ]


def named(store: Store, name: str, conditions: list[Condition], limit: int) -> list[tuple[int, str, int]]:
    """(photo_id, subject name, detection_id) for boxes named `name`, newest first."""
    w, params = where(conditions)
    return store.db.execute(
        f"SELECT p.id, s.name, d.id FROM detections d JOIN subjects s ON s.id = d.subject_id "
        f"JOIN photos p ON p.id = d.photo_id JOIN roots r ON r.id = p.root_id "
        f"WHERE s.name = ? AND {w} ORDER BY p.id DESC LIMIT ?",
        [name, *params, limit],
    ).fetchall()


def tagged(store: Store, tag: str, conditions: list[Condition], limit: int) -> list[tuple[int, str, float]]:
    """(photo_id, tag, score) for photos carrying `tag`, best score first; reads the
    tags_by_tag_score index in order, so it stops after `limit` rows."""
    w, params = where(conditions)
    return store.db.execute(
        f"SELECT p.id, t.tag, t.score FROM tags t JOIN photos p ON p.id = t.photo_id "
        f"JOIN roots r ON r.id = p.root_id WHERE t.tag = ? AND t.source != 'rejected' AND {w} "
        f"ORDER BY t.score DESC, p.id DESC LIMIT ?",
        [tag, *params, limit],
    ).fetchall()


def _term_count(store: Store, term: str) -> int:
    return store.db.execute(
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM tags WHERE tag = ? AND source != 'rejected' "
        "LIMIT ?)) + (SELECT count(*) FROM detections d JOIN subjects s ON s.id = d.subject_id "
        "WHERE s.name = ?)",
        [term, _COUNT_CAP + 1, term],
    ).fetchone()[0]


def all_terms(
    store: Store, terms: list[str], conditions: list[Condition], limit: int
) -> list[tuple[int, float]]:
    """(photo_id, mean score) for photos where every term is one of its tags or names
    (a name counts 1.0). Driven from the rarest term in its score order with index
    probes for the others, so it reads a few pages, not every tagged photo; the order
    is the mean over the first `limit` photos by the rarest term's score."""
    terms = list({t.lower(): t for t in terms}.values())
    driver = min(terms, key=lambda t: _term_count(store, t))
    others = [t for t in terms if t is not driver]
    w, params = where(conditions)
    has = (
        "(EXISTS (SELECT 1 FROM tags WHERE photo_id = p.id AND tag = ? AND source != 'rejected') "
        "OR EXISTS (SELECT 1 FROM detections d2 JOIN subjects s2 ON s2.id = d2.subject_id "
        "WHERE d2.photo_id = p.id AND s2.name = ?))"
    )
    score = (
        "coalesce((SELECT max(score) FROM tags WHERE photo_id = p.id AND tag = ? "
        "AND source != 'rejected'), 1.0)"
    )
    rest = " + ".join([score] * len(others)) or "0"
    checks = " AND ".join([has] * len(others)) or "1"
    check_params = [x for t in others for x in (t, t)]
    sources = (
        (
            "t.score",
            "FROM tags t JOIN photos p ON p.id = t.photo_id",
            "t.tag = ? AND t.source != 'rejected'",
            "t.score DESC",
        ),
        (
            "1.0",
            "FROM detections d JOIN subjects s ON s.id = d.subject_id JOIN photos p ON p.id = d.photo_id",
            "s.name = ?",
            "p.id DESC",
        ),
    )
    best: dict[int, float] = {}
    for first, head, match, order in sources:
        for pid, value in store.db.execute(
            f"SELECT p.id, ({first} + {rest}) / {len(terms)} {head} JOIN roots r ON r.id = p.root_id "
            f"WHERE {match} AND {w} AND {checks} ORDER BY {order} LIMIT ?",
            [*others, driver, *params, *check_params, limit],
        ).fetchall():
            best[pid] = max(best.get(pid, 0.0), value)
    return sorted(best.items(), key=lambda kv: (-kv[1], -kv[0]))[:limit]


def is_tag_or_name(store: Store, term: str) -> bool:
    """Cheap test (two index probes) before the multi-term join."""
    return (
        store.db.execute(
            "SELECT EXISTS (SELECT 1 FROM tags WHERE tag = ? AND source != 'rejected') "
            "OR EXISTS (SELECT 1 FROM subjects WHERE name = ?)",
            [term, term],
        ).fetchone()[0]
        == 1
    )


def word_matches(
    store: Store, fts_query: str, conditions: list[Condition], limit: int
) -> list[tuple[int, float]]:
    """(photo_id, bm25 rank; lower is better) for an FTS5 query over path, tags, names."""
    w, params = where(conditions)
    return store.db.execute(
        f"SELECT p.id, photos_fts.rank FROM photos_fts JOIN photos p ON p.id = photos_fts.rowid "
        f"JOIN roots r ON r.id = p.root_id WHERE photos_fts MATCH ? AND {w} "
        f"ORDER BY photos_fts.rank LIMIT ?",
        [fts_query, *params, limit],
    ).fetchall()


def keep(store: Store, photo_ids: list[int], conditions: list[Condition]) -> set[int]:
    """The subset of `photo_ids` that matches every condition."""
    w, params = where(conditions)
    return {
        r[0]
        for r in store.db.execute(
            f"SELECT p.id {_FROM} WHERE p.id IN (SELECT value FROM json_each(?)) AND {w}",
            [json.dumps([int(i) for i in photo_ids]), *params],
        ).fetchall()
    }


# -- reasons for a page of hits ------------------------------------------------


def tag_scores(store: Store, photo_ids: list[int], tags: list[str]) -> dict[int, list[tuple[str, float]]]:
    out: dict[int, list[tuple[str, float]]] = {}
    if not photo_ids or not tags:
        return out
    marks = ",".join("?" * len(tags))
    for pid, tag, score in store.db.execute(
        f"SELECT photo_id, tag, score FROM tags WHERE photo_id IN (SELECT value FROM json_each(?)) "
        f"AND tag IN ({marks}) AND source != 'rejected' ORDER BY score DESC",
        [json.dumps(photo_ids), *tags],
    ).fetchall():
        out.setdefault(pid, []).append((tag, score))
    return out


def fts_rows(store: Store, photo_ids: list[int]) -> dict[int, tuple[str, str, str]]:
    """photo_id -> (path words, tags, names) as the FTS index holds them."""
    return {
        r[0]: (r[1], r[2], r[3])
        for r in store.db.execute(
            "SELECT rowid, path, tags, names FROM photos_fts WHERE rowid IN (SELECT value FROM json_each(?))",
            [json.dumps(photo_ids)],
        ).fetchall()
    }


def boxes(store: Store, photo_ids: list[int]) -> dict[int, list[tuple[int, str, str | None, tuple]]]:
    """photo_id -> [(detection_id, label, subject name, box)], best score first."""
    out: dict[int, list] = {}
    for det, pid, label, name, x0, y0, x1, y1 in store.db.execute(
        "SELECT d.id, d.photo_id, d.label, s.name, d.x0, d.y0, d.x1, d.y1 FROM detections d "
        "LEFT JOIN subjects s ON s.id = d.subject_id WHERE d.photo_id IN "
        "(SELECT value FROM json_each(?)) ORDER BY d.score DESC",
        [json.dumps(photo_ids)],
    ).fetchall():
        out.setdefault(pid, []).append((det, label, name, (x0, y0, x1, y1)))
    return out


# -- similar: ------------------------------------------------------------------


def photo_ids_by_rel_path(store: Store, path: str) -> list[int]:
    """Photos whose path inside their folder is `path` or ends with it."""
    path = path.replace("\\", "/").strip("/")
    return [
        r[0]
        for r in store.db.execute(
            "SELECT id FROM photos WHERE state != 'missing' AND (replace(rel_path, '\\', '/') = ? "
            "OR replace(rel_path, '\\', '/') LIKE ? ESCAPE '\\') ORDER BY id LIMIT 2",
            [path, "%/" + _like_escape(path)],
        ).fetchall()
    ]


def photo_vector(store: Store, photo_id: int, models: list[str]) -> tuple[str, bytes] | None:
    """(model, vector blob) of a photo's whole-image embedding, preferring `models` in order."""
    rows = dict(
        store.db.execute(
            "SELECT model, vector FROM embeddings WHERE photo_id = ? AND detection_id IS NULL", [photo_id]
        ).fetchall()
    )
    for model in [*models, *sorted(rows)]:
        if model in rows:
            return model, rows[model]
    return None


# -- the vector index's feed ---------------------------------------------------


def library_born(store: Store) -> float | None:
    """When this library.db was created (its first migration): tells a database started
    over at the same path from the one files were built from."""
    return store.db.execute("SELECT min(applied_at) FROM migrations").fetchone()[0]


def latest_change(store: Store) -> int:
    return store.db.execute("SELECT coalesce(max(seq), 0) FROM embedding_changes").fetchone()[0]


def changed_since(store: Store, seq: int) -> tuple[int, list[int]]:
    """(latest seq, photo ids whose embeddings changed after `seq`)."""
    rows = store.db.execute(
        "SELECT photo_id, seq FROM embedding_changes WHERE seq > ? ORDER BY seq", [seq]
    ).fetchall()
    return (rows[-1][1] if rows else seq), [r[0] for r in rows]


def vectors_of(store: Store, model: str, photo_ids: list[int]) -> list[tuple[int, int, bytes]]:
    """(photo_id, detection_id or -1, float32 blob) for these photos and this model."""
    return store.db.execute(
        "SELECT photo_id, coalesce(detection_id, -1), vector FROM embeddings WHERE model = ? "
        "AND photo_id IN (SELECT value FROM json_each(?))",
        [model, json.dumps(photo_ids)],
    ).fetchall()


def all_vectors(store: Store, model: str, batch: int = 50_000) -> Iterator[list[tuple[int, int, bytes]]]:
    """Every vector of `model` in batches, in insertion order (keyset paging, so the
    read never holds the whole table)."""
    last = 0
    while True:
        rows = store.db.execute(
            "SELECT id, photo_id, coalesce(detection_id, -1), vector FROM embeddings "
            "WHERE model = ? AND id > ? ORDER BY id LIMIT ?",
            [model, last, batch],
        ).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield [r[1:] for r in rows]


# -- completions -----------------------------------------------------------------


def tags_starting(store: Store, prefix: str, limit: int) -> list[str]:
    return [
        r[0]
        for r in store.db.execute(
            "SELECT tag FROM tags WHERE tag LIKE ? ESCAPE '\\' AND source != 'rejected' "
            "GROUP BY tag COLLATE NOCASE ORDER BY count(*) DESC, tag LIMIT ?",
            [_like_escape(prefix) + "%", limit],
        ).fetchall()
    ]


def names_starting(store: Store, prefix: str, kind: str | None, limit: int) -> list[str]:
    return [
        r[0]
        for r in store.db.execute(
            "SELECT name FROM subjects WHERE name LIKE ? ESCAPE '\\' AND (? IS NULL OR kind = ?) "
            "ORDER BY name LIMIT ?",
            [_like_escape(prefix) + "%", kind, kind, limit],
        ).fetchall()
    ]
