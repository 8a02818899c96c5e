"""The `photoorg` and `photoorg-gui` commands: the CLI's commands plus `gui`.

The one module that sees both the CLI and the desktop app, so that neither imports the
other: the CLI stays free of Qt, and the app does not call back into the CLI."""

from __future__ import annotations

import argparse
import sys

from . import cli
from .ui import command as gui_command


def build_parser() -> argparse.ArgumentParser:
    return cli.build_parser(extra_commands=(gui_command,))


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, extra_commands=(gui_command,))


def gui_main() -> int:
    """`photoorg-gui --library DIR` is `photoorg --library DIR gui`."""
    return main([*sys.argv[1:], "gui"])


if __name__ == "__main__":
    sys.exit(main())
