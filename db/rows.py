"""Typed rows that cross the storage boundary."""

from __future__ import annotations

from dataclasses import dataclass

PHOTO_STATES = ("pending", "indexed", "error", "missing")


@dataclass(frozen=True)
class Root:
    id: int
    path: str
    online: bool
    last_scan: float | None
    offline_reason: str | None = None
    device: int | None = None  # st_dev the folder was last seen online on


@dataclass(frozen=True)
class Photo:
    id: int
    root_id: int
    rel_path: str
    path: str  # absolute: root path joined with rel_path
    size: int
    mtime_ns: int
    hash: str | None
    width: int | None
    height: int | None
    taken_at: str | None  # ISO 8601, local time of the camera
    camera_make: str | None
    camera_model: str | None
    lat: float | None
    lon: float | None
    state: str
    error: str | None


@dataclass(frozen=True)
class PhotoMeta:
    """What decoding a photo's header tells us."""

    width: int
    height: int
    taken_at: str | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class Tag:
    tag: str
    score: float
    source: str  # auto | user | rejected
    model: str | None


@dataclass(frozen=True)
class StoredDetection:
    """A box as the library keeps it: its id, the model that found it and the subject
    named on it. (What a detector returns is photoorg.models.detect.Detection.)"""

    id: int
    photo_id: int
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 normalised to the displayed photo
    model: str
    subject_id: int | None
    subject_name: str | None


@dataclass(frozen=True)
class Subject:
    id: int
    name: str
    kind: str  # person | pet
    count: int = 0


@dataclass(frozen=True)
class ScanProblem:
    root_id: int
    path: str
    reason: str
