"""`photoorg gui` explains in one sentence why Qt cannot start, instead of Qt aborting."""

import pytest

from photoorg.ui.app import QtUnusable, check_display


@pytest.fixture
def linux(monkeypatch):
    monkeypatch.setattr("photoorg.ui.app.sys.platform", "linux")
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_desktop_session_is_one_sentence(linux):
    with pytest.raises(QtUnusable, match="needs a desktop session"):
        check_display()


def test_x11_without_xcb_cursor_names_the_package(linux):
    linux.setenv("DISPLAY", ":0")
    linux.setattr("ctypes.util.find_library", lambda name: None)
    with pytest.raises(QtUnusable, match="libxcb-cursor0"):
        check_display()


def test_wayland_and_offscreen_need_no_x11_library(linux):
    asked = []
    linux.setattr("ctypes.util.find_library", asked.append)  # found nothing, had it been asked
    linux.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert check_display() is None
    linux.delenv("WAYLAND_DISPLAY")
    linux.setenv("QT_QPA_PLATFORM", "offscreen")
    assert check_display() is None
    assert asked == []


def test_x11_with_the_library_starts(linux):
    asked = []
    linux.setenv("DISPLAY", ":0")
    linux.setattr("ctypes.util.find_library", lambda name: asked.append(name) or "libxcb-cursor.so.0")
    assert check_display() is None
    assert asked == ["xcb-cursor"]
