"""Start the desktop app (`photoorg gui`, or the `photoorg-gui` launcher: both in
photoorg/__main__.py)."""

from __future__ import annotations

import os
import sys
from importlib.resources import files
from pathlib import Path


class QtUnusable(Exception):
    """The installed Qt binding cannot run the app; str() says what to install."""


def check_binding() -> None:
    """PySide6 6.12.0 on Python 3.11 drops a reference each time a Qt call returns
    None or a bool to Python, so any window crashes within seconds (none_dealloc)."""
    import PySide6

    if PySide6.__version__ == "6.12.0" and sys.version_info < (3, 12):
        raise QtUnusable(
            "PySide6 6.12.0 crashes on Python 3.11; install another version: "
            "pip install 'pyside6-essentials==6.11.3'."
        )


def check_display() -> None:
    """Where Qt cannot start it aborts the process with a page of plugin errors; say
    why in one sentence instead."""
    if not sys.platform.startswith("linux"):
        return
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not platform and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise QtUnusable(
            "the desktop app needs a desktop session (neither DISPLAY nor "
            "WAYLAND_DISPLAY is set); the photoorg commands work without one, "
            "see `photoorg --help`."
        )
    on_x11 = platform.startswith("xcb") or (not platform and not os.environ.get("WAYLAND_DISPLAY"))
    if on_x11:
        import ctypes.util

        # Qt 6.5+ cannot load its X11 plugin without it, and many desktops lack it.
        if ctypes.util.find_library("xcb-cursor") is None:
            raise QtUnusable(
                "the desktop app needs the system library libxcb-cursor0 on X11 "
                "(Debian/Ubuntu: sudo apt install libxcb-cursor0; Fedora: "
                "sudo dnf install xcb-util-cursor)."
            )


def make_app(argv: list[str] | None = None):
    check_binding()
    check_display()
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("photoorg")
    app.setApplicationDisplayName("photoorg")
    app.setOrganizationDomain("photoorg.github.io")
    app.setDesktopFileName("io.github.photoorg.PhotoOrg")
    icon = files("photoorg.ui") / "icon.svg"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def run(folder: Path | str | None = None, watch: bool = True) -> int:
    """Open the main window on the library and run until it closes."""
    app = make_app()
    from PySide6.QtCore import QSettings

    from .mainwindow import MainWindow

    window = MainWindow(folder, watch=watch)
    settings = QSettings("photoorg", "photoorg")  # the window opens where it was left
    geometry = settings.value("main/geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    window.show()
    code = app.exec()
    settings.setValue("main/geometry", window.saveGeometry())
    return code
