"""`photoorg gui`: the desktop app. Qt is imported only when the command runs, so
the rest of the CLI starts without it."""

from __future__ import annotations


def register(commands) -> None:
    gui = commands.add_parser("gui", help="open the desktop app")
    gui.add_argument("--no-watch", action="store_true",
                     help="do not follow folder changes while open (rescan on start only)")
    gui.set_defaults(run=cmd_gui)


def cmd_gui(args) -> int:
    from ..library import Library

    Library(args.library).close()  # a bad library folder is one sentence here, not a dialog
    from ..ui.app import QtUnusable, run

    try:
        return run(args.library, watch=not args.no_watch)
    except QtUnusable as e:
        import sys

        print(f"photoorg: {e}", file=sys.stderr)
        return 2
