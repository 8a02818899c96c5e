"""`photoorg gui`: the desktop app's subcommand. It lives with the app, not in the CLI,
so the core and the CLI never reach Qt (import-linter checks it); `photoorg.__main__`
adds it to the CLI's commands. Qt is imported only when the command runs."""

from __future__ import annotations

import sys

from ..library import Library
from .app import QtUnusable, run


def register(commands) -> None:
    gui = commands.add_parser("gui", help="open the desktop app")
    gui.add_argument(
        "--no-watch",
        action="store_true",
        help="do not follow folder changes while open (rescan on start only)",
    )
    gui.set_defaults(run=cmd_gui)


def cmd_gui(args) -> int:
    Library(args.library).close()  # a bad library folder is one sentence here, not a dialog
    try:
        return run(args.library, watch=not args.no_watch)
    except QtUnusable as e:
        print(f"photoorg: {e}", file=sys.stderr)
        return 2
