"""YOLOX-Nano through onnxruntime: letterbox, grid decode and per-class NMS in numpy.

The I/O contract is the official ONNX export's (see models README): input 1x3x416x416
BGR 0-255 letterboxed at the top-left with pad 114, output 1x3549x85 raw head values
(cx, cy, w, h before the grid decode; objectness and class scores already sigmoid).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .boxes import COCO80, DETECTOR_THREADS, Detection, per_class_nms
from .onnxrt import ort_session

__all__ = ["COCO80", "YoloxDetector", "decode", "letterbox", "load_yolox", "postprocess"]

INPUT = 416
STRIDES = (8, 16, 32)
PAD_VALUE = 114
NMS_IOU = 0.45  # the YOLOX demo's value


def letterbox(image: Image.Image, size: int = INPUT) -> tuple[np.ndarray, float]:
    """(3, size, size) float32 BGR 0-255 with the image at the top-left, and its scale r."""
    w, h = image.size
    r = min(size / h, size / w)
    nw, nh = max(1, int(w * r)), max(1, int(h * r))
    # reducing_gap lets Pillow shrink big photos in integer steps first (much faster).
    small = image.convert("RGB").resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=3.0)
    canvas = np.full((size, size, 3), PAD_VALUE, np.float32)
    canvas[:nh, :nw] = np.asarray(small, np.float32)[:, :, ::-1]
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)), r


def _grid(size: int = INPUT) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor point: its (x, y) cell and its stride, in the head's order."""
    cells, strides = [], []
    for s in STRIDES:
        n = size // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], 1))
        strides.append(np.full((n * n, 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def decode(raw: np.ndarray, r: float, size: int = INPUT) -> tuple[np.ndarray, np.ndarray]:
    """Raw head (A, 85) -> boxes (A, 4) x0 y0 x1 y1 in original pixels, scores (A, 80)."""
    cells, strides = _grid(size)
    xy = (raw[:, :2] + cells) * strides
    wh = np.exp(raw[:, 2:4]) * strides
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1) / r
    return boxes, raw[:, 4:5] * raw[:, 5:]


def postprocess(
    raw: np.ndarray,
    r: float,
    image_size: tuple[int, int],
    score_threshold: float | Mapping[str, float],
    max_detections: int = 100,
) -> list[Detection]:
    """Raw head of one image -> people/animal detections over their class's cut."""
    boxes, scores = decode(raw, r)
    return per_class_nms(boxes, scores, score_threshold, image_size, NMS_IOU, max_detections)


@dataclass
class YoloxDetector:
    """Detector protocol over an onnxruntime session (or anything with its run/get_inputs)."""

    session: object
    model_id: str
    score_threshold: float | Mapping[str, float]  # one cut, or one per label
    input_size: int = INPUT

    def detect(self, images: list[Image.Image]) -> list[list[Detection]]:
        # The export has a fixed batch of 1; one run per image is what batching means here.
        name = self.session.get_inputs()[0].name
        results = []
        for image in images:
            tensor, r = letterbox(image, self.input_size)
            raw = self.session.run(None, {name: tensor[None]})[0][0]
            results.append(postprocess(raw, r, image.size, self.score_threshold))
        return results


@dataclass(frozen=True)
class _Input:
    name: str
    shape: tuple


class RandomYoloxSession:
    """Stand-in for the ONNX file when tests ask for random weights (an ONNX file has no
    random-init form). Same I/O contract, deterministic, and it depends on the pixels so
    different photos give different boxes."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        n = sum((INPUT // s) ** 2 for s in STRIDES)
        self._base = rng.normal(0, 1, (n, 85)).astype(np.float32)
        self._mix = rng.normal(0, 1, (3 * 13 * 13, 85)).astype(np.float32)

    def get_inputs(self):
        return [_Input("images", (1, 3, INPUT, INPUT))]

    def run(self, _names, feed):
        x = feed["images"]
        pooled = x.reshape(x.shape[0], 3, 13, 32, 13, 32).mean((3, 5)).reshape(x.shape[0], -1)
        raw = self._base[None] + (pooled / 255.0 - 0.5) @ self._mix[None] * 0.1
        raw[..., 2:4] = np.clip(raw[..., 2:4], -1, 2)
        # Biased low so only a few dozen anchors score, as with a real photo.
        raw[..., 4] = 1 / (1 + np.exp(-(raw[..., 4] - 2.5) * 3))
        raw[..., 5:] = 1 / (1 + np.exp(-raw[..., 5:] * 3))
        return [raw.astype(np.float32)]


def load_yolox(
    spec, weights: Path | None, device: str, score_threshold: float | Mapping[str, float]
) -> YoloxDetector:
    if weights is None:
        return YoloxDetector(RandomYoloxSession(), f"onnx:{spec.name}+random", score_threshold)
    return YoloxDetector(
        ort_session(weights, device, threads=DETECTOR_THREADS), f"onnx:{spec.name}", score_threshold
    )
