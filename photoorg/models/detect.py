"""People and pet detection behind one small interface.

Backends: torchvision detectors (here), and YOLOX-Nano (yolox.py) and PP-PicoDet-S
(picodet.py) through onnxruntime; the shared types live in boxes.py. Each detector's
per-class score cuts (drawn box, "2 people", "dog" tag) come from its registry entry,
calibrated on coco-train-mini by bench/quality.py. Every box is normalised to the image
exactly as given, so callers that pass an EXIF-rotated photo at any decode size get boxes
in the coordinates the user sees.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from PIL import Image

from ..errors import UserError
from .boxes import (
    KEEP_LABELS,
    UNCALIBRATED,
    Detection,
    Thresholds,
    box_iou,
    confused_animals,
    draw_cuts,
    normalise_box,
    thresholds_of,
)
from .picodet import load_picodet
from .registry import spec_for_model_id
from .yolox import load_yolox

__all__ = [
    "KEEP_LABELS",
    "Detection",
    "Detector",
    "DetectorError",
    "box_iou",
    "detection_tags",
    "load_detector",
    "normalise_box",
    "thresholds_for",
]

# The ONNX backends by arch; each loader takes (spec, weights, device, cuts).
ONNX_BACKENDS = {"yolox": load_yolox, "picodet": load_picodet}


class DetectorError(UserError):
    """A detector spec this module cannot run (its message is one readable sentence)."""


class Detector(Protocol):
    model_id: str
    input_size: int

    def detect(self, images: list[Image.Image]) -> list[list[Detection]]: ...


def thresholds_for(model_id: str) -> Thresholds:
    """The calibrated cuts of the detector that made `model_id`'s boxes (registry entry);
    the uncalibrated ones for a model the registry does not know."""
    spec = spec_for_model_id(model_id)
    return spec.thresholds if spec is not None and spec.thresholds else UNCALIBRATED


def detection_tags(boxes: Sequence, model_id: str) -> list[tuple[str, float]]:
    """The photo's tags from its boxes (anything with .label, .score, .box) under the
    detector's calibrated cuts: "1 person" / "3 people" from boxes over the person count
    cut (score: the weakest box counted), and each label whose best box passes its tag cut
    (score: that box's), unless the box sits on a better-scored other animal. A box under
    the cuts stays drawn and nameable; it just does not tag the photo."""
    thresholds = thresholds_for(model_id)
    out = []
    people = [
        d.score for d in boxes if d.label == "person" and d.score >= thresholds_of(thresholds, "person").count
    ]
    if people:
        out.append(("1 person" if len(people) == 1 else f"{len(people)} people", min(people)))
    confused = confused_animals(boxes)
    best: dict[str, float] = {}
    for i, d in enumerate(boxes):
        if i not in confused and d.score >= thresholds_of(thresholds, d.label).tag:
            best[d.label] = max(d.score, best.get(d.label, 0.0))
    return out + sorted(best.items())


def build_torchvision(arch: str, weights: Path | None, device: str):
    """(model in eval mode on device, weights enum) for a torchvision detection builder.

    Built with weights=None and weights_backbone=None so nothing reaches a hub; the
    state dict comes from the local file. The enum still supplies transforms and classes.
    """
    import torch
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(arch).DEFAULT
    except ValueError:
        raise DetectorError(f"torchvision has no model called {arch!r}.") from None
    categories = enum.meta["categories"]
    model = torchvision.models.get_model(
        arch, weights=None, weights_backbone=None, num_classes=len(categories)
    )
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval().to(device), enum


def inference_context(device: str):
    """No autograd; half precision through autocast on CUDA."""
    import contextlib

    import torch

    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    if device.startswith("cuda"):
        stack.enter_context(torch.autocast("cuda", dtype=torch.float16))
    return stack


def _set_score_threshold(model, threshold: float) -> None:
    # Faster/Mask R-CNN keep the cut in roi_heads; RetinaNet on the model itself.
    owner = getattr(model, "roi_heads", model)
    owner.score_thresh = threshold


class TorchvisionDetector:
    def __init__(self, model, enum, model_id: str, device: str, score_threshold: float | Mapping[str, float]):
        self._model, self._device = model, device
        self._transforms = enum.transforms()
        self._categories = enum.meta["categories"]
        self.model_id = model_id
        self.input_size = int(model.transform.max_size)
        self.score_threshold = score_threshold
        cuts = (
            score_threshold
            if isinstance(score_threshold, Mapping)
            else dict.fromkeys(KEEP_LABELS, float(score_threshold))
        )
        self._cuts = cuts
        _set_score_threshold(model, min(cuts.values()))

    def detect(self, images: list[Image.Image]) -> list[list[Detection]]:
        tensors = [self._transforms(im.convert("RGB")) for im in images]
        # Only same-sized images share a forward pass: padding a smaller one to the
        # batch's size would change its features, and a batch must equal single runs.
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, t in enumerate(tensors):
            groups[tuple(t.shape)].append(i)
        results: list[list[Detection]] = [[] for _ in images]
        with inference_context(self._device):
            for idxs in groups.values():
                outputs = self._model([tensors[i].to(self._device) for i in idxs])
                for i, out in zip(idxs, outputs):
                    results[i] = self._detections(out, images[i].size)
        return results

    def _detections(self, out, image_size) -> list[Detection]:
        found = []
        for box, label, score in zip(
            out["boxes"].float().cpu().tolist(),
            out["labels"].cpu().tolist(),
            out["scores"].float().cpu().tolist(),
        ):
            name = self._categories[label]
            if name in KEEP_LABELS and score >= self._cuts[name]:
                found.append(Detection(name, score, normalise_box(box, image_size)))
        return found


def load_detector(
    spec, weights: Path | None, device: str, *, score_threshold: float | Mapping[str, float] | None = None
) -> Detector:
    """A Detector for spec (backend "torchvision", or "onnx" with arch "yolox"/"picodet").

    score_threshold None keeps each label's boxes from the spec's calibrated draw cut;
    a number applies one cut to every label (benches lower it to measure AP).
    weights None builds the real architecture randomly initialised (tests and benches;
    models.load guards that) and its model_id ends with "+random".
    """
    if score_threshold is None:
        score_threshold = draw_cuts(getattr(spec, "thresholds", None) or UNCALIBRATED)
    if spec.backend == "onnx" and spec.arch in ONNX_BACKENDS:
        return ONNX_BACKENDS[spec.arch](spec, weights, device, score_threshold)
    if spec.backend != "torchvision":
        raise DetectorError(f"{spec.name} is not a detector this version can run.")
    model, enum = build_torchvision(spec.arch, weights, device)
    model_id = f"torchvision:{spec.arch}:{enum.name}" + ("+random" if weights is None else "")
    return TorchvisionDetector(model, enum, model_id, device, score_threshold)
