"""Zero-shot tags from CLIP image embeddings.

The decision rule
-----------------
Every tag t has a prompt ensemble (its section's templates filled with its phrases,
see vocabulary.py); its text embedding w_t is the normalised mean of the prompt
embeddings, as in the CLIP paper. Its section also has a *background* embedding b_t:
the same templates filled with neutral words ("a photo of something."), so the two
captions differ only in the words that name the tag.

For an image embedding x, CLIP's own contrastive model says how likely caption w_t
is against caption b_t: a two-way softmax of the logits s*cos(x, w_t) and
s*cos(x, b_t), where s is the model's learned logit scale (about 100 for trained
CLIP). That is

    p_t(x) = sigmoid(s * (cos(x, w_t) - cos(x, b_t)))

the score stored with the tag. A tag is kept when p_t >= min_prob (default 0.5:
the caption naming the tag explains the photo better than the neutral caption),
and at most top_k tags (default 10) are kept per photo, highest p_t first.

Why not one global cosine cut-off: raw cosines drift per image (some photos are
close to every caption) and per template (the modality gap shifts all image-text
cosines); subtracting the image's own similarity to a neutral caption built from
the same templates cancels both, and the learned temperature turns the difference
into a probability on the scale the model was trained with. min_prob and top_k are
the only knobs, and bench/quality.py measures precision/recall against them.

A user-added word goes through the same rule (generic templates, the "user"
section's background) on stored image embeddings: scores_for() never decodes a photo.

Text embeddings are cached on disk per model *weights*, one row per prompt, in
<cache_dir>/text-<key>.npz, where cache_dir is the user's cache folder shared by every
library (modelset.text_cache_dir) and the key is the weights file's sha256 (for random
weights a hash of their parameters): a second library, or a new library.db, starts with
the vocabulary already embedded. A stand-in model without weights_id is keyed by its
model id and its embedding of a probe caption. Vocabulary changes only add the prompts
that are new; a save merges with rows another process wrote meanwhile.

The default model's whole vocabulary (1,503 prompts, ViT-B-32-256) is embedded in
batches of similar length, each cut to its longest prompt (see clip.py). bench/vocab.py
on this 2-core machine at load 1.8: cold 9.6-11.2 s against 86 s for the padded pass
(57.4 ms a prompt), warm 12-14 ms; under load 9-11: 107.6 s against 578 s.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .vocabulary import Tag, background_prompts, builtin, make_tag, version

if TYPE_CHECKING:
    from .clip import ClipModel

_PROBE = "a photo of something."
_BATCH = 64


class TextCache:
    """Prompt -> text embedding for one model, kept in one npz file."""

    def __init__(self, clip: ClipModel, cache_dir: Path):
        self._clip = clip
        weights = getattr(clip, "weights_id", "")
        if weights:
            key = hashlib.sha256(weights.encode()).hexdigest()[:20]
        else:
            probe = np.round(clip.embed_texts([_PROBE])[0], 3).tobytes()
            key = hashlib.sha256(clip.model_id.encode() + probe).hexdigest()[:16]
        self.path = Path(cache_dir) / f"text-{key}.npz"
        self._rows: dict[str, np.ndarray] = self._load()

    def embed(self, texts: Iterable[str]) -> np.ndarray:
        texts = list(texts)
        # Similar lengths batched together: each batch runs at its longest prompt.
        missing = sorted(dict.fromkeys(t for t in texts if t not in self._rows), key=len)
        for start in range(0, len(missing), _BATCH):
            chunk = missing[start : start + _BATCH]
            self._rows.update(zip(chunk, self._clip.embed_texts(chunk)))
        if missing:
            self._save()
        return (
            np.stack([self._rows[t] for t in texts]) if texts else np.zeros((0, self._clip.dim), np.float32)
        )

    def ensemble(self, prompt_sets: list[list[str]]) -> np.ndarray:
        """One normalised mean embedding per prompt set."""
        flat = self.embed(p for prompts in prompt_sets for p in prompts)
        out, start = [], 0
        for prompts in prompt_sets:
            mean = flat[start : start + len(prompts)].mean(axis=0)
            out.append(mean / np.linalg.norm(mean))
            start += len(prompts)
        return np.stack(out).astype(np.float32)

    def _load(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path) as data:
                return dict(zip(data["texts"].tolist(), data["embeddings"]))
        except (OSError, KeyError, ValueError):
            return {}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Another library may have added prompts since we loaded: keep theirs too.
        self._rows = {**self._load(), **self._rows}
        tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.npz")
        texts = list(self._rows)
        np.savez(tmp, texts=np.array(texts), embeddings=np.stack([self._rows[t] for t in texts]))
        os.replace(tmp, self.path)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # log-space form: no overflow warnings for the large logits of a sharp model
    return np.exp(-np.logaddexp(0.0, -z)).astype(np.float32)


class Tagger:
    def __init__(
        self,
        clip: ClipModel,
        cache_dir: Path,
        extra_words: Iterable[str] = (),
        *,
        min_prob: float = 0.5,
        top_k: int = 10,
    ):
        self.min_prob = min_prob
        self.top_k = top_k
        # User words are applied by scores_for from stored embeddings, so they are not
        # part of the id: adding one must not mark every photo as needing re-indexing.
        self.model_id = f"{clip.model_id}|vocab-{version()}"
        self._scale = clip.logit_scale
        self._cache = TextCache(clip, cache_dir)
        self._builtin = {tag.name.casefold(): tag for tag in builtin()}
        extra = {t.name.casefold(): t for t in map(make_tag, extra_words)}
        self.tags: tuple[Tag, ...] = tuple(builtin()) + tuple(
            t for key, t in extra.items() if key not in self._builtin
        )
        self.names = [t.name for t in self.tags]
        self._tag_emb = self._cache.ensemble([t.prompts() for t in self.tags])
        sections = sorted({t.section for t in self.tags})
        self._bg_emb = self._cache.ensemble([background_prompts(s) for s in sections])
        self._bg_of = np.array([sections.index(t.section) for t in self.tags])

    @property
    def tag_embeddings(self) -> np.ndarray:
        """(T, dim) one unit text embedding per tag in self.names."""
        return self._tag_emb

    def scores(self, image_embeddings: np.ndarray) -> np.ndarray:
        """(N, T) probabilities p_t for every image and every tag in self.names."""
        x = np.asarray(image_embeddings, np.float32)
        tag_cos = x @ self._tag_emb.T
        bg_cos = (x @ self._bg_emb.T)[:, self._bg_of]
        return _sigmoid(self._scale * (tag_cos - bg_cos))

    def tag(self, image_embeddings: np.ndarray) -> list[list[tuple[str, float]]]:
        probs = self.scores(image_embeddings)
        out = []
        for row in probs:
            order = np.argsort(-row, kind="stable")[: self.top_k]
            out.append([(self.names[i], float(row[i])) for i in order if row[i] >= self.min_prob])
        return out

    def scores_for(self, word: str, image_embeddings: np.ndarray) -> np.ndarray:
        """p for one word (a built-in tag's own prompts if it is one) on every image: (N,)."""
        tag = make_tag(word)
        tag = self._builtin.get(tag.name.casefold(), tag)
        w = self._cache.ensemble([tag.prompts()])[0]
        b = self._cache.ensemble([background_prompts(tag.section)])[0]
        x = np.asarray(image_embeddings, np.float32)
        return _sigmoid(self._scale * (x @ w - x @ b))

    def keep(self, score: float) -> bool:
        """Whether one scores_for value passes the rule's threshold."""
        return score >= self.min_prob
