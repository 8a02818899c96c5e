"""The grid's item model: a list of photos fetched lazily, page by page, from a
source (the whole library, one folder, or search results). Rows appear as the view
asks for them (canFetchMore/fetchMore), so 100,000 photos cost one id list and the
rows on screen, never 100,000 Photo objects at once.

A browsed source knows its ids up front, so its rows exist at once and their photos
are read in the background (`read`, the window's task thread): a row not read yet
paints as a grey tile, and its page, then the pages either side of it, are read; the
view is told when they arrive. Reading a page of 400 rows on the GUI thread cost a
page step 53-60 ms at 100,000 photos (bench/gui.py), more than three frames.

Rows are still inserted a page at a time: with all 100,000 at once, Qt's layout asks
the Python model about every row (about 430,000 calls), some 2 s on the GUI thread.

A browse starts with its first page alone (read through an index in a few ms), and
its source grows in place when the whole id list follows: no reset, so nothing the
user did in between (scroll, selection) is lost. With it the first screenful came
0.15-0.27 s after the window was shown instead of 0.45-1.14 s (bench/gui.py, 100,000
photos, loaded 2-core machine)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QPixmap

from ..db import Photo
from .thumbs import PixmapCache, ThumbnailLoader

PAGE = 400
PhotoRole = Qt.ItemDataRole.UserRole + 1
WhyRole = Qt.ItemDataRole.UserRole + 2
StateRole = Qt.ItemDataRole.UserRole + 3
ThumbStateRole = Qt.ItemDataRole.UserRole + 4  # "loading" | "ready" | "none"
CellRole = Qt.ItemDataRole.UserRole + 5  # a Cell: all the delegate paints, in one call


@dataclass(frozen=True)
class Cell:
    """What the grid paints for one row. The delegate asks for it with one data() call
    instead of five: each call through Qt costs about 60 us, a cell repainted 40 times
    a screenful adds up to a dropped frame (profiled with bench/gui.py)."""

    name: str
    pixmap: QPixmap | None
    thumb_state: str
    state: str
    why: str


@dataclass(frozen=True)
class Item:
    photo: Photo
    why: tuple[str, ...] = ()
    score: float | None = None
    box: tuple[float, float, float, float] | None = None
    detection_id: int | None = None


Read = Callable[[list[int], Callable[[list[Photo]], None]], None]


def read_now(lib) -> Read:
    """A Read that reads at once, on the calling thread (tests, tools without a window)."""
    return lambda ids, done: done(lib.photos(ids))


class IdSource:
    """Photo ids known up front (browsing); `read(ids, done)` reads their rows and
    calls done(photos), at once or later from another thread. `first`: the photos of
    the first page when they were read with the ids (the first screenful without a
    second trip to the task thread). `complete`: False while `ids` are only the first
    page's (the whole list follows and the rows grow in place)."""

    def __init__(
        self,
        read: Read,
        ids: list[int],
        title: str = "",
        root=None,
        first: list[Photo] = (),
        complete: bool = True,
    ):
        self.read, self.ids, self.title, self.root, self.first = read, ids, title, root, first
        self.complete = complete

    def __len__(self) -> int:
        return len(self.ids)


class HitSource:
    """Search results already fetched (a search runs on a worker thread)."""

    def __init__(self, hits: list, title: str = ""):
        self.items = [_item(h) for h in hits]
        self.title = title

    def __len__(self) -> int:
        return len(self.items)


def _item(hit) -> Item:
    return Item(
        hit.photo,
        tuple(getattr(hit, "why", ()) or ()),
        getattr(hit, "score", None),
        getattr(hit, "box", None),
        getattr(hit, "detection_id", None),
    )


PLACEHOLDER = Cell("", None, "loading", "", "")  # a row whose photo is still being read
PAGES_WANTED = 5  # pages kept waiting to be read; older wishes (scrolled past) are dropped


class PhotoListModel(QAbstractListModel):
    countChanged = Signal(int)  # the source's total, not the rows fetched so far

    def __init__(self, loader: ThumbnailLoader | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.loader = loader
        self.cache = PixmapCache()
        self._source = None
        self._items: list[Item | None] = []  # every row of the source; None: not read yet
        self._count = 0  # rows the view has fetched
        self._rows: dict[int, int] = {}  # photo id -> row
        self._failed: set[int] = set()
        self._wanted: list[int] = []  # pages to read, the latest wish last
        self._read: set[int] = set()  # pages read for this source
        self._reading: int | None = None  # the page being read
        self._generation = 0  # which source a page read belongs to
        if loader is not None:
            loader.arrived.connect(self._on_thumbnails)

    # -- source --------------------------------------------------------------

    def set_source(self, source) -> None:
        """Show `source`. Photos already read for the rows of a browse that changed (a
        rescan's new ids) are kept, so the rows on screen do not flash grey; a browse
        whose ids only grew at the end (the whole list after its first page) keeps its
        rows as they are: no reset, so the view keeps its scroll and selection."""
        if _grown(source, self._source):
            self._grow(source)
            return
        known = {}
        if _same_browse(source, self._source):
            known = {item.photo.id: item for item in self._items if item is not None}
        self.beginResetModel()
        self._source = source
        self._generation += 1
        self._wanted, self._reading, self._read = [], None, set()
        if isinstance(source, IdSource):
            # 100,000 rows: a plain list, and rows by id only for the photos read
            # (a dict of every id cost the GUI thread about 50 ms).
            self._items, self._rows = [None] * len(source.ids), {}
            if known:
                self._items = [known.get(i) for i in source.ids]
                self._rows = {item.photo.id: row for row, item in enumerate(self._items) if item is not None}
            if source.first:
                self._fill(0, source.first)
        else:
            self._items = list(source.items) if source is not None else []
            self._rows = {}
            for row, item in enumerate(self._items):
                self._rows.setdefault(item.photo.id, row)
        self._count = 0
        if not known:
            self._failed.clear()
            if self.loader is not None:
                self.loader.clear()
        self.endResetModel()
        self.countChanged.emit(self.total())

    def _grow(self, source: IdSource) -> None:
        old = self._source
        if len(old.ids) % PAGE:
            self._read.discard(len(old.ids) // PAGE)  # its last page was short: read it again
        self._source = source
        self._items.extend([None] * (len(source.ids) - len(old.ids)))
        if self._count == len(old.ids):
            # The view had every row, so it asks for more only when scrolled to the end,
            # and a grid without a scroll bar (an empty library that a first folder
            # fills) never is: its new rows would stay unseen.
            self.fetchMore()
        self.countChanged.emit(self.total())

    def source(self):
        return self._source

    def total(self) -> int:
        return len(self._source) if self._source is not None else 0

    def item(self, row: int) -> Item | None:
        """The row's item; None while its photo is still being read."""
        return self._items[row]

    def loaded(self) -> list[Item]:
        """The fetched rows whose photos have been read."""
        return [item for item in self._items[: self._count] if item is not None]

    def row_of(self, photo_id: int) -> int | None:
        row = self._rows.get(photo_id)
        return row if row is not None and row < self._count else None

    # -- reading pages ---------------------------------------------------------

    def _want(self, page: int) -> None:
        """Read `page` next, then its neighbours (the way a scroll goes on)."""
        for p in (page - 1, page + 1, page):
            if 0 <= p * PAGE < len(self._items) and p != self._reading and p not in self._read:
                if p in self._wanted:
                    self._wanted.remove(p)
                self._wanted.append(p)
        del self._wanted[:-PAGES_WANTED]
        self._read_next()

    def _read_next(self) -> None:
        """One page read at a time, the latest wish first."""
        if self._reading is not None or not self._wanted:
            return
        page = self._reading = self._wanted.pop()
        generation = self._generation
        ids = self._source.ids[page * PAGE : (page + 1) * PAGE]
        self._source.read(ids, lambda photos: self._page_arrived(generation, page, photos))

    def _page_arrived(self, generation: int, page: int, photos: list[Photo]) -> None:
        if generation != self._generation:
            return  # read for a source no longer shown
        self._reading = None
        start = self._fill(page, photos)
        last = min(start + PAGE, self._count) - 1
        if last >= start:
            self.dataChanged.emit(self.index(start), self.index(last))
        self._read_next()

    def _fill(self, page: int, photos: list[Photo]) -> int:
        """Rows of `page` from its photos; returns its first row."""
        self._read.add(page)
        start = page * PAGE
        by_id = {p.id: p for p in photos}
        for row in range(start, min(start + PAGE, len(self._items))):
            photo = by_id.get(self._source.ids[row])
            # A photo removed since the ids were listed keeps a grey tile until the
            # next refresh of the ids (which follows any removal).
            if photo is not None and self._items[row] is None:
                self._items[row] = Item(photo)
                self._rows[photo.id] = row
        return start

    # -- Qt model ------------------------------------------------------------

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else self._count

    def canFetchMore(self, parent: QModelIndex = QModelIndex()) -> bool:
        return not parent.isValid() and self._count < self.total()

    def fetchMore(self, parent: QModelIndex = QModelIndex()) -> None:
        """Rows appear at once; their photos are read when they are painted."""
        if not self.canFetchMore(parent):
            return
        start = self._count
        end = min(start + PAGE, self.total())
        self.beginInsertRows(QModelIndex(), start, end - 1)
        self._count = end
        self.endInsertRows()

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= self._count:
            return None
        if role == CellRole:
            return self.cell(index.row())
        item = self._items[index.row()]
        if item is None:
            self._want(index.row() // PAGE)
            item = self._items[index.row()]  # a Read that reads at once has filled it
            if item is None:
                return "loading" if role == ThumbStateRole else None
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(item.photo.rel_path)
        if role == Qt.ItemDataRole.DecorationRole:
            pixmap = self._pixmap(item.photo)
            return pixmap
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(item)
        if role == PhotoRole:
            return item.photo
        if role == WhyRole:
            return "; ".join(item.why)
        if role == StateRole:
            return item.photo.state
        if role == ThumbStateRole:
            return self._thumb_state(item.photo.id, self.cache.get(item.photo.id))
        return None

    def cell(self, row: int) -> Cell:
        """What the grid paints for `row`. The delegate calls this directly: going
        through index.data() adds a Python -> Qt -> Python round trip to every tile."""
        item = self._items[row]
        if item is None:
            self._want(row // PAGE)
            item = self._items[row]  # a Read that reads at once has filled it
            if item is None:
                return PLACEHOLDER
        photo = item.photo
        pixmap = self._pixmap(photo)
        why = "; ".join(item.why) if item.why else ""
        return Cell(
            os.path.basename(photo.rel_path), pixmap, self._thumb_state(photo.id, pixmap), photo.state, why
        )

    def _thumb_state(self, photo_id: int, pixmap: QPixmap | None) -> str:
        if pixmap is not None:
            return "ready"
        return "none" if photo_id in self._failed else "loading"

    def _pixmap(self, photo: Photo) -> QPixmap | None:
        pixmap = self.cache.get(photo.id)
        if pixmap is None and photo.id not in self._failed and self.loader is not None:
            self.loader.request(photo)
        return pixmap

    def _on_thumbnails(self) -> None:
        """Every thumbnail that arrived since the last batch; one repaint for them all."""
        rows = []
        for photo_id, image in self.loader.take():
            if image is None:
                self._failed.add(photo_id)
            else:
                self.cache.put(photo_id, QPixmap.fromImage(image))
            row = self.row_of(photo_id)
            if row is not None:
                rows.append(row)
        if rows:
            roles = [Qt.ItemDataRole.DecorationRole]
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)), roles)

    def _changed(self, photo_id: int) -> None:
        row = self.row_of(photo_id)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def refresh_photo(self, photo: Photo) -> None:
        """A photo's row changed (indexed, renamed): show the new state, retry its thumbnail."""
        row = self._rows.get(photo.id)
        if row is None or self._items[row] is None:
            return
        old = self._items[row]
        self._items[row] = Item(photo, old.why, old.score, old.box, old.detection_id)
        self._failed.discard(photo.id)
        self._changed(photo.id)


def _grown(new, old) -> bool:
    """`new` is the same browse as `old` with more ids after the same ones."""
    return _same_browse(new, old) and new.ids[: len(old.ids)] == old.ids


def _same_browse(new, old) -> bool:
    """The same folder (or the whole library) browsed again, with the ids it has now."""
    if not (isinstance(new, IdSource) and isinstance(old, IdSource)):
        return False
    return getattr(new.root, "id", None) == getattr(old.root, "id", None)


def _tooltip(item: Item) -> str:
    p = item.photo
    lines = [p.path]
    if p.taken_at:
        lines.append(p.taken_at.replace("T", " "))
    if p.width:
        lines.append(f"{p.width} x {p.height}")
    if p.state == "error":
        lines.append(f"Cannot read: {p.error}")
    elif p.state == "pending":
        lines.append("Not indexed yet")
    if item.why:
        lines.append("Matched: " + "; ".join(item.why))
    return "\n".join(lines)
