"""Models behind small interfaces; load() is the one way to get one.

Importing this package is light: torch, open_clip, torchvision and onnxruntime are
imported inside the loaders.
"""

from __future__ import annotations

import os

from .registry import (
    DEFAULTS,
    MODELS,
    ROLES,
    ChecksumMismatch,
    DownloadFailed,
    ModelError,
    ModelMissing,
    ModelSpec,
    ModelStatus,
    UnknownModel,
    WeightStore,
    spec_for,
)

__all__ = [
    "DEFAULTS",
    "MODELS",
    "ROLES",
    "ChecksumMismatch",
    "DownloadFailed",
    "ModelError",
    "ModelMissing",
    "ModelSpec",
    "ModelStatus",
    "UnknownModel",
    "WeightStore",
    "load",
    "random_weights_allowed",
]

RANDOM_ENV = "PHOTOORG_RANDOM_WEIGHTS"


def random_weights_allowed(allow_random: bool = False) -> bool:
    return allow_random or os.environ.get(RANDOM_ENV) == "1"


def load(
    role: str,
    name: str | None = None,
    *,
    store: WeightStore,
    device: str = "auto",
    allow_random: bool = False,
):
    """Return a ClipModel, Detector or Segmenter for `role` (name None -> DEFAULTS[role]).

    Missing weights raise ModelMissing. Only with allow_random (tests and benches; or
    PHOTOORG_RANDOM_WEIGHTS=1) does a missing file give the real architecture with
    random weights, and its model_id then ends in "+random" so nothing it produces can
    pass for a real model's output.
    """
    if role not in ROLES:
        raise ModelError(f"Unknown model role {role!r}; use one of {', '.join(ROLES)}.")
    if role.startswith("face"):  # two files and a built-in detector, loaded together
        raise ModelError("Face models load together: use models.faces.load_face_model.")
    spec = spec_for(name or DEFAULTS[role])
    if spec.role != role:
        raise ModelError(f"The model {spec.name!r} is a {spec.role}, not a {role}.")
    weights = store.path(spec.name)
    if weights is None and not random_weights_allowed(allow_random):
        raise ModelMissing(spec.name)
    from .device import pick_device

    model = _loader(role)(spec, weights, pick_device(None if device == "auto" else device))
    if weights is None and not model.model_id.endswith("+random"):
        model.model_id += "+random"
    return model


def _loader(role: str):
    if role == "clip":
        from .clip import load_clip

        return load_clip
    if role == "detector":
        from .detect import load_detector

        return load_detector
    from .segment import load_segmenter

    return load_segmenter
