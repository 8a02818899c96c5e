"""People and pets commands: people, name, merge, move-out, and `face` for the faces of
one photo (list them, name one, draw a missed one by hand, remove a drawn one)."""

from __future__ import annotations

import json
import sys

from . import open_library


def register(commands) -> None:
    listing = commands.add_parser("people", help="groups of faces (and pets), largest first")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--pets", action="store_true", help="pet groups only")
    listing.add_argument(
        "--recluster", action="store_true", help="redo the unnamed groups from scratch (named ones stay)"
    )
    listing.set_defaults(run=cmd_people)

    name = commands.add_parser("name", help="name a group: every face in it is named")
    name.add_argument("group", metavar="GROUP", help="a group number from `photoorg people`")
    name.add_argument("name", nargs="+", metavar="NAME")
    name.set_defaults(run=cmd_name)

    merge = commands.add_parser("merge", help="put the second group's faces into the first")
    merge.add_argument("group", metavar="GROUP")
    merge.add_argument("other", metavar="GROUP")
    merge.set_defaults(run=cmd_merge)

    move = commands.add_parser("move-out", help="take a wrongly grouped face out of its group")
    move.add_argument("face", type=int, metavar="FACE")
    move.add_argument(
        "--not-this-person",
        action="store_true",
        help="and never name or suggest it as this group's person again",
    )
    move.set_defaults(run=cmd_move_out)
    _register_face(commands)


def _register_face(commands) -> None:
    face = commands.add_parser("face", help="the faces of one photo: list, name, draw a missed one")
    actions = face.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the photo's faces with their numbers and names")
    listing.add_argument("photo", metavar="PHOTO")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=cmd_face_list)
    add = actions.add_parser("add", help="draw a face the finder missed")
    add.add_argument("photo", metavar="PHOTO")
    add.add_argument(
        "box",
        metavar="X,Y,W,H",
        help="in pixels of the photo as viewers show it (upright), from its top left",
    )
    add.add_argument("--name", nargs="+", metavar="NAME")
    add.set_defaults(run=cmd_face_add)
    name = actions.add_parser("name", help="name one face (an unnamed group is named whole)")
    name.add_argument("face", type=int, metavar="FACE")
    name.add_argument("name", nargs="+", metavar="NAME")
    name.set_defaults(run=cmd_face_name)
    remove = actions.add_parser("remove", help="take back a face drawn by hand")
    remove.add_argument("face", type=int, metavar="FACE")
    remove.set_defaults(run=cmd_face_remove)


def _describe(g) -> str:
    who = g.name or "(unnamed)"
    kind = "" if g.kind == "person" else f" [{g.kind}]"
    return f"{g.id:>6}  {who}{kind}: {g.size} face{'s' if g.size != 1 else ''}"


def cmd_people(args) -> int:
    from .. import people  # numpy and the store: not on `photoorg --help`'s path

    with open_library(args) as lib:
        people.group_new_faces(lib.store)
        if args.recluster:
            people.recluster(lib.store)
        found = people.groups(lib.store, "pet" if args.pets else None)
        totals = people.scan_totals(lib.store)
        paths = {p.id: p.path for p in lib.store.photos({g.cover_photo_id for g in found})}
    if args.json:
        json.dump(
            {
                "groups": [
                    {
                        "group": g.id,
                        "kind": g.kind,
                        "name": g.name,
                        "faces": g.size,
                        "cover_face": g.cover_id,
                        "cover_photo": paths.get(g.cover_photo_id),
                        "cover_box": list(g.cover_box),
                    }
                    for g in found
                ],
                "scanned": totals,
            },
            sys.stdout,
            indent=2,
        )
        print()
        return 0
    for g in found:
        print(_describe(g))
    if not found:
        print("No faces yet: faces are found while photos are indexed (`photoorg index`).")
    if totals["too_small"] or totals["capped"]:
        print(
            f"Left out: {totals['too_small']} faces too small to recognise"
            + (
                f", {totals['capped']} beyond the per-photo cap in {totals['crowded']} crowded photos"
                if totals["capped"]
                else ""
            )
            + "."
        )
    return 0


def cmd_name(args) -> int:
    from .. import people  # numpy and the store: not on `photoorg --help`'s path

    name = " ".join(args.name)
    with open_library(args) as lib:
        group = people.name_group(lib.store, people.find_group(lib.store, args.group).id, name)
    term = f'"{group.name}"' if " " in group.name else group.name
    print(
        f"Named group {group.id} {group.name}: {group.size} faces; "
        f"`photoorg search person:{term}` finds them."
    )
    return 0


def cmd_merge(args) -> int:
    from .. import people  # numpy and the store: not on `photoorg --help`'s path

    with open_library(args) as lib:
        group = people.merge(lib.store, args.group, args.other)
    print(
        f"Merged into group {group.id}"
        + (f" ({group.name})" if group.name else "")
        + f": {group.size} faces."
    )
    return 0


def cmd_move_out(args) -> int:
    from .. import people  # numpy and the store: not on `photoorg --help`'s path

    with open_library(args) as lib:
        new = people.move_out(lib.store, args.face, args.not_this_person)
    print(f"Face {args.face} is now alone in group {new}.")
    return 0


def _pixel_box(text: str, photo) -> tuple[float, float, float, float]:
    """X,Y,W,H in the upright photo's pixels -> the normalised box faces are stored in."""
    from ..people import PeopleError

    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise PeopleError(f"{text!r} is not a box; write X,Y,W,H in pixels, such as 120,80,64,64.") from None
    if not photo.width or not photo.height:
        raise PeopleError(f"{photo.path} is not indexed yet, so a face cannot be drawn on it.")
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > photo.width or y + h > photo.height:
        raise PeopleError(
            f"The box {text} is not inside the photo, which is {photo.width} x {photo.height} pixels."
        )
    return (x / photo.width, y / photo.height, (x + w) / photo.width, (y + h) / photo.height)


def _face_line(pf, photo) -> str:
    f = pf.face
    x0, y0, x1, y1 = (round(v * s) for v, s in zip(f.box, (photo.width, photo.height) * 2))
    how = " (drawn by hand)" if f.by_hand else ""
    kind = "" if f.kind == "person" else f" [{f.kind}]"
    return f"{f.id:>6}  {pf.label}{kind}: {x0},{y0},{x1 - x0},{y1 - y0}{how}"


def cmd_face_list(args) -> int:
    with open_library(args) as lib:
        photo = lib.photo(args.photo)
        found = lib.faces(photo)
    if args.json:
        json.dump(
            [
                {
                    "face": pf.face.id,
                    "kind": pf.face.kind,
                    "name": pf.face.subject_name,
                    "suggestion": pf.suggestion,
                    "group": pf.face.group_id,
                    "box": list(pf.face.box),
                    "by_hand": pf.face.by_hand,
                }
                for pf in found
            ],
            sys.stdout,
            indent=2,
        )
        print()
        return 0
    for pf in found:
        print(_face_line(pf, photo))
    if not found:
        print("No faces in this photo; `photoorg face add PHOTO X,Y,W,H` draws a missed one.")
    return 0


def cmd_face_add(args) -> int:
    from ..photo_faces import HAND_MODEL  # numpy and the store: not on `photoorg --help`'s path

    with open_library(args) as lib:
        photo = lib.photo(args.photo)
        face = lib.draw_face(photo, _pixel_box(args.box, photo), " ".join(args.name) if args.name else None)
        described = face.model != HAND_MODEL
    who = f" as {face.subject_name}" if face.subject_name else ""
    print(
        f"Drew face {face.id}{who}"
        + ("." if described else "; the face models are not installed, so it is kept as a plain box.")
    )
    return 0


def cmd_face_name(args) -> int:
    with open_library(args) as lib:
        face = lib.name_face(args.face, " ".join(args.name))
    print(f"Face {face.id} is {face.subject_name}.")
    return 0


def cmd_face_remove(args) -> int:
    with open_library(args) as lib:
        lib.remove_drawn_face(args.face)
    print(f"Removed face {args.face}.")
    return 0
