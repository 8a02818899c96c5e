"""Library commands: add, remove, scan, status, errors, search, tag."""

from __future__ import annotations

import argparse
import json
import sys

from . import open_library
from .progress import ProgressPrinter


def register(commands) -> None:
    add = commands.add_parser("add", help="add photo folders to the library and index them")
    add.add_argument("paths", nargs="+", metavar="PATH")
    add.add_argument("--no-index", action="store_true", help="only scan; index later")
    add.set_defaults(run=cmd_add)

    remove = commands.add_parser("remove", help="forget a folder (its files are never touched)")
    remove.add_argument("path", metavar="PATH")
    remove.set_defaults(run=cmd_remove)

    scan = commands.add_parser("scan", help="rescan folders for new, changed, moved and missing photos")
    scan.add_argument("paths", nargs="*", metavar="PATH", help="folders to scan (default: all)")
    scan.add_argument("--no-index", action="store_true", help="only scan; index later")
    scan.add_argument(
        "--confirm-missing",
        action="store_true",
        help="the photos gone from these folders are really gone: mark them "
        "missing even when none is left or many went at once",
    )
    scan.set_defaults(run=cmd_scan)

    status = commands.add_parser("status", help="photos per state and folders online/offline")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=cmd_status)

    errors = commands.add_parser("errors", help="photos and files that could not be read, and why")
    errors.add_argument("--json", action="store_true")
    errors.set_defaults(run=cmd_errors)

    tag = commands.add_parser("tag", help="add or remove your own tags on a photo")
    tag.add_argument("path", metavar="PATH")
    tag.add_argument("--add", action="append", default=[], metavar="TAG")
    tag.add_argument("--remove", action="append", default=[], metavar="TAG")
    tag.set_defaults(run=cmd_tag)

    search = commands.add_parser(
        "search",
        help="find photos",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_query_help(),
    )
    search.add_argument("query", nargs="*", metavar="QUERY")
    search.add_argument("--json", action="store_true")
    search.add_argument("--limit", type=int, default=50, metavar="N")
    search.set_defaults(run=cmd_search)


def _query_help() -> str:
    from ..search import QUERY_HELP

    return QUERY_HELP


def _scan_and_index(lib, work, index: bool) -> int:
    from ..progress import drive

    bar = ProgressPrinter()
    results = drive(work, bar)
    bar.close()
    for r in results:
        if not r.online:
            print(f"{r.root}: offline: {r.offline_reason}; its photos are kept as they were.")
            continue
        print(
            f"{r.root}: {r.seen} photos, {r.new} new, {r.changed} changed, "
            f"{r.moved} moved, {r.missing} missing"
        )
        if r.unconfirmed:
            print(
                f"  {r.unconfirmed} photos look gone at once; they are kept, unconfirmed. "
                f"If they are really gone: photoorg scan --confirm-missing {r.root}"
            )
        for problem in r.problems:
            print(f"  {problem.path}: {problem.reason}")
    if index:
        _index(lib)
    return 0


def _index(lib) -> None:
    # `index` itself, with its options, lives in cli/models.py.
    from .models import run_index_and_report

    run_index_and_report(lib)


def cmd_add(args) -> int:
    with open_library(args) as lib:
        return _scan_and_index(lib, lib.add(args.paths), not args.no_index)


def cmd_remove(args) -> int:
    with open_library(args) as lib:
        root = lib.remove_root(args.path)
        print(f"Removed {root.path} from the library; no file was touched.")
    return 0


def cmd_scan(args) -> int:
    with open_library(args) as lib:
        work = lib.scan(args.paths or None, confirm_missing=args.confirm_missing)
        return _scan_and_index(lib, work, not args.no_index)


def cmd_status(args) -> int:
    with open_library(args) as lib:
        status = lib.status()
    if args.json:
        json.dump(
            {
                "library": str(status.folder),
                "counts": status.counts,
                "roots": [
                    {
                        "path": r.root.path,
                        "online": r.root.online,
                        "offline_reason": r.root.offline_reason,
                        "counts": r.counts,
                        "unconfirmed_missing": r.unconfirmed,
                    }
                    for r in status.roots
                ],
            },
            sys.stdout,
            indent=2,
        )
        print()
        return 0
    print(f"Library: {status.folder}")
    print("Photos: " + ", ".join(f"{n} {state}" for state, n in status.counts.items()))
    if not status.roots:
        print("No folders yet: add one with `photoorg add PATH`.")
    for r in status.roots:
        state = "online" if r.root.online else f"offline ({r.root.offline_reason})"
        print(f"  {r.root.path}: {state}, {sum(r.counts.values())} photos")
        if r.unconfirmed:
            print(
                f"    {r.unconfirmed} photos looked gone at once and are kept, unconfirmed; "
                f"if they are really gone: photoorg scan --confirm-missing {r.root.path}"
            )
    return 0


def cmd_errors(args) -> int:
    with open_library(args) as lib:
        problems = lib.problems()
    if args.json:
        json.dump([{"path": p.path, "reason": p.reason} for p in problems], sys.stdout, indent=2)
        print()
    elif not problems:
        print("No problems.")
    for p in problems if not args.json else ():
        print(f"{p.path}: {p.reason}")
    return 0


def cmd_tag(args) -> int:
    if not args.add and not args.remove:
        print("photoorg: say what to do: --add TAG and/or --remove TAG.", file=sys.stderr)
        return 2
    with open_library(args) as lib:
        tags = lib.tag(args.path, args.add, args.remove)
    print(", ".join(f"{t.tag}" + (" (auto)" if t.source == "auto" else "") for t in tags) or "no tags")
    return 0


def _has_free_text(query: str) -> bool:
    from ..query import parse

    return bool(parse(query).terms)


def cmd_search(args) -> int:
    from ..library import LibraryError

    if args.limit < 1:  # else it printed "No photos match" over a library full of matches
        raise LibraryError(f"--limit {args.limit}: give how many photos to show, 1 or more.")
    query = " ".join(args.query)
    with open_library(args) as lib:
        hits = lib.search(query, limit=args.limit)
        if lib.text_encoder() is None and _has_free_text(query):
            clip = lib.settings().clip
            print(
                f"Note: matching tags, names and file names only; similarity search waits "
                f"for the model {clip} (photoorg models download {clip}).",
                file=sys.stderr,
            )
    if args.json:
        json.dump(
            [
                {
                    "path": h.photo.path,
                    "score": round(h.score, 4),
                    "why": h.why,
                    "box": list(h.box) if h.box else None,
                }
                for h in hits
            ],
            sys.stdout,
            indent=2,
        )
        print()
        return 0
    for h in hits:
        print(f"{h.score:6.3f}  {h.photo.path}  ({'; '.join(h.why)})")
    if not hits:
        print("No photos match.")
    return 0
