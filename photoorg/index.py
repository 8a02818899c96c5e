"""The indexing pipeline.

Pending photos are planned (which stages each one needs), decoded in a thread pool
with a bounded look-ahead of batches (JPEG draft mode at the largest size a model
wants; thumbnails are written there too), understood batch by batch on this one
worker (CLIP embedding and tags, people/pet boxes, a CLIP embedding of each box),
and written in one transaction per batch. A crash loses at most the batch in flight;
the next run resumes the photos still pending. A photo that fails to decode or in a
model gets an error row and the batch goes on.

Two passes, so a big folder is searchable in the time of the first: pass 1 runs the
photo-level stages (embedding, tags, boxes) on every pending photo; pass 2 sends the
photos back to pending for the per-box stages (a CLIP embedding of a large pet, person
or other animal box, at most 2 per photo; a box CLIP would see much as it sees the whole photo takes
the photo's own vector, see REGION_SAME_VIEW) and decodes again only the photos that
have a box to crop. The tagger's vocabulary is embedded on a background thread
(modelset.py); until it is ready photos are embedded without tags, and the pass in
progress starts over as soon as it is, so the photos already embedded get their tags
from the stored embeddings (no decoding) first.

Cores: CLIP's session uses every core; the detector's one (models/boxes.py,
DETECTOR_THREADS: its small convolutions scale badly) and it runs on a thread of its own
beside CLIP, so the core CLIP's pool leaves between its operations, and the whole
second core while the detector would otherwise run alone, does detector work (one
after the other, one core sat idle for each photo's 30 ms of PicoDet-S). No session
spins its threads between runs (models/onnxrt.py). Measured where the wall went
(py-spy, 128 COCO photos, full pipeline, 2 shared cores): CLIP on photos 34%, CLIP on
box crops 26%, PicoDet-S 16% (two spinning threads: 116 ms wall per photo), decoding,
thumbnails and preprocessing 10%, SQLite writes 1%, process start and model loads 2%.
After: 65.2 -> 38.2-38.9 CPU s for those 128 photos (bench/index.py; peer table in
the README). Beside or one after the other, the stored rows are the same (tested);
on the loaded machine the two measured alike (CPU 37.8 against 38.2-38.9 s, wall
39.2-57.3 against 40.6-43.6 s: other jobs took the idle core).

Stages and their `processed` rows (stage -> model id) make re-indexing exact: a run
first requeues the photos whose stage ran with another model (Store.requeue_stale),
then runs on each photo only the stages it needs. A new vocabulary, for one, needs
only the stored embeddings: no photo is decoded again. A model whose weights are
missing is skipped: its photos still get thumbnails and metadata, and wait for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from . import face_stage
from .db import Photo, PhotoMeta, Store
from .imaging import DecodeError, load_image, read_meta
from .models.detect import box_iou, detection_tags
from .modelset import ModelSet
from .progress import Cancelled, Control, Progress, Work
from .thumbs import THUMB_SIDE, save_thumbnail

LOOKAHEAD_BATCHES = 2
DECODE_MODEL = f"pillow-thumb{THUMB_SIDE}"
# Photos up to this size are decoded whole, so the models see exactly what a plain loop
# over the files would give them (COCO-sized photos: the same boxes, the same AP);
# larger ones decode in draft mode near the size the models want.
EXACT_UP_TO = 1024
# Stages that need the photo's pixels; "tags" alone runs on the stored embedding.
IMAGE_STAGES = frozenset({"decode", "clip", "detect", "regions", "faces"})
# Pass 1 runs the photo-level stages on every pending photo; pass 2 the per-box stages
# on the stored boxes (a stage that works on each person/pet box, faces for one,
# belongs in BOX_STAGES and in infer's per-box part).
PHOTO_STAGES = frozenset({"decode", "clip", "tags", "detect"})
BOX_STAGES = frozenset({"regions", "faces"})
PASSES = (("pass 1 of 2: photos", PHOTO_STAGES), ("pass 2 of 2: boxes", PHOTO_STAGES | BOX_STAGES))
# Region embeddings cost one CLIP run per box, as much as the photo's own. Measured on
# 192 COCO photos with YOLOX-Nano (bench/index.py, "boxes"): 1.57 boxes per photo; a
# quarter of them cover under 1% of the photo, 38% under 2% (a crop CLIP sees
# upsampled more than 3 times: a blur, and rarely what a search is about; the photo's
# own embedding covers the scene). Boxes of at least 2% of the photo, at most 4 per
# photo (named ones first, then the largest), cut region embeddings from 1.48 to 0.91
# per photo, so CLIP runs 1.91 times per photo instead of 2.48 (-23%); and a photo
# with no such box is not decoded again in pass 2. Whole runs on 48 COCO photos (two
# rounds each, shared 2-core machine): 49.4 / 50.5 s with the old rule (at least 16 px,
# at most 8), 42.7 / 44.9 s with this one; every photo searchable after 15.7-20.5 s.
# With PicoDet-S (the default detector now) and CLIP on onnxruntime, region crops were
# the largest single cost of a full run: cProfile of 40 COCO photos, 44 crops took
# 25.9 s of CLIP against 18.5 s for the 40 photos themselves (PicoDet 11.1 s). The
# boxes: 17 of 40 photos had one worth a crop, 6 of them hit the cap of 4 (crowds,
# where the third and fourth largest person adds little to search, and people are
# named by their faces now). At most 2 per photo: 1.10 -> 0.72 crops per photo, and
# the full run of those 40 photos 19.4 -> 17.9 CPU s, with faces 23.1 -> 20.4.
# A box whose crop CLIP would see nearly as it sees the whole photo adds little over the
# photo's own embedding. CLIP keeps the centred square of what it is given, so when the
# centred squares of the crop and of the photo overlap by IoU >= REGION_SAME_VIEW the
# box takes the photo's vector: no CLIP run, and no second decode in pass 2 for a photo
# with no other box. For a crop square inside the photo's, the IoU is the share of the
# photo's view the subject's square takes: at 0.5 the crop would bring it at most 1.41x
# closer, at 1/9 at most 3x (the view already shows it at least 85 px wide of 256, about
# three of ViT-B-32's 32 px patches, and CLIP knows a person or a zebra at that size).
# What a region vector is for decides how much closer is worth a CLIP run (_use):
# - identity: a pet's vector is who it is (pets are grouped by it,
#   face_stage.pet_likenesses), and a named box's seeds look-alike suggestions: these
#   come first and get their own crop unless nearly the same view (0.5);
# - search: a person's vector (people are told apart by their faces; their vectors
#   seed naming suggestions only where no face models are installed) and a wild
#   animal's (not grouped): one such box per photo, the largest, and only when the crop
#   brings it over 3x closer (1/9), or CLIP's centre square cuts much of it off (that
#   lowers the IoU too): what a search can find only in a crop is what the photo's view
#   shows too small to tell. A second one adds little; the photo's embedding already
#   covers a group or a herd.
# PicoDet-S on the 294 COCO photos (bench/index.py --regions): 1.97 boxes per photo; the
# rule of session 5 (largest first, 0.5 for every box) gave 203 crops (0.69 per photo,
# 145 of them people) and 130 photos decoded again in pass 2; this one 75 (0.26: 41
# pets, 33 people, 1 wild animal), 62 photos decoded again (with 0.25 for search, 2x
# closer: 113 crops, 67 of them people). Their value for search cannot be measured here
# (no CLIP weights); their cost can: each is a CLIP run, as costly as the photo's own.
MAX_REGIONS = 2
MAX_SEARCH_REGIONS = 1
REGION_MIN_AREA = 0.02
REGION_MIN_PX = 16  # whatever the area, a crop this small at the decoded size is noise
REGION_MARGIN = 0.1
REGION_SAME_VIEW = {"identity": 0.5, "search": 1 / 9}  # by _use


@dataclass
class Job:
    """One pending photo on its way through the pipeline."""

    photo: Photo
    needs: frozenset[str]
    done: dict[str, str]
    image: Image.Image | None = None
    meta: PhotoMeta | None = None
    error: str | None = None
    clip_input: object = None  # CLIP's preprocessed tensor, made in the decode thread
    embedding: np.ndarray | None = None  # fresh, or the stored one when only tags rerun
    detections: list = field(default_factory=list)  # what the detector found (models.detect.Detection)
    named: list = field(default_factory=list)  # the photo's named boxes (db rows), kept
    boxes: list = field(default_factory=list)  # Region targets, see _regions
    boxes_planned: bool = False  # boxes read from the store when planning (pass 2)
    clip_tags: list[tuple[str, float]] = field(default_factory=list)
    faces: object = None  # face_stage.FaceScan
    ran: set[str] = field(default_factory=set)


@dataclass
class Region:
    box: tuple[float, float, float, float]
    label: str
    score: float
    detection_id: int | None = None  # known for stored boxes
    new_index: int | None = None  # index into Job.detections for fresh ones
    vector: np.ndarray | None = None
    named: bool = False  # the user named its subject
    clip_input: object = None  # its crop, preprocessed for CLIP in the decode thread (pass 2)


@dataclass
class IndexReport:
    indexed: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    cancelled: bool = False
    waiting: list[str] = field(default_factory=list)  # one sentence per missing model
    models: dict[str, str] = field(default_factory=dict)  # stage -> model id used
    requeued: int = 0  # indexed photos sent back because a model changed


@dataclass(frozen=True)
class Failed:
    """A model's failure on one input, in place of its result."""

    reason: str


# -- planning -----------------------------------------------------------------


def stage_models(models: ModelSet) -> dict[str, str]:
    """stage -> model id for every stage this set of models can run."""
    current = {"decode": DECODE_MODEL}
    if models.clip is not None:
        current["clip"] = models.clip.model_id
    if models.clip is not None and models.tagger is not None:
        current["tags"] = models.tagger.model_id
    if models.detector is not None:
        current["detect"] = models.detector.model_id
    if "clip" in current and "detect" in current:
        current["regions"] = f"{current['clip']}|{current['detect']}"
    if models.faces is not None:
        current["faces"] = models.faces.model_id
    return current


def _needs(done: dict[str, str], current: dict[str, str]) -> set[str]:
    needs = {stage for stage, model in current.items() if done.get(stage) != model}
    # Downstream stages depend on upstream results: new embeddings mean new tags and
    # region vectors; new boxes mean new count tags and region vectors.
    if "clip" in needs:
        needs |= {"tags", "regions"}
    if "detect" in needs:
        needs |= {"tags", "regions", "faces"}
    return needs & set(current)


def plan(store: Store, photos: list[Photo], current: dict[str, str]) -> list[Job]:
    done_by_photo = store.processed_of([p.id for p in photos])
    jobs = []
    for photo in photos:
        done = done_by_photo.get(photo.id, {})
        needs = _needs(done, current)
        job = Job(photo, frozenset(needs), done)
        if "tags" in needs and "clip" not in needs:
            job.embedding = store.embedding_of(photo.id, current["clip"])
            if job.embedding is None:  # no stored vector to tag from: embed it again
                job.needs = frozenset(needs | {"clip", "regions"} & set(current))
        if job.needs & IMAGE_STAGES == {"regions"}:  # pass 2: decode only for a box to embed
            job.boxes, job.boxes_planned = region_targets(_regions(store, job)), True
        jobs.append(job)
    return jobs


def _needs_pixels(job: Job) -> bool:
    if job.boxes_planned:  # pass 2: only a box CLIP must see cropped needs the pixels
        return any(not _same_view(r, (job.photo.width, job.photo.height)) for r in job.boxes)
    return bool(job.needs & IMAGE_STAGES)


# -- decoding (thread pool) ----------------------------------------------------


def decode(
    job: Job, side: int, thumbs_dir: Path, prepare: Callable[[Image.Image], object] | None = None
) -> Job:
    """Pixels, header and thumbnail of one photo, when any of its stages needs them;
    `prepare` (CLIP's preprocessing, of the photo or of pass 2's crops) also runs here,
    off the inference thread, whose CLIP sessions would wait for it."""
    if not _needs_pixels(job):
        return job
    path = job.photo.path
    try:
        job.meta = read_meta(path)
        small = max(job.meta.width, job.meta.height) <= EXACT_UP_TO
        job.image = load_image(path, max_side=None if small else side)
    except DecodeError as e:
        job.error = str(e)
        return job
    except Exception as e:  # a decoder bug must cost one photo, not the run
        job.error = f"cannot decode: {type(e).__name__}: {e}"
        return job
    try:  # a full disk (fileio.WriteRefused) is no photo's fault: it ends the run, said once
        if "decode" in job.needs:  # pass 2 decodes again for the boxes: no new thumbnail
            save_thumbnail(thumbs_dir, job.photo, job.image)
    except OSError as e:
        job.error = f"cannot write thumbnail: {e.strerror or e}"
        return job
    if prepare is not None and "clip" in job.needs:
        try:
            job.clip_input = prepare(job.image)
        except Exception:  # the model step retries from the image and reports it there
            job.clip_input = None
    if prepare is not None and job.boxes_planned:  # pass 2: the crops CLIP will see
        for region in job.boxes:
            crop = None if _same_view(region, job.image.size) else _crop(job.image, region.box)
            try:
                region.clip_input = None if crop is None else prepare(crop)
            except Exception:  # the model step retries from the crop and reports it there
                region.clip_input = None
    return job


def _photo_batches(store: Store, batch_size: int) -> Iterator[list[Photo]]:
    last_id = 0
    while batch := store.pending(batch_size, after_id=last_id):
        last_id = batch[-1].id
        yield batch


def decoded_batches(
    store: Store,
    current: dict[str, str],
    batch_size: int,
    side: int,
    thumbs_dir: Path,
    workers: int | None = None,
    prepare: Callable | None = None,
) -> Iterator[list[Job]]:
    """Planned, decoded batches; decoding runs ahead of the consumer by a bounded
    number of batches so memory stays flat however large the library is."""
    workers = workers or decode_workers()
    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
        queue: list[list[Future]] = []
        try:
            for photos in _photo_batches(store, batch_size):
                jobs = plan(store, photos, current)
                queue.append([pool.submit(decode, j, side, thumbs_dir, prepare) for j in jobs])
                if len(queue) > LOOKAHEAD_BATCHES:
                    yield [f.result() for f in queue.pop(0)]
            while queue:
                yield [f.result() for f in queue.pop(0)]
        finally:
            for futures in queue:  # cancelled: do not decode what nobody will use
                for f in futures:
                    f.cancel()


def decode_workers() -> int:
    """Half the cores: inference already uses every core (torch threads = cores), and
    decoding at draft size costs a few percent of it, so more decode threads only
    preempt the model's threads (measured on 2 cores: 2 threads cut end-to-end speed
    by about 45%, 1 thread cost about 5%)."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def decode_side(models: ModelSet) -> int:
    """The longest side to decode at: the largest any stage wants (region crops get
    twice CLIP's input so a box a quarter of the photo wide is still sharp)."""
    side = THUMB_SIDE * 2
    if models.clip is not None:
        side = max(side, 2 * models.clip.image_size)
    if models.detector is not None:
        side = max(side, int(models.detector.input_size))
    return side


# -- inference (this thread) ------------------------------------------------------


def run_each(fn: Callable[[list], list], items: list, what: str) -> list:
    """fn over the whole batch; if that fails, item by item, so one bad input costs
    only itself (its slot then holds a Failed)."""
    if not items:
        return []
    try:
        out = list(fn(items))
    except Exception:  # retried one by one below, which names the culprit
        out = None
    if out is not None and len(out) == len(items):
        return out
    results = []
    for item in items:
        try:
            results.append(list(fn([item]))[0])
        except Exception as e:
            results.append(Failed(f"the {what} failed on this photo ({type(e).__name__}: {e})"))
    return results


def _live(jobs: list[Job], stage: str) -> list[Job]:
    return [j for j in jobs if j.error is None and stage in j.needs]


def infer(store: Store, models: ModelSet, jobs: list[Job], beside: Executor | None = None) -> None:
    """Run every needed stage on a decoded batch, filling the jobs in place. With
    `beside` (a one-thread executor) the detector runs there while CLIP runs here."""
    detecting = None
    if models.detector is not None:
        need = _live(jobs, "detect")
        detect = partial(run_each, models.detector.detect, [j.image for j in need], "detector")
        detecting = (need, beside.submit(detect) if beside is not None else None, detect)
    if models.clip is not None:
        need = _live(jobs, "clip")
        if need and all(j.clip_input is not None for j in need):
            embed, inputs = models.clip.embed_preprocessed, [j.clip_input for j in need]
        else:
            embed, inputs = models.clip.embed_images, [j.image for j in need]
        for job, out in zip(need, run_each(embed, inputs, "CLIP model")):
            _take(job, out, "clip", lambda j, v: setattr(j, "embedding", np.asarray(v)))
    if detecting is not None:
        need, future, detect = detecting
        for job, out in zip(need, future.result() if future is not None else detect()):
            if job.error is not None:  # CLIP failed on it: nothing of it is written
                continue
            _take(job, out, "detect", lambda j, v: setattr(j, "detections", list(v)))
            if "detect" in job.ran:
                _drop_named_again(store, job)
    # Per-box stages (BOX_STAGES, pass 2): each reads the photo's stored boxes (_regions);
    # a face stage goes beside this one.
    if models.clip is not None and models.detector is not None:
        _embed_regions(store, models, _live(jobs, "regions"))
    if models.tagger is not None:
        _tag(models, _live(jobs, "tags"))
    if models.faces is not None:
        _find_faces(store, models, _live(jobs, "faces"))


def _find_faces(store: Store, models: ModelSet, jobs: list[Job]) -> None:
    """Per-box work: faces inside the photo's person boxes (photoorg/face_stage.py)."""

    def scan(batch: list[Job]) -> list:
        return [
            face_stage.scan_photo(
                models.faces,
                j.photo.path,
                j.image,
                (j.meta.width, j.meta.height),
                [(r.label, r.score, r.box) for r in _regions(store, j)],
            )
            for j in batch
        ]

    for job, out in zip(jobs, run_each(scan, jobs, "face model")):
        # A face failure costs the faces only: the photo keeps its other results and the
        # stage, not marked done, is tried again on the next run.
        if not isinstance(out, Failed):
            job.faces = out
            job.ran.add("faces")


def _take(job: Job, out, stage: str, apply) -> None:
    if isinstance(out, Failed):
        job.error = out.reason
    else:
        apply(job, out)
        job.ran.add(stage)


def _drop_named_again(store: Store, job: Job) -> None:
    """Named boxes are user data and stay through re-indexing; a fresh box on the same
    subject (same label, IoU >= 0.5) would show them twice, so it is dropped."""
    job.named = [d for d in store.detections_of(job.photo.id) if d.subject_id is not None]
    job.detections = [
        d
        for d in job.detections
        if not any(n.label == d.label and box_iou(n.box, d.box) >= 0.5 for n in job.named)
    ]


def _regions(store: Store, job: Job) -> list[Region]:
    """The boxes that get a region embedding: the named ones and the fresh ones when
    the detector ran now, else every stored box."""
    if "detect" not in job.ran:
        return [
            Region(d.box, d.label, d.score, detection_id=d.id, named=d.subject_id is not None)
            for d in store.detections_of(job.photo.id)
        ]
    return [Region(d.box, d.label, d.score, detection_id=d.id, named=True) for d in job.named] + [
        Region(tuple(d.box), d.label, d.score, new_index=i) for i, d in enumerate(job.detections)
    ]


def _crop_box(box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The pixels a region embedding sees: the box with REGION_MARGIN around it."""
    w, h = size
    mx, my = (box[2] - box[0]) * w * REGION_MARGIN, (box[3] - box[1]) * h * REGION_MARGIN
    return (
        max(0, int(box[0] * w - mx)),
        max(0, int(box[1] * h - my)),
        min(w, int(round(box[2] * w + mx))),
        min(h, int(round(box[3] * h + my))),
    )


def _crop(image: Image.Image, box) -> Image.Image | None:
    w, h = image.size
    if min((box[2] - box[0]) * w, (box[3] - box[1]) * h) < REGION_MIN_PX:
        return None
    return image.crop(_crop_box(box, image.size))


def _centre_square(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    side, cx, cy = min(x1 - x0, y1 - y0) / 2, (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - side, cy - side, cx + side, cy + side)


def _same_view(region: Region, size: tuple[int | None, int | None]) -> bool:
    """Whether CLIP would see the box's crop much as it sees the whole photo: CLIP's
    preprocessing keeps the centred square of what it is given, so the two inputs are
    the centred squares of the crop and of the photo; REGION_SAME_VIEW is their IoU."""
    w, h = size
    if not w or not h:
        return False
    crop, photo = _centre_square(*_crop_box(region.box, (w, h))), _centre_square(0, 0, w, h)
    return box_iou(crop, photo) >= REGION_SAME_VIEW[_use(region)]


def _area(box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _use(region: Region) -> str:
    """What the box's vector is for (see REGION_SAME_VIEW): "identity" for a named box
    or a pet, "search" for a person or a wild animal nobody named."""
    return "identity" if region.named or region.label in face_stage.PET_LABELS else "search"


def region_targets(regions: list[Region]) -> list[Region]:
    """The boxes worth a CLIP run (see REGION_SAME_VIEW): named ones first, whatever
    their size, then pets, then the rest, the largest first and of at least
    REGION_MIN_AREA; MAX_SEARCH_REGIONS boxes for search alone and MAX_REGIONS boxes
    at most."""
    worth = [r for r in regions if r.named or _area(r.box) >= REGION_MIN_AREA]
    worth.sort(key=lambda r: (not r.named, _use(r) == "search", -_area(r.box)))
    picked, for_search = [], 0
    for region in worth:
        if _use(region) == "search":
            if for_search == MAX_SEARCH_REGIONS:
                continue
            for_search += 1
        picked.append(region)
    return picked[:MAX_REGIONS]


def _embed_regions(store: Store, models: ModelSet, jobs: list[Job]) -> None:
    owners, crops = [], []
    for job in jobs:
        if not job.boxes_planned:
            job.boxes = region_targets(_regions(store, job))
        photo_vector = job.embedding
        size = (job.photo.width, job.photo.height) if job.image is None else job.image.size
        for region in job.boxes:
            if _same_view(region, size):
                if photo_vector is None:
                    photo_vector = store.embedding_of(job.photo.id, models.clip.model_id)
                if photo_vector is not None:  # the photo's own vector stands for the box's
                    region.vector = photo_vector
                    continue
            if region.clip_input is not None:
                owners.append((job, region))
                crops.append(region.clip_input)
            elif job.image is not None and (crop := _crop(job.image, region.box)) is not None:
                owners.append((job, region))
                crops.append(crop)

    def embed(items: list) -> np.ndarray:  # crops prepared in the decode thread, or here
        prepare = models.clip.preprocess
        return models.clip.embed_preprocessed(
            [prepare(c) if isinstance(c, Image.Image) else c for c in items]
        )

    for (job, region), out in zip(owners, run_each(embed, crops, "CLIP model (on a box)")):
        region.clip_input = None
        if isinstance(out, Failed):
            job.error = out.reason
        else:
            region.vector = np.asarray(out)
    for job in jobs:
        if job.error is None:
            job.ran.add("regions")


def _tag(models: ModelSet, jobs: list[Job]) -> None:
    jobs = [j for j in jobs if j.embedding is not None]
    if not jobs:
        return
    matrix = np.stack([j.embedding for j in jobs])
    for job, tags in zip(jobs, models.tagger.tag(matrix)):
        job.clip_tags = tags
        job.ran.add("tags")
    for word in models.words:
        for job, score in zip(jobs, models.tagger.scores_for(word, matrix)):
            if models.tagger.keep(float(score)):
                job.clip_tags = job.clip_tags + [(word, float(score))]


# -- writing (one transaction per batch) ---------------------------------------------


def write(store: Store, job: Job, current: dict[str, str]) -> None:
    pid = job.photo.id
    if job.error:
        store.set_state(pid, "error", job.error)
        return
    if job.meta is not None and "decode" in job.needs:
        store.set_meta(pid, job.meta)
        job.ran.add("decode")
    if "detect" in job.ran:
        ids = store.replace_detections(pid, current["detect"], job.detections)
        for region in job.boxes:
            if region.new_index is not None:
                region.detection_id = ids[region.new_index]
    regions = [(r.detection_id, r.vector) for r in job.boxes if r.vector is not None]
    if "clip" in job.ran:
        store.replace_embeddings(
            pid, current["clip"], [(None, job.embedding)] + (regions if "regions" in job.ran else [])
        )
    elif "regions" in job.ran:
        store.replace_region_embeddings(pid, current["clip"], regions)
    if job.ran & {"tags", "detect"}:
        store.set_auto_tags(pid, _auto_tags(store, job, current))
    if "faces" in job.ran:
        face_stage.save_faces(store, pid, current["faces"], job.faces)
    if "regions" in job.ran:
        face_stage.save_pets(store, pid, current["regions"])
    for stage in job.ran:
        store.set_processed(pid, stage, current[stage])
    store.set_state(pid, "indexed")


def _auto_tags(store: Store, job: Job, current: dict[str, str]) -> list[tuple[str, float, str]]:
    """Every automatic tag of the photo: the parts whose model ran now are new, the
    others are kept as they were (a model that is not installed changes nothing)."""
    detect_models = {job.done.get("detect"), current.get("detect")} - {None}
    old = [(t.tag, t.score, t.model) for t in store.tags_of(job.photo.id) if t.source == "auto"]
    if "detect" in job.ran:
        boxes = job.detections + job.named
        counted = [(t, s, current["detect"]) for t, s in detection_tags(boxes, current["detect"])]
    else:
        counted = [t for t in old if t[2] in detect_models]
    if "tags" in job.ran:
        clip_tags = [(t, s, current["tags"]) for t, s in job.clip_tags]
    else:
        clip_tags = [t for t in old if t[2] not in detect_models]
    return counted + clip_tags


# -- the run ----------------------------------------------------------------------


def run_index(
    store: Store,
    thumbs_dir: Path,
    models: ModelSet | None = None,
    batch_size: int = 16,
    control: Control | None = None,
    workers: int | None = None,
    detect_beside: bool = True,
) -> Work[IndexReport]:
    """Every pass over the pending photos, then the tags when the vocabulary comes
    later than the photos; yields Progress per batch (its message names the pass).
    detect_beside: the detector runs on a thread of its own while CLIP runs (see
    the module docstring); False runs them one after the other (the same results)."""
    models = models or ModelSet()
    run = _Run(
        store,
        thumbs_dir,
        models,
        batch_size,
        control or Control(),
        workers,
        IndexReport(waiting=list(models.missing)),
        detect_beside,
    )
    # Requeued: photos whose stage ran with another model, and photo stages that never
    # ran (a model installed since); a box stage a cancelled run did not reach is pass 2's
    # own work, not a requeue.
    with store.transaction():
        run.report.requeued = sum(
            (store.requeue_stale if stage in PHOTO_STAGES else store.requeue_changed)(stage, model)
            for stage, model in stage_models(models).items()
            if stage != "decode"
        )
    try:
        for label, stages in PASSES:
            yield from run.whole_pass(label, stages)
        if run.tags_deferred:  # the last sweep ran before the tagger was ready
            yield from run.wait_for_vocabulary()
            yield from run.whole_pass("tags", PHOTO_STAGES | BOX_STAGES)
    except Cancelled:
        run.report.cancelled = True
    run.report.models = stage_models(models)
    return run.report


@dataclass
class _Run:
    """One index run's settings and tally, shared by its passes."""

    store: Store
    thumbs_dir: Path
    models: ModelSet
    batch_size: int
    control: Control
    workers: int | None
    report: IndexReport
    detect_beside: bool
    indexed: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    sweeps: int = 0
    tags_deferred: bool = False

    def whole_pass(self, label: str, stages: frozenset[str]) -> Work[None]:
        # A sweep stops early when the tagger becomes ready; the next one starts over with
        # tags, so the photos embedded before it (behind the sweep) are tagged first.
        while (yield from self.sweep(label, stages)):
            pass

    def sweep(self, label: str, stages: frozenset[str]) -> Work[bool]:
        """The pending photos once, with the `stages` the models can run now; True when
        it stopped because the tagger became ready."""
        tagger_was_ready = self.models.ready_tagger() is not None
        current = {s: m for s, m in stage_models(self.models).items() if s in stages}
        self.tags_deferred = (
            "clip" in current and "tags" not in current and self.models.vocabulary is not None
        )
        with self.store.transaction():  # this pass's work on photos indexed before
            for stage, model in current.items():
                if stage != "decode":
                    self.store.requeue_stale(stage, model)
        self.sweeps += 1
        total = self.store.pending_count()
        progress = Progress("index", 0, total, message=label)
        if total or self.sweeps == 1:
            yield progress
        prepare = getattr(self.models.clip, "preprocess", None)
        batches = decoded_batches(
            self.store,
            current,
            self.batch_size,
            decode_side(self.models),
            self.thumbs_dir,
            self.workers,
            prepare,
        )
        beside = None
        if self.detect_beside and self.models.detector is not None:
            beside = ThreadPoolExecutor(1, thread_name_prefix="detect")
        with closing(batches), beside or nullcontext():
            for batch in batches:
                self.control.checkpoint()
                infer(self.store, self.models, batch, beside)
                for job in batch:
                    job.image = job.clip_input = None  # let the pixels go before the write
                self.write(batch, current)
                progress = Progress("index", progress.done + len(batch), total, progress.started, label)
                yield progress
                if not tagger_was_ready and self.models.ready_tagger() is not None:
                    return True
        return False

    def write(self, batch: list[Job], current: dict[str, str]) -> None:
        with self.store.transaction():
            now = {p.id: p.hash for p in self.store.photos(j.photo.id for j in batch)}
            for job in batch:
                # Decoded ahead: a photo removed since (its folder removed) or rewritten
                # and rescanned (pending again, for the next run) gets nothing written.
                if job.photo.id in now and now[job.photo.id] == job.photo.hash:
                    write(self.store, job, current)
                    self.tally(job)

    def tally(self, job: Job) -> None:
        """A photo counts once per run, as indexed or failed (failed wins: a box
        failing in pass 2 leaves the photo in error)."""
        pid = job.photo.id
        if job.error:
            self.indexed.discard(pid)
            if pid not in self.failed:
                self.failed.add(pid)
                self.report.errors.append((job.photo.path, job.error))
        elif pid not in self.failed and (not job.needs or job.needs & PHOTO_STAGES):
            self.indexed.add(pid)
        self.report.indexed, self.report.failed = len(self.indexed), len(self.failed)

    def wait_for_vocabulary(self) -> Work[None]:
        """Every photo is embedded and searchable; their tags wait for the vocabulary."""
        if self.models.ready_tagger() is not None:
            return
        yield Progress("index", 0, 0, message="tags wait for the vocabulary")
        while self.models.wait_for_tagger(timeout=0.5) is None:
            self.control.checkpoint()


# -- user vocabulary -------------------------------------------------------------------


def apply_word(store: Store, tagger, clip_model_id: str, word: str) -> int:
    """Tag every photo with a new vocabulary word from its stored CLIP embedding (no
    photo is decoded), by the rule indexing applies to user words; returns how many
    photos carry it."""
    word = " ".join(word.split())
    ids, _, matrix = store.embeddings(clip_model_id)
    scores = tagger.scores_for(word, matrix) if len(ids) else np.zeros(0, np.float32)
    rows = [(int(pid), word, float(s)) for pid, s in zip(ids, scores) if tagger.keep(float(s))]
    with store.transaction():
        store.add_vocabulary(word)
        store.add_auto_tags(tagger.model_id, rows)
    return len(rows)
