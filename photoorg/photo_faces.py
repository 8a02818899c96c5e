"""The faces of one photo, one at a time: what the viewer draws and `photoorg face list`
prints, naming a face or saying "not this person" from the photo, and faces drawn by
hand.

A face the finder missed (a profile, a hat, a face behind a glass; LibrePhotos #598) is
drawn by the user. Its box is stored like a found one (normalised to the upright photo,
so EXIF rotation is already applied) and marked by_hand: the face stage never replaces
nor drops it (face_stage.save). When the face model is installed the drawn face is
described at once, so it joins a group like any other face; without the model it is a
plain named box (model HAND_MODEL, no vector), described by the next index run that has
the model (Library.index -> describe_drawn), as is a drawn face after a face-model
change. Describing one drawn face (decode near FACE_SIDE, align, describe) costs about
150 ms CPU on a 150-px faces-mini photo and 230 ms on a 12-MP JPEG (2 shared cores,
load 6), on the viewer's task thread.

Naming from the photo follows the People view: an unnamed group is named whole (a user
names a person once); a face that is someone else than its group's name is moved out of
that group ("not Ana"), then named.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import people
from .db import Photo, Store
from .db import faces as facedb
from .db.faces import Face, NewFace
from .face_stage import FACE_SIDE, SAME_FACE_IOU
from .imaging import DecodeError, load_image
from .models.detect import box_iou
from .people import PeopleError

HAND_MODEL = "drawn-by-hand"  # the model of a drawn face that no face model described yet
MIN_DRAWN_PX = 12  # in the photo's own pixels: smaller is a slip of the mouse
CONTEXT = 0.5  # of the face's side, around it: the landmark model wants the whole head
DESCRIBE_SIDE = 200  # px of the face in the crop the model sees (its chip is 150 px)


@dataclass(frozen=True)
class PhotoFace:
    face: Face
    suggestion: str | None  # the group's name, for a face in a named group not named yet

    @property
    def label(self) -> str:
        if self.face.subject_name:
            return self.face.subject_name
        return f"{self.suggestion}?" if self.suggestion else "Unnamed"


def photo_faces(store: Store, photo_id: int) -> list[PhotoFace]:
    found = facedb.faces_of(store, photo_id, "all")
    names = facedb.group_names(store, [f.group_id for f in found if f.group_id is not None])
    return [PhotoFace(f, None if f.subject_name else names.get(f.group_id, (None, None))[1]) for f in found]


def _one(store: Store, face_id: int) -> Face:
    found = facedb.faces(store, [face_id])
    if not found:
        raise PeopleError(f"There is no face {face_id}; the photo may have been re-indexed.")
    return found[0]


def name_face(store: Store, face_id: int, name: str) -> Face:
    """Name one face from its photo; returns it as stored afterwards."""
    face = _one(store, face_id)
    group = facedb.group(store, face.group_id) if face.group_id is not None else None
    with store.transaction():
        if group is not None and group.name == " ".join(name.split()):
            facedb.name_face(store, face.id, group.subject_id, "user")  # "yes, it is Ana"
        elif group is not None and group.subject_id is None:
            people.name_group(store, group.id, name)
        else:
            # Alone, or in someone else's group: it is not that person, it is `name`.
            alone = people.move_out(store, face.id, not_this_person=group is not None)
            people.name_group(store, alone, name)
    return _one(store, face_id)


def not_this_person(store: Store, face_id: int) -> int:
    """The face is not the name it carries or is suggested as: moved out of its group
    and never named or suggested so again. Returns its new group."""
    face = _one(store, face_id)
    group = facedb.group(store, face.group_id) if face.group_id is not None else None
    if face.subject_id is None and (group is None or group.subject_id is None):
        raise PeopleError("This face has no name to say no to; name it instead.")
    return people.move_out(store, face.id, not_this_person=True)


# -- drawn by hand ------------------------------------------------------------------


def draw_face(store: Store, photo: Photo, box, model=None, name: str | None = None) -> Face:
    """A face the user drew on the photo (box normalised to the upright photo).
    `model`, the face model when installed, describes it so it joins a group."""
    box = _checked_box(photo, box)
    for other in facedb.faces_of(store, photo.id, "all"):
        if box_iou(other.box, box) >= SAME_FACE_IOU:
            raise PeopleError(f"There is already a face there (face {other.id}); name that one instead.")
    model_id, vector = HAND_MODEL, np.zeros(0, np.float32)
    if model is not None:
        try:
            model_id, vector = model.model_id, describe(model, photo.path, box)
        except (DecodeError, OSError):
            pass  # an offline folder: a plain box now, described by a later index run
    side = (box[2] - box[0]) * (photo.width or 1)
    with store.transaction():
        face_id = facedb.insert_face(
            store, photo.id, model_id, NewFace("person", box, 1.0, side, vector), True
        )
        if name:
            group = facedb.new_group(store, "person")
            facedb.set_groups(store, [(face_id, group)])
            people.name_group(store, group, name)
    if not name and vector.size:
        people.group_new_faces(store)
    return _one(store, face_id)


def _checked_box(photo: Photo, box) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (min(1.0, max(0.0, float(v))) for v in box)
    x0, x1, y0, y1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    width, height = photo.width or 0, photo.height or 0
    if not width or not height:
        raise PeopleError(f"{photo.path} is not indexed yet, so a face cannot be drawn on it.")
    w, h = round((x1 - x0) * width), round((y1 - y0) * height)
    if min(w, h) < MIN_DRAWN_PX:
        raise PeopleError(
            f"A face must be at least {MIN_DRAWN_PX} pixels wide and high inside the photo; "
            f"this box is {w} x {h}."
        )
    return x0, y0, x1, y1


def describe(model, path: str, box) -> np.ndarray:
    """The face model's vector for a drawn box: the head with some context, decoded
    near the size the model wants, aligned by its landmarks like a found face."""
    image = load_image(path, max_side=FACE_SIDE)
    w, h = image.size
    side = max((box[2] - box[0]) * w, (box[3] - box[1]) * h)
    pad = side * CONTEXT
    crop_box = (
        max(0, int(box[0] * w - pad)),
        max(0, int(box[1] * h - pad)),
        min(w, round(box[2] * w + pad)),
        min(h, round(box[3] * h + pad)),
    )
    crop = image.crop(crop_box)
    scale = DESCRIBE_SIDE / max(side, 1)
    crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))))
    local = tuple(
        round(v)
        for v in (
            (box[0] * w - crop_box[0]) * scale,
            (box[1] * h - crop_box[1]) * scale,
            (box[2] * w - crop_box[0]) * scale,
            (box[3] * h - crop_box[1]) * scale,
        )
    )
    return model.embed(np.asarray(crop.convert("RGB")), [local])[0]


def describe_drawn(store: Store, model) -> int:
    """Describe, with `model`, every drawn face it has not described (drawn without a
    face model, or under another one); returns how many. A photo that cannot be read
    now keeps its face as it is until the next run."""
    drawn = facedb.drawn_not_by(store, model.model_id)
    photos = {p.id: p for p in store.photos({f.photo_id for f in drawn})}
    described = 0
    for face in drawn:
        try:
            vector = describe(model, photos[face.photo_id].path, face.box)
        except (DecodeError, OSError, KeyError):
            continue
        with store.transaction():
            facedb.set_vector(store, face.id, model.model_id, vector)
        described += 1
    return described


def remove_drawn(store: Store, face_id: int) -> None:
    """Take back a face drawn by hand (a found face is moved out, not removed)."""
    face = _one(store, face_id)
    if not face.by_hand:
        raise PeopleError(
            f"Face {face_id} was found by the face finder, not drawn: move it out of its "
            f"group or say it is not this person instead."
        )
    with store.transaction():
        facedb.delete_faces(store, [face.id])
        facedb.drop_empty_groups(store)
