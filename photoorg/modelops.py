"""What the Library does with models outside indexing: listing and installing
weights, adding a vocabulary word, and cutting a subject out of a photo."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .db import Photo, Store, StoredDetection
from .errors import LibraryError, UserError
from .fileio import WriteRefused, atomic_write
from .progress import Progress, Work
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
    chosen = [settings.clip, settings.detector, settings.segmenter, settings.face, settings.face_landmarks]
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
    return (
        ", ".join(f"#{d.id} {d.label}" + (f" ({d.subject_name})" if d.subject_name else "") for d in boxes)
        or "none"
    )


def choose_box(store: Store, photo: Photo, subject: str | None, label: str | None) -> StoredDetection | None:
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
        raise LibraryError(f"{out}: a cut-out is a PNG with transparency; give a file name ending in .png.")
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


def write_png(image, out: Path, force: bool) -> Path:
    """Encode, then write atomically (fileio): a failure (a full disk) leaves the old
    file as it was, a link to a device is refused, and without force an existing file,
    even one that appeared meanwhile, is never replaced."""
    try:
        return atomic_write(out, lambda f: image.save(f, "PNG", optimize=False), replace=force)
    except WriteRefused:
        if not force and out.exists():
            raise LibraryError(f"{out} already exists; add --force to overwrite it.") from None
        raise
    except OSError as e:
        raise LibraryError(f"Cannot write {out}: {e.strerror or e}.") from None


def _check_photo_file(photo: Photo) -> None:
    # Said before loading the model, and naming the photo: the bare decode error
    # ("cannot open: No such file or directory") did not say which file or why.
    if not Path(photo.path).is_file():
        raise LibraryError(
            f"{photo.path} is not there now (its folder is offline, or the file "
            "was moved or deleted); reconnect it or run `photoorg scan`."
        )


def _segmenter(weights: WeightStore, settings: Settings, segmenter: str | None, device: str | None):
    from . import models

    return models.load(
        "segmenter", segmenter or settings.segmenter, store=weights, device=device or settings.device
    )


def _cut(store: Store, model, photo: Photo, detection: StoredDetection | None, crop: bool):
    """The RGBA cut-out of one box (None: the main subject), other boxes of the photo
    kept out of its mask; cropped to the subject plus a margin when asked."""
    from .cutout import crop_to_subject, cut_out
    from .imaging import load_image

    image = load_image(photo.path)  # full resolution, upright
    box = detection.box if detection else None
    others = [d.box for d in store.detections_of(photo.id) if detection and d.id != detection.id]
    rgba = cut_out(image, model.mask(image, box, others))
    return crop_to_subject(rgba) if crop else rgba


def make_cutout(
    store: Store,
    weights: WeightStore,
    settings: Settings,
    photo: Photo,
    out: Path,
    subject: str | None = None,
    label: str | None = None,
    force: bool = False,
    segmenter: str | None = None,
    device: str | None = None,
    crop: bool = False,
) -> CutoutResult:
    out = check_output(store, photo, Path(out).expanduser(), force)
    _check_photo_file(photo)
    detection = choose_box(store, photo, subject, label)
    model = _segmenter(weights, settings, segmenter, device)
    rgba = _cut(store, model, photo, detection, crop)
    write_png(rgba, out, force)
    return CutoutResult(out, rgba.size, detection.box if detection else None, detection, model.model_id)


# -- many cut-outs: a search's subjects into a folder -----------------------------------


@dataclass
class CutoutBatch:
    """What a batch wrote, and one (photo path, reason) per subject that failed."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def batch_targets(
    store: Store, photos: list[Photo], labels: frozenset[str] = frozenset()
) -> list[tuple[Photo, StoredDetection | None]]:
    """Every subject to cut out: each box of each photo (only boxes with one of `labels`
    when given), or the photo's main subject where it has no box at all."""
    pairs = []
    for photo in photos:
        boxes = store.detections_of(photo.id)
        if labels:
            pairs += [(photo, d) for d in boxes if d.label in labels]
        else:
            pairs += [(photo, d) for d in boxes] or [(photo, None)]
    return pairs


def cutout_name(photo: Photo, detection: StoredDetection | None) -> str:
    """ "<photo stem>-<photo id>-<name or label>-<box id>.png": the ids keep names from
    different photos (IMG_0001.jpg in two folders) and boxes apart."""
    stem = _safe_name(Path(photo.path).stem)
    what = (
        "main"
        if detection is None
        else (f"{_safe_name(detection.subject_name or detection.label)}-{detection.id}")
    )
    return f"{stem}-{photo.id}-{what}.png"


def _safe_name(text: str) -> str:
    """A file-name part with no separators or dots that could leave the chosen folder."""
    return re.sub(r"[^\w\-]+", "_", text).strip("_.") or "subject"


def _output_folder(folder: Path) -> None:
    """A batch's folder, made when only its last part is missing ("-o ~/Pictures/dogs"
    as a user types it); a missing parent is more likely a typo than a wish for a tree."""
    if folder.is_dir():
        return
    if folder.exists():
        raise LibraryError(f"{folder} is a file; give a folder for the cut-outs.")
    if not folder.parent.is_dir():
        raise LibraryError(f"{folder.parent}: no such folder; create it first.")
    folder.mkdir()


def _free_path(folder: Path, name: str) -> Path:
    """`name` in `folder`, or "<stem>-2.png", "-3"... when taken: never overwrite."""
    target, n = folder / name, 1
    while target.exists():
        n += 1
        target = folder / f"{Path(name).stem}-{n}.png"
    return target


def make_cutouts(
    store: Store,
    weights: WeightStore,
    settings: Settings,
    photos: list[Photo],
    folder: Path,
    labels: frozenset[str] = frozenset(),
    crop: bool = False,
    segmenter: str | None = None,
    device: str | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Work[CutoutBatch]:
    """Cut every subject of `photos` into `folder` (see batch_targets), one PNG each,
    under a unique new name. A subject that fails is recorded and the batch goes on;
    `cancel()` true ends it early with what is done."""
    folder = Path(folder).expanduser()
    pairs = batch_targets(store, photos, labels)
    if pairs:
        _output_folder(folder)
    batch = CutoutBatch()
    if not pairs:
        return batch
    model = _segmenter(weights, settings, segmenter, device)
    started = Progress("cutout", 0, len(pairs)).started
    for n, (photo, detection) in enumerate(pairs):
        if cancel is not None and cancel():
            break
        try:
            _check_photo_file(photo)
            rgba = _cut(store, model, photo, detection, crop)
            batch.written.append(
                write_png(rgba, _free_path(folder, cutout_name(photo, detection)), force=False)
            )
        except (UserError, OSError, ValueError) as e:  # one bad photo must not end the batch
            batch.failed.append((photo.path, str(e)))
        yield Progress("cutout", n + 1, len(pairs), started)
    return batch
