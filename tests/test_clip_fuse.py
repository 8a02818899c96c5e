"""The image tower's graph rewrite (models/clip_fuse.py) on a real open_clip
architecture exported by torch as clip_onnx exports it, random weights: which GELUs
become one operator, that the rewritten graph computes what the export computes, and
that a near miss stays as exported."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import TINY_CLIP, register_tiny_clip

LAYERS = TINY_CLIP["vision_cfg"]["layers"]  # one GELU per transformer block
# Normalised embeddings: the fused Gelu and the exported Erf chain round differently in
# the last float32 bits only.
ATOL = 1e-5


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    """The tiny architecture's image tower exported in fp32, as export_image makes it."""
    import open_clip
    import torch

    from photoorg.models import clip_onnx

    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(5)
    model = open_clip.create_model(register_tiny_clip(folder, "photoorg-tiny-fuse")).eval()
    path = folder / "image-fp32.onnx"
    size = TINY_CLIP["vision_cfg"]["image_size"]
    module = clip_onnx._image_module(SimpleNamespace(torch_model=model))
    clip_onnx._export(
        module, torch.zeros(2, 3, size, size), path, {"input": {0: "batch"}, "vectors": {0: "batch"}}
    )
    return path


def _run(model, pixels: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": pixels})[0]


def _pixels() -> np.ndarray:
    size = TINY_CLIP["vision_cfg"]["image_size"]
    return np.random.default_rng(0).standard_normal((3, 3, size, size)).astype(np.float32)


def _ops(model) -> dict[str, int]:
    from collections import Counter

    return Counter(node.op_type for node in model.graph.node)


def test_each_gelu_of_the_export_becomes_one_operator_and_the_file_stays(fp32):
    import onnx

    from photoorg.models.clip_fuse import fused_graph

    before = fp32.read_bytes()
    exported, fused = onnx.load(str(fp32)), fused_graph(fp32)
    assert _ops(exported)["Erf"] == LAYERS and _ops(exported)["Gelu"] == 0
    assert _ops(fused)["Gelu"] == LAYERS
    assert {"Erf", "Div"} & set(_ops(fused)) == {"Div"}  # the only Div left: the final normalise
    assert _ops(fused)["Div"] == 1 and _ops(exported)["Div"] == LAYERS + 1
    assert [n.domain for n in fused.graph.node if n.op_type == "Gelu"] == ["com.microsoft"] * LAYERS
    assert fp32.read_bytes() == before


def test_the_fused_graph_computes_what_the_export_computes(fp32):
    import onnx

    from photoorg.models.clip_fuse import fused_graph

    pixels = _pixels()
    want, got = _run(onnx.load(str(fp32)), pixels), _run(fused_graph(fp32), pixels)
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)
    assert got.shape == (3, TINY_CLIP["embed_dim"])


def _first_gelu(graph):
    """The first GELU's Div and Erf nodes in the export."""
    div = next(n for n in graph.node if n.op_type == "Div")
    erf = next(n for n in graph.node if n.op_type == "Erf" and n.input[0] == div.output[0])
    return div, erf


def _other_divisor(model) -> None:  # x / 1.5 is not x / sqrt 2
    from onnx import numpy_helper

    div, _ = _first_gelu(model.graph)
    model.graph.initializer.append(numpy_helper.from_array(np.array(1.5, np.float32), "near_miss"))
    div.input[1] = "near_miss"


def _erf_read_twice(model) -> None:  # the Erf's output also leaves the graph
    from onnx import TensorProto, helper

    _, erf = _first_gelu(model.graph)
    model.graph.output.append(helper.make_tensor_value_info(erf.output[0], TensorProto.FLOAT, None))


def _other_x(model) -> None:  # the last Mul takes x through another tensor (x * 1)
    from onnx import helper, numpy_helper

    div, _ = _first_gelu(model.graph)
    gate = next(n for n in model.graph.node if n.op_type == "Mul" and div.input[0] in n.input)
    model.graph.initializer.append(numpy_helper.from_array(np.array(1.0, np.float32), "one"))
    model.graph.node.insert(
        list(model.graph.node).index(gate), helper.make_node("Mul", [div.input[0], "one"], ["x_copy"])
    )
    gate.input[list(gate.input).index(div.input[0])] = "x_copy"


@pytest.mark.parametrize("near_miss", [_other_divisor, _erf_read_twice, _other_x])
def test_a_near_miss_is_left_as_exported(fp32, near_miss):
    import onnx

    from photoorg.models.clip_fuse import fuse_gelu

    model = onnx.load(str(fp32))
    near_miss(model)
    unfused = onnx.ModelProto()
    unfused.CopyFrom(model)
    assert fuse_gelu(model.graph) == LAYERS - 1
    model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    assert _ops(model)["Erf"] == 1 and _ops(model)["Gelu"] == LAYERS - 1
    pixels = _pixels()
    np.testing.assert_allclose(_run(model, pixels), _run(unfused, pixels), atol=ATOL, rtol=0)


def test_the_int8_recipe_fuses_after_quantizing_and_keeps_the_unfused_outputs(fp32, tmp_path, monkeypatch):
    import onnx

    from photoorg.models import clip_fuse, clip_onnx

    for name in ("fused", "plain"):
        (tmp_path / name).mkdir()
    clip_onnx._quantize(fp32, tmp_path / "fused" / "image-int8.onnx")
    monkeypatch.setattr(clip_fuse, "fused_graph", lambda path: onnx.load(str(path)))  # the recipe before
    clip_onnx._quantize(fp32, tmp_path / "plain" / "image-int8.onnx")
    fused, plain = (onnx.load(str(tmp_path / d / "image-int8.onnx")) for d in ("fused", "plain"))
    assert _ops(fused)["Gelu"] == LAYERS and _ops(plain)["Gelu"] == 0 and _ops(plain)["Erf"] == LAYERS
    assert _ops(fused)["MatMulInteger"] == _ops(plain)["MatMulInteger"] > 0
    # Activations are quantized per run: a last-bit difference in a GELU can move one
    # value to the next quantization step, hence a cosine rather than 1e-5.
    pixels = _pixels()
    got, want = _run(fused, pixels), _run(plain, pixels)
    assert (got * want).sum(1).min() >= 0.9999
    assert sorted(p.name for p in (tmp_path / "fused").iterdir()) == ["image-int8.onnx"]  # no temporary left
