"""Detection: YOLOX maths on constructed head outputs, and both backends' batching."""

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from photoorg.models import yolox
from photoorg.models.detect import KEEP_LABELS, DetectorError, load_detector

YOLOX_SPEC = SimpleNamespace(name="yolox-nano", role="detector", backend="onnx", arch="yolox")
TV_SPEC = SimpleNamespace(
    name="fasterrcnn-mobilenet-v3",
    role="detector",
    backend="torchvision",
    arch="fasterrcnn_mobilenet_v3_large_fpn",
)
N_ANCHORS = 52 * 52 + 26 * 26 + 13 * 13


def anchor(stride: int, x: int, y: int) -> int:
    offset = {8: 0, 16: 52 * 52, 32: 52 * 52 + 26 * 26}[stride]
    return offset + y * (416 // stride) + x


def head_with(*objects) -> np.ndarray:
    """A raw head (A, 85) holding the given (anchor, dx, dy, log_w, log_h, obj, class, cls)."""
    raw = np.zeros((N_ANCHORS, 85), np.float32)
    for a, dx, dy, lw, lh, obj, cls, p in objects:
        raw[a, :5] = dx, dy, lw, lh, obj
        raw[a, 5 + yolox.COCO80.index(cls)] = p
    return raw


class FakeSession:
    """Returns a fixed head and remembers what it was fed."""

    def __init__(self, raw):
        self.raw, self.fed = raw, []

    def get_inputs(self):
        return [SimpleNamespace(name="images", shape=(1, 3, 416, 416))]

    def run(self, _names, feed):
        self.fed.append(feed["images"])
        return [self.raw[None]]


def test_letterbox_puts_bgr_image_top_left_and_pads_114():
    tensor, r = yolox.letterbox(Image.new("RGB", (200, 100), (255, 0, 0)))
    assert tensor.shape == (3, 416, 416) and r == pytest.approx(416 / 200)
    assert tensor[2, :200, :400].min() == 255 and tensor[0, :200, :400].max() == 0  # BGR
    assert (tensor[:, 210:, :] == 114).all() and (tensor[:, :, 416:] == 114).all()


def test_decode_applies_grid_stride_exp_and_scale():
    a = anchor(16, 3, 5)
    raw = head_with((a, 0.5, 0.5, np.log(2), np.log(2), 0.9, "dog", 0.8))
    boxes, scores = yolox.decode(raw, r=0.5)
    # centre (3.5, 5.5) cells * 16 = (56, 88), side 2 * 16 = 32, then / r.
    np.testing.assert_allclose(boxes[a], [80, 144, 144, 208], rtol=1e-6)
    assert scores[a, yolox.COCO80.index("dog")] == pytest.approx(0.72)


def test_nms_is_per_class_and_drops_other_classes():
    a, b = anchor(8, 10, 10), anchor(8, 11, 10)  # 8 px apart: heavy overlap at side 64
    c = anchor(32, 2, 2)
    raw = head_with(
        (a, 0, 0, np.log(8), np.log(8), 1.0, "person", 0.9),
        (b, 0, 0, np.log(8), np.log(8), 1.0, "person", 0.8),
        (a + 1000, 0, 0, np.log(8), np.log(8), 1.0, "car", 0.99),
        (c, 0, 0, 0, 0, 1.0, "cat", 0.7),
    )
    raw[b, 5 + yolox.COCO80.index("dog")] = 0.85  # same place, another class: kept
    found = yolox.postprocess(raw, 1.0, (416, 416), score_threshold=0.3)
    assert [(d.label, round(d.score, 2)) for d in found] == [("person", 0.9), ("dog", 0.85), ("cat", 0.7)]


def test_score_threshold_filters():
    raw = head_with((anchor(8, 1, 1), 0, 0, 1, 1, 0.5, "person", 0.5))  # score 0.25
    assert yolox.postprocess(raw, 1.0, (416, 416), 0.3) == []
    assert len(yolox.postprocess(raw, 1.0, (416, 416), 0.2)) == 1


def test_boxes_map_back_to_a_large_non_square_photo():
    # 1248x832 -> r = 1/3, letterboxed to 416x277; an object at letterbox (100..164, 60..124)
    # must come back at (300..492, 180..372) of the photo, normalised by its own size.
    a = anchor(32, 4, 2)  # centre ((4+0)*32, (2+0)*32) = (128, 64) with dx = dy = 0
    raw = head_with((a, 0.0, 0.0, np.log(2), np.log(2), 1.0, "horse", 0.9))
    session = FakeSession(raw)
    detector = yolox.YoloxDetector(session, "onnx:test", 0.3)
    [[det]] = detector.detect([Image.new("RGB", (1248, 832))])
    np.testing.assert_allclose(
        det.box,
        [(128 - 32) * 3 / 1248, (64 - 32) * 3 / 832, (128 + 32) * 3 / 1248, (64 + 32) * 3 / 832],
        rtol=1e-5,
    )
    assert session.fed[0].shape == (1, 3, 416, 416)
    assert (session.fed[0][0, :, 278:, :] == 114).all()


def test_boxes_are_clipped_to_the_image():
    raw = head_with((anchor(8, 0, 0), -1.0, -1.0, 3, 3, 1.0, "bird", 0.9))
    [det] = yolox.postprocess(raw, 1.0, (416, 416), 0.3)
    assert all(0.0 <= v <= 1.0 for v in det.box) and det.box[0] == 0.0


def test_coco80_matches_torchvision_categories():
    from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_FPN_Weights as W

    names = [c for c in W.COCO_V1.meta["categories"] if c not in ("__background__", "N/A")]
    assert tuple(names) == yolox.COCO80


def images():
    rng = np.random.default_rng(1)
    sizes = [(96, 64), (64, 96), (96, 64), (80, 80)]
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


def test_random_yolox_batch_equals_single_runs():
    detector = load_detector(YOLOX_SPEC, None, "cpu", score_threshold=0.05)
    assert detector.model_id == "onnx:yolox-nano+random" and detector.input_size == 416
    batch = detector.detect(images())
    assert batch == [detector.detect([im])[0] for im in images()]
    assert any(batch), "the random head should yield some boxes at this threshold"


@pytest.fixture(scope="module")
def tv_detector():
    import torch

    torch.manual_seed(0)
    det = load_detector(TV_SPEC, None, "cpu", score_threshold=0.0)
    # Random weights, small inputs: keep the model's resize small so the test stays fast.
    det._model.transform.min_size, det._model.transform.max_size = (128,), 192
    det._model.rpn._post_nms_top_n["testing"] = 30
    return det


def test_torchvision_random_init_labels_and_shapes(tv_detector):
    assert tv_detector.model_id == ("torchvision:fasterrcnn_mobilenet_v3_large_fpn:COCO_V1+random")
    found = tv_detector.detect(images())
    assert len(found) == 4 and any(found)
    for per_image in found:
        for d in per_image:
            assert d.label in KEEP_LABELS
            x0, y0, x1, y1 = d.box
            assert 0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1


def test_torchvision_batch_equals_single_runs(tv_detector):
    batch = tv_detector.detect(images())
    singles = [tv_detector.detect([im])[0] for im in images()]
    for got, want in zip(batch, singles):
        assert [d.label for d in got] == [d.label for d in want]
        np.testing.assert_allclose([d.box for d in got], [d.box for d in want], atol=1e-4)
        np.testing.assert_allclose([d.score for d in got], [d.score for d in want], atol=1e-4)


def test_unknown_models_are_refused_in_one_sentence():
    with pytest.raises(DetectorError, match="no model called"):
        load_detector(SimpleNamespace(name="x", backend="torchvision", arch="nope"), None, "cpu")
    with pytest.raises(DetectorError, match="not a detector"):
        load_detector(SimpleNamespace(name="x", backend="open_clip", arch="ViT"), None, "cpu")
