"""The tagging rule on constructed embeddings, the text cache, and the vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from photoorg.models import vocabulary
from photoorg.models.tagging import Tagger
from photoorg.models.vocabulary import VocabularyError, background_prompts, builtin

DIM = 512
NEUTRAL = 0  # axis of every background caption
USER_AXIS = DIM - 1


class AxisClip:
    """A stand-in CLIP whose text embeddings are exact axes: each built-in tag's prompts
    map to that tag's own axis, every background caption to axis 0, anything else to
    the last axis. Cosines with an image are then just the image's coordinates."""

    def __init__(self, model_id="fake:axis", logit_scale=100.0):
        self.model_id = model_id
        self.dim = DIM
        self.logit_scale = logit_scale
        self.calls: list[list[str]] = []
        self.axis = {}
        for i, tag in enumerate(builtin(), start=1):
            for prompt in tag.prompts():
                self.axis.setdefault(prompt, i)
        for section in vocabulary.SECTIONS:
            for prompt in background_prompts(section):
                self.axis[prompt] = NEUTRAL

    def embed_texts(self, texts):
        self.calls.append(list(texts))
        out = np.zeros((len(texts), DIM), np.float32)
        for row, text in enumerate(texts):
            out[row, self.axis.get(text, USER_AXIS)] = 1.0
        return out


def _axis_of(name: str) -> int:
    return 1 + [t.name for t in builtin()].index(name)


def _image(**weights: float) -> np.ndarray:
    x = np.zeros(DIM, np.float32)
    for name, w in weights.items():
        x[NEUTRAL if name == "neutral" else _axis_of(name.replace("_", " "))] = w
    return x / np.linalg.norm(x)


@pytest.fixture
def tagger(tmp_path):
    return Tagger(AxisClip(), tmp_path / "cache")


def test_tag_kept_only_when_it_beats_the_neutral_caption(tagger):
    x = _image(dog=2.0, beach=1.0, neutral=1.5)
    (tags,) = tagger.tag(x[None])
    assert [name for name, _ in tags] == ["dog"]
    n = np.linalg.norm([2.0, 1.0, 1.5])
    assert tags[0][1] == pytest.approx(1 / (1 + np.exp(-100 * (2.0 - 1.5) / n)), rel=1e-5)
    probs = dict(zip(tagger.names, tagger.scores(x[None])[0]))
    assert probs["beach"] < 0.5 < probs["dog"]


def test_scores_are_probabilities_on_the_model_scale(tmp_path):
    x = _image(dog=1.0, neutral=0.9)[None]
    sharp = Tagger(AxisClip(logit_scale=100.0), tmp_path / "a").scores(x)
    soft = Tagger(AxisClip("fake:soft", logit_scale=5.0), tmp_path / "b").scores(x)
    i = _axis_of("dog") - 1
    assert 0.5 < soft[0, i] < sharp[0, i] < 1.0


def test_at_most_top_k_tags_highest_first(tmp_path):
    names = [t.name for t in builtin()[:15]]
    x = np.zeros(DIM, np.float32)
    for rank, name in enumerate(names):
        x[_axis_of(name)] = 2.0 - rank * 0.05
    x[NEUTRAL] = 0.5
    x /= np.linalg.norm(x)
    (tags,) = Tagger(AxisClip(), tmp_path, top_k=4).tag(x[None])
    assert [n for n, _ in tags] == names[:4]
    assert [s for _, s in tags] == sorted((s for _, s in tags), reverse=True)


def test_photo_matching_nothing_gets_no_tags(tagger):
    assert tagger.tag(_image(neutral=1.0)[None]) == [[]]
    assert tagger.tag(np.zeros((0, DIM), np.float32)) == []


def test_user_word_scores_stored_embeddings_without_photos(tagger):
    x = np.zeros((3, DIM), np.float32)
    x[0, USER_AXIS], x[0, NEUTRAL] = 0.8, 0.6  # shows the new thing
    x[1, NEUTRAL] = 1.0  # shows nothing in particular
    x[2, _axis_of("dog")], x[2, NEUTRAL] = 0.8, 0.6
    scores = tagger.scores_for("red bicycle", x)
    assert scores.shape == (3,)
    assert scores[0] > 0.5 > scores[1] and scores[2] < 0.5
    assert tagger.keep(scores[0]) and not tagger.keep(scores[1])
    # a built-in word uses the vocabulary's own prompts
    assert tagger.scores_for("Dog", x)[2] > 0.5


def test_extra_words_join_the_vocabulary_but_not_the_model_id(tmp_path):
    clip = AxisClip()
    plain = Tagger(clip, tmp_path)
    extended = Tagger(clip, tmp_path, extra_words=["red bicycle", "dog", "red  bicycle"])
    assert extended.names.count("dog") == 1 and extended.names[-1] == "red bicycle"
    assert len(extended.names) == len(plain.names) + 1
    assert extended.model_id == plain.model_id == f"fake:axis|vocab-{vocabulary.version()}"


def test_text_embeddings_are_cached_per_model(tmp_path):
    first = AxisClip()
    Tagger(first, tmp_path)
    embedded = sum(len(c) for c in first.calls)
    assert embedded > 3 * 300
    again = AxisClip()
    Tagger(again, tmp_path)
    assert again.calls == [["a photo of something."]]  # only the fingerprint probe
    other = AxisClip("fake:other")
    Tagger(other, tmp_path)
    assert sum(len(c) for c in other.calls) == embedded
    assert len(list(tmp_path.glob("text-*.npz"))) == 2


def test_cache_only_adds_new_prompts(tmp_path):
    Tagger(AxisClip(), tmp_path)
    clip = AxisClip()
    tagger = Tagger(clip, tmp_path, extra_words=["kite surfing"])
    tagger.scores_for("paddle board", np.zeros((1, DIM), np.float32))
    new = [t for call in clip.calls[1:] for t in call]
    assert new and all("kite surfing" in t or "paddle board" in t for t in new)


def test_vocabulary_is_large_unique_and_versioned():
    tags = builtin()
    assert len(tags) >= 300
    assert len({t.name for t in tags}) == len(tags)
    assert {"beach", "dog", "birthday", "wedding", "sunset", "pizza", "snow"} <= {t.name for t in tags}
    assert all(len(t.prompts()) >= 3 for t in tags)
    assert len(vocabulary.version()) == 10


def test_vocabulary_parser_rejects_mistakes():
    assert [t.name for t in vocabulary.parse("[animal]\nowl\nsea lion: sea lions")] == ["owl", "sea lion"]
    with pytest.raises(VocabularyError, match="appears twice"):
        vocabulary.parse("[animal]\nowl\nowl")
    with pytest.raises(VocabularyError, match="unknown section"):
        vocabulary.parse("[planets]\nmars")
    with pytest.raises(VocabularyError, match="before any"):
        vocabulary.parse("owl")


def test_user_words_get_an_article_variant():
    assert vocabulary.make_tag("red bicycle").phrases == ("red bicycle", "a red bicycle")
    assert vocabulary.make_tag("an apple tree").phrases == ("an apple tree",)
    with pytest.raises(VocabularyError):
        vocabulary.make_tag("   ")
