"""The indexer on real (randomly initialised) architectures: a tiny open_clip ViT built
by open_clip's own classes, the tagger over the real vocabulary, and the YOLOX-Nano
detector's random stand-in session (an ONNX file has no random-init form)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoorg import index as index_module
from photoorg import models
from photoorg.face_stage import PET_LABELS
from photoorg.imaging import load_image
from photoorg.index import (
    MAX_REGIONS,
    MAX_SEARCH_REGIONS,
    REGION_MIN_AREA,
    Control,
    Region,
    region_targets,
    stage_models,
)
from photoorg.library import Library
from photoorg.models.detect import detection_tags
from photoorg.modelset import ModelSet, text_cache_dir
from photoorg.progress import drive
from photoorg.settings import SettingsError, load_settings
from tests.conftest import register_tiny_clip


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """CLIP + tagger + detector, loaded once for the module; the tagger's text cache
    lives in `cache` so each test's library can reuse it instead of re-encoding."""
    import torch

    from photoorg.models import registry
    from photoorg.models.tagging import Tagger

    register_tiny_clip(tmp_path_factory.mktemp("configs"), "photoorg-index-tiny")
    spec = registry.ModelSpec(
        "clip-index-tiny",
        "clip",
        "open_clip",
        "photoorg-index-tiny",
        "https://example.invalid/tiny.safetensors",
        None,
        1,
        "MIT",
        "clip-index-tiny.safetensors",
        "none",
    )
    torch.manual_seed(0)
    cache = tmp_path_factory.mktemp("textcache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(registry.MODELS, spec.name, spec)
        store = models.WeightStore(tmp_path_factory.mktemp("weights"))
        clip = models.load("clip", spec.name, store=store, device="cpu", allow_random=True)
        detector = models.load("detector", "yolox-nano", store=store, device="cpu", allow_random=True)
        tagger = Tagger(clip, cache)
        yield ModelSet(clip=clip, tagger=tagger, detector=detector), cache


def _photos(folder: Path, n: int, size=(320, 240)) -> list[Path]:
    """Distinct noisy photos (flat colours would all look alike to the models)."""
    rng = np.random.default_rng(7)
    paths = []
    for i in range(n):
        w, h = size if i % 3 else size[::-1]
        pixels = rng.integers(0, 255, (h // 8, w // 8, 3), np.uint8)
        image = Image.fromarray(pixels).resize((w, h), Image.Resampling.BILINEAR)
        path = folder / f"photo_{i:02d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=92)
        paths.append(path)
    return paths


def _library(tmp_path: Path, name: str, n: int, cache: Path | None = None) -> Library:
    folder = tmp_path / f"{name}-photos"
    _photos(folder, n)
    lib = Library(tmp_path / f"{name}-lib")
    lib.add_roots([folder])
    drive(lib.scan())
    if cache is not None:  # the module's text embeddings, so no test re-encodes the vocabulary
        shutil.copytree(cache, text_cache_dir(), dirs_exist_ok=True)
    return lib


def _area(box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _index(lib: Library, model_set: ModelSet, **kw):
    return drive(lib.index(models=model_set, **kw))


def _rows(lib: Library, sql: str, params=()) -> list[tuple]:
    return lib.store.db.execute(sql, list(params)).fetchall()


@pytest.fixture
def every_box_size(monkeypatch):
    """The random detector's boxes on noise are small: region embeddings for every size
    (still the largest first, MAX_REGIONS at most)."""
    monkeypatch.setattr(index_module, "REGION_MIN_AREA", 0.0)


def test_index_stores_embeddings_tags_boxes_and_model_ids(tmp_path, tiny_models, every_box_size):
    model_set, _ = tiny_models
    lib = _library(tmp_path, "one", 5)
    report = _index(lib, model_set, batch_size=2)
    assert (report.indexed, report.failed, report.waiting) == (5, 0, [])
    assert lib.store.counts()["indexed"] == 5
    clip_id, det_id = model_set.clip.model_id, model_set.detector.model_id
    assert clip_id.endswith("+random") and det_id.endswith("+random")

    ids, dets, matrix = lib.store.embeddings(clip_id)
    assert matrix.shape == (5, model_set.clip.dim) and (dets == -1).all()
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1, atol=1e-5)

    current = stage_models(model_set)
    for stage, model in current.items():
        assert _rows(lib, "SELECT count(*) FROM processed WHERE stage = ? AND model = ?", [stage, model]) == [
            (5,)
        ], stage
    regions = 0

    for photo_id in ids.tolist():
        boxes = lib.store.detections_of(photo_id)
        assert boxes and all(d.model == det_id for d in boxes)
        assert all(0 <= v <= 1 for d in boxes for v in d.box)
        region_rows = _rows(
            lib,
            "SELECT detection_id, length(vector) FROM embeddings "
            "WHERE photo_id = ? AND detection_id IS NOT NULL",
            [photo_id],
        )
        # pets, then the largest other box, of at least REGION_MIN_AREA of the photo, at most MAX_REGIONS
        photo = lib.store.photo(photo_id)
        big = sorted(
            (d for d in boxes if _area(d.box) >= index_module.REGION_MIN_AREA), key=lambda d: -_area(d.box)
        )
        for_search = [d for d in big if d.label not in PET_LABELS]
        big = ([d for d in big if d.label in PET_LABELS] + for_search[:MAX_SEARCH_REGIONS])[:MAX_REGIONS]
        frame = Image.new("RGB", (photo.width, photo.height))  # crops under 16 px are noise
        big = [d for d in big if index_module._crop(frame, d.box) is not None]
        assert sorted(r[0] for r in region_rows) == sorted(d.id for d in big)
        assert {r[1] for r in region_rows} <= {4 * model_set.clip.dim}
        regions += len(region_rows)
        tags = lib.store.tags_of(photo_id)
        expected_counts = dict(detection_tags(boxes, det_id))
        by_name = {t.tag: t for t in tags}
        for name in expected_counts:
            assert by_name[name].model == det_id
        clip_tags = [t for t in tags if t.model == model_set.tagger.model_id]
        assert clip_tags and all(0.5 <= t.score <= 1 for t in clip_tags)
    assert regions > 0
    assert (lib.thumbs_dir).exists() and any(lib.thumbs_dir.rglob("*.jpg"))
    lib.close()


def test_batch_of_eight_equals_eight_single_runs(tmp_path, tiny_models, every_box_size):
    model_set, cache = tiny_models
    batched, single = _library(tmp_path, "batched", 8), _library(tmp_path, "single", 8)
    _index(batched, model_set, batch_size=8)
    _index(single, model_set, batch_size=1)
    clip_id = model_set.clip.model_id
    a_ids, _, a = batched.store.embeddings(clip_id)
    b_ids, _, b = single.store.embeddings(clip_id)
    assert a.shape == b.shape == (8, model_set.clip.dim)
    assert np.allclose(a, b, atol=1e-5)
    for pa, pb in zip(a_ids.tolist(), b_ids.tolist()):
        ta = {(t.tag, round(t.score, 4)) for t in batched.store.tags_of(pa)}
        tb = {(t.tag, round(t.score, 4)) for t in single.store.tags_of(pb)}
        assert ta == tb
        da = [
            (d.label, round(d.score, 5), tuple(round(v, 5) for v in d.box))
            for d in batched.store.detections_of(pa)
        ]
        db_ = [
            (d.label, round(d.score, 5), tuple(round(v, 5) for v in d.box))
            for d in single.store.detections_of(pb)
        ]
        assert da == db_
    ra = _rows(batched, "SELECT vector FROM embeddings WHERE detection_id IS NOT NULL ORDER BY id")
    rb = _rows(single, "SELECT vector FROM embeddings WHERE detection_id IS NOT NULL ORDER BY id")
    assert len(ra) == len(rb) > 0
    assert np.allclose(
        np.stack([np.frombuffer(r[0], np.float32) for r in ra]),
        np.stack([np.frombuffer(r[0], np.float32) for r in rb]),
        atol=1e-5,
    )
    batched.close()
    single.close()


def test_cancel_mid_run_then_resume_after_restart(tmp_path, tiny_models):
    model_set, _ = tiny_models
    lib = _library(tmp_path, "resume", 7)
    control = Control()
    work = lib.index(models=model_set, batch_size=2, control=control)

    def cancel_after_first_batch(progress):
        if progress.done >= 2:
            control.cancel()

    report = drive(work, cancel_after_first_batch)
    assert report.cancelled and report.indexed == 2
    assert lib.store.counts()["pending"] == 5
    folder = lib.folder
    lib.close()  # a restart: a new process opens the same library

    lib = Library(folder)
    report = _index(lib, model_set, batch_size=2)
    assert (report.indexed, report.cancelled, report.requeued) == (5, False, 0)
    assert lib.store.counts()["indexed"] == 7 and lib.store.counts()["pending"] == 0
    assert len(lib.store.embeddings(model_set.clip.model_id)[0]) == 7
    lib.close()


class _WatchedControl(Control):
    """A Control that tells the test when the indexer is waiting on it."""

    def __init__(self):
        import threading

        super().__init__()
        self.waiting = threading.Event()

    def checkpoint(self):
        if self.paused:
            self.waiting.set()
        super().checkpoint()


def test_pause_blocks_until_resumed(tmp_path, tiny_models):
    import threading

    model_set, _ = tiny_models
    lib = _library(tmp_path, "pause", 4)
    control = _WatchedControl()
    control.pause()
    result = {}

    def run():  # the index runs on its own thread with its own connection, as in the GUI
        with Library(lib.folder) as own:
            result["report"] = drive(own.index(models=model_set, batch_size=2, control=control))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert control.waiting.wait(60)
    assert lib.store.counts()["indexed"] == 0 and thread.is_alive()
    control.resume()
    thread.join(60)
    assert not thread.is_alive() and result["report"].indexed == 4
    assert lib.store.counts()["indexed"] == 4
    lib.close()


def test_removed_tags_stay_removed_and_user_tags_stay_after_reindex(tmp_path, tiny_models):
    from photoorg.models.yolox import RandomYoloxSession, YoloxDetector

    model_set, _ = tiny_models
    lib = _library(tmp_path, "rejected", 3)
    _index(lib, model_set)
    photo = lib.store.photos_where("1 ORDER BY p.id")[0]
    clip_tag = next(t.tag for t in lib.store.tags_of(photo.id) if t.model == model_set.tagger.model_id)
    lib.tag(photo.path, add=["grandma's garden"], remove=[clip_tag])

    # Another detector: every photo is requeued and its tags are recomputed.
    other = YoloxDetector(RandomYoloxSession(seed=1), "onnx:yolox-other+random", 0.35)
    changed = ModelSet(model_set.clip, model_set.tagger, other)
    report = _index(lib, changed)
    assert report.requeued == 3 and report.indexed == 3
    tags = {t.tag: t for t in lib.store.tags_of(photo.id, include_rejected=True)}
    assert tags[clip_tag].source == "rejected"
    assert tags["grandma's garden"].source == "user"
    emb = lib.store.embedding_of(photo.id, model_set.clip.model_id)
    assert clip_tag in [name for name, _ in model_set.tagger.tag(emb[None])[0]]  # it would be back
    assert all(d.model == other.model_id for d in lib.store.detections_of(photo.id))
    lib.close()


def test_model_change_reruns_only_what_it_affects(tmp_path, tiny_models, monkeypatch):
    from photoorg import index as index_module
    from photoorg.models.tagging import Tagger

    model_set, cache = tiny_models
    lib = _library(tmp_path, "stale", 3)
    _index(lib, model_set)
    before = _rows(lib, "SELECT id, photo_id FROM embeddings WHERE detection_id IS NULL ORDER BY id")

    # A new vocabulary release changes only the tagger's id: tags are recomputed from
    # the stored embeddings, no photo is decoded and no model sees a pixel.
    tagger = Tagger(model_set.clip, cache)
    tagger.model_id += "-next"
    monkeypatch.setattr(index_module, "load_image", _no_decoding)
    report = _index(lib, ModelSet(model_set.clip, tagger, model_set.detector))
    assert (report.requeued, report.indexed, report.failed) == (3, 3, 0)
    assert _rows(
        lib, "SELECT count(*) FROM processed WHERE stage = 'tags' AND model = ?", [tagger.model_id]
    ) == [(3,)]
    assert _rows(lib, "SELECT count(*) FROM tags WHERE model = ?", [tagger.model_id])[0][0] > 0
    after = _rows(lib, "SELECT id, photo_id FROM embeddings WHERE detection_id IS NULL ORDER BY id")
    assert after == before  # whole-photo embeddings untouched
    # Nothing is stale any more: a second run has nothing to do.
    assert _index(lib, ModelSet(model_set.clip, tagger, model_set.detector)).indexed == 0
    lib.close()


def _no_decoding(*args, **kwargs):
    raise AssertionError("a photo was decoded")


def test_vocab_add_applies_from_stored_embeddings_without_decoding(tmp_path, tiny_models, monkeypatch):
    from photoorg import imaging
    from photoorg import index as index_module
    from photoorg.models.tagging import Tagger

    model_set, cache = tiny_models
    lib = _library(tmp_path, "vocab", 6, cache)
    _index(lib, model_set)
    for module in (imaging, index_module):  # thumbs takes imaging's when it makes one
        monkeypatch.setattr(module, "load_image", _no_decoding)

    tagged = lib.add_vocabulary("  red   bicycle ", models=model_set)

    assert lib.vocabulary() == ["red bicycle"]
    ids, _, matrix = lib.store.embeddings(model_set.clip.model_id)
    scores = Tagger(model_set.clip, cache).scores_for("red bicycle", matrix)
    want = {int(pid) for pid, score in zip(ids, scores) if score >= 0.5}
    got = {
        r[0]
        for r in _rows(
            lib,
            "SELECT photo_id FROM tags WHERE tag = 'red bicycle' AND source = 'auto' AND model = ?",
            [model_set.tagger.model_id],
        )
    }
    assert want and got == want and tagged == len(want)

    # Re-indexing (here: a new vocabulary release) gives the word to the same photos.
    retagger = Tagger(model_set.clip, cache)
    retagger.model_id += "-next"
    _index(lib, ModelSet(model_set.clip, retagger, model_set.detector, words=lib.vocabulary()))
    again = {
        r[0]
        for r in _rows(
            lib,
            "SELECT photo_id FROM tags WHERE tag = 'red bicycle' AND source = 'auto' AND model = ?",
            [retagger.model_id],
        )
    }
    assert again == want
    lib.close()


def test_missing_weights_still_index_thumbnails_and_say_which_model(tmp_path, monkeypatch):
    monkeypatch.delenv("PHOTOORG_RANDOM_WEIGHTS", raising=False)
    lib = _library(tmp_path, "noweights", 3)
    report = drive(lib.index())
    assert (report.indexed, report.failed) == (3, 0)
    assert len(report.waiting) == 3  # CLIP, the detector, the face models
    settings = load_settings(lib.folder)
    for sentence, name in zip(report.waiting, (settings.clip, settings.detector)):
        assert name in sentence and f"photoorg models download {name}" in sentence
        assert f"photoorg models import {name}" in sentence and sentence.count(". ") == 0
    assert _rows(lib, "SELECT DISTINCT stage FROM processed") == [("decode",)]
    assert lib.store.embeddings(settings.clip)[2].size == 0
    assert any(lib.thumbs_dir.rglob("*.jpg"))
    lib.close()


def test_waiting_photos_run_the_stage_once_its_model_arrives(tmp_path, tiny_models):
    model_set, _ = tiny_models
    lib = _library(tmp_path, "arrives", 3)
    detector_only = ModelSet(detector=model_set.detector, missing=["clip missing"])
    first = _index(lib, detector_only)
    assert first.indexed == 3 and first.waiting == ["clip missing"]
    assert _rows(lib, "SELECT count(*) FROM tags WHERE model = ?", [model_set.detector.model_id])[0][0] > 0
    second = _index(lib, model_set)
    assert (second.requeued, second.indexed) == (3, 3)
    assert len(lib.store.embeddings(model_set.clip.model_id)[0]) == 3
    lib.close()


class _FailsOnTall:
    """A detector that breaks on portrait photos, as a real model might on one bad input."""

    def __init__(self, inner):
        self.inner, self.model_id, self.input_size = inner, inner.model_id, inner.input_size

    def detect(self, images):
        if any(im.height > im.width for im in images):
            raise RuntimeError("boom")
        return self.inner.detect(images)


def test_a_photo_failing_in_a_model_gets_an_error_and_the_batch_goes_on(tmp_path, tiny_models):
    model_set, _ = tiny_models
    lib = _library(tmp_path, "fails", 4)  # photo 0 and 3 are portrait
    (tmp_path / "fails-photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    drive(lib.scan())
    flaky = ModelSet(model_set.clip, model_set.tagger, _FailsOnTall(model_set.detector))
    report = _index(lib, flaky, batch_size=8)
    assert (report.indexed, report.failed) == (2, 3)
    reasons = {Path(p).name: r for p, r in report.errors}
    assert "detector failed" in reasons["photo_00.jpg"] and "boom" in reasons["photo_00.jpg"]
    assert "broken.jpg" in reasons
    errors = {Path(p.path).name for p in lib.store.errors()}
    assert errors == {"photo_00.jpg", "photo_03.jpg", "broken.jpg"}
    lib.close()


def test_settings_file_is_checked_with_clear_sentences(tmp_path):
    lib = Library(tmp_path / "lib")
    assert load_settings(lib.folder).device == "auto"
    path = lib.folder / "settings.json"
    for text, words in [
        ("{not json", "not valid JSON"),
        ('{"clip": "no-such-model"}', "unknown"),
        ('{"clip": "yolox-nano"}', "detector model, not a clip"),
        ('{"device": "tpu"}', "not one of"),
        ('{"colour": "blue"}', "unknown setting"),
        ('{"device": 3}', "must be a string"),
    ]:
        path.write_text(text)
        with pytest.raises(SettingsError, match=words) as caught:
            load_settings(lib.folder)
        assert "\n" not in str(caught.value)
    path.unlink()
    settings = lib.use_model("fasterrcnn-mobilenet-v3")
    assert settings.detector == "fasterrcnn-mobilenet-v3"
    assert json.loads(path.read_text())["detector"] == "fasterrcnn-mobilenet-v3"
    assert load_settings(lib.folder) == settings
    lib.close()


def test_cli_index_names_the_missing_model_in_one_sentence(tmp_path, capsys, monkeypatch):
    from photoorg.cli import main

    monkeypatch.delenv("PHOTOORG_RANDOM_WEIGHTS", raising=False)
    lib = _library(tmp_path, "cli", 2)
    lib.close()
    assert main(["--library", str(lib.folder), "index", "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert "indexed 2 photos, 0 failed" in out
    lines = [line for line in err.splitlines() if line.startswith("photoorg:")]
    assert len(lines) == 3 and all("photoorg models download" in line for line in lines)


def test_named_boxes_survive_reindex_without_duplicates(tmp_path, tiny_models):
    from photoorg.models.yolox import YoloxDetector

    model_set, _ = tiny_models
    lib = _library(tmp_path, "named", 2)
    _index(lib, model_set)
    photo = lib.store.photos_where("1 ORDER BY p.id")[0]
    box = lib.store.detections_of(photo.id)[0]
    lib.name_box(box.id, "Rex")
    # The same detector under a new id: it finds the named box again, which must not
    # come back as a second, unnamed box.
    again = YoloxDetector(model_set.detector.session, "onnx:yolox-again+random", 0.35)
    _index(lib, ModelSet(model_set.clip, model_set.tagger, again))
    boxes = lib.store.detections_of(photo.id)
    named = [d for d in boxes if d.subject_name == "Rex"]
    assert [d.id for d in named] == [box.id] and named[0].model == model_set.detector.model_id
    assert not [
        d
        for d in boxes
        if d.subject_id is None
        and d.label == box.label
        and all(abs(a - b) < 1e-6 for a, b in zip(d.box, box.box))
    ]
    assert _rows(lib, "SELECT count(*) FROM embeddings WHERE detection_id = ?", [box.id]) == [(1,)]
    lib.close()


def test_changed_content_voids_automatic_results_but_not_user_data(tmp_path, tiny_models):
    model_set, _ = tiny_models
    lib = _library(tmp_path, "changed", 2)
    _index(lib, model_set)
    photo = lib.store.photos_where("1 ORDER BY p.id")[0]
    lib.tag(photo.path, add=["holiday"])
    named = lib.store.detections_of(photo.id)[0]
    lib.name_box(named.id, "Ana")
    Image.new("RGB", (200, 150), (250, 10, 10)).save(photo.path)  # edited in place
    drive(lib.scan())
    assert lib.store.photo(photo.id).state == "pending"
    assert lib.store.processed_of([photo.id]) == {}
    assert {t.tag for t in lib.store.tags_of(photo.id)} == {"holiday"}
    assert [d.id for d in lib.store.detections_of(photo.id)] == [named.id]
    assert lib.store.embedding_of(photo.id, model_set.clip.model_id) is None
    report = _index(lib, model_set)
    assert report.indexed == 1
    assert set(lib.store.processed_of([photo.id])[photo.id]) == set(stage_models(model_set))
    assert lib.store.photo(photo.id).width == 200
    lib.close()


def test_photos_removed_or_changed_while_indexing_are_not_written(tmp_path):
    # Decoding runs ahead of the writes: a folder removed, or a photo rewritten and
    # rescanned, in between must neither fail the run nor mark old content indexed.
    from photoorg.modelset import ModelSet

    from .conftest import write_photo

    write_photo(tmp_path / "a" / "1.jpg", color=(10, 10, 10))
    changed = write_photo(tmp_path / "a" / "2.jpg", size=(64, 48), color=(50, 50, 50))
    write_photo(tmp_path / "b" / "3.jpg", color=(90, 90, 90))
    with Library(tmp_path / "lib") as lib:
        lib.add_roots([tmp_path / "a", tmp_path / "b"])
        drive(lib.scan())
        work = lib.index(batch_size=1, models=ModelSet())
        next(work)
        next(work)  # the first photo written; the next two decoded ahead
        write_photo(changed, size=(40, 80), color=(200, 0, 0))
        drive(lib.scan([tmp_path / "a"]))
        lib.remove_root(tmp_path / "b")
        report = drive(work)
        # The rewritten photo is pending again, so the run's second pass takes it anew.
        assert report.indexed == 2 and report.failed == 0
        assert lib.photo(changed).state == "indexed"
        assert (lib.photo(changed).width, lib.photo(changed).height) == (40, 80)


class _PhotoAsQuery:
    """A text encoder whose every query means one photo: the real CLIP's embedding of
    that photo's pixels, so a search must find exactly that photo first."""

    def __init__(self, clip, path: Path):
        self.model_id = clip.model_id
        self.vector = clip.embed_images([load_image(path)])[0]

    def embed_texts(self, texts):
        return np.stack([self.vector for _ in texts])


def test_photos_are_searchable_before_the_vocabulary_is_ready(tmp_path, tiny_models, every_box_size):
    from concurrent.futures import Future

    from photoorg.search import search

    model_set, _ = tiny_models
    lib = _library(tmp_path, "early", 6)
    vocabulary: Future = Future()  # the tagger, still embedding its prompts
    waiting = ModelSet(model_set.clip, None, model_set.detector, vocabulary=vocabulary)
    work = lib.index(models=waiting, batch_size=2)
    labels = []
    for progress in work:
        labels.append(progress.message)
        if progress.message == "tags wait for the vocabulary":
            break
    assert labels[0] == "pass 1 of 2: photos" and "pass 2 of 2: boxes" in labels
    clip_id, tags_id = model_set.clip.model_id, model_set.tagger.model_id
    assert lib.store.counts()["indexed"] == 6
    ids, _, matrix = lib.store.embeddings(clip_id)
    assert len(ids) == 6 and len(lib.store.embeddings(clip_id, regions=True)[0]) > 0
    assert _rows(lib, "SELECT count(*) FROM processed WHERE stage = 'tags'") == [(0,)]
    assert _rows(lib, "SELECT count(*) FROM tags WHERE model = ?", [tags_id]) == [(0,)]
    wanted = lib.folder.parent / "early-photos" / "photo_04.jpg"
    hits = search(lib.store, "the photo", text_encoder=_PhotoAsQuery(model_set.clip, wanted))
    assert hits[0].photo.path == str(wanted)

    vocabulary.set_result(model_set.tagger)
    report = drive(work)
    assert (report.indexed, report.failed, report.cancelled) == (6, 0, False)
    assert report.models["tags"] == tags_id
    for pid, vector in zip(ids.tolist(), matrix):
        stored = {(t.tag, round(t.score, 5)) for t in lib.store.tags_of(pid) if t.model == tags_id}
        expected = {(t, round(s, 5)) for t, s in model_set.tagger.tag(vector[None])[0]}
        assert stored == expected and stored
    assert _rows(lib, "SELECT count(*) FROM processed WHERE stage = 'tags' AND model = ?", [tags_id]) == [
        (6,)
    ]
    assert np.array_equal(lib.store.embeddings(clip_id)[2], matrix)  # tagged, not re-embedded
    lib.close()


def test_vocabulary_ready_mid_pass_tags_the_photos_embedded_before_it(tmp_path, tiny_models):
    from concurrent.futures import Future

    model_set, _ = tiny_models
    lib = _library(tmp_path, "midway", 6)
    vocabulary: Future = Future()
    waiting = ModelSet(model_set.clip, None, model_set.detector, vocabulary=vocabulary)
    seen = []

    def ready_after_first_batch(progress):
        seen.append((progress.message, progress.done, progress.total))
        if progress.done == 2 and not vocabulary.done():
            vocabulary.set_result(model_set.tagger)

    report = drive(lib.index(models=waiting, batch_size=2), ready_after_first_batch)
    assert (report.indexed, report.failed) == (6, 0)
    # The sweep started over with tags: the 2 embedded photos wait only for tags, the
    # other 4 for everything; none waited for the vocabulary at the end.
    assert seen[:3] == [
        ("pass 1 of 2: photos", 0, 6),
        ("pass 1 of 2: photos", 2, 6),
        ("pass 1 of 2: photos", 0, 6),
    ]
    assert "tags wait for the vocabulary" not in [m for m, _, _ in seen]
    assert _rows(
        lib, "SELECT count(*) FROM processed WHERE stage = 'tags' AND model = ?", [model_set.tagger.model_id]
    ) == [(6,)]
    lib.close()


def test_region_targets_are_named_boxes_then_pets_then_one_box_for_search():
    def region(side, named=False, label="person"):
        return Region((0.0, 0.0, side, side), label, 0.9, detection_id=1, named=named)

    tiny = region(0.1)  # 1% of the photo: below REGION_MIN_AREA
    named_tiny, big, bigger, biggest, fifth = (
        region(0.1, named=True),
        region(0.3),
        region(0.5),
        region(0.9),
        region(0.2),
    )
    dog, big_cat, tiny_dog = region(0.25, label="dog"), region(0.6, label="cat"), region(0.1, label="dog")
    zebra = region(0.7, label="zebra")  # not a pet: its vector serves search, as a person's
    assert _area(tiny.box) < REGION_MIN_AREA and (MAX_REGIONS, MAX_SEARCH_REGIONS) == (2, 1)
    assert region_targets([tiny, fifth, big, named_tiny, biggest, bigger]) == [named_tiny, biggest]
    assert region_targets([tiny, fifth, big, bigger]) == [bigger]  # one person nobody named
    assert region_targets([fifth, big, dog, bigger]) == [dog, bigger]  # pets first, however small
    assert region_targets([dog, bigger, big_cat, tiny_dog]) == [big_cat, dog]
    assert region_targets([bigger, zebra, big]) == [zebra]  # the largest box for search
    assert region_targets([zebra, dog]) == [dog, zebra]
    named_small = region(0.2, named=True)  # named people: no cap of their own, largest first
    assert region_targets([named_tiny, named_small, biggest]) == [named_small, named_tiny]
    assert region_targets([tiny, tiny_dog]) == []


def test_same_view_is_the_iou_of_the_centre_squares_clip_sees():
    """A 4:3 photo: CLIP sees its centre 300x300; a box's crop (with its margin) counts as
    the same view when its own centre square overlaps that one by IoU >= 0.5 for a pet or
    a named box (their vector is who they are), 1/9 for a box whose vector serves
    search only (a crop at most 3x closer is not worth a CLIP run)."""
    from photoorg.index import REGION_SAME_VIEW, _same_view

    def same(box, label="dog", size=(400, 300), named=False):
        return _same_view(Region(box, label, 0.9, named=named), size)

    assert REGION_SAME_VIEW == {"identity": 0.5, "search": 1 / 9}
    assert same((0.0, 0.0, 1.0, 1.0))  # the whole photo: IoU 1
    assert same((0.1, 0.1, 0.9, 0.9))  # crop (8, 6, 392, 294): IoU 0.9216
    assert same((0.15, 0.0, 0.85, 1.0))  # as wide as the photo's square: IoU 1
    assert same((0.1, 0.0, 0.7, 1.0))  # off centre: IoU 0.733
    assert not same((0.0, 0.0, 0.5, 1.0))  # the left half: IoU 0.370
    assert same((0.0, 0.0, 0.5, 1.0), "person")
    assert not same((0.25, 0.25, 0.75, 0.75))  # a closer look: IoU 0.36
    assert same((0.25, 0.25, 0.75, 0.75), "person")  # at most 1.67x closer
    assert same((0.25, 0.25, 0.75, 0.75), "zebra")
    assert not same((0.25, 0.25, 0.75, 0.75), "person", named=True)  # Ana's box seeds suggestions
    assert same((0.3, 0.3, 0.7, 0.7), "person")  # IoU 0.23: at most 2.1x closer
    assert not same((0.4, 0.3, 0.6, 0.7), "person")  # IoU 0.102: over 3x closer
    assert not same((0.0, 0.0, 0.2, 1.0), "person")  # mostly outside CLIP's view: IoU 0.035
    assert not same((0.0, 0.0, 1.0, 1.0), size=(None, None))  # size unknown: crop it


class _FixedBoxes:
    """Every photo gets the same two boxes: a dog filling the photo (CLIP would see its
    crop as it sees the photo) and a person in the middle (a closer look)."""

    model_id = "test:fixed-boxes"
    input_size = 320
    BOXES = (("dog", 0.9, (0.02, 0.02, 0.98, 0.98)), ("person", 0.8, (0.4, 0.3, 0.6, 0.7)))

    def detect(self, images):
        from photoorg.models.detect import Detection

        return [[Detection(label, score, box) for label, score, box in self.BOXES] for _ in images]


def _count_decodes(monkeypatch) -> list:
    """The paths the indexer decodes, in order (decoding itself unchanged)."""
    decoded, real_load = [], index_module.load_image
    monkeypatch.setattr(
        index_module, "load_image", lambda path, **kw: decoded.append(path) or real_load(path, **kw)
    )
    return decoded


def test_a_box_clip_would_see_as_the_photo_takes_the_photos_vector(tmp_path, tiny_models, monkeypatch):
    model_set, cache = tiny_models
    lib = _library(tmp_path, "views", 4, cache)
    decoded = _count_decodes(monkeypatch)
    runs = []  # every CLIP run, on photos and crops alike
    real_images = model_set.clip.embed_images
    for name in ("embed_images", "embed_preprocessed"):
        real = getattr(model_set.clip, name)
        monkeypatch.setattr(model_set.clip, name, lambda items, real=real: runs.extend(items) or real(items))
    chosen = ModelSet(model_set.clip, model_set.tagger, _FixedBoxes())
    report = _index(lib, chosen, batch_size=2)
    assert (report.indexed, report.failed) == (4, 0)
    assert len(runs) == 4 + 4  # each photo, and one crop per photo: the person's
    clip_id = model_set.clip.model_id
    ids, _, photos = lib.store.embeddings(clip_id)
    assert len(ids) == 4
    for pid, photo_vector in zip(ids.tolist(), photos):
        by_label = {d.id: d.label for d in lib.store.detections_of(pid)}
        rows = _rows(
            lib,
            "SELECT detection_id, vector FROM embeddings WHERE photo_id = ? AND detection_id IS NOT NULL",
            [pid],
        )
        vectors = {by_label[det]: np.frombuffer(blob, np.float32) for det, blob in rows}
        assert sorted(vectors) == ["dog", "person"]
        assert np.array_equal(vectors["dog"], photo_vector)  # no CLIP run for it
        assert not np.allclose(vectors["person"], photo_vector, atol=1e-3)
        # the crop prepared in the decode thread is the one CLIP would be given here
        person = next(d for d in lib.store.detections_of(pid) if d.label == "person")
        crop = index_module._crop(load_image(lib.store.photo(pid).path), person.box)
        np.testing.assert_allclose(vectors["person"], real_images([crop])[0], atol=1e-6)
    assert len(decoded) == 8  # pass 1 and pass 2 (for the person's crop)
    lib.close()


def test_the_same_dog_box_alone_needs_no_second_decode(tmp_path, tiny_models, monkeypatch):
    model_set, cache = tiny_models
    lib = _library(tmp_path, "dogs", 3, cache)
    decoded = _count_decodes(monkeypatch)
    boxes = _FixedBoxes()
    boxes.BOXES = boxes.BOXES[:1]
    report = _index(lib, ModelSet(model_set.clip, model_set.tagger, boxes), batch_size=2)
    assert (report.indexed, report.failed) == (3, 0)
    assert len(decoded) == 3  # pass 2 had nothing to crop
    assert len(lib.store.embeddings(model_set.clip.model_id, regions=True)[0]) == 3
    lib.close()


def test_detector_beside_clip_stores_the_same_rows_as_one_after_the_other(tmp_path, tiny_models):
    from photoorg.index import run_index

    model_set, cache = tiny_models
    tables = {}
    for beside in (False, True):
        lib = _library(tmp_path, f"beside-{beside}", 6, cache)
        report = drive(run_index(lib.store, lib.thumbs_dir, model_set, batch_size=4, detect_beside=beside))
        assert (report.indexed, report.failed) == (6, 0)
        tables[beside] = {
            "boxes": _rows(
                lib, "SELECT photo_id, label, score, x0, y0, x1, y1, model FROM detections ORDER BY id"
            ),
            "vectors": _rows(lib, "SELECT photo_id, detection_id, model, vector FROM embeddings ORDER BY id"),
            "tags": _rows(lib, "SELECT photo_id, tag, score, model FROM tags ORDER BY photo_id, tag"),
            "processed": _rows(lib, "SELECT photo_id, stage, model FROM processed ORDER BY photo_id, stage"),
        }
        lib.close()
    assert tables[True] == tables[False]
    assert len(tables[True]["boxes"]) > 0 and len(tables[True]["processed"]) == 6 * 5
