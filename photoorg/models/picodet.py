"""PP-PicoDet-S 416 through onnxruntime: stretch, distribution-focal decode and per-class
NMS in numpy.

The I/O contract (models README): input `image` 1x3x416x416 float32 RGB, stretched to
416x416 (no letterbox), /255 then ImageNet mean/std. Outputs: four class-score tensors
[1, N, 80] (already sigmoid) for strides 8, 16, 32, 64, then four box tensors [1, N, 32]:
4 sides x 8 distribution bins. A side's distance is the expectation of its softmax over
the bins, times the stride, from the anchor centre ((x + 0.5), (y + 0.5)) * stride.
Only anchors whose best score passes the cut are decoded: on a real photo that is a few
dozen of 3,598, so the decode costs well under a millisecond.

Measured with bench/quality.py on coco-train-mini (294 photos, this 2-core CPU, shared
with other jobs): see the README's detector table (AP and ms per photo for both
detectors).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .boxes import DETECTOR_THREADS, KEEP_IDS, Detection, lowest_cut, per_class_nms
from .graph_rewrite import Matcher, drop_unused_initializers, rewrite
from .onnxrt import normalized_planes, ort_session

INPUT = 416
STRIDES = (8, 16, 32, 64)
BINS = 8
NMS_IOU = 0.6  # PaddleDetection's PicoDet config
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def prepare(image: Image.Image, size: int = INPUT) -> np.ndarray:
    """(1, 3, size, size) float32: RGB stretched to the square, ImageNet-normalised."""
    # reducing_gap lets Pillow shrink big photos in integer steps first (much faster).
    small = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return normalized_planes(small, MEAN, STD)[None]


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def decode(
    outputs: list[np.ndarray], image_size: tuple[int, int], cut: float, size: int = INPUT
) -> tuple[np.ndarray, np.ndarray]:
    """The 8 raw outputs of one image -> boxes (K, 4) x0 y0 x1 y1 in the image's pixels
    and their COCO-80 scores (K, 80), for the K anchors whose best kept-label score >= cut."""
    w, h = image_size
    scale = np.array([w / size, h / size, w / size, h / size], np.float32)
    boxes, scores = [], []
    for stride, cls, reg in zip(STRIDES, outputs[:4], outputs[4:]):
        cls, reg = cls[0], reg[0]
        hit = np.flatnonzero(cls[:, KEEP_IDS].max(1) >= cut)
        if not hit.size:
            continue
        ys, xs = np.divmod(hit, math.ceil(size / stride))  # rows are y-major
        centre = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], 1).astype(np.float32)
        p = _softmax(reg[hit].reshape(-1, 4, BINS), axis=2)
        dist = (p * np.arange(BINS, dtype=np.float32)).sum(2) * stride  # left top right bottom
        boxes.append(np.concatenate([centre - dist[:, :2], centre + dist[:, 2:]], 1) * scale)
        scores.append(cls[hit])
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0, 80), np.float32)
    return np.concatenate(boxes), np.concatenate(scores)


def postprocess(
    outputs: list[np.ndarray],
    image_size: tuple[int, int],
    score_threshold: float | Mapping[str, float],
    max_detections: int = 100,
) -> list[Detection]:
    """Raw outputs of one image -> people/animal detections over their class's cut."""
    boxes, scores = decode(outputs, image_size, lowest_cut(score_threshold))
    return per_class_nms(boxes, scores, score_threshold, image_size, NMS_IOU, max_detections)


@dataclass
class PicodetDetector:
    """Detector protocol over an onnxruntime session (or anything with its run/get_inputs)."""

    session: object
    model_id: str
    score_threshold: float | Mapping[str, float]  # one cut, or one per label
    input_size: int = INPUT

    def detect(self, images: list[Image.Image]) -> list[list[Detection]]:
        # The export has a fixed batch of 1; one run per image is what batching means here.
        name = self.session.get_inputs()[0].name
        return [
            postprocess(
                self.session.run(None, {name: prepare(im, self.input_size)}), im.size, self.score_threshold
            )
            for im in images
        ]


@dataclass(frozen=True)
class _Input:
    name: str
    shape: tuple


class RandomPicodetSession:
    """Stand-in for the ONNX file when tests ask for random weights (an ONNX file has no
    random-init form): the same eight outputs, deterministic, depending on the pixels."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self._counts = [math.ceil(INPUT / s) ** 2 for s in STRIDES]
        self._logits = [rng.normal(-4, 1.5, (n, 80)).astype(np.float32) for n in self._counts]
        self._bins = [rng.normal(0, 1, (n, 4 * BINS)).astype(np.float32) for n in self._counts]

    def get_inputs(self):
        return [_Input("image", (1, 3, INPUT, INPUT))]

    def run(self, _names, feed):
        shift = float(feed["image"].mean())  # different photos, different scores
        scores = [1 / (1 + np.exp(-(lg + shift)))[None] for lg in self._logits]
        return scores + [b[None] for b in self._bins]


def prepared_graph(path: Path) -> bytes:
    """The model as onnxruntime runs it fastest, computing the same outputs:
    - its weights no longer listed as graph inputs. Listed there, onnxruntime must treat
      them as overridable and skips constant folding: 410 -> 244 ms per photo on this
      loaded CPU;
    - each HardSwish in two operators instead of four (_fuse_hard_swish).
    tests/test_picodet.py holds the outputs to the file's own."""
    import onnx

    graph = (model := onnx.load(str(path))).graph
    weights = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(inputs)
    _fuse_hard_swish(graph)
    drop_unused_initializers(graph)  # shape constants no node reads any more
    return model.SerializeToString()


def _fuse_hard_swish(graph) -> int:
    """Rewrite PaddlePaddle's HardSwish, x * Clip(x + 3, 0, 6) / 6, as x * HardSigmoid(x)
    (alpha 1/6, beta 1/2: the same function; the file is opset 11, which has no
    HardSwish op). Four elementwise passes become two, and onnxruntime reorders fewer
    tensors out of its blocked convolution layout and back: PicoDet-S went from 33 to
    20-24 ms of CPU per photo (one thread, quiet), outputs within 2e-5. Matched as
    graph_rewrite.py says. Returns how many were rewritten (87 in PicoDet-S 416)."""
    from onnx import helper

    g = Matcher(graph)

    def hard_swish(
        div,
    ) -> tuple[list, list] | None:  # (x * HardSigmoid(x), the nodes it replaces besides div)
        mul = g.scalars.get(div.input[1]) == 6.0 and g.only_for(div.input[0], "Mul")
        for x, gate in (mul.input, mul.input[::-1]) if mul else ():
            clip = g.only_for(gate, "Clip")
            if clip and [g.scalars.get(b) for b in clip.input[1:]] == [0.0, 6.0]:
                add = g.only_for(clip.input[0], "Add")
                if g.operand(add, 3.0) == x:
                    sigmoid = f"{div.output[0]}.hardsigmoid"
                    made = [
                        helper.make_node("HardSigmoid", [x], [sigmoid], alpha=1 / 6, beta=0.5),
                        helper.make_node("Mul", [x, sigmoid], [div.output[0]]),
                    ]
                    return made, [add, clip, mul]
        return None

    return rewrite(graph, "Div", hard_swish)


def load_picodet(
    spec, weights: Path | None, device: str, score_threshold: float | Mapping[str, float]
) -> PicodetDetector:
    if weights is None:
        return PicodetDetector(RandomPicodetSession(), f"onnx:{spec.name}+random", score_threshold)
    return PicodetDetector(
        ort_session(prepared_graph(weights), device, threads=DETECTOR_THREADS),
        f"onnx:{spec.name}",
        score_threshold,
    )
