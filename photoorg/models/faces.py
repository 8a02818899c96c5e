"""Faces: found, aligned and described, with dlib (PyPI `dlib-bin`).

Three parts behind one small interface (FaceModel.find): dlib's HOG frontal face
detector (built into dlib, no file; its five sub-detectors cover frontal and
half-profile faces), the 5-point landmark model that aligns each face to a 150-px chip,
and the ResNet descriptor that turns a chip into 128 numbers where two photos of one
person lie within about 0.6 of each other (99.38% on LFW, published).

Why dlib HOG: measured here (2 shared cores) HOG costs about 0.4 s per megapixel and
dlib's CNN detector about 11 s per photo, so HOG is run on person-box crops at a bounded
size (photoorg/face_stage.py), not on whole 12-MP photos. dlib is imported lazily: it is
only needed while indexing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .face_onnx import NotConvertible, load_descriptor
from .registry import ModelError, WeightStore

DETECTOR_ID = "dlib-hog"
CHIP_SIDE = 150  # the descriptor's input
CHIP_PADDING = 0.25  # dlib's own default, which its descriptor was trained with


@dataclass(frozen=True)
class FoundFace:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the pixels of the searched image
    score: float  # the HOG detector's margin; above 0 is a face
    vector: np.ndarray  # 128 float32, Euclidean distance < ~0.6 means the same person


class FaceModel:
    """Detector + aligner + embedder. model_id names all three, so a change of any one
    re-runs the face stage (and only it)."""

    def __init__(
        self,
        landmarks: Path,
        descriptor: Path,
        landmarks_name: str,
        descriptor_name: str,
        runtime: str = "auto",
    ):
        """runtime "auto": the descriptor runs through onnxruntime once its export of
        this weights file has passed its check against dlib (models/face_onnx.py),
        else dlib; "dlib": always dlib's own."""
        import dlib

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(str(landmarks))
        self._descriptor = dlib.face_recognition_model_v1(str(descriptor))
        self._descriptor_path = Path(descriptor)
        self._onnx = None
        # What runs the descriptor and why; decided at the first face (the export and
        # its check cost a few seconds once per weights file).
        self.runtime = "undecided" if runtime == "auto" else "dlib (asked for)"
        # The same weights and the same descriptors either way, so the same model id.
        self.model_id = f"{DETECTOR_ID}|{landmarks_name}|{descriptor_name}"

    def detect(self, pixels: np.ndarray, upsample: int = 0) -> list[tuple[tuple, float]]:
        """(box, score) of every face in an RGB uint8 array."""
        rects, scores, _ = self._detector.run(pixels, upsample, 0.0)
        return [((r.left(), r.top(), r.right(), r.bottom()), float(s)) for r, s in zip(rects, scores)]

    def embed(self, pixels: np.ndarray, boxes: list[tuple]) -> np.ndarray:
        """One 128-d descriptor per box, each face aligned on its 5 landmarks first."""
        return self.describe(self.chips(pixels, boxes))

    def chips(self, pixels: np.ndarray, boxes: list[tuple]) -> np.ndarray:
        """Each box's face aligned on its 5 landmarks: (N, 150, 150, 3) uint8 RGB."""
        if not boxes:
            return np.zeros((0, CHIP_SIDE, CHIP_SIDE, 3), np.uint8)
        dlib = self._dlib
        shapes = dlib.full_object_detections()
        for x0, y0, x1, y1 in boxes:
            shapes.append(self._landmarks(pixels, dlib.rectangle(int(x0), int(y0), int(x1), int(y1))))
        return np.stack(dlib.get_face_chips(pixels, shapes, size=CHIP_SIDE, padding=CHIP_PADDING))

    def describe(self, chips: np.ndarray) -> np.ndarray:
        """The 128-d descriptors of aligned chips (N, 150, 150, 3 uint8 RGB)."""
        if not len(chips):
            return np.zeros((0, 128), np.float32)
        if self.runtime == "undecided":
            self._choose_runtime()
        if self._onnx is not None:
            try:
                return self._onnx(chips, self.describe_with_dlib)
            except NotConvertible as e:
                self._onnx, self.runtime = None, f"dlib ({e})"
        return self.describe_with_dlib(chips)

    def describe_with_dlib(self, chips: np.ndarray) -> np.ndarray:
        vectors = self._descriptor.compute_face_descriptor(list(chips))
        return np.array([np.asarray(v) for v in vectors], np.float32).reshape(-1, 128)

    def _choose_runtime(self) -> None:
        try:
            self._onnx = load_descriptor(self._descriptor_path, self.describe_with_dlib)
            self.runtime = "onnxruntime"
        except NotConvertible as e:
            self.runtime = f"dlib ({e})"
        except Exception as e:  # noqa: BLE001 - no export (onnx missing, cache unwritable): dlib runs
            self.runtime = f"dlib (no ONNX export: {type(e).__name__}: {e})"

    def find(self, pixels: np.ndarray, upsample: int = 0) -> list[FoundFace]:
        found = self.detect(pixels, upsample)
        vectors = self.embed(pixels, [box for box, _ in found])
        return [FoundFace(box, score, vector) for (box, score), vector in zip(found, vectors)]


class FaceModelMissing(ModelError):
    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(
            "The face models are not installed: run `photoorg models download "
            + "` and `photoorg models download ".join(names)
            + "`, or on a machine without internet `photoorg models import NAME FILE` "
            "for each."
        )


def load_face_model(weights: WeightStore, landmarks: str, descriptor: str) -> FaceModel:
    """The face model from the weight store; FaceModelMissing (one sentence naming
    the files to get) when a file or dlib itself is absent."""
    paths = [weights.path(landmarks), weights.path(descriptor)]
    missing = [name for name, path in zip((landmarks, descriptor), paths) if path is None]
    if missing:
        raise FaceModelMissing(missing)
    try:
        import dlib  # noqa: F401  (the runtime dependency dlib-bin)
    except ImportError:
        raise ModelError("Faces need dlib, which is not installed: run `pip install dlib-bin`.") from None
    return FaceModel(paths[0], paths[1], landmarks, descriptor)
