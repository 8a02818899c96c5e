#!/usr/bin/env bash
# lint-imports on the package as it is installed: the source keeps photoorg.db in db/
# and photoorg.ui in ui/ (pyproject's package-dir), which grimp cannot map, so lay the
# three folders out as one package in a temporary folder and check that.
# Usage: .ci/lint-imports.sh [SOURCE_TREE] (default: this repository); LINT_IMPORTS
# names the lint-imports program (default: the one on PATH).
set -euo pipefail
SRC="$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)"
LINT="${LINT_IMPORTS:-lint-imports}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC/photoorg" "$WORK/photoorg"
cp -r "$SRC/db" "$WORK/photoorg/db"
cp -r "$SRC/ui" "$WORK/photoorg/ui"
cp "$SRC/pyproject.toml" "$WORK/"
cd "$WORK"  # lint-imports finds photoorg in the current folder before the installed one
PYTHONPATH="$WORK" "$LINT" pyproject.toml --no-cache
