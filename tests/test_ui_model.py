"""The GUI's item models and thumbnail loading, tested without any widget."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt

from photoorg.progress import drive
from photoorg.ui.issues import ProblemModel
from photoorg.ui.photomodel import (
    PAGE,
    CellRole,
    HitSource,
    IdSource,
    PhotoListModel,
    PhotoRole,
    StateRole,
    ThumbStateRole,
    WhyRole,
    read_now,
)
from photoorg.ui.thumbs import PixmapCache, ThumbnailLoader
from tests.conftest import write_photo


class FakeLibrary:
    """Hands out Photo rows by id, counting how many were read."""

    def __init__(self, photos):
        self.by_id = {p.id: p for p in photos}
        self.read = 0

    def photos(self, ids):
        self.read += len(ids)
        return [self.by_id[i] for i in ids]


def _photo(i: int, state: str = "indexed"):
    from photoorg.db import Photo

    return Photo(
        i,
        1,
        f"dir/p{i}.jpg",
        f"/r/dir/p{i}.jpg",
        1,
        1,
        f"h{i}",
        10,
        10,
        None,
        None,
        None,
        None,
        None,
        state,
        None,
    )


def test_rows_are_fetched_a_page_at_a_time(qapp):
    lib = FakeLibrary([_photo(i) for i in range(1, 1001)])
    model = PhotoListModel()
    model.set_source(IdSource(read_now(lib), list(range(1000, 0, -1))))
    assert model.total() == 1000 and model.rowCount() == 0 and model.canFetchMore()
    model.fetchMore()
    assert model.rowCount() == PAGE and lib.read == 0  # rows first; photos when painted
    while model.canFetchMore():
        model.fetchMore()
    assert model.rowCount() == 1000 and lib.read == 0
    first = model.index(0)
    assert first.data(Qt.ItemDataRole.DisplayRole) == "p1000.jpg"
    assert first.data(PhotoRole).id == 1000
    assert "/r/dir/p1000.jpg" in first.data(Qt.ItemDataRole.ToolTipRole)
    assert model.row_of(999) == 1
    assert lib.read == 2 * PAGE  # the shown page and the next one; not the third
    assert model.item(2 * PAGE) is None


def test_a_page_read_later_shows_grey_tiles_until_it_arrives(qapp):
    """The window's Read answers from another thread: until then a row is a grey tile,
    and the view is told when its page is there. One page is read at a time, the one
    painted last first, and a page from a source no longer shown is dropped."""
    lib = FakeLibrary([_photo(i) for i in range(1, 2001)])
    asked = []
    model = PhotoListModel()
    model.set_source(IdSource(lambda ids, done: asked.append((ids, done)), list(range(1, 2001))))
    while model.canFetchMore():
        model.fetchMore()
    cell = model.index(3 * PAGE).data(CellRole)
    assert (cell.name, cell.pixmap, cell.thumb_state) == ("", None, "loading")
    assert model.index(3 * PAGE).data(PhotoRole) is None
    model.index(0).data(CellRole)  # painted while page 3 is being read: waits its turn
    assert [ids[0] for ids, _ in asked] == [3 * PAGE + 1]
    changed = []
    model.dataChanged.connect(lambda a, b: changed.append((a.row(), b.row())))
    ids, done = asked.pop()
    done(lib.photos(ids))
    assert changed == [(3 * PAGE, 4 * PAGE - 1)]
    assert model.index(3 * PAGE).data(PhotoRole).id == 3 * PAGE + 1
    assert [ids[0] for ids, _ in asked] == [1]  # then the page painted last
    model.set_source(IdSource(read_now(lib), [5, 6]))
    ids, done = asked.pop()
    done(lib.photos(ids))  # too late: that source is gone
    assert [model.index(r).data(PhotoRole).id for r in range(model.rowCount())] == []
    model.fetchMore()
    assert [model.index(r).data(PhotoRole).id for r in range(model.rowCount())] == [5, 6]


def test_search_hits_keep_their_reasons(qapp):
    from photoorg.search import SearchHit

    hits = [SearchHit(_photo(7), 2.9, ["tag beach (0.90)"]), SearchHit(_photo(3), 0.3, ["text"])]
    model = PhotoListModel()
    model.set_source(HitSource(hits, "Search: beach"))
    model.fetchMore()
    assert [model.item(r).photo.id for r in range(model.rowCount())] == [7, 3]
    assert model.index(0).data(WhyRole) == "tag beach (0.90)"
    assert [i.photo.id for i in model.loaded()] == [7, 3]
    # The grid paints from one Cell per row: the same values as the separate roles.
    cell = model.index(0).data(CellRole)
    assert (cell.name, cell.why, cell.state, cell.pixmap, cell.thumb_state) == (
        model.index(0).data(Qt.ItemDataRole.DisplayRole),
        "tag beach (0.90)",
        model.index(0).data(StateRole),
        None,
        "loading",
    )


def test_pixmap_cache_drops_least_recently_used(qapp):
    from PySide6.QtGui import QPixmap

    cache = PixmapCache(capacity=2)
    for i in (1, 2):
        cache.put(i, QPixmap(4, 4))
    cache.get(1)
    cache.put(3, QPixmap(4, 4))
    assert cache.get(2) is None and cache.get(1) is not None and len(cache) == 2


@pytest.fixture
def indexed(library, photo_dir):
    library.add_roots([photo_dir])
    drive(library.scan())
    drive(library.index())
    return library


def test_thumbnails_load_off_the_gui_thread_then_show(qtbot, indexed):
    loader = ThumbnailLoader(indexed.thumbs_dir, side=64)
    model = PhotoListModel(loader)
    model.set_source(IdSource(read_now(indexed), indexed.browse()))
    model.fetchMore()
    index = model.index(0)
    assert index.data(Qt.ItemDataRole.DecorationRole) is None  # asks the loader
    assert index.data(ThumbStateRole) == "loading"
    qtbot.waitUntil(lambda: index.data(ThumbStateRole) == "ready", timeout=10_000)
    pixmap = index.data(Qt.ItemDataRole.DecorationRole)
    assert max(pixmap.width(), pixmap.height()) == 64
    loader.shutdown()


def test_offline_folder_stays_browsable_from_cached_thumbnails(qtbot, indexed, photo_dir, tmp_path):
    shutil.move(photo_dir, tmp_path / "unplugged")
    drive(indexed.scan())
    assert not indexed.roots()[0].online
    loader = ThumbnailLoader(indexed.thumbs_dir, side=64)
    model = PhotoListModel(loader)
    model.set_source(IdSource(read_now(indexed), indexed.browse(indexed.roots()[0])))
    model.fetchMore()
    assert model.rowCount() == 4
    for row in range(4):
        model.index(row).data(Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(
        lambda: all(model.index(r).data(ThumbStateRole) == "ready" for r in range(4)), timeout=10_000
    )
    loader.shutdown()


def test_unreadable_file_has_no_preview(qtbot, library, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.jpg").write_text("not a photo")
    write_photo(folder / "ok.jpg")
    library.add_roots([folder])
    drive(library.scan())
    loader = ThumbnailLoader(library.thumbs_dir, side=64)
    model = PhotoListModel(loader)
    model.set_source(IdSource(read_now(library), library.browse()))
    model.fetchMore()

    def states():
        return {
            model.index(r).data(Qt.ItemDataRole.DisplayRole): model.index(r).data(ThumbStateRole)
            for r in range(model.rowCount())
        }

    for r in range(model.rowCount()):
        model.index(r).data(Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: "loading" not in states().values(), timeout=10_000)
    assert states() == {"broken.jpg": "none", "ok.jpg": "ready"}
    loader.shutdown()


def test_problem_model_lists_path_and_reason(qapp):
    from photoorg.library import Problem

    model = ProblemModel()
    model.set_problems([Problem("/p/a.jpg", "the file is empty (0 bytes)")])
    assert (model.rowCount(), model.columnCount()) == (1, 2)
    assert model.index(0, 1).data() == "the file is empty (0 bytes)"
    assert model.headerData(0, Qt.Orientation.Horizontal) == "File"
