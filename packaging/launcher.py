"""The script PyInstaller freezes into dist/photoorg/photoorg: the same `photoorg`
command that pip installs, plus a bundle self-check that build.sh runs.

PHOTOORG_BUNDLE_SELFCHECK=1 runs selfcheck.py instead of the CLI, because the bundle
ships no Python interpreter to run a separate check with, and CUDA libraries were
pruned from it: the check proves torch still loads without them.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    if os.environ.get("PHOTOORG_BUNDLE_SELFCHECK") == "1":
        from selfcheck import run

        return run()
    from photoorg.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
