"""People and pet detection behind one small interface.

Backends: torchvision detectors (here) and YOLOX-Nano through onnxruntime (yolox.py).
Every box is normalised to the image exactly as given, so callers that pass an
EXIF-rotated photo at any decode size get boxes in the coordinates the user sees.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image

from ..errors import UserError

KEEP_LABELS = frozenset({
    "person", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
    "giraffe",
})
# Boxes below this score are not worth showing or naming; benches lower it to measure AP.
DEFAULT_SCORE_THRESHOLD = 0.35


class DetectorError(UserError):
    """A detector spec this module cannot run (its message is one readable sentence)."""



def box_iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0

@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 normalised 0..1


class Detector(Protocol):
    model_id: str
    input_size: int

    def detect(self, images: list[Image.Image]) -> list[list[Detection]]: ...


def normalise_box(box, image_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Pixel box -> 0..1 box clipped to the image (width, height)."""
    w, h = image_size
    x0, y0, x1, y1 = (float(v) for v in box)
    return (min(max(x0 / w, 0.0), 1.0), min(max(y0 / h, 0.0), 1.0),
            min(max(x1 / w, 0.0), 1.0), min(max(y1 / h, 0.0), 1.0))


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
        arch, weights=None, weights_backbone=None, num_classes=len(categories))
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
    def __init__(self, model, enum, model_id: str, device: str, score_threshold: float):
        self._model, self._device = model, device
        self._transforms = enum.transforms()
        self._categories = enum.meta["categories"]
        self.model_id = model_id
        self.input_size = int(model.transform.max_size)
        self.score_threshold = score_threshold
        _set_score_threshold(model, score_threshold)

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
        for box, label, score in zip(out["boxes"].float().cpu().tolist(),
                                     out["labels"].cpu().tolist(),
                                     out["scores"].float().cpu().tolist()):
            name = self._categories[label]
            if name in KEEP_LABELS and score >= self.score_threshold:
                found.append(Detection(name, score, normalise_box(box, image_size)))
        return found


def load_detector(spec, weights: Path | None, device: str, *,
                  score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> Detector:
    """A Detector for spec (backend "torchvision", or "onnx" with arch "yolox").

    weights None builds the real architecture randomly initialised (tests and benches;
    models.load guards that) and its model_id ends with "+random".
    """
    if spec.backend == "onnx" and spec.arch == "yolox":
        from .yolox import load_yolox

        return load_yolox(spec, weights, device, score_threshold)
    if spec.backend != "torchvision":
        raise DetectorError(f"{spec.name} is not a detector this version can run.")
    model, enum = build_torchvision(spec.arch, weights, device)
    model_id = f"torchvision:{spec.arch}:{enum.name}" + ("+random" if weights is None else "")
    return TorchvisionDetector(model, enum, model_id, device, score_threshold)
