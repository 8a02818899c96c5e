"""SplitSession: a batch split across sessions side by side gives the rows a single
session gives, in order, for every output. normalized_planes: the planar, normalised
input the whole-array formula gives."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from photoorg.models.onnxrt import SplitSession, normalized_planes, ort_session


def _model(tmp_path):
    """input (N, 4) -> vectors = input @ W, and sums = the row sums of vectors."""
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "W"], ["vectors"]),
            helper.make_node("ReduceSum", ["vectors", "axes"], ["sums"], keepdims=0),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [
            helper.make_tensor_value_info("vectors", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("sums", TensorProto.FLOAT, ["N"]),
        ],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.array([1], np.int64), "axes")],
    )
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def test_a_split_batch_gives_the_rows_of_one_session_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    path = _model(tmp_path)
    batch = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    want = ort_session(path, "cpu").run(None, {"input": batch})
    split = SplitSession(path, parts=2)
    assert len(split._sessions) == 2
    got = split.run(None, {"input": batch})
    assert [g.shape for g in got] == [(5, 3), (5,)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)
    one = split.run(None, {"input": batch[:1]})  # one row: one session runs it whole
    np.testing.assert_allclose(one[0], want[0][:1], rtol=0, atol=1e-6)


def test_one_core_means_one_session(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    split = SplitSession(_model(tmp_path), parts=2)
    assert len(split._sessions) == 1 and split._pool is None


def test_normalized_planes_are_the_whole_array_formula_channel_first():
    pixels = np.random.default_rng(3).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    want = ((pixels / np.float32(255) - mean) / std).transpose(2, 0, 1)
    got = normalized_planes(Image.fromarray(pixels), mean, std)
    assert got.shape == (3, 5, 7) and got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, atol=1e-6)
