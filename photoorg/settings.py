"""The library's settings file: which models to run and where.

`settings.json` in the library folder, written only when the user changes a setting
(a fresh library runs on the defaults), meant to be edited by hand as well. Every
value is checked when it is read, so a typo ends as one sentence naming the key and
the file, never as a failure deep inside a model loader.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from .errors import UserError
from .fileio import atomic_write_text

FILENAME = "settings.json"
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "int8")  # CLIP's image tower on the CPU (models/clip_onnx.py)
_ROLE_KEYS = {
    "clip": "clip",
    "detector": "detector",
    "segmenter": "segmenter",
    "face": "face",
    "face-landmarks": "face_landmarks",
}


class SettingsError(UserError):
    """A settings file or value the user has to fix; str() is one sentence."""


def _default(role: str) -> str:
    from .models.registry import DEFAULTS

    return DEFAULTS[role]


@dataclass(frozen=True)
class Settings:
    clip: str = ""
    detector: str = ""
    segmenter: str = ""
    face: str = ""
    face_landmarks: str = ""
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        # Empty means "the default": the registry's choice can then improve with a new
        # release without rewriting anyone's settings file.
        for role, key in _ROLE_KEYS.items():
            if not getattr(self, key):
                object.__setattr__(self, key, _default(role))

    def model(self, role: str) -> str:
        return getattr(self, _ROLE_KEYS[role])


def settings_path(folder: Path) -> Path:
    return Path(folder) / FILENAME


def load_settings(folder: Path) -> Settings:
    """The settings in `folder`, or the defaults when there is no file."""
    path = settings_path(folder)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as e:
        raise SettingsError(f"Cannot read the settings file {path}: {e.strerror or e}.") from None
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise SettingsError(
            f"The settings file {path} is not valid JSON ({e}); fix it or delete it to "
            f"return to the defaults."
        ) from None
    if not isinstance(raw, dict):
        raise SettingsError(
            f'The settings file {path} must hold one JSON object such as {{"device": "auto"}}.'
        )
    return validate(raw, path)


def validate(raw: dict, path: Path | str = FILENAME) -> Settings:
    known = {f.name for f in fields(Settings)}
    for key, value in raw.items():
        if key not in known:
            raise SettingsError(
                f"{path}: unknown setting {key!r}; the settings are {', '.join(sorted(known))}."
            )
        if not isinstance(value, str):
            raise SettingsError(f"{path}: the setting {key!r} must be a string, not {json.dumps(value)}.")
    settings = Settings(**raw)
    if settings.device not in DEVICES:
        raise SettingsError(f"{path}: device {settings.device!r} is not one of {', '.join(DEVICES)}.")
    if settings.precision not in PRECISIONS:
        raise SettingsError(
            f"{path}: precision {settings.precision!r} is not one of {', '.join(PRECISIONS)}."
        )
    for role in _ROLE_KEYS:
        _check_model(path, role, settings.model(role))
    return settings


def _check_model(path, role: str, name: str) -> None:
    from .models.registry import MODELS

    spec = MODELS.get(name)
    choices = ", ".join(n for n, s in MODELS.items() if s.role == role)
    if spec is None:
        raise SettingsError(f"{path}: {role} model {name!r} is unknown; choose one of {choices}.")
    if spec.role != role:
        raise SettingsError(
            f"{path}: {name!r} is a {spec.role} model, not a {role} model; choose one of {choices}."
        )


def save_settings(folder: Path, settings: Settings) -> Path:
    """Write all values, atomically (a crash never leaves half a file)."""
    return atomic_write_text(settings_path(folder), json.dumps(asdict(settings), indent=2) + "\n")


def use_model(folder: Path, name: str) -> Settings:
    """Choose `name` for its role (the role comes from the registry) and save it."""
    from .models.registry import spec_for

    spec = spec_for(name)
    settings = replace(load_settings(folder), **{_ROLE_KEYS[spec.role]: name})
    save_settings(folder, settings)
    return settings
