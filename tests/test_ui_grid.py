"""The thumbnail grid at scale: the first page shows before the whole id list, the
rows then grow in place, and a tile is a placeholder until its thumbnail arrives,
then shows the thumbnail's own pixels. Real SQLite libraries, real widgets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from PIL import Image
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QImageReader, QPalette

from photoorg.db import Photo
from photoorg.library import Library
from photoorg.thumbs import save_thumbnail, thumbnail_path
from photoorg.ui.grid import THUMB, ThumbnailGrid
from photoorg.ui.mainwindow import MainWindow
from photoorg.ui.photomodel import PAGE, IdSource, PhotoListModel, ThumbStateRole, read_now
from photoorg.ui.thumbs import ThumbnailLoader

WAIT = 30_000
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 230)]


def _many_photos(folder: Path, n: int) -> None:
    """A library of `n` photo rows on an unplugged drive (so no rescan changes them),
    every one with a cached thumbnail of one of three plain colours."""
    with Library(folder) as lib:
        store = lib.store
        with store.transaction():
            root_id = store.add_root(str(folder / "unplugged-drive")).id
            store.db.conn.executemany(
                "INSERT INTO photos (root_id, rel_path, size, mtime_ns, hash, width, height, "
                "taken_at, state, added_at) VALUES (?, ?, 1000, 0, ?, 320, 240, ?, 'indexed', 0)",
                [
                    (
                        root_id,
                        f"IMG_{i:05}.jpg",
                        f"h{i % 3:04}",
                        f"2020-01-01T00:{i // 60 % 60:02}:{i % 60:02}",
                    )
                    for i in range(n)
                ],
            )
        for k, colour in enumerate(COLOURS):
            save_thumbnail(lib.thumbs_dir, _hashed(k), Image.new("RGB", (320, 240), colour))


def _hashed(k: int) -> Photo:
    return Photo(0, 0, "", "", 0, 0, f"h{k:04}", *[None] * 7, "indexed", None)


def test_first_page_ids_are_the_head_of_the_whole_list(tmp_path):
    _many_photos(tmp_path / "lib", 1000)
    with Library(tmp_path / "lib") as lib:
        every = lib.browse()
        root = lib.roots()[0]
        assert len(every) == 1000
        assert lib.browse(limit=PAGE) == every[:PAGE]
        assert lib.browse(root, limit=7) == lib.browse(root)[:7]


def test_window_shows_the_first_page_then_grows_in_place(qtbot, tmp_path, monkeypatch):
    _many_photos(tmp_path / "lib", 1000)
    shown = []
    resets = []
    original = MainWindow._show_ids

    def show_ids(self, *args, **kwargs):
        original(self, *args, **kwargs)
        shown.append((self.model.total(), self.model.source().complete, self.heading.text()))

    monkeypatch.setattr(MainWindow, "_show_ids", show_ids)
    window = MainWindow(tmp_path / "lib", watch=False)
    window.model.modelReset.connect(lambda: resets.append(window.model.total()))
    window.show()
    qtbot.waitUntil(lambda: window.model.total() == 1000, timeout=WAIT)
    # The first page came alone, counted nowhere yet; the whole list then added rows
    # to the same model without resetting it.
    assert shown == [(PAGE, False, "<b>All photos</b>")]
    assert resets == [PAGE]  # the first page's; none when the rest arrived
    assert window.model.source().complete is True
    assert window.heading.text() == "<b>All photos</b> — 1000 photos"
    with Library(tmp_path / "lib") as lib:
        assert window.model.source().ids == lib.browse()
    window.close()


def test_a_browse_that_grows_from_every_row_shown_shows_the_new_rows(qtbot):
    """An empty library's grid (no rows, no scroll bar) that its first folder fills, or a
    grid of a few photos that indexing adds to: the new rows appear without a scroll."""
    no_rows = read_now(SimpleNamespace(photos=lambda ids: []))
    model = PhotoListModel()
    grid = ThumbnailGrid()
    grid.setModel(model)
    qtbot.addWidget(grid)
    grid.resize(800, 600)
    grid.show()
    model.set_source(IdSource(no_rows, [], "All photos"))
    assert model.rowCount() == 0
    model.set_source(IdSource(no_rows, [1, 2, 3], "All photos"))
    assert model.rowCount() == 3
    model.set_source(IdSource(no_rows, list(range(1, PAGE + 51)), "All photos"))
    assert model.rowCount() == 3 + PAGE  # a page more than the 3 shown; the rest on scrolling


def test_tile_is_a_placeholder_then_its_thumbnail(qtbot, tmp_path):
    _many_photos(tmp_path / "lib", 3)
    lib = Library(tmp_path / "lib")
    loader = ThumbnailLoader(lib.thumbs_dir)
    model = PhotoListModel(loader)
    grid = ThumbnailGrid()
    qtbot.addWidget(grid)
    grid.setModel(model)
    grid.resize(800, 400)
    grid.show()
    model.set_source(IdSource(read_now(lib), lib.browse()))
    model.fetchMore()
    first = lib.photos(lib.browse()[:1])[0]
    rect = grid.visualRect(model.index(0))
    centre = rect.x() + rect.width() // 2, rect.y() + 8 + THUMB - 20

    def pixel() -> QColor:
        return grid.viewport().grab().toImage().pixelColor(*centre)

    empty = grid.palette().color(QPalette.ColorRole.AlternateBase)
    assert pixel() == empty  # painted before any thumbnail could arrive
    assert model.index(0).data(ThumbStateRole) == "loading"
    qtbot.waitUntil(lambda: model.index(0).data(ThumbStateRole) == "ready", timeout=WAIT)
    # The tile now shows the thumbnail exactly as decoded at cell size.
    reader = QImageReader(str(thumbnail_path(lib.thumbs_dir, first)))
    reader.setScaledSize(QSize(THUMB, THUMB * 3 // 4))
    expected = reader.read()
    assert model.index(0).data(Qt.ItemDataRole.DecorationRole).size() == QSize(THUMB, THUMB * 3 // 4)
    assert pixel() == expected.pixelColor(THUMB // 2, THUMB * 3 // 4 - 20)
    assert pixel() != empty
    loader.shutdown()
    lib.close()


def test_loader_hands_over_every_finished_thumbnail_in_batches(qtbot, tmp_path):
    _many_photos(tmp_path / "lib", 12)
    with Library(tmp_path / "lib") as lib:
        photos = lib.photos(lib.browse())
        loader = ThumbnailLoader(lib.thumbs_dir, side=64)
        batches = []
        loader.arrived.connect(lambda: batches.append(loader.take()))
        for photo in photos:
            loader.request(photo)
        qtbot.waitUntil(lambda: sum(len(b) for b in batches) == 12, timeout=WAIT)
        got = {photo_id: image.size() for batch in batches for photo_id, image in batch}
        assert got == {p.id: QSize(64, 48) for p in photos}
        assert loader.take() == []
        loader.shutdown()
