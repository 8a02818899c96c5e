"""Naming boxes and name suggestions, through the Library methods the GUI calls."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from photoorg.errors import UserError
from photoorg.progress import drive


@dataclass
class Box:
    label: str
    score: float
    box: tuple[float, float, float, float]


def _indexed(library, photo_dir):
    library.add_roots([photo_dir])
    drive(library.scan())
    drive(library.index())
    return library.photos(library.browse())


def _boxes(library, photo, labels):
    return library.store.replace_detections(
        photo.id, "test-detector", [Box(lab, 0.9, (0.1, 0.1, 0.5, 0.9)) for lab in labels]
    )


def _embed(library, photo, det_ids, vectors):
    library.store.replace_embeddings(photo.id, "test-clip", list(zip(det_ids, vectors)))


def test_named_box_gets_subject_of_matching_kind(library, photo_dir):
    photo = _indexed(library, photo_dir)[0]
    person, dog = _boxes(library, photo, ["person", "dog"])
    assert library.name_box(person, "  Ana  ").subject_name == "Ana"
    library.name_box(dog, "Rex")
    kinds = {s.name: (s.kind, s.count) for s in library.subjects()}
    assert kinds == {"Ana": ("person", 1), "Rex": ("pet", 1)}
    library.unname_box(dog)
    assert [d.subject_name for d in library.detections(photo) if d.id == dog] == [None]


@pytest.mark.parametrize("bad", ["", "   ", "person:Ana"])
def test_bad_names_are_refused_in_one_sentence(library, photo_dir, bad):
    photo = _indexed(library, photo_dir)[0]
    (box,) = _boxes(library, photo, ["person"])
    with pytest.raises(UserError):
        library.name_box(box, bad)


def test_similar_unnamed_box_is_suggested_until_rejected(library, photo_dir):
    first, second = _indexed(library, photo_dir)[:2]
    (named,) = _boxes(library, first, ["person"])
    near, far, dog = _boxes(library, second, ["person", "person", "dog"])
    base = np.zeros(8, np.float32)
    base[0] = 1
    other = np.zeros(8, np.float32)
    other[1] = 1
    _embed(library, first, [named], [base])
    _embed(library, second, [near, far, dog], [base + 0.05 * other, other, base])
    library.name_box(named, "Ana")

    found = library.suggestions(second)
    # The look-alike person is offered; the dissimilar one and the dog (a pet box
    # cannot be a person) are not.
    assert [(s.detection_id, s.subject.name) for s in found] == [(near, "Ana")]
    assert found[0].score > 0.9

    library.reject_suggestion(near, found[0].subject.id)
    assert library.suggestions(second) == []
