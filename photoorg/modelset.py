"""The models one index run uses, loaded from the library's settings.

A model whose weights are not installed is not an error here: the set records one
sentence per missing model, the indexer skips that stage (photos still get their
thumbnails and metadata, and wait for the stage), and the front end shows the sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .settings import Settings

if TYPE_CHECKING:
    from .models.clip import ClipModel
    from .models.detect import Detector
    from .models.registry import WeightStore
    from .models.tagging import Tagger


@dataclass
class ModelSet:
    clip: "ClipModel | None" = None
    tagger: "Tagger | None" = None
    detector: "Detector | None" = None
    missing: list[str] = field(default_factory=list)  # one sentence per model not installed
    words: list[str] = field(default_factory=list)  # the user's own vocabulary words
    clip_path: dict = field(default_factory=dict)  # what runs CLIP's image tower, and why


def text_cache_dir() -> Path:
    """Where the tagger keeps vocabulary text embeddings, per model weights: the user's
    cache folder, shared by every library ($PHOTOORG_CACHE overrides it)."""
    from .models.usercache import user_cache

    return user_cache("text")


def load_tagger(clip: "ClipModel") -> "Tagger":
    """The built-in vocabulary's tagger. User words are scored apart (Tagger.scores_for,
    kept by the rule's threshold alone): a word the user asked for is not crowded out
    by the built-in tags' top-k, at indexing time and when it is added alike."""
    from .models.tagging import Tagger

    return Tagger(clip, text_cache_dir())


class SearchText:
    """The chosen CLIP model's text side for search, loaded at the first query that needs
    it: the exported ONNX text tower when there is one, else the torch model. A query
    answered by tags and names alone loads nothing. One `photoorg search` process on a
    100,000-photo library (load 1.8): tag word 0.34 s, a recent query 0.40-0.69 s, a
    new free-text query 0.63-1.34 s; through torch it took 7.9-9.0 s."""

    def __init__(self, settings: Settings, weights: "WeightStore"):
        from .models.clip import clip_model_id
        from .models.registry import spec_for

        self._settings, self._weights = settings, weights
        self._path = weights.path(settings.clip)
        self.model_id = clip_model_id(spec_for(settings.clip), self._path)
        self._encoder = None

    def embed_texts(self, texts: list[str]):
        if self._encoder is None:
            from .models import load
            from .models.clip_onnx import query_encoder

            self._encoder = (query_encoder(self._path) if self._path else None) or \
                load("clip", self._settings.clip, store=self._weights, device=self._settings.device)
        return self._encoder.embed_texts(texts)


def load_model_set(folder: Path, settings: Settings, weights: "WeightStore",
                   vocabulary: list[str], device: str | None = None,
                   allow_random: bool = False, precision: str | None = None,
                   probes=()) -> ModelSet:
    """CLIP (with its tagger) and the detector named in `settings`, whichever are installed."""
    from .models import ModelMissing, load

    found = ModelSet(words=list(vocabulary))
    device = device or settings.device
    for role in ("clip", "detector"):
        try:
            model = load(role, settings.model(role), store=weights, device=device,
                         allow_random=allow_random)
        except ModelMissing as e:
            found.missing.append(str(e))
            continue
        setattr(found, role, model)
    if found.clip is not None:
        from .models.clip_onnx import prepare

        found.tagger = load_tagger(found.clip)
        # Once per weights file: the text export search uses, and the image tower's CPU
        # path (int8 when its check passes on fixed probes and the library's first photos).
        found.clip_path = prepare(found.clip, precision or settings.precision,
                                  found.tagger.tag_embeddings, probes)
    return found


def load_clip_only(folder: Path, settings: Settings, weights: "WeightStore",
                   device: str | None = None, allow_random: bool = False) -> "ClipModel":
    """The chosen CLIP model, or ModelMissing (for commands that need nothing else)."""
    from .models import load

    return load("clip", settings.clip, store=weights, device=device or settings.device,
                allow_random=allow_random)
