"""What the Library does with models outside indexing: listing and installing
weights, adding a vocabulary word, and cutting a subject out of a photo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .db import Photo, Store, StoredDetection
from .errors import LibraryError
from .fileio import WriteRefused, atomic_write
from .settings import Settings

if TYPE_CHECKING:
    from .models.registry import ModelStatus, WeightStore


@dataclass(frozen=True)
class ModelChoice:
    """A known model, whether it is installed, and whether this library uses it."""

    status: ModelStatus
    chosen: bool


def model_choices(weights: WeightStore, settings: Settings) -> list[ModelChoice]:
    return [ModelChoice(s, settings.model(s.role) == s.name) for s in weights.status()]


def names_to_download(weights: WeightStore, settings: Settings) -> list[str]:
    """The chosen models that are not installed yet."""
    chosen = [settings.clip, settings.detector, settings.segmenter, settings.face,
              settings.face_landmarks]
    return [name for name in chosen if weights.path(name) is None]


# -- cut-outs -------------------------------------------------------------------------


@dataclass(frozen=True)
class CutoutResult:
    path: Path
    size: tuple[int, int]  # width, height: the photo's full, upright size
    box: tuple[float, float, float, float] | None  # None: the segmenter's main subject
    detection: StoredDetection | None
    model: str


def _boxes_listing(boxes: list[StoredDetection]) -> str:
    return ", ".join(f"#{d.id} {d.label}" + (f" ({d.subject_name})" if d.subject_name else "")
                     for d in boxes) or "none"


def choose_box(store: Store, photo: Photo, subject: str | None,
               label: str | None) -> StoredDetection | None:
    """The box to cut out: a box id or a subject's name, the best box with a label,
    or None for the main subject."""
    if subject is None and label is None:
        return None
    boxes = store.detections_of(photo.id)  # best score first
    hint = "" if photo.state == "indexed" else "; run `photoorg index` first"
    if subject is not None and subject.strip().isdigit():
        found = [d for d in boxes if d.id == int(subject)]
        what = f"box #{subject.strip()}"
    elif subject is not None:
        found = [d for d in boxes if (d.subject_name or "").casefold() == subject.casefold()]
        what = f"box named {subject!r}"
    else:
        found = [d for d in boxes if d.label.casefold() == label.casefold()]
        what = f"{label} box"
    if not found:
        raise LibraryError(f"{photo.path} has no {what} (its boxes: {_boxes_listing(boxes)}){hint}.")
    return found[0]


def check_output(store: Store, photo: Photo, out: Path, force: bool) -> Path:
    if out.suffix.lower() != ".png":
        raise LibraryError(f"{out}: a cut-out is a PNG with transparency; give a file name "
                           f"ending in .png.")
    if out.is_dir():
        raise LibraryError(f"{out} is a folder; give the cut-out's file name.")
    if not out.parent.is_dir():
        raise LibraryError(f"{out.parent}: no such folder; create it first.")
    resolved = out.resolve()
    if resolved == Path(photo.path).resolve() or store.photo_by_path(str(resolved)):
        raise LibraryError(f"{out} is a photo in the library; photoorg never overwrites photos.")
    if out.exists() and not force:
        raise LibraryError(f"{out} already exists; add --force to overwrite it.")
    return out


def write_png(image, out: Path, force: bool) -> None:
    """Encode, then write atomically (fileio): a failure (a full disk) leaves the old
    file as it was, a link to a device is refused, and without force an existing file,
    even one that appeared meanwhile, is never replaced."""
    try:
        atomic_write(out, lambda f: image.save(f, "PNG", optimize=False), replace=force)
    except WriteRefused:
        if not force and out.exists():
            raise LibraryError(f"{out} already exists; add --force to overwrite it.") from None
        raise
    except OSError as e:
        raise LibraryError(f"Cannot write {out}: {e.strerror or e}.") from None


def make_cutout(store: Store, weights: WeightStore, settings: Settings, photo: Photo,
                out: Path, subject: str | None = None, label: str | None = None,
                force: bool = False, segmenter: str | None = None,
                device: str | None = None) -> CutoutResult:
    from . import models
    from .cutout import cut_out
    from .imaging import load_image

    out = check_output(store, photo, Path(out).expanduser(), force)
    # Said before loading the model, and naming the photo: the bare decode error
    # ("cannot open: No such file or directory") did not say which file or why.
    if not Path(photo.path).is_file():
        raise LibraryError(f"{photo.path} is not there now (its folder is offline, or the file "
                           "was moved or deleted); reconnect it or run `photoorg scan`.")
    detection = choose_box(store, photo, subject, label)
    model = models.load("segmenter", segmenter or settings.segmenter, store=weights,
                        device=device or settings.device)
    image = load_image(photo.path)  # full resolution, upright
    box = detection.box if detection else None
    rgba = cut_out(image, model.mask(image, box))
    write_png(rgba, out, force)
    return CutoutResult(out, rgba.size, box, detection, model.model_id)
