"""Watch commands: `watch` keeps the library in step with its folders until Ctrl-C;
`purge --missing` is the only way photos whose files are gone leave the library."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading

from . import open_library
from .progress import ProgressPrinter


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (nan never came due; 0 meant no pause)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def register(commands) -> None:
    watch = commands.add_parser(
        "watch",
        help="follow the folders as they change (new, moved, deleted photos) until Ctrl-C",
    )
    watch.add_argument("--no-index", action="store_true", help="only scan; index later")
    watch.add_argument(
        "--quiet",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="wait for this long without changes before rescanning (default 1)",
    )
    watch.add_argument(
        "--fallback-interval",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="rescan period of folders the system refuses to watch (default 60)",
    )
    watch.set_defaults(run=cmd_watch)

    purge = commands.add_parser(
        "purge",
        help="remove photos whose files are gone (--missing) from the library; "
        "--undo puts the last purge back",
    )
    what = purge.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--missing", action="store_true", help="photos whose files are missing from their (online) folder"
    )
    what.add_argument(
        "--undo", action="store_true", help="put back the photos, tags and names the last purge removed"
    )
    purge.add_argument(
        "--include-user-data",
        action="store_true",
        help="also remove missing photos that carry your own tags or names",
    )
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(run=cmd_purge)


class _Printer:
    """One line per batch and per offline/online/degraded change; index progress
    on stderr as a redrawn bar."""

    def __init__(self) -> None:
        self.bar = ProgressPrinter()
        self.lock = threading.Lock()

    def __call__(self, notice) -> None:
        with self.lock:
            if notice.kind == "progress":
                if notice.progress.stage == "index":
                    self.bar(notice.progress)
                return
            if notice.kind == "batch" and notice.batch.empty:
                return
            self.bar.close()
            stream = sys.stderr if notice.kind == "error" else sys.stdout
            print(notice.message, file=stream, flush=True)


def _interrupt_on_sigterm() -> None:
    # `kill` (SIGTERM) stops the watcher as cleanly as Ctrl-C does.
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def cmd_watch(args) -> int:
    from ..library import LibraryError
    from ..watch import WatchOptions

    with open_library(args) as lib:
        roots = lib.roots()
        if not roots:
            raise LibraryError("No folders to watch yet; add one with `photoorg add PATH`.")
        options = WatchOptions(
            quiet=args.quiet,
            max_delay=max(10.0, args.quiet * 4),
            fallback_interval=args.fallback_interval,
            index=not args.no_index,
        )
        service = lib.watcher(on_notice=_Printer(), options=options)
    names = ", ".join(r.path for r in roots)
    print(
        f"Watching {len(roots)} folder{'s' if len(roots) != 1 else ''} ({names}); Ctrl-C to stop.", flush=True
    )
    _interrupt_on_sigterm()
    service.start()
    try:
        while service.running:
            service.join(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
    if service.error is not None:  # already said, as an error notice
        return 1
    print("Stopped watching; work done so far is saved.", flush=True)
    return 0


def _photos(n: int) -> str:
    return f"{n} missing photo" + ("" if n == 1 else "s")


def _listing(item) -> str:
    carries = [f"tags: {', '.join(item.tags)}"] if item.tags else []
    carries += [f"names: {', '.join(item.names)}"] if item.names else []
    return f"  {item.photo.path}" + (f"  ({'; '.join(carries)})" if carries else "")


def _show_plan(plan, include_user_data: bool) -> list:
    """Print what will go and what stays; return the items that will go."""
    for kept in plan.kept[:10]:
        print(f"  kept: {kept.photo.path}: {kept.why}")
    if len(plan.kept) > 10:
        print(f"  ... and {len(plan.kept) - 10} more kept")
    going = [i for i in plan.items if include_user_data or not i.user_data]
    # Everything with user data is listed in full: that is what the user would lose.
    shown = [i for i in going if i.user_data] + [i for i in going if not i.user_data][:10]
    for item in shown:
        print(_listing(item))
    if len(going) > len(shown):
        print(f"  ... and {len(going) - len(shown)} more without tags or names")
    held = len(plan.with_user_data) if not include_user_data else 0
    if held:
        print(
            f"{_photos(held)} carry your own tags or names and stay; add "
            "--include-user-data to remove them too."
        )
    return going


def cmd_purge(args) -> int:
    from ..library import LibraryError

    with open_library(args) as lib:
        if args.undo:
            restored = lib.undo_purge()
            print(
                f"Put back {_photos(restored)}, with their tags and names; "
                "run `photoorg scan` if their files are back."
            )
            return 0
        plan = lib.purge_plan()
        if not plan.items and not plan.kept:
            print("No missing photos.")
            return 0
        going = _show_plan(plan, args.include_user_data)
        if not going:
            print("Nothing to remove now.")
            return 0
        if not args.yes:
            if not sys.stdin.isatty():
                raise LibraryError(
                    f"{_photos(len(going))} would be removed; add --yes to confirm without a terminal."
                )
            answer = input(
                f"Remove {_photos(len(going))}, with their tags and names, "
                "from the library? Files are not touched. [y/N] "
            )
            if answer.strip().lower() not in ("y", "yes"):
                print("Nothing removed.")
                return 0
        removed = lib.purge_missing(include_user_data=args.include_user_data)
    print(
        f"Removed {_photos(removed)} from the library; no file was touched "
        "(`photoorg purge --undo` puts them back)."
    )
    return 0
