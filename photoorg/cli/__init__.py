"""The `photoorg` command. One module per group of commands; each registers its
subcommands and gets the opened Library. User mistakes end as one sentence on
stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import UserError

# Modules that define subcommands, in the order `--help` lists them.
COMMAND_MODULES = ("library", "watch", "models", "people", "organize")


def build_parser(extra_commands=()) -> argparse.ArgumentParser:
    """`extra_commands`: more modules with a `register(commands)`, listed last (the
    desktop app's `gui`, which photoorg.__main__ adds: the CLI never imports the app)."""
    parser = argparse.ArgumentParser(
        prog="photoorg",
        description="A local-first photo library: folders that index themselves, tags, "
        "people and pets, search and cut-outs. Nothing leaves this machine.",
    )
    parser.add_argument("--version", action="version", version=f"photoorg {__version__}")
    parser.add_argument(
        "--library",
        metavar="DIR",
        help="library folder (default: $PHOTOORG_LIBRARY, else your user data folder)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f".{name}", __name__).register(commands)
    for module in extra_commands:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None, extra_commands=()) -> int:
    parser = build_parser(extra_commands)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        return args.run(args) or 0
    except BrokenPipeError:  # `photoorg ... | head` closed the pipe: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("Interrupted; work done so far is saved.", file=sys.stderr)
        return 130
    except UserError as e:
        print(f"photoorg: {e}", file=sys.stderr)
        return e.exit_code


def open_library(args):
    from ..library import Library

    return Library(args.library)
