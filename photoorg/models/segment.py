"""Subject masks for cut-outs behind one interface.

Backends: torchvision Mask R-CNN (here) and U2-Netp salient segmentation through
onnxruntime (u2net.py). Both run on the subject's region rather than the whole photo,
so the mask is computed at a useful resolution, then upsample smoothly to the region's
full-resolution size and paste into a full-size alpha.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from ..errors import UserError
from .boxes import KEEP_LABELS, box_iou
from .detect import build_torchvision, inference_context
from .masks import Box, crop_region, paste_alpha, resize_alpha
from .u2net import load_u2net

__all__ = [
    "Box",
    "Segmenter",
    "SegmenterError",
    "crop_region",
    "load_segmenter",
    "paste_alpha",
    "resize_alpha",
]

# The largest side Mask R-CNN sees (its transform's max_size): bigger crops only cost memory.
MASKRCNN_WORK_SIDE = 1333


class SegmenterError(UserError):
    """A segmenter spec this module cannot run (its message is one readable sentence)."""


class Segmenter(Protocol):
    model_id: str

    def mask(self, image: Image.Image, box: Box | None, others: Sequence[Box] = ()) -> np.ndarray:
        """Full-size (H, W) alpha 0..1 of the subject in `box` (None: the main subject);
        `others` are the photo's other detected subjects, to keep out of it."""


class MaskRCNNSegmenter:
    """Mask R-CNN run on a crop around the subject; picks the instance that matches the box."""

    margin = 0.25

    def __init__(self, model, enum, model_id: str, device: str):
        self._model, self._device = model, device
        self._transforms = enum.transforms()
        self._categories = enum.meta["categories"]
        self.model_id = model_id
        # Each kept instance gets a mask pasted at crop size: cap them to bound memory.
        model.roi_heads.detections_per_img = 20

    def mask(self, image: Image.Image, box: Box | None, others: Sequence[Box] = ()) -> np.ndarray:
        # Mask R-CNN separates instances itself: `others` are not needed.
        image = image.convert("RGB")
        if box is None:
            box = self._main_subject(image)
            if box is None:
                return np.zeros((image.height, image.width), np.float32)
        crop = crop_region(box, image.size, self.margin)
        region = image.crop(crop)
        out, scale = self._run(region)
        if len(out["scores"]) == 0:
            return np.zeros((image.height, image.width), np.float32)
        w, h = image.size
        target = [
            (box[0] * w - crop[0]) * scale,
            (box[1] * h - crop[1]) * scale,
            (box[2] * w - crop[0]) * scale,
            (box[3] * h - crop[1]) * scale,
        ]
        fit = [box_iou(b, target) * s for b, s in zip(out["boxes"].tolist(), out["scores"].tolist())]
        prob = out["masks"][int(np.argmax(fit)), 0].float().cpu().numpy()
        # The mask head is 28x28 per instance, bilinear-pasted: steepen its ramp to a couple
        # of pixels so the edge is crisp yet smooth, then upsample to the crop's full size.
        long_side = max(target[2] - target[0], target[3] - target[1])
        gain = max(1.0, long_side / 56.0)
        alpha = np.clip((prob - 0.5) * gain + 0.5, 0, 1)
        return paste_alpha(resize_alpha(alpha, region.size), crop, image.size)

    def _run(self, region: Image.Image):
        scale = min(1.0, MASKRCNN_WORK_SIDE / max(region.size))
        work = region
        if scale < 1.0:
            size = (max(1, round(region.width * scale)), max(1, round(region.height * scale)))
            work = region.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
            scale = work.width / region.width
        with inference_context(self._device):
            out = self._model([self._transforms(work).to(self._device)])[0]
        return out, scale

    def _main_subject(self, image: Image.Image) -> Box | None:
        """The largest confident person/animal, else the most confident instance."""
        out, scale = self._run(image)
        rows = list(zip(out["boxes"].tolist(), out["labels"].tolist(), out["scores"].tolist()))
        if not rows:
            return None
        animate = [r for r in rows if self._categories[r[1]] in KEEP_LABELS and r[2] >= 0.5]
        if animate:
            best = max(animate, key=lambda r: (r[0][2] - r[0][0]) * (r[0][3] - r[0][1]))
        else:
            best = max(rows, key=lambda r: r[2])
        b = [v / scale for v in best[0]]
        return (b[0] / image.width, b[1] / image.height, b[2] / image.width, b[3] / image.height)


def load_segmenter(spec, weights: Path | None, device: str) -> Segmenter:
    """A Segmenter for spec (backend "torchvision" Mask R-CNN, or "onnx" with arch "u2net").

    weights None builds the real architecture randomly initialised (model_id "+random").
    """
    if spec.backend == "onnx" and spec.arch == "u2net":
        return load_u2net(spec, weights, device)
    if spec.backend != "torchvision" or not spec.arch.startswith("maskrcnn"):
        raise SegmenterError(f"{spec.name} is not a segmenter this version can run.")
    model, enum = build_torchvision(spec.arch, weights, device)
    model_id = f"torchvision:{spec.arch}:{enum.name}" + ("+random" if weights is None else "")
    return MaskRCNNSegmenter(model, enum, model_id, device)
