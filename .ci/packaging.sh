#!/usr/bin/env bash
# Packaging checks (issue 6): the desktop entry and AppStream metainfo validate, and the
# wheel installed into a fresh venv WITHOUT dev extras gives a working `photoorg` that
# scans a small folder. Run from anywhere; called by .ci/run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
APP_ID="io.github.photoorg.PhotoOrg"

step() { echo "== packaging: $*"; }
# pip warns once per package about this machine's local index layout; that is noise here.
pip_install() {
    "$1" -m pip install -q --no-cache-dir "${@:2}" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

step "validators"
if ! command -v desktop-file-validate >/dev/null || ! command -v appstreamcli >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq desktop-file-utils appstream >/dev/null
fi
desktop-file-validate "packaging/$APP_ID.desktop"
appstreamcli validate --no-net "packaging/$APP_ID.metainfo.xml"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

step "wheel"
python3 -m pip wheel -q --no-deps -w "$WORK/wheel" .
WHEEL="$(ls "$WORK"/wheel/photoorg-*.whl)"
echo "$WHEEL"
# Type checkers read photoorg's annotations only when the wheel ships the marker.
python3 -c "import sys, zipfile; assert 'photoorg/py.typed' in zipfile.ZipFile(sys.argv[1]).namelist(), 'no py.typed'" "$WHEEL"

step "fresh venv without dev extras"
# torch's x86_64 build with its CUDA libraries takes about 5.6 GB; say so plainly rather
# than failing half-way through an install with "No space left on device".
NEED_KB=$((7 * 1024 * 1024))
FREE_KB="$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')"
if ((FREE_KB < NEED_KB)); then
    echo "packaging: the fresh venv needs about 7 GB free in $WORK; only $((FREE_KB / 1024)) MB are free" >&2
    exit 1
fi
python3 -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
# The torch builds that lie on this machine's disk (same pins as the Makefile).
pip_install "$VPY" torch==2.14.1 torchvision==0.29.1
pip_install "$VPY" "$WHEEL"
if "$VPY" -c "import pytest" 2>/dev/null; then
    echo "pytest is installed: the wheel must not pull in dev extras" >&2
    exit 1
fi

step "a small folder of photos"
mkdir -p "$WORK/photos/trip"
"$VPY" - "$WORK/photos" <<'PY'
import sys
from pathlib import Path
from PIL import Image

root = Path(sys.argv[1])
Image.new("RGB", (64, 48), (200, 60, 40)).save(root / "red.jpg", quality=90)
Image.new("RGB", (48, 64), (40, 160, 80)).save(root / "green.png")
Image.new("RGB", (64, 64), (30, 60, 200)).save(root / "trip" / "blue.jpg", quality=90)
PY

step "photoorg from the installed wheel"
# Run outside the checkout so nothing is imported from the source tree, with every
# per-user folder inside $WORK and no model hub reachable.
cd "$WORK"
export HOME="$WORK/home" XDG_DATA_HOME="$WORK/data" XDG_CACHE_HOME="$WORK/cache" \
    XDG_CONFIG_HOME="$WORK/config" HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen
mkdir -p "$HOME"
PHOTOORG="$WORK/venv/bin/photoorg"
VERSION="$("$PHOTOORG" --version)"
echo "$VERSION"
EXPECTED="$("$VPY" -c 'import photoorg; print(photoorg.__version__)')"
[[ "$VERSION" == *"$EXPECTED"* ]] || { echo "photoorg --version printed '$VERSION', expected $EXPECTED" >&2; exit 1; }
"$PHOTOORG" --library "$WORK/library" add "$WORK/photos"
"$PHOTOORG" --library "$WORK/library" status | tee "$WORK/status.txt"
grep -Eq "(^|[^0-9])3 photos" "$WORK/status.txt" || { echo "photoorg status does not report the 3 photos" >&2; exit 1; }
step "ok"
