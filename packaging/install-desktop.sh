#!/usr/bin/env bash
# Put photoorg in the desktop's application menu: installs the desktop entry, the
# AppStream metainfo and the icons under PREFIX/share (default: ~/.local, this user
# only; PREFIX=/usr/local as root for everyone). The entry runs `photoorg gui`, so
# `photoorg` must be on PATH: pip puts it there; for the bundle, link
# dist/photoorg/photoorg into ~/.local/bin. UNINSTALL=1 removes what it installed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP_ID="io.github.photoorg.PhotoOrg"
SHARE="${PREFIX:-$HOME/.local}/share"

files() {
    echo "packaging/$APP_ID.desktop applications/$APP_ID.desktop"
    echo "packaging/$APP_ID.metainfo.xml metainfo/$APP_ID.metainfo.xml"
    (cd "$HERE" && find icons/hicolor -type f -name "$APP_ID.*") | while read -r icon; do
        echo "packaging/$icon $icon"
    done
}

while read -r src dest; do
    if [[ "${UNINSTALL:-0}" == 1 ]]; then
        rm -f "$SHARE/$dest"
    else
        install -D -m 644 "$HERE/${src#packaging/}" "$SHARE/$dest"
    fi
done < <(files)

# Refresh the caches desktops read; each tool is optional and missing ones are fine.
command -v update-desktop-database >/dev/null && update-desktop-database -q "$SHARE/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true

if [[ "${UNINSTALL:-0}" == 1 ]]; then
    echo "Removed photoorg's desktop entry and icons from $SHARE."
else
    echo "Installed photoorg's desktop entry and icons under $SHARE."
    command -v photoorg >/dev/null || echo "Note: 'photoorg' is not on PATH yet; the menu entry needs it."
fi
