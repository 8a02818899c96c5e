"""People and pets commands: people, name, merge, move-out."""

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
