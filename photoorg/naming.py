"""Naming boxes: which subject (person or pet) a detection shows, and suggestions
for unnamed boxes that look like an already-named subject."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .db import Store, StoredDetection, Subject
from .errors import UserError
from .labels import clean_label

# Cosine similarity of two region embeddings above which an unnamed box is offered
# as "is this Ana?". High on purpose: a wrong suggestion costs a click, a flood of
# them costs the user's trust.
SUGGEST_THRESHOLD = 0.85
PERSON_LABELS = frozenset({"person"})


class NamingError(UserError):
    """A naming request that cannot be done; str() is one sentence."""


@dataclass(frozen=True)
class Suggestion:
    detection_id: int
    subject: Subject
    score: float  # cosine similarity to the closest named box of that subject


def kind_for(label: str) -> str:
    return "person" if label in PERSON_LABELS else "pet"


def name_box(store: Store, detection_id: int, name: str) -> StoredDetection:
    name = clean_label(name, "name")
    if ":" in name:
        raise NamingError(f"{name!r}: a name cannot contain ':' (it would read as a search filter).")
    box = store.detection(detection_id)
    if box is None:
        raise NamingError(f"There is no box {detection_id}; the photo may have been re-indexed.")
    with store.transaction():
        subject = store.subject(name, kind_for(box.label))
        store.name_detection(detection_id, subject.id)
    return store.detection(detection_id)


def suggestions(store: Store, photo_id: int, threshold: float = SUGGEST_THRESHOLD) -> list[Suggestion]:
    """For each unnamed box of the photo, the named subject it looks most like (when
    similar enough, of a matching kind, and not rejected before)."""
    unnamed = {d.id: d for d in store.detections_of(photo_id) if d.subject_id is None}
    vectors = store.box_vectors(unnamed)
    if not vectors:
        return []
    rejected = store.rejected_suggestions(unnamed)
    kinds = {s.id: s for s in store.subjects()}
    found: list[Suggestion] = []
    by_model: dict[str, list[tuple[int, int, np.ndarray]]] = {}
    for det_id, model, vector in vectors:
        if model not in by_model:
            by_model[model] = store.named_box_vectors(model)
        best = _closest(vector, by_model[model], unnamed[det_id], kinds, rejected, det_id)
        if best and best[1] >= threshold:
            found.append(Suggestion(det_id, kinds[best[0]], best[1]))
    return sorted(found, key=lambda s: -s.score)


def _closest(
    vector,
    named,
    box: StoredDetection,
    subjects: dict[int, Subject],
    rejected: set[tuple[int, int]],
    det_id: int,
) -> tuple[int, float] | None:
    if not named:
        return None
    matrix = np.stack([v for _, _, v in named])
    sims = _unit(matrix) @ _unit(vector[None, :])[0]
    best: dict[int, float] = {}
    for (_, subject_id, _), sim in zip(named, sims.tolist()):
        subject = subjects.get(subject_id)
        if subject is None or subject.kind != kind_for(box.label) or (det_id, subject_id) in rejected:
            continue
        best[subject_id] = max(best.get(subject_id, -1.0), sim)
    return max(best.items(), key=lambda kv: kv[1]) if best else None


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1, norms)
