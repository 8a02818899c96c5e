"""Real faces for the people tests: dlib's CC0 models from the dev extra
face-recognition-models, and photos from ../shared/photos/faces-mini. Tests that need
either skip when it is absent."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

FACES_MINI = Path(__file__).resolve().parents[2] / "shared" / "photos" / "faces-mini"
if not FACES_MINI.is_dir():
    FACES_MINI = Path("/work/shared/photos/faces-mini")
YOLOX = FACES_MINI.parents[1] / "models" / "yolox_nano.onnx"


def model_files() -> Path | None:
    """The folder of dlib model files inside face-recognition-models, found without
    importing it (its __init__ needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if (folder / "dlib_face_recognition_resnet_model_v1.dat").is_file() else None


def need_faces() -> tuple[Path, Path]:
    files = model_files()
    if files is None:
        pytest.skip("face-recognition-models (dev extra) is not installed")
    if not (FACES_MINI / "images").is_dir():
        pytest.skip("faces-mini photos are not on this machine")
    return files, FACES_MINI / "images"


def face_model():
    from photoorg.models.faces import FaceModel

    files, _ = need_faces()
    return FaceModel(
        files / "shape_predictor_5_face_landmarks.dat",
        files / "dlib_face_recognition_resnet_model_v1.dat",
        "dlib-face-landmarks-5",
        "dlib-face-resnet-v1",
    )


def copy_people(target: Path, people: dict[str, int]) -> dict[str, str]:
    """The first n photos of each named person into target/<person>/; path -> person."""
    _, images = need_faces()
    truth = {}
    for person, n in people.items():
        (target / person).mkdir(parents=True, exist_ok=True)
        for src in sorted((images / person).glob("*.jpg"))[:n]:
            shutil.copy(src, target / person / src.name)
            truth[str(target / person / src.name)] = person
    return truth


def model_set(with_detector: bool = True):
    """The face model, and YOLOX-Nano when the shared copy is here."""
    from photoorg.modelset import ModelSet

    detector = None
    if with_detector and YOLOX.is_file():
        from photoorg.models.detect import load_detector
        from photoorg.models.registry import spec_for

        detector = load_detector(spec_for("yolox-nano"), YOLOX, "cpu")
    return ModelSet(detector=detector, faces=face_model())
