"""Segmentation: full-size alpha from a crop, smooth upsampling, both backends."""

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from photoorg.models import u2net
from photoorg.models.segment import SegmenterError, crop_region, load_segmenter

U2_SPEC = SimpleNamespace(name="u2netp", role="segmenter", backend="onnx", arch="u2net")
MRCNN_SPEC = SimpleNamespace(
    name="maskrcnn-resnet50-v2", role="segmenter", backend="torchvision", arch="maskrcnn_resnet50_fpn_v2"
)


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
        disc = (((xx - 159.5) ** 2 + (yy - 159.5) ** 2) < 100**2).astype(np.float32)
        return [disc[None, None] * 5 - 2, disc[None, None]]  # not 0..1: must be min-max normalised


def test_crop_region_grows_by_margin_and_clips():
    assert crop_region((0.25, 0.25, 0.75, 0.75), (400, 200), 0.1) == (80, 30, 320, 170)
    assert crop_region((0.0, 0.0, 0.5, 0.5), (400, 200), 0.5) == (0, 0, 300, 200)
    assert crop_region(None, (400, 200), 0.1) == (0, 0, 400, 200)


def test_u2net_alpha_is_full_size_smooth_and_on_the_box():
    # Plain bilinear upsampling: the noise photo would give the guided filter noise edges.
    seg = u2net.U2NetSegmenter(DiscSession(), "onnx:test", margin=0.0, edge_aware=False)
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
        load_segmenter(SimpleNamespace(name="yolox-nano", backend="onnx", arch="yolox"), None, "cpu")


# -- refinements of a salient mask toward the box's subject --------------------------------


class TwoBlobSession:
    """A U2-Net stand-in whose mask holds the subject, a small detached blob beside it and
    one in the corner, and which remembers the pixels it was fed."""

    def __init__(self):
        self.fed = None

    def get_inputs(self):
        return [SimpleNamespace(name="input.1", shape=(1, 3, 320, 320))]

    def run(self, _names, feed):
        self.fed = feed["input.1"]
        mask = np.zeros((320, 320), np.float32)
        mask[100:260, 100:260] = 1  # the subject
        mask[60:75, 60:75] = 1  # a detached blob inside the box, 1% of the subject
        mask[0:30, 290:320] = 1  # a blob outside the box
        return [mask[None, None], mask[None, None]]


def test_refined_mask_stays_in_the_box_and_drops_detached_blobs():
    image = Image.new("RGB", (400, 400), (90, 120, 150))
    box = (0.25, 0.25, 0.75, 0.75)  # 100..300 px; the crop is 50..350 (margin 0.25)
    plain = u2net.U2NetSegmenter(
        TwoBlobSession(), "onnx:test", margin=0.25, edge_aware=False, refine=False
    ).mask(image, box)
    # Crop px = mask px * 300 / 320, plus 50: the inner blob at 106..120, the corner at x 322..350.
    assert plain[108:118, 108:118].min() == pytest.approx(1.0)
    assert plain[55:75, 325:348].min() == pytest.approx(1.0)
    seg = u2net.U2NetSegmenter(TwoBlobSession(), "onnx:test", margin=0.25, edge_aware=False)
    alpha = seg.mask(image, box)
    assert alpha[108:118, 108:118].max() == 0  # detached and small: not the subject
    assert alpha[:, 307:].max() == 0 and alpha[:, :94].max() == 0  # outside the box + 3%
    assert alpha[200, 200] == pytest.approx(1.0)


def test_other_subjects_are_painted_flat_before_the_model_sees_them():
    session = TwoBlobSession()
    seg = u2net.U2NetSegmenter(session, "onnx:test", margin=0.5, edge_aware=False)
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8))
    seg.mask(image, (0.4, 0.4, 0.6, 0.6), others=[(0.0, 0.0, 0.45, 1.0)])
    fed = session.fed[0]  # the crop 30..270 at 320 px: x < 0.45 lies in the other box
    left = fed[:, :, :80]  # x 30..90 px: the neighbour, outside the subject's box
    right = fed[:, :, 250:]  # x 217..270 px: untouched background
    assert left.std(axis=(1, 2)).max() < 0.05 and right.std(axis=(1, 2)).min() > 0.5


def test_guided_upsampling_snaps_a_blurry_edge_to_the_photo_edge():
    from photoorg.models.masks import guided_upsample, resize_alpha

    guide = np.zeros((400, 400), np.uint8)
    guide[:, 203:] = 255  # the photo's edge at x = 203
    blurry = np.clip((np.arange(40) - 19.5) / 2 + 0.5, 0, 1)[None].repeat(40, 0).astype(np.float32)
    plain = resize_alpha(blurry, (400, 400))
    snapped = guided_upsample(blurry, Image.fromarray(guide).convert("RGB"))
    steps_plain, steps = np.diff(plain[200]), np.diff(snapped[200])
    assert steps_plain.max() < 0.1  # a 20 px ramp
    assert int(np.argmax(steps)) + 1 == 203 and steps.max() > 0.5  # one step, at the edge


class BlankSession:
    """A U2-Net stand-in that finds nothing salient (a flat output), as on a crop whose
    most salient thing lies outside the box."""

    def get_inputs(self):
        return [SimpleNamespace(name="input.1", shape=(1, 3, 320, 320))]

    def run(self, _names, feed):
        flat = np.zeros((1, 1, 320, 320), np.float32)
        return [flat, flat]


def test_an_empty_salient_mask_falls_back_to_grabcut_from_the_box():
    yy, xx = np.mgrid[:300, :400]
    disc = (xx - 200) ** 2 + (yy - 150) ** 2 < 60**2  # the subject: a red disc, 120 px across
    rng = np.random.default_rng(3)
    pixels = np.where(disc[..., None], [200, 30, 40], [40, 120, 60]) + rng.integers(-15, 15, (300, 400, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    box = (130 / 400, 80 / 300, 270 / 400, 220 / 300)  # the disc's box, 10 px loose
    seg = u2net.U2NetSegmenter(BlankSession(), "onnx:test")
    alpha = seg.mask(image, box)
    cut = alpha >= 0.5
    assert (cut & disc).sum() / (cut | disc).sum() > 0.9
    plain = u2net.U2NetSegmenter(BlankSession(), "onnx:test", min_fill=0.0).mask(image, box)
    assert plain.max() == 0  # without the fallback the blank output stays blank


class SideSession:
    """A U2-Net stand-in declared at 224 px (as load_u2net declares the real file)."""

    def get_inputs(self):
        return [SimpleNamespace(name="input.1", shape=(1, 3, 224, 224))]

    def run(self, _names, feed):
        self.fed = feed["input.1"]
        full = np.ones((1, 1, 224, 224), np.float32)
        return [full, full]


def test_the_crop_is_fed_at_the_sessions_side():
    session = SideSession()
    u2net.U2NetSegmenter(session, "onnx:test").mask(photo(), (0.2, 0.2, 0.8, 0.8))
    assert session.fed.shape == (1, 3, 224, 224)


U2_FILE = (
    Path(os.environ.get("PHOTOORG_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    / "models"
    / "u2netp.onnx"
)


@pytest.mark.skipif(not U2_FILE.is_file(), reason="../shared/models/u2netp.onnx absent")
def test_the_real_file_runs_at_the_side_photoorg_declares():
    seg = load_segmenter(U2_SPEC, U2_FILE, "cpu")
    (declared,) = seg.session.get_inputs()
    assert tuple(declared.shape) == (1, 3, u2net.SIDE, u2net.SIDE) and u2net.SIDE != u2net.NATIVE_SIDE
    out = seg.session.run(None, {declared.name: u2net.prepare(photo(), u2net.SIDE)})[0]
    assert out.shape == (1, 1, u2net.SIDE, u2net.SIDE)
