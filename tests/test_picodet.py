"""PicoDet: the distribution-focal decode on constructed outputs, the real shared model
on real COCO photos (skipped without ../shared), and the calibrated score cuts."""

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from photoorg.models import picodet
from photoorg.models.boxes import COCO80, KEEP_LABELS, UNCALIBRATED, Detection, box_iou
from photoorg.models.detect import detection_tags, load_detector, thresholds_for
from photoorg.models.registry import DEFAULTS, MODELS, spec_for_model_id

# ../shared beside the checkout (as bench/ finds it), or PHOTOORG_SHARED.
SHARED = Path(os.environ.get("PHOTOORG_SHARED", Path(__file__).resolve().parents[2] / "shared"))
WEIGHTS = SHARED / "models" / "picodet_s_416_coco.onnx"
COCO = SHARED / "photos" / "coco-train-mini"
needs_shared = pytest.mark.skipif(
    not WEIGHTS.is_file() or not COCO.is_dir(), reason="../shared (PicoDet file and coco-train-mini) absent"
)
COUNTS = (52 * 52, 26 * 26, 13 * 13, 7 * 7)


def outputs_with(*objects):
    """The eight raw outputs holding the given (stride, x, y, label, score, sides), where
    sides are the (left, top, right, bottom) distances in bins (each one bin exactly)."""
    scores = [np.zeros((1, n, 80), np.float32) for n in COUNTS]
    bins = [np.full((1, n, 32), -30.0, np.float32) for n in COUNTS]
    for stride, x, y, label, score, sides in objects:
        level = picodet.STRIDES.index(stride)
        a = y * int(np.ceil(416 / stride)) + x
        scores[level][0, a, COCO80.index(label)] = score
        for side, b in enumerate(sides):
            bins[level][0, a, side * 8 + b] = 30.0  # all the mass on one bin
    return scores + bins


def test_decode_uses_half_cell_centres_expected_bins_and_stretch():
    out = outputs_with((16, 3, 5, "dog", 0.8, (1, 2, 3, 4)))
    boxes, scores = picodet.decode(out, (832, 208), cut=0.5)
    # centre ((3 + 0.5) * 16, (5 + 0.5) * 16) = (56, 88); sides 16, 32, 48, 64 px at 416;
    # then x * 832 / 416 and y * 208 / 416.
    np.testing.assert_allclose(
        boxes, [[(56 - 16) * 2, (88 - 32) / 2, (56 + 48) * 2, (88 + 64) / 2]], rtol=1e-5
    )
    assert scores[0, COCO80.index("dog")] == pytest.approx(0.8)


def test_decode_skips_anchors_under_the_cut_and_finds_the_last_level():
    out = outputs_with((64, 6, 6, "cat", 0.9, (0, 0, 1, 1)), (8, 0, 0, "dog", 0.2, (1, 1, 1, 1)))
    boxes, scores = picodet.decode(out, (416, 416), cut=0.3)
    np.testing.assert_allclose(boxes, [[416, 416, 480, 480]])  # (6.5 * 64) +- bins * 64
    assert scores.shape == (1, 80)


def test_postprocess_nms_per_class_and_per_label_cuts():
    big = (7, 7, 7, 7)  # 448 px boxes: one cell apart they overlap at IoU 0.87
    out = outputs_with(
        (32, 4, 4, "dog", 0.9, big),
        (32, 5, 4, "dog", 0.7, big),
        (32, 4, 4, "cat", 0.6, big),
        (32, 9, 9, "bird", 0.3, (1, 1, 1, 1)),
        (32, 1, 1, "car", 0.99, (1, 1, 1, 1)),
    )
    cuts = dict.fromkeys(KEEP_LABELS, 0.5) | {"bird": 0.25}
    found = picodet.postprocess(out, (416, 416), cuts)
    # The 0.7 dog is suppressed by the 0.9 one; the cat at the same place survives (NMS
    # is per class); the bird passes its own lower cut; a car is not a kept label.
    assert [(d.label, round(d.score, 2)) for d in found] == [("dog", 0.9), ("cat", 0.6), ("bird", 0.3)]
    found = picodet.postprocess(out, (416, 416), 0.5)
    assert [d.label for d in found] == ["dog", "cat"]


def test_random_weights_keep_the_contract():
    det = load_detector(
        SimpleNamespace(name="picodet-s", backend="onnx", arch="picodet", thresholds=None),
        None,
        "cpu",
        score_threshold=0.05,
    )
    assert det.model_id == "onnx:picodet-s+random"
    rng = np.random.default_rng(3)
    images = [Image.fromarray(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)) for _ in range(2)]
    found = det.detect(images)
    assert len(found) == 2 and all(0 <= v <= 1 for boxes in found for d in boxes for v in d.box)


# -- calibrated decisions ------------------------------------------------------------


def test_registry_holds_calibrated_cuts_for_both_detectors_and_picodet_is_default():
    assert DEFAULTS["detector"] == "picodet-s"
    for name in ("picodet-s", "yolox-nano"):
        th = MODELS[name].thresholds
        assert {"person", "dog", "cat", "*"} <= set(th)
        assert all(0.25 <= t.draw <= t.tag <= 1 and t.draw <= t.count for t in th.values())
    assert spec_for_model_id("onnx:picodet-s+random").name == "picodet-s"
    assert (
        spec_for_model_id("torchvision:fasterrcnn_resnet50_fpn_v2:COCO_V1").name == "fasterrcnn-resnet50-v2"
    )
    assert thresholds_for("onnx:nobody-knows") is UNCALIBRATED


def _boxes(*rows):
    """Detections at separate places unless a row gives its own box."""
    return [
        Detection(label, score, row[0] if row else (0.1 * i, 0.0, 0.1 * i + 0.05, 0.1))
        for i, (label, score, *row) in enumerate(rows)
    ]


def test_detection_tags_follow_each_cut():
    th = MODELS["picodet-s"].thresholds
    person, dog = th["person"], th["dog"]
    boxes = _boxes(
        ("person", person.count + 0.1),
        ("person", person.count + 0.01),
        ("person", (person.count + person.draw) / 2),  # drawn, tagged, not counted
        ("dog", dog.tag - 0.02),  # drawn but not a "dog" photo
        ("horse", th["*"].tag + 0.05),
    )
    tags = dict(detection_tags(boxes, "onnx:picodet-s"))
    assert tags == {
        "2 people": pytest.approx(person.count + 0.01),
        "person": pytest.approx(person.count + 0.1),
        "horse": pytest.approx(th["*"].tag + 0.05),
    }
    assert detection_tags(_boxes(("dog", dog.tag)), "onnx:picodet-s") == [("dog", dog.tag)]
    assert detection_tags([], "onnx:picodet-s") == []


def test_a_cat_also_called_dog_is_tagged_cat_only():
    """The photo from coco-train-mini that showed in has:dog: one cat, boxed as cat 0.67
    and as dog 0.48 at nearly the same place."""
    cat_box, dog_box = (0.0, 0.07, 0.57, 0.78), (0.0, 0.08, 0.57, 0.78)
    boxes = _boxes(("cat", 0.67, cat_box), ("dog", 0.48, dog_box))
    assert detection_tags(boxes, "onnx:picodet-s") == [("cat", 0.67)]
    # A dog beside the cat, or a person on the dog's box, is still a dog.
    beside = _boxes(("cat", 0.67, cat_box), ("dog", 0.48, (0.6, 0.1, 0.95, 0.8)))
    assert [t for t, _ in detection_tags(beside, "onnx:picodet-s")] == ["cat", "dog"]
    held = _boxes(("person", 0.9, dog_box), ("dog", 0.48, dog_box))
    assert [t for t, _ in detection_tags(held, "onnx:picodet-s")] == ["1 person", "dog", "person"]


def test_load_detector_keeps_boxes_from_each_labels_draw_cut():
    spec = SimpleNamespace(
        name="picodet-s", backend="onnx", arch="picodet", thresholds=MODELS["picodet-s"].thresholds
    )
    det = load_detector(spec, None, "cpu")
    assert det.score_threshold["person"] == MODELS["picodet-s"].thresholds["person"].draw
    assert det.score_threshold["horse"] == MODELS["picodet-s"].thresholds["*"].draw


# -- the real model on real photos ----------------------------------------------------


def _coco_boxes(name: str) -> list[tuple[str, tuple]]:
    import json

    data = json.loads((COCO / "instances.json").read_text())
    cats = {c["id"]: c["name"] for c in data["categories"]}
    [image] = [i for i in data["images"] if i["file_name"] == name]
    return [
        (
            cats[a["category_id"]],
            (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]),
        )
        for a in data["annotations"]
        if a["image_id"] == image["id"]
    ]


@pytest.fixture(scope="module")
def real_picodet():
    return load_detector(MODELS["picodet-s"], WEIGHTS, "cpu")


@needs_shared
@pytest.mark.parametrize(
    "name, labels", [("000000524291.jpg", ["dog", "dog"]), ("000000000650.jpg", ["cat"])]
)
def test_real_model_puts_boxes_where_coco_says(real_picodet, name, labels):
    from photoorg.imaging import load_image

    image = load_image(COCO / "images" / name)
    found = real_picodet.detect([image])[0]
    assert sorted(d.label for d in found) == labels
    w, h = image.size
    truth = [(label, box) for label, box in _coco_boxes(name) if label in labels]
    for d in found:
        px = (d.box[0] * w, d.box[1] * h, d.box[2] * w, d.box[3] * h)
        assert max(box_iou(px, box) for label, box in truth if label == d.label) > 0.8


@needs_shared
def test_prepared_graph_gives_the_files_own_outputs():
    import onnxruntime as ort

    x = picodet.prepare(Image.open(COCO / "images" / "000000524291.jpg"))
    plain = ort.InferenceSession(str(WEIGHTS), providers=["CPUExecutionProvider"])
    stripped = ort.InferenceSession(picodet.prepared_graph(WEIGHTS), providers=["CPUExecutionProvider"])
    for a, b in zip(plain.run(None, {"image": x}), stripped.run(None, {"image": x})):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)  # folded constants round apart


def _hard_swish_graph():
    """conv -> x * Clip(x + 3, 0, 6) / 6 (PaddlePaddle's HardSwish), then the same shape
    with 2 in place of 3 (not a HardSwish), as in an opset-11 export."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    consts = {"w": rng.normal(0, 1, (4, 3, 3, 3)), "three": 3.0, "two": 2.0, "zero": 0.0, "six": 6.0}
    nodes = [helper.make_node("Conv", ["image", "w"], ["x"], pads=[1, 1, 1, 1])]
    for i, (shift, source) in enumerate((("three", "x"), ("two", "h0"))):
        nodes += [
            helper.make_node("Add", [source, shift], [f"a{i}"]),
            helper.make_node("Clip", [f"a{i}", "zero", "six"], [f"c{i}"]),
            helper.make_node("Mul", [source, f"c{i}"], [f"m{i}"]),
            helper.make_node("Div", [f"m{i}", "six"], [f"h{i}"]),
        ]
    graph = helper.make_graph(
        nodes,
        "hard_swish",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("h1", TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(np.asarray(v, np.float32), name) for name, v in consts.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])


def test_hard_swish_is_rewritten_as_hard_sigmoid_times_x_with_the_same_outputs():
    import onnx
    import onnxruntime as ort

    model = _hard_swish_graph()
    before = model.SerializeToString()
    assert picodet._fuse_hard_swish(model.graph) == 1  # the Add of 2 is no HardSwish
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == [
        "Conv",
        "HardSigmoid",
        "Mul",
        "Add",
        "Clip",
        "Mul",
        "Div",
    ]
    x = {"image": np.random.default_rng(1).normal(0, 2, (1, 3, 8, 8)).astype(np.float32)}
    runs = [
        ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, x)[0]
        for m in (before, model.SerializeToString())
    ]
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5, atol=1e-5)


def test_a_hard_swish_whose_step_is_a_graph_output_stays_as_exported():
    from onnx import TensorProto, helper

    model = _hard_swish_graph()
    model.graph.output.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, [1, 4, 8, 8]))
    assert picodet._fuse_hard_swish(model.graph) == 0  # Clip's result must stay readable
    assert [n.op_type for n in model.graph.node].count("Clip") == 2


@needs_shared
def test_every_hard_swish_of_picodet_s_is_rewritten():
    import onnx

    model = onnx.load_from_string(picodet.prepared_graph(WEIGHTS))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("HardSigmoid") == 87 + 13  # 87 rewritten, 13 the file's own (its SE blocks)
    assert "Clip" not in ops and "Div" not in ops
