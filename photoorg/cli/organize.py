"""Organize commands: dupes, organize, rename, undo, xmp write/read."""

from __future__ import annotations

import json
import os
import sys

from . import open_library
from .progress import ProgressPrinter


def register(commands) -> None:
    dupes = commands.add_parser(
        "dupes",
        help="find duplicates, near-duplicates and bursts; trash the others on request",
    )
    dupes.add_argument("--json", action="store_true")
    dupes.add_argument(
        "--trash",
        action="store_true",
        help="send every duplicate but the keeper to the system trash (asks first)",
    )
    dupes.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="PATH",
        help="keep this photo in its group instead of the suggested keeper",
    )
    dupes.add_argument("--yes", action="store_true", help="do not ask before trashing")
    dupes.add_argument("--no-clip", action="store_true", help="ignore CLIP embeddings")
    dupes.set_defaults(run=cmd_dupes)
    _register_organize(commands)
    _register_xmp(commands)


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
            index = next(
                (i for i, g in enumerate(groups) if photo.id in {m.id for m in g.members}),
                None,
            )
            if index is None:
                raise DupesError(f"{path} is in no group of duplicates.")
            keep[index] = photo.id
        if args.json and not args.trash:
            json.dump(
                {
                    "rule": KEEPER_RULE,
                    "groups": [
                        {
                            "tier": g.label,
                            "duplicate": g.is_duplicate,
                            "keeper": g.keeper.path,
                            "members": [
                                {"path": m.path, "keep": m.keep, "relation": m.relation} for m in g.members
                            ],
                        }
                        for g in groups
                    ],
                },
                sys.stdout,
                indent=2,
            )
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
        print(
            f"Sent {len(report.trashed)} files to the system trash; their tags and names "
            f"are on the {len(report.kept)} kept photos."
        )
    return 0


def _register_organize(commands) -> None:
    organize = commands.add_parser(
        "organize",
        help="sort photos into folders by a pattern (preview with --dry-run; undoable)",
        description="Sort photos (all, or those a QUERY finds) into folders named by a pattern, "
        'e.g. "{year}/{month:02}-{event}". Fields: year month day hour minute second date camera '
        "make model tag person pet subject name ext folder album event counter; fallbacks as "
        '{album|year} or {tag|"untagged"}. `photoorg undo` puts everything back.',
    )
    organize.add_argument("query", nargs="*", metavar="QUERY")
    organize.add_argument("--into", required=True, metavar="DIR")
    organize.add_argument("--pattern", default="{year}/{month:02}", metavar="PATTERN")
    by = organize.add_mutually_exclusive_group()
    by.add_argument("--by-tag", action="store_true", help="a folder per tag first")
    by.add_argument(
        "--by-person",
        action="store_true",
        help="a folder per named person or pet first",
    )
    how = organize.add_mutually_exclusive_group()
    how.add_argument("--copy", action="store_true", help="copy; the originals stay")
    how.add_argument("--move", action="store_true", help="move (the default)")
    organize.add_argument("--dry-run", action="store_true", help="show the plan; change nothing")
    organize.set_defaults(run=cmd_organize)

    rename = commands.add_parser(
        "rename",
        help="rename photos by a pattern (preview with --dry-run; undoable)",
        description="Rename the photos given as paths, or found by QUERY, in place, e.g. "
        '"{year}{month:02}{day:02}_{counter:03}". The extension is kept.',
    )
    rename.add_argument("query", nargs="+", metavar="QUERY_OR_PATH")
    rename.add_argument("--pattern", required=True, metavar="PATTERN")
    rename.add_argument("--dry-run", action="store_true")
    rename.set_defaults(run=cmd_rename)

    undo = commands.add_parser("undo", help="undo the last organize or rename")
    undo.set_defaults(run=cmd_undo)


def _show_plan(plan, dry_run: bool) -> None:
    for c in plan.changes:
        note = f"  (date: {c.date_from})" if c.date_from else "  (sidecar)"
        print(f"{_relative(c.src)} -> {_relative(c.dst)}{note}")
    if plan.unchanged:
        print(f"{len(plan.unchanged)} photos are already where the pattern puts them.")
    if plan.new_root:
        print(f"{plan.new_root} becomes a library folder, so the photos stay in the library.")
    verb = "copied" if plan.copy else ("renamed" if plan.kind == "rename" else "moved")
    count = len(plan.changes)
    print(
        f"Dry run: {count} files would be {verb}; nothing was changed."
        if dry_run
        else f"{count} files to be {verb}."
    )


def _apply(lib, plan) -> None:
    from ..organize import apply
    from ..progress import drive

    bar = ProgressPrinter()
    report = drive(apply(lib, plan), bar)
    bar.close()
    print(f"Done: {report.files} files ({report.photos} photos); `photoorg undo` puts them back.")


def cmd_organize(args) -> int:
    from ..organize import plan, select

    pattern = (
        '{tag|"untagged"}/' if args.by_tag else '{subject|"nobody"}/' if args.by_person else ""
    ) + args.pattern
    with open_library(args) as lib:
        the_plan = plan(lib, select(lib, args.query), pattern, into=args.into, copy=args.copy)
        _show_plan(the_plan, args.dry_run)
        if not args.dry_run and the_plan.changes:
            _apply(lib, the_plan)
    return 0


def cmd_rename(args) -> int:
    from ..organize import plan, select

    with open_library(args) as lib:
        the_plan = plan(lib, select(lib, args.query), args.pattern, rename=True)
        _show_plan(the_plan, args.dry_run)
        if not args.dry_run and the_plan.changes:
            _apply(lib, the_plan)
    return 0


def cmd_undo(args) -> int:
    from ..journal import undo

    with open_library(args) as lib:
        report = undo(lib.store, lib.folder)
    print(
        f"Undid {report.run.description}: {report.restored} files put back"
        + (f", {report.removed_copies} copies removed" if report.removed_copies else "")
        + "."
    )
    for problem in report.problems:
        print(f"  {problem}")
    return 1 if report.problems else 0


def _register_xmp(commands) -> None:
    xmp = commands.add_parser("xmp", help="write tags and names to .xmp sidecars, or read them back")
    actions = xmp.add_subparsers(dest="action", metavar="ACTION", required=True)
    write = actions.add_parser("write", help="write your tags and named people/pets to photo.jpg.xmp")
    write.add_argument("query", nargs="*", metavar="QUERY_OR_PATH")
    write.add_argument("--auto", action="store_true", help="write automatic tags too")
    write.set_defaults(run=cmd_xmp_write)
    read = actions.add_parser("read", help="import keywords and named regions other apps wrote")
    read.add_argument("query", nargs="*", metavar="QUERY_OR_PATH")
    read.set_defaults(run=cmd_xmp_read)


def cmd_xmp_write(args) -> int:
    from .. import xmp
    from ..organize import select

    with open_library(args) as lib:
        report = xmp.write(lib.store, select(lib, args.query), auto=args.auto)
    for path, why in report.failed:
        print(f"{path}: {why}", file=sys.stderr)
    print(
        f"Wrote {len(report.written)} sidecars; {report.skipped} photos had no tags or names "
        "to write. The photos themselves were not touched."
    )
    return 1 if report.failed else 0


def cmd_xmp_read(args) -> int:
    from .. import xmp
    from ..organize import select

    with open_library(args) as lib:
        report = xmp.read(lib.store, select(lib, args.query))
    for path, why in report.failed:
        print(f"{path}: {why}", file=sys.stderr)
    print(
        f"Read sidecars of {report.photos} photos: {report.keywords} new tags, "
        f"{report.names} named people and pets."
    )
    return 1 if report.failed else 0
