"""How good are the models on labelled photos: box AP, cut-out mask IoU, tags, search.

    python bench/quality.py [FOLDER] [--detector yolox-nano] [--weights PATH]
                            [--segmenter u2netp[=PATH]] [--segmenter maskrcnn-resnet50-v2=PATH]
                            [--clip NAME --clip-weights PATH] [--masks 200]

FOLDER holds instances.json (COCO) and/or labels.csv and the images they name, as
../shared/photos/coco-train-mini does (the default). Reported:
- person/dog/cat box AP (pycocotools COCOeval, AP@[.5:.95] and AP50) of the detector
  run the way the indexer runs it (draft decode to its input size, batches of 8), and,
  for YOLOX, of a plain onnxruntime loop written here from the YOLOX demo, to show the
  pipeline loses nothing;
- mask IoU against COCO instance masks of each segmenter, given the COCO box of each
  person/animal (so the figure is the mask's quality, not the detector's);
- tag precision/recall per label and search precision@10 (labels.csv), which need real
  CLIP weights: without them it prints "n/a: no CLIP weights".
Nothing here runs on random weights unless asked (--clip-random, for a smoke test).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
# ../shared beside the checkout, or PHOTOORG_SHARED (a worktree one level deeper).
SHARED = Path(os.environ.get("PHOTOORG_SHARED", HERE.parent.parent / "shared"))
DEFAULT_FOLDER = SHARED / "photos" / "coco-train-mini"
SHARED_WEIGHTS = {
    "yolox-nano": SHARED / "models" / "yolox_nano.onnx",
    "picodet-s": SHARED / "models" / "picodet_s_416_coco.onnx",
    "u2netp": SHARED / "models" / "u2netp.onnx",
}
AP_CLASSES = ("person", "dog", "cat")
SEARCH_QUERIES = ("dog", "cat", "car", "person", "food", "bird", "boat")
AP_SCORE_CUT = 0.01  # AP needs the low-score tail; COCO evaluations use 0.001-0.05


@dataclass
class Photo:
    path: Path
    coco_id: int | None = None
    width: int = 0
    height: int = 0
    labels: set[str] = field(default_factory=set)


@dataclass
class Dataset:
    folder: Path
    photos: list[Photo]
    coco: object | None  # pycocotools COCO, when instances.json exists


def load_dataset(folder: Path) -> Dataset:
    photos: dict[str, Photo] = {}
    coco = None
    if (folder / "instances.json").exists():
        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(folder / "instances.json"))
        for info in coco.dataset["images"]:
            path = _find(folder, info["file_name"])
            if path:
                photos[path.name] = Photo(path, info["id"], info["width"], info["height"])
    if (folder / "labels.csv").exists():
        with open(folder / "labels.csv", newline="") as f:
            for row in csv.DictReader(f):
                path = _find(folder, row["image"])
                if path:
                    photo = photos.setdefault(path.name, Photo(path))
                    photo.labels = _labels_of(row)
    return Dataset(folder, sorted(photos.values(), key=lambda p: p.path.name), coco)


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / "images" / Path(name).name):
        if candidate.exists():
            return candidate
    return None


def _labels_of(row: dict) -> set[str]:
    labels = {x for x in row["labels"].split(";") if x}
    if row.get("has_captions") == "1":  # caption tags only mean something where captions exist
        labels |= {x for x in row.get("caption_tags", "").split(";") if x}
    return labels


# ---------------------------------------------------------------- detection AP


def pipeline_detections(ds: Dataset, detector) -> list[dict]:
    """COCO result rows from photoorg's detector, fed as the indexer feeds it."""
    from photoorg.imaging import load_image

    rows = []
    photos = [p for p in ds.photos if p.coco_id is not None]
    for start in range(0, len(photos), 8):
        batch = photos[start : start + 8]
        images = [load_image(p.path, max_side=detector.input_size) for p in batch]
        for photo, found in zip(batch, detector.detect(images)):
            for d in found:
                rows.append(
                    _coco_row(
                        ds,
                        photo,
                        d.label,
                        d.score,
                        d.box[0] * photo.width,
                        d.box[1] * photo.height,
                        d.box[2] * photo.width,
                        d.box[3] * photo.height,
                    )
                )
    return rows


def _coco_row(ds, photo, label, score, x0, y0, x1, y1) -> dict:
    [cat] = ds.coco.getCatIds(catNms=[label])
    return {
        "image_id": photo.coco_id,
        "category_id": cat,
        "score": float(score),
        "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
    }


def full_decode(path: Path):
    from PIL import Image, ImageOps

    return ImageOps.exif_transpose(Image.open(path)).convert("RGB")


def reference_yolox(ds: Dataset, onnx_path: Path, decode=full_decode) -> list[dict]:
    """A plain onnxruntime loop after the YOLOX demo (no photoorg model code)."""
    import onnxruntime as ort
    import torch
    from PIL import Image
    from torchvision.ops import batched_nms

    from photoorg.models.boxes import COCO80, KEEP_LABELS  # class names only

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    grids, strides = [], []
    for s in (8, 16, 32):
        xv, yv = np.meshgrid(np.arange(416 // s), np.arange(416 // s))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(np.full((grids[-1].shape[0], 1), s))
    grid, stride = np.concatenate(grids), np.concatenate(strides)
    keep = [i for i, name in enumerate(COCO80) if name in KEEP_LABELS]  # head order
    rows = []
    for photo in (p for p in ds.photos if p.coco_id is not None):
        img = decode(photo.path)
        r = min(416 / img.height, 416 / img.width)
        small = np.asarray(
            img.resize((int(img.width * r), int(img.height * r)), Image.Resampling.BILINEAR), np.float32
        )[:, :, ::-1]
        padded = np.full((416, 416, 3), 114, np.float32)
        padded[: small.shape[0], : small.shape[1]] = small
        out = session.run(None, {"images": padded.transpose(2, 0, 1)[None].copy()})[0][0]
        out[:, :2] = (out[:, :2] + grid) * stride
        out[:, 2:4] = np.exp(out[:, 2:4]) * stride
        xyxy = np.concatenate([out[:, :2] - out[:, 2:4] / 2, out[:, :2] + out[:, 2:4] / 2], 1) / r
        scores = out[:, 4:5] * out[:, 5:]
        a, c = np.nonzero(scores[:, keep] >= AP_SCORE_CUT)
        cls = np.array(keep)[c]
        b, s = torch.from_numpy(xyxy[a]), torch.from_numpy(scores[a, cls])
        sx, sy = photo.width / img.width, photo.height / img.height
        for i in batched_nms(b, s, torch.from_numpy(cls), 0.45).tolist()[:100]:
            x0, y0, x1, y1 = b[i].tolist()
            rows.append(
                _coco_row(
                    ds,
                    photo,
                    COCO80[cls[i]],
                    s[i].item(),
                    max(x0, 0) * sx,
                    max(y0, 0) * sy,
                    min(x1, img.width) * sx,
                    min(y1, img.height) * sy,
                )
            )
    return rows


def box_ap(ds: Dataset, rows: list[dict], label: str) -> tuple[float, float]:
    """COCO AP@[.5:.95] and AP50 for one class over the dataset's photos."""
    from pycocotools.cocoeval import COCOeval

    [cat] = ds.coco.getCatIds(catNms=[label])
    ids = [p.coco_id for p in ds.photos if p.coco_id is not None]
    if not ds.coco.getAnnIds(imgIds=ids, catIds=[cat], iscrowd=False):
        return float("nan"), float("nan")
    if not any(r["category_id"] == cat for r in rows):
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(ds.coco, ds.coco.loadRes(rows), "bbox")
        ev.params.imgIds, ev.params.catIds = ids, [cat]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])


def print_ap(ds: Dataset, name: str, rows: list[dict], seconds: float) -> None:
    cells = []
    for label in AP_CLASSES:
        ap, ap50 = box_ap(ds, rows, label)
        cells.append(f"{label} {ap:.3f} (AP50 {ap50:.3f})")
    n = sum(p.coco_id is not None for p in ds.photos)
    print(f"  {name:34} " + "  ".join(cells) + f"   [{seconds / n * 1000:.0f} ms/photo]")


def detection_report(ds: Dataset, args) -> None:
    from photoorg.models.detect import load_detector
    from photoorg.models.registry import MODELS

    for name in args.detector:
        print(f"Box AP@[.5:.95] on {len(ds.photos)} photos ({name}):")
        weights = args.weights if args.weights and len(args.detector) == 1 else SHARED_WEIGHTS.get(name)
        if weights is None or not Path(weights).exists():
            print(f"  n/a: no weights for {name} (pass --weights PATH)")
            continue
        detector = load_detector(MODELS[name], Path(weights), args.device, score_threshold=AP_SCORE_CUT)
        t0 = time.perf_counter()
        rows = pipeline_detections(ds, detector)
        print_ap(ds, f"photoorg pipeline {detector.model_id}", rows, time.perf_counter() - t0)
        wall, cpu = model_ms(ds, detector)
        print(
            f"  model time (median of single-photo detect() calls): {wall:.1f} ms wall, "
            f"{cpu:.1f} ms CPU (all cores) /photo"
        )
        if MODELS[name].arch == "yolox" and args.reference:
            t0 = time.perf_counter()
            rows_ref = reference_yolox(ds, Path(weights))
            print_ap(ds, "plain onnxruntime loop, full decode", rows_ref, time.perf_counter() - t0)
        threshold_report(ds, name, rows)


def model_ms(ds: Dataset, detector, n: int = 40) -> tuple[float, float]:
    """Median wall and process-CPU ms of detect() on one pre-decoded photo (decode
    excluded), after a warm-up: CPU time is far less disturbed by other load."""
    from photoorg.imaging import load_image

    images = [load_image(p.path, max_side=detector.input_size) for p in ds.photos[:n]]
    detector.detect(images[:1])
    walls, cpus = [], []
    for image in images:
        t0, c0 = time.perf_counter(), time.process_time()
        detector.detect([image])
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((time.process_time() - c0) * 1000)
    return float(np.median(walls)), float(np.median(cpus))


# ---------------------------------------------------------------- thresholds

CALIBRATED = ("person", "dog", "cat")  # enough photos for a cut of their own (>= 8)
TARGET_PRECISION = 0.9
DRAW_FLOOR = 0.25


def _matched(ds: Dataset, rows: list[dict], labels: tuple[str, ...]) -> tuple[list, int]:
    """(score, is_true) of every box of `labels`, matched greedily by score to a not yet
    matched ground-truth box of its class at IoU >= 0.5 (boxes on crowd regions ignored),
    and the number of ground-truth boxes."""
    from photoorg.models.boxes import box_iou

    cat_ids = {ds.coco.getCatIds(catNms=[label])[0] for label in labels}
    truth: dict[tuple, list] = {}
    for a in ds.coco.dataset["annotations"]:
        if a["category_id"] in cat_ids:
            x, y, w, h = a["bbox"]
            truth.setdefault((a["image_id"], a["category_id"]), []).append(
                [(x, y, x + w, y + h), a["iscrowd"], False]
            )
    scored = []
    for r in sorted((r for r in rows if r["category_id"] in cat_ids), key=lambda r: -r["score"]):
        x, y, w, h = r["bbox"]
        box = (x, y, x + w, y + h)
        cands = truth.get((r["image_id"], r["category_id"]), [])
        best = max(cands, key=lambda t: (not t[2] and not t[1]) * box_iou(box, t[0]), default=None)
        if best is not None and not best[1] and not best[2] and box_iou(box, best[0]) >= 0.5:
            best[2] = True
            scored.append((r["score"], True))
        elif any(t[1] and box_iou(box, t[0]) >= 0.5 for t in cands):
            continue  # a box on a crowd region is neither right nor wrong
        else:
            scored.append((r["score"], False))
    n_truth = sum(1 for ts in truth.values() for t in ts if not t[1])
    return scored, n_truth


def _photo_level(
    ds: Dataset, rows: list[dict], labels: tuple[str, ...], suppress: bool = True
) -> tuple[list, int]:
    """(best score of `labels` in the photo, photo has one) per photo, and how many do;
    suppress=False counts every box, as has: did before calibration."""
    cat_ids = {ds.coco.getCatIds(catNms=[label])[0] for label in labels}
    ids = [p.coco_id for p in ds.photos if p.coco_id is not None]
    has = {
        a["image_id"]
        for a in ds.coco.dataset["annotations"]
        if a["category_id"] in cat_ids and not a["iscrowd"]
    }
    best: dict[int, float] = {}
    for r in tag_candidates(ds, rows) if suppress else rows:
        if r["category_id"] in cat_ids:
            best[r["image_id"]] = max(best.get(r["image_id"], 0.0), r["score"])
    return [(best[i], i in has) for i in ids if i in best], sum(i in has for i in ids)


def tag_candidates(ds: Dataset, rows: list[dict]) -> list[dict]:
    """The rows that may tag their photo: without the animal boxes that sit on a better-
    scored other animal (photoorg.models.boxes.confused_animals, as the indexer does)."""
    from types import SimpleNamespace

    from photoorg.models.boxes import confused_animals

    names = {c["id"]: c["name"] for c in ds.coco.dataset["categories"]}
    by_image: dict[int, list[dict]] = {}
    for r in rows:
        by_image.setdefault(r["image_id"], []).append(r)
    kept = []
    for group in by_image.values():
        dets = [
            SimpleNamespace(
                label=names[r["category_id"]],
                score=r["score"],
                box=(r["bbox"][0], r["bbox"][1], r["bbox"][0] + r["bbox"][2], r["bbox"][1] + r["bbox"][3]),
            )
            for r in group
        ]
        confused = confused_animals(dets)
        kept += [r for i, r in enumerate(group) if i not in confused]
    return kept


def _pr(scored: list, n_truth: int, cut: float) -> tuple[float, float]:
    kept = [t for s, t in scored if s >= cut]
    tp = sum(kept)
    return (tp / len(kept) if kept else 1.0), (tp / n_truth if n_truth else 0.0)


def _f1_cut(scored: list, n_truth: int) -> float:
    def f1(cut):
        p, r = _pr(scored, n_truth, cut)
        return 2 * p * r / (p + r) if p + r else 0.0

    cuts = sorted({round(s, 2) for s, _ in scored if s >= 0.05})
    return max(cuts, key=lambda c: (f1(c), -c), default=0.5)


def _precision_cut(scored: list, n_truth: int, target: float = TARGET_PRECISION) -> float:
    """The lowest cut whose kept set is at least `target` right; F1-optimal if none is."""
    cuts = sorted({round(s, 2) for s, _ in scored if s >= 0.05})
    for cut in cuts:
        if _pr(scored, n_truth, cut)[0] >= target:
            return cut
    return _f1_cut(scored, n_truth)


def calibrate(ds: Dataset, rows: list[dict]):
    """label ("*" for the pooled rare animals) -> ClassThresholds chosen on `ds`."""
    from photoorg.models.boxes import KEEP_LABELS, ClassThresholds

    groups = {label: (label,) for label in CALIBRATED}
    groups["*"] = tuple(sorted(KEEP_LABELS - set(CALIBRATED)))
    out = {}
    for key, labels in groups.items():
        boxes, n_boxes = _matched(ds, rows, labels)
        photos, n_photos = _photo_level(ds, rows, labels)
        # F1 on 20 boxes can favour a cut as low as 0.10, which draws boxes on teddy bears.
        draw = max(_f1_cut(boxes, n_boxes), DRAW_FLOOR)
        count = _precision_cut(boxes, n_boxes)
        # A photo tag must not be looser than the drawn box that carries it.
        tag = max(_precision_cut(photos, n_photos), draw)
        out[key] = ClassThresholds(draw=draw, count=count, tag=tag)
    return out, groups


def teddy_dogs(ds: Dataset, rows: list[dict], cut: float, suppress: bool = True) -> int:
    """Photos a dog box over `cut` would tag "dog" that hold a teddy bear and no dog."""
    [dog] = ds.coco.getCatIds(catNms=["dog"])
    [teddy] = ds.coco.getCatIds(catNms=["teddy bear"])
    has = {}
    for a in ds.coco.dataset["annotations"]:
        has.setdefault(a["image_id"], set()).add(a["category_id"])
    tagged = {
        r["image_id"]
        for r in (tag_candidates(ds, rows) if suppress else rows)
        if r["category_id"] == dog and r["score"] >= cut
    }
    return sum(1 for i in tagged if teddy in has.get(i, ()) and dog not in has[i])


def threshold_report(ds: Dataset, name: str, rows: list[dict]) -> None:
    from photoorg.models.boxes import UNCALIBRATED, thresholds_of
    from photoorg.models.registry import MODELS

    fitted, groups = calibrate(ds, rows)
    stored = MODELS[name].thresholds
    print(
        "  thresholds: box precision/recall at the draw and count cuts (IoU 0.5), photo "
        "precision/recall of the has:/label tag; registry = what the app uses"
    )
    for key, labels in groups.items():
        boxes, n_boxes = _matched(ds, rows, labels)
        photos, n_photos = _photo_level(ds, rows, labels)
        for source, th in (("registry", (stored or {}).get(key)), ("fitted here", fitted[key])):
            if th is None:
                print(f"    {key:8} {source:11} none (uncalibrated: {UNCALIBRATED['*']})")
                continue
            d, c, t = (
                _pr(boxes, n_boxes, th.draw),
                _pr(boxes, n_boxes, th.count),
                _pr(photos, n_photos, th.tag),
            )
            print(
                f"    {key:8} {source:11} draw {th.draw:.2f} (P {d[0]:.2f} R {d[1]:.2f})  "
                f"count {th.count:.2f} (P {c[0]:.2f} R {c[1]:.2f})  "
                f"tag {th.tag:.2f} (P {t[0]:.2f} R {t[1]:.2f}, {n_photos} photos)"
            )
    dogs, n_dogs = _photo_level(ds, rows, ("dog",), suppress=False)
    old = _pr(dogs, n_dogs, 0.35)
    print(
        f"    before calibration, has:dog = any drawn dog box (score >= 0.35): "
        f"photo P {old[0]:.2f} R {old[1]:.2f}"
    )
    cut = thresholds_of(stored or UNCALIBRATED, "dog").tag
    print(
        f"    has:dog photos with a teddy bear and no dog: {teddy_dogs(ds, rows, 0.35, False)} "
        f"before (any box >= 0.35), "
        f"{teddy_dogs(ds, rows, cut)} at the registry's tag cut {cut:.2f}"
    )
    print(
        "    registry form: {"
        + ", ".join(f'"{k}": _T({v.draw}, {v.count}, {v.tag})' for k, v in fitted.items())
        + "}"
    )


# ---------------------------------------------------------------- mask IoU

MASK_MIN_AREA = 15_000  # px: the subjects a user cuts out, not a face in the crowd


def mask_report(ds: Dataset, args) -> None:
    """Mask IoU of each segmenter given each subject's COCO box (so the figure is the
    mask's, not the detector's), with the photo's other people/animals as the other
    detected subjects; U2-Netp both plain (as before issue 12) and as the app runs it,
    and the app's default as the GUI saves it (after cut_out's feathering)."""
    subjects = mask_subjects(ds, args.min_area, args.masks)
    print(
        f"Cut-out mask IoU vs COCO masks, {len(subjects.anns)} people/animals (area >= "
        f"{args.min_area:,} px), given the COCO box:"
    )
    for choice in args.segmenter:
        name, _, path = choice.partition("=")
        weights = Path(path) if path else SHARED_WEIGHTS.get(name)
        for variant in ("plain", "app") if name == "u2netp" else ("app",):
            mask_iou_for(ds, name, weights, subjects, args.device, variant)
    default = default_segmenter()
    print(f"  GUI default ({default}, the saved PNG's alpha after feathering):")
    mask_iou_for(ds, default, SHARED_WEIGHTS.get(default), subjects, args.device, "gui")


@dataclass
class MaskSubjects:
    anns: list[dict]  # the COCO annotations to segment
    others: list[dict]  # every person/animal of those photos (the "other detected subjects")
    by_id: dict[int, Photo]
    cats: dict[int, str]


def mask_subjects(ds: Dataset, min_area: int, limit: int) -> MaskSubjects:
    from photoorg.models.detect import KEEP_LABELS

    cats = {c["id"]: c["name"] for c in ds.coco.dataset["categories"]}
    by_id = {p.coco_id: p for p in ds.photos if p.coco_id is not None}
    others = [
        a
        for a in ds.coco.dataset["annotations"]
        if a["image_id"] in by_id and not a["iscrowd"] and cats[a["category_id"]] in KEEP_LABELS
    ]
    anns = sorted((a for a in others if a["area"] >= min_area), key=lambda a: a["id"])
    return MaskSubjects(anns[:limit], others, by_id, cats)


def default_segmenter() -> str:
    from photoorg.models.registry import DEFAULTS

    return DEFAULTS["segmenter"]


def mask_iou_for(ds, name, weights, subjects: MaskSubjects, device, variant) -> None:
    from photoorg.models.registry import MODELS
    from photoorg.models.segment import load_segmenter

    if weights is None or not weights.exists():
        print(f"  {name:22} n/a: no weights (pass --segmenter {name}=PATH)")
        return
    if variant == "plain":  # U2-Netp as it ran before issue 12: its file's 320 px, no refinement
        from photoorg.models.u2net import NATIVE_SIDE, load_u2net

        segmenter = load_u2net(MODELS[name], weights, device, NATIVE_SIDE)
        segmenter.refine, segmenter.margin = False, 0.1
    else:
        segmenter = load_segmenter(MODELS[name], weights, device)
    score_masks(ds, segmenter, f"{segmenter.model_id} {variant}", subjects, gui=variant == "gui")


def score_masks(ds, segmenter, label: str, subjects: MaskSubjects, gui: bool = False) -> None:
    """Print the mean/median IoU (all, people, animals) of segmenter's masks and its time
    per subject; gui: of the saved PNG's alpha (after cut_out's feathering)."""
    from photoorg.cutout import cut_out
    from photoorg.imaging import load_image

    ious: dict[str, list[float]] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for a in subjects.anns:
        photo = subjects.by_id[a["image_id"]]
        image = load_image(photo.path)
        others = [
            _normalised(o["bbox"], image.size)
            for o in subjects.others
            if o["image_id"] == a["image_id"] and o["id"] != a["id"]
        ]
        alpha = segmenter.mask(image, _normalised(a["bbox"], image.size), others)
        if gui:
            alpha = np.asarray(cut_out(image, alpha))[..., 3] / 255.0
        truth = ds.coco.annToMask(a).astype(bool)
        pred = alpha >= 0.5
        cat = subjects.cats[a["category_id"]]
        ious.setdefault(cat, []).append((pred & truth).sum() / (pred | truth).sum())
    # Wall time counts the other engineers' load; process CPU time is less disturbed (but
    # counts every core onnxruntime uses, so on an idle machine it can exceed wall time).
    n = max(len(subjects.anns), 1)
    per, cpu = (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
    every = np.array([v for vals in ious.values() for v in vals])
    people = np.array(ious.get("person", []))
    animals = np.array([v for k, vals in ious.items() if k != "person" for v in vals])
    print(
        f"  {label:28} mean/median all {_cell(every)}  people {_cell(people)}  "
        f"animals {_cell(animals)}   [{per * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU /subject]",
        flush=True,
    )


def _normalised(bbox, size) -> tuple[float, float, float, float]:
    """COCO xywh pixels -> normalised x0 y0 x1 y1."""
    (x, y, bw, bh), (w, h) = bbox, size
    return x / w, y / h, (x + bw) / w, (y + bh) / h


def _cell(values: np.ndarray) -> str:
    if not len(values):
        return "n/a"
    return f"{np.mean(values):.3f}/{np.median(values):.3f} (n={len(values)})"


# ---------------------------------------------------------------- tags and search


def tag_and_search_report(ds: Dataset, clip, cache_dir: Path) -> None:
    """Tag precision/recall per label and search precision@10 against labels.csv.

    The hook the CLIP and indexer work plugs into: given a ClipModel (None where no
    weights exist) it tags with the real Tagger and ranks by CLIP similarity.
    """
    labelled = [p for p in ds.photos if p.labels]
    print(f"Tags and search on {len(labelled)} labelled photos:")
    if clip is None or not labelled:
        why = "no CLIP weights" if clip is None else "no labels.csv"
        print(f"  tag precision/recall: n/a: {why}\n  search precision@10: n/a: {why}")
        return
    from photoorg.imaging import load_image
    from photoorg.models.tagging import Tagger

    emb = np.concatenate(
        [
            clip.embed_images([load_image(p.path, max_side=clip.image_size) for p in chunk])
            for chunk in (labelled[i : i + 16] for i in range(0, len(labelled), 16))
        ]
    )
    tagger = Tagger(clip, cache_dir)
    predicted = [{t for t, _ in tags} for tags in tagger.tag(emb)]
    print(f"  model {tagger.model_id}")
    support = {}
    for p in labelled:
        for label in p.labels:
            support[label] = support.get(label, 0) + 1
    vocab = {n.casefold() for n in tagger.names}
    for label in sorted(support, key=lambda k: -support[k]):
        if support[label] < 3 or label.casefold() not in vocab:
            continue
        truth = np.array([label in p.labels for p in labelled])
        guess = np.array([label.casefold() in {t.casefold() for t in s} for s in predicted])
        tp = (truth & guess).sum()
        prec = f"{tp / guess.sum():.2f}" if guess.sum() else "n/a"
        print(f"  tag {label:16} precision {prec:>4}  recall {tp / truth.sum():.2f}  (n={truth.sum()})")
    for query in SEARCH_QUERIES:
        text = clip.embed_texts([query])[0]
        top = np.argsort(-(emb @ text), kind="stable")[:10]
        hits = sum(query in labelled[i].labels for i in top)
        print(f"  search {query!r:10} precision@10 {hits / len(top):.1f}")


def load_clip_for(args):
    if not (args.clip_weights or args.clip_random):
        return None
    from photoorg.models.clip import load_clip
    from photoorg.models.registry import MODELS

    return load_clip(MODELS[args.clip], args.clip_weights, args.device)


def main(argv: list[str] | None = None) -> int:
    from photoorg.models.registry import DEFAULTS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    ap.add_argument(
        "--detector", action="append", help="detector name (repeatable; default picodet-s and yolox-nano)"
    )
    ap.add_argument(
        "--reference",
        action="store_true",
        help="also run the plain YOLOX loop (checks photoorg's pipeline loses nothing)",
    )
    ap.add_argument("--weights", type=Path, help="detector weights file")
    ap.add_argument("--segmenter", action="append", help="NAME or NAME=PATH (repeatable)")
    ap.add_argument("--masks", type=int, default=1000, help="most subjects to segment")
    ap.add_argument(
        "--min-area", type=int, default=MASK_MIN_AREA, help="smallest subject (COCO mask area, px) to segment"
    )
    ap.add_argument("--clip", default=DEFAULTS["clip"])
    ap.add_argument("--clip-weights", type=Path)
    ap.add_argument("--clip-random", action="store_true", help="smoke test only: random CLIP")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip", default="", help="comma list of: boxes,masks,tags")
    args = ap.parse_args(argv)
    args.segmenter = args.segmenter or ["u2netp", "maskrcnn-resnet50-v2"]
    args.detector = args.detector or ["picodet-s", "yolox-nano"]
    ds = load_dataset(args.folder)
    if not ds.photos:
        print(f"No labelled photos found in {args.folder}.", file=sys.stderr)
        return 1
    skip = set(args.skip.split(","))
    if ds.coco is not None and "boxes" not in skip:
        detection_report(ds, args)
    if ds.coco is not None and "masks" not in skip:
        mask_report(ds, args)
    if "tags" not in skip:
        import tempfile

        with tempfile.TemporaryDirectory() as cache:
            tag_and_search_report(ds, load_clip_for(args), Path(cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
