"""U2-Netp salient-object masks through onnxruntime, run on the subject's crop.

A salient-object model outlines "the salient thing in the crop", which in a crowd is
often the neighbour, and sometimes nothing in the box at all. So the app refines it with
what it knows of the subject: the other detected subjects are painted flat before the
model sees the crop, the mask is kept within the subject's box, detached blobs are
dropped, the 224 px mask is upsampled to full resolution along the photo's own edges (a
guided filter), and a mask that fills under 30% of the box is replaced by GrabCut from
the box. The model runs at 224 px rather than its file's 320 (see SIDE): better masks
and half the time. Measured with bench/quality.py on all 165 COCO people/animals of
>= 15,000 px given the COCO box (loaded 2-core CPU), mean/median IoU: plain (320 px, no
refinement) 0.627/0.724; refined at 320 px 0.696/0.759 at 0.86-0.90 s CPU per subject;
refined at 224 px 0.732/0.791 (people 0.716/0.772, animals 0.764/0.831); mask() takes
0.21-0.26 s wall per subject at load about 1, the model 0.19-0.21 s of it (320 px:
0.35 s). The 0.80 median goal is not reached with this model; see the README.

What the model is given, tried on the same 165 subjects and not kept (mean/median;
bench/mask_tries.py at load about 2, or "dev": a loop on cached outputs): side 192
0.711/0.770, 256 0.711/0.766; margin 0 0.718/0.771, 0.1 0.709/0.762; the crop and its
mirror image averaged at 160 px (what one 224 px run costs) 0.688/0.735, at 224 px
0.728/0.801 (animals 0.764 -> 0.751, and twice the time: 407 against 242 ms wall per
subject in the bench loop; the two runs side by side on one thread each still take
312-326 ms wall for the model alone, nearly quiet, against 174 ms for one run); 224 and
192 px averaged 0.729/0.787. Dev: the crop's aspect kept at 224x224's pixel count
0.724/0.775; crops widened toward a square 0.726/0.780; a second, wider crop (margin
0.3 at 128 px) averaged in 0.706/0.758; autocontrast 0.729/0.779; other fills for the
hidden subjects (ImageNet mean 0.726/0.769, the crop's surround 0.728/0.790); the net's
other outputs (d1 0.733/0.791, all seven averaged 0.729/0.786); a colour guided filter
0.728/0.790; a second run at margin 0 where the mask covers over half of the box's
inner edge (the "whole crop is salient" failure, 14 subjects) 0.738/0.791. Picking the
best of seven of these per subject with the answer known gives 0.784/0.843: what varies
is which thing the net calls salient, not the edges (for subjects of IoU 0.70-0.85,
half the error lies beyond 8 px of the true outline).

Contract (models README, as rembg uses it): 1x3x320x320 float32 RGB scaled to 0-1 by the
image max, normalised with ImageNet mean/std; the first output 1x1x320x320 is the
mask, min-max normalised, then resized back to the crop's size. Re-declared at SIDE, the
same graph takes and gives SIDE x SIDE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .masks import (
    Box,
    box_grabcut,
    box_window,
    crop_region,
    guided_upsample,
    hide_others,
    keep_to_window,
    main_components,
    paste_alpha,
    resize_alpha,
)
from .onnxrt import ort_session

NATIVE_SIDE = 320  # the side the file's graph is fixed to
# The side photoorg runs it at. The net is fully convolutional (its Resize nodes take
# their sizes from the feature maps), so the file's input is re-declared at this side.
# All 165 COCO subjects, refined as the app does, mean/median IoU by side: 320
# 0.690/0.759, 256 0.711/0.764, 224 0.727/0.787, 192 0.709/0.765; and the model's CPU
# time falls about with the pixel count (~0.5x at 224).
SIDE = 224
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def prepare(region: Image.Image, side: int = SIDE) -> np.ndarray:
    small = np.asarray(region.convert("RGB").resize((side, side), Image.Resampling.LANCZOS), dtype=np.float32)
    small = small / max(float(small.max()), 1e-6)
    return np.ascontiguousarray(((small - MEAN) / STD).transpose(2, 0, 1)[None])


@dataclass
class U2NetSegmenter:
    session: object
    model_id: str
    # A little context around the box helps saliency see the subject's outline; more lets
    # neighbours in. 40 COCO people/animals of >= 15,000 px with all refinements: median
    # IoU 0.757 at 0.05, 0.739 at 0.1 (plain U2-Netp at 0.1: 0.728).
    margin: float = 0.05
    # The subject lies inside its box: the mask is kept within the box grown by this much
    # of its longer side (detector boxes are a few pixels loose or tight).
    box_tolerance: float = 0.03
    # Detached blobs under this share of the largest are not the subject.
    min_component: float = 0.1
    # A mask filling less of the box than this outlined something else (or nothing): the
    # box's subject is then cut by GrabCut from the box instead. 165 COCO subjects: mean
    # IoU 0.639 -> 0.699 (at 0.2: 0.68; 0.4: 0.70 but twice the GrabCut runs; 0.5: 0.68).
    min_fill: float = 0.3
    edge_aware: bool = True
    refine: bool = True  # False: the plain mask of the crop, as before (benches compare)

    def mask(self, image: Image.Image, box: Box | None, others: Sequence[Box] = ()) -> np.ndarray:
        crop = crop_region(box, image.size, self.margin)
        region = image.convert("RGB").crop(crop)
        refine = self.refine and box is not None
        pixels = np.asarray(region)
        if refine:
            pixels = hide_others(pixels, box, others, crop, image.size)
        spec = self.session.get_inputs()[0]
        raw = self.session.run(None, {spec.name: prepare(Image.fromarray(pixels), spec.shape[-1])})[0][0, 0]
        lo, hi = float(raw.min()), float(raw.max())
        norm = (raw - lo) / (hi - lo) if hi > lo else np.zeros_like(raw)
        if not refine:
            return paste_alpha(resize_alpha(norm, region.size), crop, image.size)
        alpha = self._refined(norm, region, box_window(box, crop, image.size, self.box_tolerance))
        inside = box_window(box, crop, image.size, 0.0)
        box_area = (inside[0].stop - inside[0].start) * (inside[1].stop - inside[1].start)
        if (alpha >= 0.5).sum() < self.min_fill * box_area:
            alpha = self._refined(box_grabcut(region, *inside), region, inside)
        return paste_alpha(alpha, crop, image.size)

    def _refined(self, prob: np.ndarray, region: Image.Image, window: tuple[slice, slice]) -> np.ndarray:
        """prob (any size) at the region's size along its edges, within the box's window,
        without detached blobs."""
        alpha = guided_upsample(prob, region) if self.edge_aware else resize_alpha(prob, region.size)
        alpha = keep_to_window(alpha, *window)
        return main_components(alpha, keep=self.min_component)


@dataclass(frozen=True)
class _Input:
    name: str
    shape: tuple


class RandomU2NetSession:
    """Stand-in for the ONNX file when tests ask for random weights (an ONNX file has no
    random-init form): same I/O contract, a deterministic function of the pixels."""

    def __init__(self, side: int = SIDE, seed: int = 0):
        self._side = side
        self._mix = np.random.default_rng(seed).normal(0, 1, 3).astype(np.float32)

    def get_inputs(self):
        return [_Input("input.1", (1, 3, self._side, self._side))]

    def run(self, _names, feed):
        x = np.tensordot(self._mix, feed["input.1"][0], axes=1)
        mask = (1 / (1 + np.exp(-x)))[None, None].astype(np.float32)
        return [mask, mask]


def at_side(path: Path, side: int) -> bytes:
    """The model file with its input (and outputs) declared side x side, so onnxruntime
    folds the Resize nodes' size arithmetic for that side as it does for the file's own."""
    import onnx

    model = onnx.load(str(path))
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        dims[2].dim_value = dims[3].dim_value = side
    del model.graph.value_info[:]  # inferred at the file's side: onnxruntime infers them again
    return model.SerializeToString()


def load_u2net(spec, weights: Path | None, device: str, side: int = SIDE) -> U2NetSegmenter:
    if weights is None:
        return U2NetSegmenter(RandomU2NetSession(side), f"onnx:{spec.name}+random")
    model = weights if side == NATIVE_SIDE else at_side(weights, side)
    # ort_session's threads do not spin between runs: for U2-Netp that was 343-387
    # against 446-485 ms CPU per subject (42 subjects at 224 px, loaded 2 cores).
    return U2NetSegmenter(ort_session(model, device), f"onnx:{spec.name}")
