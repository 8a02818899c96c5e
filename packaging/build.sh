#!/usr/bin/env bash
# Build the one-folder desktop bundle dist/photoorg with PyInstaller.
#
#   packaging/build.sh                  # build venv in build/venv (made on first run)
#   PHOTOORG_BUILD_VENV=.venv packaging/build.sh   # reuse an existing venv instead
#
# photoorg is installed into the build venv as a regular (non-editable) package, because
# PyInstaller cannot follow setuptools' editable-install finder for photoorg.db/ui.
# Model weights are not bundled; they download on first use.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${PHOTOORG_BUILD_VENV:-build/venv}"
PY="$VENV/bin/python"
# The torch/torchvision builds pinned in the Makefile; PyInstaller pinned for a stable spec.
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)
PYINSTALLER_PIN="pyinstaller==6.22.3"

if [[ ! -x "$PY" ]]; then
    echo "== creating build venv $VENV"
    python3 -m venv "$VENV"
fi
echo "== installing build tools and photoorg into $VENV"
"$PY" -m pip install -q "${TORCH_PINS[@]}" "$PYINSTALLER_PIN"
# --force-reinstall --no-deps makes each build pick up the current tree even though the
# version number has not changed; the first install brings the dependencies.
# setuptools stages files in build/lib; a stale copy could put deleted modules back.
rm -rf build/lib build/bdist.*
"$PY" -m pip install -q .
"$PY" -m pip install -q --no-deps --force-reinstall .

echo "== pyinstaller"
start=$(date +%s)
# Run from packaging/: from the repository root, the analysis would import the
# checkout's photoorg/ (which lacks db/ and ui/) instead of the installed package.
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"
(cd packaging && "$PY" -m PyInstaller --noconfirm --clean \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" \
    "$ROOT/packaging/photoorg.spec")
echo "== built in $(( $(date +%s) - start )) s"

BUNDLE="dist/photoorg"
echo "== bundle: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1))"
echo "== self-check"
PHOTOORG_BUNDLE_SELFCHECK=1 QT_QPA_PLATFORM=offscreen "$BUNDLE/photoorg"
echo "== $BUNDLE/photoorg --version"
TIMEFORMAT="   took %R s"
time "$BUNDLE/photoorg" --version
