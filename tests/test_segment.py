"""Segmentation: full-size alpha from a crop, smooth upsampling, both backends."""
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from photoorg.models import u2net
from photoorg.models.segment import SegmenterError, crop_region, load_segmenter

U2_SPEC = SimpleNamespace(name="u2netp", role="segmenter", backend="onnx", arch="u2net")
MRCNN_SPEC = SimpleNamespace(name="maskrcnn-resnet50-v2", role="segmenter",
                             backend="torchvision", arch="maskrcnn_resnet50_fpn_v2")


def photo(w=300, h=200):
    rng = np.random.default_rng(2)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


class DiscSession:
    """A U2-Net stand-in whose mask is a disc filling the middle of its 320x320 input."""

    def get_inputs(self):
        return [SimpleNamespace(name="input.1", shape=(1, 3, 320, 320))]

    def run(self, _names, feed):
        assert feed["input.1"].shape == (1, 3, 320, 320)
        yy, xx = np.mgrid[:320, :320]
        disc = (((xx - 159.5) ** 2 + (yy - 159.5) ** 2) < 100 ** 2).astype(np.float32)
        return [disc[None, None] * 5 - 2, disc[None, None]]  # not 0..1: must be min-max normalised


def test_crop_region_grows_by_margin_and_clips():
    assert crop_region((0.25, 0.25, 0.75, 0.75), (400, 200), 0.1) == (80, 30, 320, 170)
    assert crop_region((0.0, 0.0, 0.5, 0.5), (400, 200), 0.5) == (0, 0, 300, 200)
    assert crop_region(None, (400, 200), 0.1) == (0, 0, 400, 200)


def test_u2net_alpha_is_full_size_smooth_and_on_the_box():
    seg = u2net.U2NetSegmenter(DiscSession(), "onnx:test", margin=0.0)
    box = (0.5, 0.25, 0.9, 0.85)  # 120 x 120 px in a 300 x 200 photo
    alpha = seg.mask(photo(), box)
    assert alpha.shape == (200, 300) and alpha.dtype == np.float32
    assert alpha.min() == 0.0 and alpha.max() == pytest.approx(1.0, abs=1e-3)
    assert alpha[:, :150].max() == 0 and alpha[:50].max() == 0  # nothing outside the crop
    ys, xs = np.nonzero(alpha > 0.5)
    assert xs.mean() == pytest.approx(210, abs=1.5) and ys.mean() == pytest.approx(110, abs=1.5)
    edge = (alpha > 0.02) & (alpha < 0.98)
    assert 0 < edge.sum() < 0.2 * (alpha > 0.5).sum()  # a thin smooth ramp, not a hard step


def test_u2net_random_weights_cover_the_whole_image_without_a_box():
    seg = load_segmenter(U2_SPEC, None, "cpu")
    assert seg.model_id == "onnx:u2netp+random"
    alpha = seg.mask(photo(173, 91), None)
    assert alpha.shape == (91, 173) and 0 <= alpha.min() and alpha.max() <= 1


@pytest.fixture(scope="module")
def maskrcnn():
    import torch

    torch.manual_seed(0)
    seg = load_segmenter(MRCNN_SPEC, None, "cpu")
    # Random weights score ~1/91: lower the cut so the mask path runs; small resize for speed.
    seg._model.roi_heads.score_thresh = 0.0
    seg._model.transform.min_size, seg._model.transform.max_size = (128,), 192
    seg._model.rpn._post_nms_top_n["testing"] = 30
    return seg


def test_maskrcnn_random_init_alpha_is_full_size_and_zero_outside_the_crop(maskrcnn):
    assert maskrcnn.model_id.endswith("maskrcnn_resnet50_fpn_v2:COCO_V1+random")
    alpha = maskrcnn.mask(photo(), (0.6, 0.5, 0.8, 0.8))
    assert alpha.shape == (200, 300) and alpha.dtype == np.float32
    assert 0 <= alpha.min() and alpha.max() <= 1
    assert alpha[:, :150].max() == 0  # crop = box grown by 25% of its 60 px long side


def test_non_segmenters_are_refused():
    with pytest.raises(SegmenterError, match="not a segmenter"):
        load_segmenter(SimpleNamespace(name="yolox-nano", backend="onnx", arch="yolox"),
                       None, "cpu")
