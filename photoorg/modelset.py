"""The models one index run uses, loaded from the library's settings.

A model whose weights are not installed is not an error here: the set records one
sentence per missing model, the indexer skips that stage (photos still get their
thumbnails and metadata, and wait for the stage), and the front end shows the sentence.

The tagger is built on a background thread: it embeds the whole vocabulary with
CLIP's text tower (about 1,500 prompts, 93-111 s on 2 cores before the text cache
is warm), and photo embeddings must not wait for it. The indexer embeds photos
meanwhile (searchable by free text at once) and tags them from their stored
embeddings when the tagger is ready.

Memory (issue 11's goal: `photoorg index` peak <= 1.0 GB; 2 cores, torch 2.14.1+cu130,
ViT-B-32-256 from its file; RSS):
- through torch: importing torch costs 658 MiB (387 MiB of it file-backed CUDA
  libraries of this build), torchvision and open_clip 234 MiB more; open_clip copies
  the 605 MB weights file into the model, so a run peaked at 2,061 MiB;
- so once a weights file's ONNX exports exist in the user cache and passed their
  checks (models/clip_onnx.py), CLIP loads from them (exported_clip) and the run
  imports none of torch, torchvision or open_clip: 40 COCO photos, CLIP only, peak
  468 MiB with the int8 image tower, 733 MiB with fp32 (7.6 and 11.0 CPU s);
- the first run with a weights file exports and checks through torch: 2,713 MiB
  (`photoorg models import` of the file, which prepares it when it is the chosen model);
- 294 COCO photos, one `photoorg add` each (random ViT-B-32-256 file, int8 passed its
  check; load 2-5): CLIP only 51.5 CPU s, 522 MiB (before: 82.4 CPU s, 2,246 MiB);
  with PicoDet 121.5 CPU s, 612 MiB (175.8, 2,349); with faces too 138.2 CPU s, 624 MiB
  (182.7, 2,355); rclip in the same runs 60.3-63.1 CPU s, 931 MiB.
On "auto" the CPU is known without torch where no GPU driver is loaded
(device.only_cpu); a GPU keeps torch (fp16).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .settings import Settings

if TYPE_CHECKING:
    from .models.clip import ClipModel
    from .models.clip_onnx import ExportedClip
    from .models.detect import Detector
    from .models.faces import FaceModel
    from .models.registry import WeightStore
    from .models.tagging import Tagger


@dataclass
class ModelSet:
    clip: ClipModel | None = None
    tagger: Tagger | None = None
    detector: Detector | None = None
    faces: FaceModel | None = None
    missing: list[str] = field(default_factory=list)  # one sentence per model not installed
    words: list[str] = field(default_factory=list)  # the user's own vocabulary words
    clip_path: dict = field(default_factory=dict)  # what runs CLIP's image tower, and why
    vocabulary: Future | None = None  # the tagger while its vocabulary is being embedded

    def ready_tagger(self) -> Tagger | None:
        """The tagger if its vocabulary is embedded; never waits."""
        if self.tagger is None and self.vocabulary is not None and self.vocabulary.done():
            self.tagger = self.vocabulary.result()
        return self.tagger

    def wait_for_tagger(self, timeout: float | None = None) -> Tagger | None:
        """The tagger, waiting up to `timeout` seconds for its vocabulary if it is still
        being embedded (None when it is not ready by then; a failure is raised here)."""
        if self.tagger is None and self.vocabulary is not None:
            try:
                self.tagger = self.vocabulary.result(timeout)
            except TimeoutError:
                return None
        return self.tagger


def in_background(build: Callable[[], object], name: str) -> Future:
    """build() on a daemon thread (an interrupted command must not wait for it)."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(build())
        except BaseException as e:  # handed to whoever waits for the result
            future.set_exception(e)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def text_cache_dir() -> Path:
    """Where the tagger keeps vocabulary text embeddings, per model weights: the user's
    cache folder, shared by every library ($PHOTOORG_CACHE overrides it)."""
    from .models.usercache import user_cache

    return user_cache("text")


def load_tagger(clip: ClipModel) -> Tagger:
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

    def __init__(self, settings: Settings, weights: WeightStore):
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

            self._encoder = (query_encoder(self._path) if self._path else None) or load(
                "clip", self._settings.clip, store=self._weights, device=self._settings.device
            )
        return self._encoder.embed_texts(texts)


def load_model_set(
    folder: Path,
    settings: Settings,
    weights: WeightStore,
    vocabulary: list[str],
    device: str | None = None,
    allow_random: bool = False,
    precision: str | None = None,
    probes=(),
) -> ModelSet:
    """CLIP and the detector named in `settings`, whichever are installed; CLIP's
    tagger follows in the background (ModelSet.ready_tagger), and with it CLIP's CPU
    path (the ONNX exports and the int8 check, which need the tag embeddings)."""
    from .models import ModelMissing, load

    found = ModelSet(words=list(vocabulary))
    device = known_device(device or settings.device)
    for role in ("clip", "detector"):
        try:
            if role == "clip":
                model = load_clip_only(folder, settings, weights, device, allow_random, precision)
            else:
                model = load(
                    role, settings.model(role), store=weights, device=device, allow_random=allow_random
                )
        except ModelMissing as e:
            found.missing.append(str(e))
            continue
        setattr(found, role, model)
    if found.clip is not None:
        from .models.clip_onnx import prepare

        clip = found.clip

        def build_tagger() -> Tagger:
            tagger = load_tagger(clip)
            # Once per weights file: the text export search uses, and the image tower's
            # CPU path (int8 when its check passes on fixed probes and the first photos).
            found.clip_path = prepare(clip, precision or settings.precision, tagger.tag_embeddings, probes)
            return tagger

        found.vocabulary = in_background(build_tagger, "vocabulary")
    from .models.faces import FaceModelMissing, load_face_model

    try:
        found.faces = load_face_model(weights, settings.face_landmarks, settings.face)
    except FaceModelMissing as e:
        found.missing.append(str(e))
    return found


def exported_clip(settings: Settings, weights: WeightStore, precision: str | None):
    """The chosen CLIP model from its checked ONNX exports, without torch (None before
    the first run with these weights has made and checked them)."""
    from .models.clip import clip_model_id
    from .models.clip_onnx import load_exported
    from .models.registry import spec_for

    spec = spec_for(settings.clip)
    path = weights.path(spec.name)
    return load_exported(clip_model_id(spec, path), path, precision or settings.precision)


def known_device(device: str) -> str:
    """ "auto" as "cpu" where no GPU can be there, known without importing torch."""
    from .models.device import only_cpu

    return "cpu" if device == "auto" and only_cpu() else device


def load_clip_only(
    folder: Path,
    settings: Settings,
    weights: WeightStore,
    device: str | None = None,
    allow_random: bool = False,
    precision: str | None = None,
) -> ClipModel | ExportedClip:
    """The chosen CLIP model, or ModelMissing (for commands that need nothing else):
    on the CPU from its checked exports when they exist (no torch), else through torch."""
    from .models import load

    device = known_device(device or settings.device)
    exported = exported_clip(settings, weights, precision) if device == "cpu" else None
    return exported or load("clip", settings.clip, store=weights, device=device, allow_random=allow_random)
