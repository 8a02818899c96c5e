"""Organize commands: dupes, organize, rename, undo, xmp."""

from __future__ import annotations

import json
import os
import sys

from . import open_library
from .progress import ProgressPrinter


def register(commands) -> None:
    dupes = commands.add_parser(
        "dupes", help="find duplicates, near-duplicates and bursts; trash the others on request")
    dupes.add_argument("--json", action="store_true")
    dupes.add_argument("--trash", action="store_true",
                       help="send every duplicate but the keeper to the system trash (asks first)")
    dupes.add_argument("--keep", action="append", default=[], metavar="PATH",
                       help="keep this photo in its group instead of the suggested keeper")
    dupes.add_argument("--yes", action="store_true", help="do not ask before trashing")
    dupes.add_argument("--no-clip", action="store_true", help="ignore CLIP embeddings")
    dupes.set_defaults(run=cmd_dupes)


def _relative(path: str) -> str:
    return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_dupes(args) -> int:
    from ..dupes import KEEPER_RULE, DupesError, find_groups, trash_others
    from ..progress import drive

    with open_library(args) as lib:
        bar = ProgressPrinter()
        groups = drive(find_groups(lib.store, lib.thumbs_dir, use_clip=not args.no_clip), bar)
        bar.close()
        keep = {}
        for path in args.keep:
            photo = lib.photo(path)
            index = next((i for i, g in enumerate(groups) if photo.id in {m.id for m in g.members}), None)
            if index is None:
                raise DupesError(f"{path} is in no group of duplicates.")
            keep[index] = photo.id
        if args.json and not args.trash:
            json.dump({"rule": KEEPER_RULE, "groups": [
                {"tier": g.label, "duplicate": g.is_duplicate, "keeper": g.keeper.path,
                 "members": [{"path": m.path, "keep": m.keep, "relation": m.relation}
                             for m in g.members]} for g in groups]}, sys.stdout, indent=2)
            print()
            return 0
        for number, g in enumerate(groups, 1):
            print(f"Group {number}: {g.label}, {len(g.members)} photos")
            for m in g.members:
                mark = "keep " if keep.get(number - 1, g.keeper.id) == m.id else "     "
                print(f"  {mark}{m.path}  ({m.relation})")
        if not groups:
            print("No duplicates or bursts found.")
            return 0
        print(KEEPER_RULE[0].upper() + KEEPER_RULE[1:] + ".")
        if not args.trash:
            return 0
        chosen = [i for i, g in enumerate(groups) if g.is_duplicate or i in keep]
        count = sum(len(groups[i].members) - 1 for i in chosen)
        if not count:
            print("Nothing to trash: bursts are kept whole unless you --keep one frame.")
            return 0
        if not args.yes and not _confirm(f"Send {count} files to the system trash?"):
            print("Nothing was trashed (answer y, or pass --yes).")
            return 1
        report = trash_others(lib.store, lib.folder, groups, keep)
        print(f"Sent {len(report.trashed)} files to the system trash; their tags and names "
              f"are on the {len(report.kept)} kept photos.")
    return 0
