"""Search: a query in, ranked and explained hits out.

Ranking, in tiers so the user's own words always win over a model's guess:
  1. exact: every free term (or the whole free text) is one of the photo's tags or
     names. score = 2 + the tag's confidence (a name or a user tag counts 1.0).
  2. words: the free text matches the words of the photo's path, tags or names
     (FTS5, each word a prefix, case and accents ignored). score = 1 + b/(1+b), b the
     bm25 relevance.
  3. meaning: CLIP cosine similarity of the free text (and/or the similar: photo)
     with the photo's embedding and with its person/pet box embeddings; a box that beats
     the whole photo is returned as the region that matched. score = the cosine.
Filters are AND-ed onto every tier; a query with filters only lists the newest matches.
The text encoder is loaded only when tier 3 runs, i.e. when the tiers above leave
slots of the page empty: a query whose words are tags or names of at least `limit`
photos (e.g. "dog" in a large library) is ranked by tier 1 alone, 2 + confidence,
and a search process then loads no model at all. In a process that has not loaded
torch, the text goes through the exported ONNX text tower (models/clip_onnx.py).

The cut-off for tier 3 (see cutoff()): a query's similarities over the whole library
are mostly those of unrelated photos, so their median and spread (MAD, robust to the
related few) describe "unrelated" for this query and this model. A photo is kept only
if it lies CUTOFF_Z = 3 robust standard deviations above that median (a one-sided
p < 0.0013 if unrelated scores were normal). It adapts to each query and to each model
(CLIP variants differ in their absolute cosines) with no per-model constant. In a
library of fewer than MIN_NULL vectors there is too little to estimate the spread, so
the better half (above the median) is kept.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .db import Photo, Store
from .db import search as sql
from .db.search import Condition
from .query import FILTER_KEYS, HAS_VALUES, Query, QueryError, fts_query, parse, words

__all__ = ["SearchHit", "QueryError", "search", "completions", "cutoff", "QUERY_HELP"]

CUTOFF_Z = 3.0
MIN_NULL = 50
_VERIFY_CHUNKS = (256, 2048, 16384, 131072)

QUERY_HELP = """\
query language (the same in the CLI and the GUI):
  beach dog              free words: photos tagged or named so come first, then photos
                         whose folder/file name, tags or names contain the words (as
                         prefixes, ignoring case and accents), then photos that look like
                         the words by CLIP similarity, above a cut-off
  "kids playing"         a quoted phrase is one term
  tag:beach              has this tag (tag:"birthday cake" for several words)
  person:Ana  pet:Rex    a box named so
  in:Holidays            inside a folder of that name (in:2021/Rome, or a full path)
  after:2021  before:2021-06  year:2022
                         taken on or after / strictly before the start of that year,
                         month or day (YYYY, YYYY-MM, YYYY-MM-DD); a bare 2022 = year:2022
  camera:canon           camera make or model contains the text
  has:person has:dog has:cat has:gps has:error
  -tag:snow  -in:Screenshots  -beach
                         a leading - excludes what the filter or word matches
  similar:PATH           photos that look like this one (file path or path in the library)
  Everything is AND-ed. Other punctuation is plain text. An empty query lists the newest
  photos. Each result shows its score and why it matched: 2+ exact tag/name (2 + tag
  confidence), 1-2 word match, below 1 the CLIP cosine similarity.
"""


@dataclass(frozen=True)
class SearchHit:
    photo: Photo
    score: float
    why: list[str]
    box: tuple[float, float, float, float] | None = None
    detection_id: int | None = None


@dataclass
class _Found:
    tier: str  # exact | words | meaning | filter | recent
    score: float
    why: list[str] = field(default_factory=list)
    detection_id: int | None = None


def cutoff(null: np.ndarray, z: float = CUTOFF_Z) -> float:
    """The lowest similarity kept, from this query's scores over the library sample."""
    null = null[np.isfinite(null)]
    if len(null) == 0:
        return math.inf
    median = float(np.median(null))
    if len(null) < MIN_NULL:
        return math.nextafter(median, math.inf)
    spread = 1.4826 * float(np.median(np.abs(null - median)))
    return median + z * max(spread, 1e-6)


def search(
    store: Store, query: str, limit: int = 50, *, text_encoder=None, vectors=None, offset: int = 0
) -> list[SearchHit]:
    q = parse(query)
    if limit <= 0:
        return []
    conditions = _conditions(q)
    need = offset + limit
    if not q.terms and not q.similar:
        ids = sql.recent(store, conditions, limit, offset)
        reason, score = ("recent", 0.0) if q.empty else ("filter", 1.0)
        return _finish(store, q, {i: _Found(reason, score) for i in ids})
    found: dict[int, _Found] = {}
    if q.terms:
        _exact(store, q, conditions, need, found)
        if len(found) < need:
            _words(store, q, conditions, need, found)
    if len(found) < need:
        _meaning(store, q, conditions, need, found, text_encoder, vectors)
    ranked = sorted(found.items(), key=lambda kv: -kv[1].score)[offset:need]
    return _finish(store, q, dict(ranked))


def _conditions(q: Query) -> list[Condition]:
    out = []
    for f in q.filters:
        field_ = {"in": "folder"}.get(f.key, f.key)
        out.append(Condition(field_, f.value, f.negated))
    for text in q.excluded:
        fq = fts_query([text])
        if fq:
            out.append(Condition("words", fq, True))
    return out


# -- tiers -----------------------------------------------------------------------


def _exact(store, q, conditions, need, found) -> None:
    singles = [q.text] + (list(q.terms) if len(q.terms) == 1 else [])
    for term in dict.fromkeys(singles):
        names = sql.named(store, term, conditions, need)
        for pid, _name, _det in names:
            found.setdefault(pid, _Found("exact", 3.0))
        for pid, _tag, score in sql.tagged(store, term, conditions, need + len(names)):
            _better(found, pid, _Found("exact", 2.0 + score))
    if len(q.terms) > 1 and all(sql.is_tag_or_name(store, t) for t in q.terms):
        for pid, score in sql.all_terms(store, list(q.terms), conditions, need):
            _better(found, pid, _Found("exact", 2.0 + score))


def _words(store, q, conditions, need, found) -> None:
    fq = fts_query(q.terms)
    if not fq:
        return
    for pid, rank in sql.word_matches(store, fq, conditions, need + len(found)):
        relevance = max(-rank, 0.0)
        found.setdefault(pid, _Found("words", 1.0 + min(relevance / (1.0 + relevance), 0.999)))


def _better(found: dict, pid: int, hit: _Found) -> None:
    if pid not in found or found[pid].score < hit.score:
        found[pid] = hit


def _meaning(store, q, conditions, need, found, text_encoder, vectors) -> None:
    target = _query_vector(store, q, text_encoder, vectors)
    if target is None:
        return
    model, vector, exclude, label = target
    index = _index(store, model, vectors)
    if index is None:
        return
    keys, scores, null = index.search(vector)
    cut = cutoff(null)
    rows = np.flatnonzero(scores >= cut)  # one fancy index into the memory map, not a loop
    best: dict[int, tuple[float, int | None]] = {
        pid: (s, None) for pid, s in zip(keys[rows, 0].tolist(), scores[rows].tolist())
    }
    if q.terms:  # boxes answer text ("dog on a sofa"), not "photos like this one"
        rkeys, rscores, rnull = index.search(vector, regions=True)
        rcut = cutoff(rnull) if len(rnull) >= MIN_NULL else cut
        rows = np.flatnonzero(rscores >= rcut)
        for (pid, det), s in zip(rkeys[rows].tolist(), rscores[rows].tolist()):
            if s > best.get(pid, (-2.0, None))[0]:
                best[pid] = (s, det)
    for pid in exclude:
        best.pop(pid, None)
    ordered = sorted((kv for kv in best.items() if kv[0] not in found), key=lambda kv: -kv[1][0])
    _take_verified(store, ordered, conditions, need, found, label)


def _take_verified(store, ordered, conditions, need, found, label) -> None:
    """Add candidates in score order, checking the filters in growing chunks so a
    broad query with a narrow filter still stops early."""
    start = 0
    for size in itertools.chain(_VERIFY_CHUNKS, itertools.repeat(_VERIFY_CHUNKS[-1])):
        if start >= len(ordered) or len(found) >= need:
            return
        chunk = ordered[start : start + size]
        start += size
        ok = sql.keep(store, [pid for pid, _ in chunk], conditions)
        for pid, (score, det) in chunk:
            if pid in ok and len(found) < need:
                found[pid] = _Found("meaning", score, [f"{label} {score:.2f}"], det)


def _query_vector(store, q, text_encoder, vectors):
    """(model, unit vector, photo ids to leave out, reason label) or None."""
    model = getattr(text_encoder, "model_id", None) if q.terms else None
    image, exclude = None, []
    if q.similar:
        photo = _similar_photo(store, q)
        preferred = [m for m in (model, getattr(vectors, "model", None)) if m]
        got = sql.photo_vector(store, photo.id, preferred)
        if got is None or (model and got[0] != model):
            raise QueryError(f"'{q.similar_token}': that photo has no embedding yet (it is not indexed).")
        model, image, exclude = got[0], np.frombuffer(got[1], np.float32), [photo.id]
    parts = []
    if q.terms and text_encoder is not None:
        parts.append(np.asarray(text_encoder.embed_texts([q.text]), np.float32)[0])
    if image is not None:
        parts.append(image)
    if not parts:
        return None
    # Text and image together: the sum of unit vectors points between both meanings.
    vector = sum(p / max(float(np.linalg.norm(p)), 1e-12) for p in parts)
    label = "looks like" if image is not None and len(parts) == 1 else "text similarity"
    if len(parts) == 2:
        label = "similarity to text and photo"
    return model, vector, exclude, label


def _similar_photo(store, q) -> Photo:
    if "\0" in q.similar:  # no path holds one, and os.path refuses it with a ValueError
        raise QueryError(f"similar: {q.similar!r} is not a path: it holds a null character.")
    raw = os.path.expanduser(q.similar)
    for candidate in dict.fromkeys([os.path.abspath(raw), str(Path(raw).resolve(strict=False))]):
        photo = store.photo_by_path(candidate)
        if photo is not None:
            return photo
    ids = sql.photo_ids_by_rel_path(store, raw)
    if len(ids) == 1:
        return store.photo(ids[0])
    problem = "matches several photos; give more of its path" if ids else "is not a photo in this library"
    raise QueryError(f"'{q.similar_token}': {q.similar} {problem}.")


_OPENED: dict[tuple[str, str], object] = {}


def _index(store, model, vectors):
    """The caller's index when it is for this model, else this library's own files
    (kept open between searches, as a GUI searches often)."""
    from .vectors import VectorIndex

    if vectors is not None and vectors.model == model:
        vectors.sync(store)
        return vectors
    key = (str(store.path), model)
    index = _OPENED.get(key)
    if index is None:
        if len(_OPENED) > 4:
            _OPENED.clear()
        index = _OPENED[key] = VectorIndex.open(store, model)
    else:
        index.sync(store)
    return index


# -- reasons ---------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _finish(store: Store, q: Query, found: dict[int, _Found]) -> list[SearchHit]:
    ids = list(found)
    if not ids:
        return []
    photos = {p.id: p for p in store.photos(ids)}
    boxes = sql.boxes(store, ids)
    wanted_tags = [t for t in dict.fromkeys([q.text, *q.terms]) if t] + [
        f.value for f in q.filters if f.key in ("tag", "has") and not f.negated
    ]
    tags = sql.tag_scores(store, ids, wanted_tags)
    fts = sql.fts_rows(store, [i for i in ids if found[i].tier == "words"])
    hits = []
    for pid, hit in found.items():
        if pid not in photos:
            continue
        why, det = list(hit.why), hit.detection_id
        det = _reasons(q, hit, tags.get(pid, []), boxes.get(pid, []), fts.get(pid), why, det)
        box = next((b for d, _l, _n, b in boxes.get(pid, []) if d == det), None)
        hits.append(SearchHit(photos[pid], round(hit.score, 4), why, box, det if box else None))
    return hits


def _reasons(q, hit, tags, boxes, fts_row, why, det) -> int | None:
    """Fill `why` for one hit; returns the detection to point at, if any."""
    terms = {_fold(t) for t in (q.text, *q.terms)}
    names = {_fold(str(f.value)) for f in q.filters if f.key in ("person", "pet") and not f.negated}
    labels = {str(f.value) for f in q.filters if f.key == "has" and not f.negated} & set(HAS_VALUES)
    if hit.tier in ("exact", "filter"):
        filter_tags = {_fold(str(f.value)) for f in q.filters if f.key == "tag" and not f.negated} | labels
        why += [f"tag: {t} ({s:.2f})" for t, s in tags if _fold(t) in terms | filter_tags]
    for d, label, name, _box in boxes:
        if name and _fold(name) in (names | (terms if hit.tier == "exact" else set())):
            why.append(f"name: {name}")
            det = det if det is not None else d
        elif label in labels or (hit.tier == "exact" and _fold(label) in terms):
            why.append(f"box: {label}")
            det = det if det is not None else d
    if hit.tier == "meaning" and hit.detection_id is not None:
        label, name = next(((lb, n) for d, lb, n, _ in boxes if d == hit.detection_id), ("region", None))
        why.append(f"box: {name or label}")
    if hit.tier == "words" and fts_row:
        why += _word_reasons(q, fts_row)
    if hit.tier == "filter":
        explained = ("tag", "person", "pet") + (("has",) if labels else ())
        why += [
            f.token
            for f in q.filters
            if f.key not in explained or f.negated or (f.key == "has" and f.value not in labels)
        ]
    if hit.tier == "recent":
        why.append("most recent")
    why[:] = list(dict.fromkeys(why))
    return det


def _word_reasons(q: Query, fts_row: tuple[str, str, str]) -> list[str]:
    out = []
    columns = [
        (col, [_fold(w) for w in words(text or "")]) for col, text in zip(("path", "tag", "name"), fts_row)
    ]
    for term in q.terms:
        for w in words(term):
            fw = _fold(w)
            where = [col for col, ws in columns if any(x.startswith(fw) for x in ws)]
            if where:
                out.append(f"word: {w} in {'/'.join(where)}")
    return out


# -- completions -----------------------------------------------------------------


def completions(store: Store, prefix: str, limit: int = 20) -> list[str]:
    """Completions for the last word of `prefix`, each the whole text with that word
    completed: filter keywords, has: values, tags and names (person:/pet: for names)."""
    head, _, last = prefix.rpartition(" ")
    head = head + " " if head else ""
    neg = "-" if last.startswith("-") else ""
    last = last[len(neg) :]
    key, colon, value = last.partition(":")
    out: list[str] = []
    if colon:
        key = key.lower()
        value = value.lstrip('"')
        if key == "tag":
            out = [f"tag:{_quote(t)}" for t in sql.tags_starting(store, value, limit)]
        elif key in ("person", "pet"):
            out = [f"{key}:{_quote(n)}" for n in sql.names_starting(store, value, key, limit)]
        elif key == "has":
            out = [f"has:{v}" for v in HAS_VALUES if v.startswith(value.lower())]
    else:
        out = [f"{k}:" for k in FILTER_KEYS if last and k.startswith(last.lower())]
        if last:
            out += [_quote(t) for t in sql.tags_starting(store, last, limit)]
            out += [_quote(n) for n in sql.names_starting(store, last, None, limit)]
    return [head + neg + c for c in dict.fromkeys(out)][:limit]


def _quote(text: str) -> str:
    return f'"{text}"' if any(c.isspace() for c in text) else text
