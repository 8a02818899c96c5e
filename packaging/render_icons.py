"""Render the app icon SVG to the PNG sizes desktops look up in the hicolor theme.

Run with the project venv: `python packaging/render_icons.py`. It rewrites
packaging/icons/hicolor/NxN/apps/<id>.png and copies the SVG to ui/icon.svg, so the
window icon and the desktop icon never drift apart.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

APP_ID = "io.github.photoorg.PhotoOrg"
SIZES = (16, 32, 48, 64, 128, 256, 512)
PACKAGING = Path(__file__).resolve().parent
ICONS = PACKAGING / "icons" / "hicolor"
SVG = ICONS / "scalable" / "apps" / f"{APP_ID}.svg"
UI_ICON = PACKAGING.parent / "ui" / "icon.svg"


def png_path(size: int) -> Path:
    return ICONS / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def render(svg: Path, size: int, out: Path) -> None:
    # Imported here so the module (and the constants the tests read) loads without Qt.
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"QtSvg could not read {svg}.")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"Could not write {out}.")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    # QImage/QPainter need a QGuiApplication for font and colour-space setup.
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    for size in SIZES:
        render(SVG, size, png_path(size))
        print(f"{png_path(size).relative_to(PACKAGING.parent)}")
    shutil.copyfile(SVG, UI_ICON)
    print(f"{UI_ICON.relative_to(PACKAGING.parent)}")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
