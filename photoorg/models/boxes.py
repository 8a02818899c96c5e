"""Detection types and box maths shared by the detector backends (detect.py, yolox.py,
picodet.py) and their users, in a module of their own so that the backends and the
detector front (detect.py) import them without importing each other."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .thresholds import ClassThresholds

KEEP_LABELS = frozenset(
    {
        "person",
        "bird",
        "cat",
        "dog",
        "horse",
        "sheep",
        "cow",
        "elephant",
        "bear",
        "zebra",
        "giraffe",
    }
)

# The 80 COCO classes in the order of the YOLOX and PicoDet heads (torchvision's list
# minus "N/A").
COCO80 = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)
# The ONNX detectors run on one core: their many small convolutions scale badly across
# threads. PicoDet-S on 24 COCO photos (2 cores, loaded machine, CPU ms per photo): one
# thread 30-32, two threads 43 (68 with spinning threads); and the indexer runs the
# detector beside CLIP (index.py), which has the other core.
DETECTOR_THREADS = 1
KEEP_IDS = np.array([i for i, name in enumerate(COCO80) if name in KEEP_LABELS])


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 normalised 0..1


# Per class; "*" stands for every kept class without enough labelled photos of its own.
Thresholds = Mapping[str, ClassThresholds]
# For a detector nobody calibrated: the cut the app used before calibration.
UNCALIBRATED: Thresholds = {"*": ClassThresholds(draw=0.35, count=0.5, tag=0.5)}


def thresholds_of(thresholds: Thresholds, label: str) -> ClassThresholds:
    return thresholds.get(label) or thresholds["*"]


def draw_cuts(thresholds: Thresholds) -> dict[str, float]:
    """label -> the least score a box of that label needs to be kept at all."""
    return {label: thresholds_of(thresholds, label).draw for label in KEEP_LABELS}


# Two animal boxes this alike are one animal the detector could not name for sure.
SAME_ANIMAL_IOU = 0.7


def confused_animals(detections: Sequence) -> set[int]:
    """Indices of animal boxes (anything with .label, .score, .box) that sit on a better-
    scored box of another animal label: a cat also called "dog" at 0.48 is a cat. They
    stay drawn and nameable; they just do not tag the photo."""
    out = set()
    for i, d in enumerate(detections):
        if d.label == "person":
            continue
        if any(
            o.label not in ("person", d.label)
            and o.score > d.score
            and box_iou(o.box, d.box) >= SAME_ANIMAL_IOU
            for o in detections
        ):
            out.add(i)
    return out


def box_iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def normalise_box(box, image_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Pixel box -> 0..1 box clipped to the image (width, height)."""
    w, h = image_size
    x0, y0, x1, y1 = (float(v) for v in box)
    return (
        min(max(x0 / w, 0.0), 1.0),
        min(max(y0 / h, 0.0), 1.0),
        min(max(x1 / w, 0.0), 1.0),
        min(max(y1 / h, 0.0), 1.0),
    )


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        ix0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        iy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        ix1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        iy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)


def per_class_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    cuts: float | Mapping[str, float],
    image_size: tuple[int, int],
    iou: float,
    max_detections: int = 100,
) -> list[Detection]:
    """Pixel boxes (A, 4) and COCO-80 scores (A, 80) -> kept-label detections over their
    class's cut, NMS within each class, best first, normalised to the image."""
    found = []
    for cls in KEEP_IDS:
        label = COCO80[cls]
        cut = cuts if isinstance(cuts, (int, float)) else cuts[label]
        hit = scores[:, cls] >= cut
        if not hit.any():
            continue
        b, s = boxes[hit], scores[hit, cls]
        for i in nms(b, s, iou):
            found.append(Detection(label, float(s[i]), normalise_box(b[i], image_size)))
    found.sort(key=lambda d: -d.score)
    return found[:max_detections]


def lowest_cut(cuts: float | Mapping[str, float]) -> float:
    return float(cuts) if isinstance(cuts, (int, float)) else min(cuts.values())
