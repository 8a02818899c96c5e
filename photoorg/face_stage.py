"""The face stage of the indexer: faces looked for inside person boxes at a bounded
size, and the likeness of each pet (its box's CLIP vector), saved so that names stay.

Where to look. dlib's HOG costs about 0.4 s per megapixel here, so a whole 12-MP photo
(about 5 s) is out of the question. A person box is searched at PERSON_CROP_WIDTH px
wide (a face is then about 100-190 px, well above HOG's 80-px window); a standing
person's upper part only (the head is there). A photo with no person box is searched
whole at WHOLE_PHOTO_SIDE (a close-up face the detector missed). When the indexer's
decoded image is too small for that (it decodes near the detector's 416-640 px), the
photo is decoded again in JPEG draft mode at the smallest scale that serves every
area (at most about FACE_SIDE), and only the crops are shrunk. The faces of a photo
are then described in one batch (models/face_onnx.py: onnxruntime, 7-9 ms of CPU per
face; dlib-bin's own took 110-140 ms).

Measured with bench/people.py (CPU time per photo, 2 shared cores under load, two
runs): 12-MP photos with 1 / 2 / 3 people 0.11-0.12 / 0.14-0.15 / 0.18-0.19 s, against
0.22 / 0.32-0.35 / 0.42-0.56 s with dlib's descriptor and a whole-photo resample;
faces-mini (250-px photos) 21-22 ms, against 107-127 ms.

What is left out, and counted (face_scans): faces under MIN_FACE_PX in the photo's own
pixels (too small to recognise: the descriptor wants a 150-px chip), and beyond
MAX_FACES per photo (a crowd; the largest faces are kept).

Saving. A face seen again (re-index, model change, an edit that moves it a few pixels:
IoU >= SAME_FACE_IOU with the stored one) keeps its row, so its group, its name and the
user's "not this person" marks stay; only the vector and box change. A stored face not
seen again is dropped unless it is named (user data, like named boxes). A face the
user drew by hand (photoorg/photo_faces.py) is never replaced nor dropped here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .db import Store
from .db import faces as facedb
from .db.faces import NewFace
from .imaging import load_image
from .models.detect import box_iou

FACE_SIDE = 1600  # at most: a 4000x3000 JPEG then decodes at 1/2 scale in draft mode
PERSON_CROP_WIDTH = 320
WHOLE_PHOTO_SIDE = 640
UPPER_PART = 0.6  # of a standing person's box (taller than 1.3 x its width)
MIN_FACE_PX = 40
MAX_FACES = 40
MAX_PERSON_BOXES = MAX_FACES  # the largest; the ones beyond are counted as capped
PERSON_MIN_SCORE = 0.3
SAME_FACE_IOU = 0.5
PET_LABELS = frozenset({"dog", "cat", "bird", "horse", "sheep", "cow"})


@dataclass
class FaceScan:
    faces: list[NewFace] = field(default_factory=list)
    too_small: int = 0
    capped: int = 0


def _boxes_px(box, size) -> tuple[int, int, int, int]:
    w, h = size
    return (
        max(0, int(box[0] * w)),
        max(0, int(box[1] * h)),
        min(w, round(box[2] * w)),
        min(h, round(box[3] * h)),
    )


def search_areas(person_boxes: list[tuple], size: tuple[int, int]) -> tuple[list[tuple], int]:
    """Normalised areas to search (the upper part of each of the largest person boxes,
    or the whole photo when there is no person box), and how many boxes were left out."""
    people = sorted(
        (b for label, score, b in person_boxes if label == "person" and score >= PERSON_MIN_SCORE),
        key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]),
    )
    left_out = max(0, len(people) - MAX_PERSON_BOXES)
    people = people[:MAX_PERSON_BOXES]
    if not people:
        return [(0.0, 0.0, 1.0, 1.0)], 0
    areas = []
    for x0, y0, x1, y1 in people:
        w, h = (x1 - x0) * size[0], (y1 - y0) * size[1]
        if h > 1.3 * w:
            y1 = y0 + (y1 - y0) * UPPER_PART
        areas.append((x0, y0, x1, y1))
    return areas, left_out


def _image_for(path, image: Image.Image, full_size: tuple[int, int], areas: list[tuple]) -> Image.Image:
    """The indexer's copy when it is large enough for every area, else the photo decoded
    again: JPEG draft mode at the smallest scale (1/2, 1/4, 1/8) that serves every
    area, at most about FACE_SIDE, and not resampled as a whole (each area's crop is
    shrunk to its own width: shrinking a whole 2000-px decode cost 30 ms, the decode
    itself 28)."""
    need = max(_wanted_width(a, full_size) / (a[2] - a[0]) for a in areas)  # px across the photo
    if image.width >= 0.9 * need or image.width >= full_size[0]:
        return image
    side = min(FACE_SIDE, need * max(full_size) / full_size[0])
    return load_image(path, max_side=round(side), shrink=False)


def _wanted_width(area, full_size) -> float:
    """How wide (px) an area should be searched: bounded, never above the photo's own."""
    full_w = (area[2] - area[0]) * full_size[0]
    bound = WHOLE_PHOTO_SIDE if area == (0.0, 0.0, 1.0, 1.0) else PERSON_CROP_WIDTH
    return min(full_w, bound)


@dataclass
class _Hit:
    """A face the detector found in one search area."""

    box: tuple  # normalised to the upright photo
    score: float
    pixels: np.ndarray  # the searched crop; its descriptor is computed there
    local: tuple  # the box in the crop's pixels

    def side(self, full_size: tuple[int, int]) -> float:
        return (self.box[2] - self.box[0]) * full_size[0]


def scan_photo(
    model, path: str | Path, image: Image.Image, full_size: tuple[int, int], person_boxes: list[tuple]
) -> FaceScan:
    """Faces in one upright photo. `image` is the indexer's decoded copy; `full_size`
    the photo's own upright size; `person_boxes` (label, score, normalised box)."""
    areas, left_out = search_areas(person_boxes, full_size)
    image = _image_for(path, image, full_size, areas)
    hits = _dedupe([hit for area in areas for hit in _search(model, image, area, full_size)])
    scan = FaceScan(capped=left_out)
    kept = []
    for hit in sorted(hits, key=lambda h: -h.side(full_size)):
        if hit.side(full_size) < MIN_FACE_PX:
            scan.too_small += 1
        elif len(kept) >= MAX_FACES:
            scan.capped += 1
        else:
            kept.append(hit)
    for hit, vector in zip(kept, _embed(model, kept)):
        clarity = hit.side(full_size) * max(hit.score, 0.01)
        scan.faces.append(NewFace("person", hit.box, hit.score, clarity, vector))
    return scan


def _search(model, image: Image.Image, area: tuple, full_size: tuple[int, int]) -> list[_Hit]:
    """HOG over one area, cropped and shrunk to its bounded width."""
    x0, y0, x1, y1 = _boxes_px(area, image.size)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return []
    crop = image.crop((x0, y0, x1, y1))
    scale = min(1.0, _wanted_width(area, full_size) / crop.width)
    if scale < 1.0:
        crop = crop.resize(
            (max(1, round(crop.width * scale)), max(1, round(crop.height * scale))), Image.Resampling.BILINEAR
        )
    # Small crops are searched at twice the size so 40-80 px faces are found too.
    upsample = 1 if max(crop.size) < 2 * PERSON_CROP_WIDTH // 3 else 0
    pixels = np.asarray(crop)
    w, h = image.size
    return [
        _Hit(
            # HOG's rectangle may reach past the photo's edge; the stored box stays on it.
            tuple(
                min(1.0, max(0.0, v))
                for v in (
                    (x0 + b[0] / scale) / w,
                    (y0 + b[1] / scale) / h,
                    (x0 + b[2] / scale) / w,
                    (y0 + b[3] / scale) / h,
                )
            ),
            score,
            pixels,
            b,
        )
        for b, score in model.detect(pixels, upsample)
    ]


def _embed(model, kept: list[_Hit]) -> list[np.ndarray]:
    """One descriptor per kept face: each crop's faces aligned together, then every
    chip of the photo described in one batch."""
    order, chips = [], []
    by_crop: dict[int, list[int]] = {}
    for i, hit in enumerate(kept):
        by_crop.setdefault(id(hit.pixels), []).append(i)
    for indexes in by_crop.values():
        chips.append(model.chips(kept[indexes[0]].pixels, [kept[i].local for i in indexes]))
        order += indexes
    if not order:
        return []
    by_face = dict(zip(order, model.describe(np.concatenate(chips))))
    return [by_face[i] for i in range(len(kept))]


def _dedupe(hits: list[_Hit]) -> list[_Hit]:
    """A face seen in two overlapping person boxes is one face: keep the surer one."""
    kept: list[_Hit] = []
    for hit in sorted(hits, key=lambda h: -h.score):
        if all(box_iou(hit.box, k.box) < SAME_FACE_IOU for k in kept):
            kept.append(hit)
    return kept


def pet_likenesses(store: Store, photo_id: int, region_model: str) -> list[NewFace]:
    """Each pet box with its CLIP crop vector (the regions stage made it), so pets are
    grouped the way faces are, within their species."""
    pets = {d.id: d for d in store.detections_of(photo_id) if d.label in PET_LABELS}
    out = []
    for det_id, model, vector in store.box_vectors(pets):
        if model == region_model.split("|")[0]:
            d = pets[det_id]
            side = max(d.box[2] - d.box[0], d.box[3] - d.box[1])
            out.append(NewFace(d.label, d.box, d.score, side * d.score, vector, det_id))
    return out


# -- saving -----------------------------------------------------------------------


def _link_people(store: Store, photo_id: int, faces: list[NewFace]) -> list[NewFace]:
    """Each face to the smallest person box that holds its centre."""
    people = [d for d in store.detections_of(photo_id) if d.label == "person"]
    linked = []
    for f in faces:
        cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
        holders = [d for d in people if d.box[0] <= cx <= d.box[2] and d.box[1] <= cy <= d.box[3]]
        best = min(holders, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]), default=None)
        linked.append(NewFace(f.kind, f.box, f.score, f.clarity, f.vector, best.id if best else None))
    return linked


def save(store: Store, photo_id: int, model: str, new: list[NewFace], kinds: str) -> list[int]:
    """Replace one photo's faces of `kinds` ("person" or "pet"), keeping the rows (ids,
    groups, names) of faces seen again; returns the ids of faces new to the library.
    A face the user drew stays as drawn, and a face found on it is that face."""
    old = facedb.faces_of(store, photo_id, kinds)
    drawn = [o.box for o in old if o.by_hand]
    old = [o for o in old if not o.by_hand]
    new = [n for n in new if all(box_iou(n.box, box) < SAME_FACE_IOU for box in drawn)]
    pairs = sorted(
        (
            (box_iou(o.box, n.box), i, j)
            for i, o in enumerate(old)
            for j, n in enumerate(new)
            if o.kind == n.kind
        ),
        reverse=True,
    )
    matched_old, matched_new = set(), {}
    for iou, i, j in pairs:
        if iou >= SAME_FACE_IOU and i not in matched_old and j not in matched_new:
            matched_old.add(i)
            matched_new[j] = old[i].id
    inserted = []
    for j, face in enumerate(new):
        if j in matched_new:
            facedb.update_face(store, matched_new[j], model, face)
        else:
            inserted.append(facedb.insert_face(store, photo_id, model, face))
    facedb.delete_faces(
        store, [o.id for i, o in enumerate(old) if i not in matched_old and o.subject_id is None]
    )
    return inserted


def save_faces(store: Store, photo_id: int, model: str, scan: FaceScan) -> list[int]:
    inserted = save(store, photo_id, model, _link_people(store, photo_id, scan.faces), "person")
    facedb.set_scan(store, photo_id, len(scan.faces), scan.too_small, scan.capped)
    return inserted


def save_pets(store: Store, photo_id: int, region_model: str) -> list[int]:
    return save(store, photo_id, region_model, pet_likenesses(store, photo_id, region_model), "pet")
