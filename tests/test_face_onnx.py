"""dlib's face ResNet rebuilt for onnxruntime from its own weights file: equal
descriptors on real faces, a file it does not know refused with the reason, and dlib
kept whenever the export is missing, refused or disagrees."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from photoorg.models import face_onnx
from photoorg.models.usercache import CACHE_ENV

from .facelib import face_model, need_faces

DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def real_chips(model, n: int) -> np.ndarray:
    """Aligned chips of the first face in n faces-mini photos of different people."""
    _, images = need_faces()
    chips = []
    for folder in sorted(images.iterdir())[:n]:
        pixels = np.asarray(Image.open(min(folder.glob("*.jpg"))).convert("RGB"))
        found = model.detect(pixels, upsample=1)
        chips.append(model.chips(pixels, [found[0][0]]))
    return np.concatenate(chips)


def test_the_rebuilt_network_describes_real_faces_as_dlib_does(cache):
    model = face_model()
    chips = real_chips(model, 10)
    assert chips.shape == (10, 150, 150, 3)
    got = model.describe(chips)
    assert model.runtime == "onnxruntime"
    want = model.describe_with_dlib(chips)
    cosine, diff = face_onnx.agreement(got, want)
    assert cosine >= face_onnx.MIN_COSINE
    assert diff <= face_onnx.MAX_ABS_DIFF
    # Checked once per weights file, on the probe pictures and the first real faces.
    files, _ = need_faces()
    note = face_onnx.read_note(face_onnx.export_path(files / DESCRIPTOR))
    assert (note["ok"], note["probes"], note["real_faces"]) == (True, 8, 8)
    # A second model (a new process) trusts the note and checks no more faces.
    again = face_model()
    np.testing.assert_allclose(again.describe(chips[:2]), got[:2], atol=1e-6)
    assert again.runtime == "onnxruntime"
    assert face_onnx.read_note(face_onnx.export_path(files / DESCRIPTOR))["real_faces"] == 8


def test_the_parser_reads_every_layer_of_dlibs_file():
    files, _ = need_faces()
    net = face_onnx.read_dlib_net(files / DESCRIPTOR)
    assert [round(v, 3) for v in net.mean_rgb] == [122.782, 117.001, 104.298]
    convolutions = [
        p["w"].shape for layer, p in zip(face_onnx.ARCHITECTURE, net.params) if layer.kind == "con"
    ]
    assert len(convolutions) == 29
    assert convolutions[0] == (32, 3, 7, 7) and convolutions[-1] == (256, 256, 3, 3)
    assert net.params[-1]["w"].shape == (256, 128)


def test_a_file_of_another_network_is_refused_with_the_reason(tmp_path):
    files, _ = need_faces()
    data = (files / DESCRIPTOR).read_bytes()
    first = data.index(b"con_4")
    other = tmp_path / "other.dat"
    other.write_bytes(data[:first] + b"con_5" + data[first + 5 :])
    with pytest.raises(face_onnx.NotConvertible, match="expected dlib layer 'con_4', found 'con_5'"):
        face_onnx.read_dlib_net(other)
    cut = tmp_path / "cut.dat"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(face_onnx.NotConvertible, match="the file ends early"):
        face_onnx.read_dlib_net(cut)


def test_an_export_that_disagrees_with_dlib_is_not_kept_and_not_retried(cache):
    files, _ = need_faces()
    weights = files / DESCRIPTOR
    calls = []

    def wrong(chips):
        calls.append(len(chips))
        return np.ones((len(chips), 128), np.float32)

    with pytest.raises(face_onnx.NotConvertible, match="differ from dlib's"):
        face_onnx.load_descriptor(weights, wrong)
    path = face_onnx.export_path(weights)
    assert not path.exists()
    assert face_onnx.read_note(path)["ok"] is False
    with pytest.raises(face_onnx.NotConvertible, match="differ from dlib's"):
        face_onnx.load_descriptor(weights, wrong)
    assert calls == [face_onnx.PROBES]  # the second start read the note: no export, no check


def test_dlib_keeps_running_when_the_export_was_refused(cache):
    files, _ = need_faces()
    path = face_onnx.export_path(files / DESCRIPTOR)
    path.parent.mkdir(parents=True)
    path.with_suffix(".json").write_text(json.dumps({"ok": False, "reason": "a test said no"}))
    model = face_model()
    chips = real_chips(model, 2)
    vectors = model.describe(chips)
    assert model.runtime == "dlib (a test said no)"
    np.testing.assert_array_equal(vectors, model.describe_with_dlib(chips))


def test_a_real_face_that_disagrees_sends_the_model_back_to_dlib(cache, monkeypatch):
    model = face_model()
    chips = real_chips(model, 2)
    model.describe(chips[:1])  # exported and checked on the probes and this face
    assert model.runtime == "onnxruntime"
    model._onnx.note["real_faces"] = 0  # as if no real face had been checked yet
    real_dlib = model.describe_with_dlib
    monkeypatch.setattr(model, "describe_with_dlib", lambda c: real_dlib(c) + 0.01)
    vectors = model.describe(chips)
    assert model.runtime.startswith("dlib (its descriptors differ from dlib's")
    np.testing.assert_allclose(vectors, real_dlib(chips) + 0.01)
    files, _ = need_faces()
    assert face_onnx.read_note(face_onnx.export_path(files / DESCRIPTOR))["ok"] is False


def _listed_descriptor(lib, capsys) -> str:
    from photoorg.cli import main

    assert main(["--library", str(lib), "models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if "dlib-face-resnet-v1" in line)
    return next(line.strip() for line in lines[start:] if line.strip().startswith("descriptor:"))


def test_models_list_says_what_computes_the_face_descriptor(cache, tmp_path, capsys):
    from photoorg.cli import main

    files, _ = need_faces()
    lib = tmp_path / "lib"
    assert (
        main(["--library", str(lib), "models", "import", "dlib-face-resnet-v1", str(files / DESCRIPTOR)]) == 0
    )
    assert _listed_descriptor(lib, capsys) == (
        "descriptor: dlib until the first index exports it to onnxruntime and checks it against dlib"
    )
    installed = lib / "models" / DESCRIPTOR  # the library's copy: the same file, the same export
    face_onnx.load_descriptor(installed, face_model().describe_with_dlib)
    listed = _listed_descriptor(lib, capsys)
    assert listed.startswith("descriptor: onnxruntime, equal to dlib (smallest cosine 0.99")
    assert listed.endswith("on 8 probes and 0 real faces")
    path = face_onnx.export_path(installed)
    note = face_onnx.read_note(path)
    path.with_suffix(".json").write_text(json.dumps({**note, "ok": False, "reason": "a test said no"}))
    assert _listed_descriptor(lib, capsys) == (
        "descriptor: dlib: the onnxruntime export was refused: a test said no"
    )
