"""The grid's item model: a list of photos fetched lazily, page by page, from a
source (the whole library, one folder, or search results). Rows appear as the view
asks for them (canFetchMore/fetchMore), so 100,000 photos cost one id list and the
rows on screen, never 100,000 Photo objects at once."""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap

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


class IdSource:
    """Photo ids known up front (browsing); rows are read a page at a time."""

    def __init__(self, lib, ids: list[int], title: str = "", root=None):
        self.lib, self.ids, self.title, self.root = lib, ids, title, root

    def __len__(self) -> int:
        return len(self.ids)

    def fetch(self, offset: int, limit: int) -> list[Item]:
        return [Item(p) for p in self.lib.photos(self.ids[offset : offset + limit])]


class HitSource:
    """Search results already fetched (a search runs on a worker thread)."""

    def __init__(self, hits: list, title: str = ""):
        self.items = [_item(h) for h in hits]
        self.title = title

    def __len__(self) -> int:
        return len(self.items)

    def fetch(self, offset: int, limit: int) -> list[Item]:
        return self.items[offset : offset + limit]


def _item(hit) -> Item:
    return Item(
        hit.photo,
        tuple(getattr(hit, "why", ()) or ()),
        getattr(hit, "score", None),
        getattr(hit, "box", None),
        getattr(hit, "detection_id", None),
    )


class PhotoListModel(QAbstractListModel):
    countChanged = Signal(int)  # the source's total, not the rows fetched so far

    def __init__(self, loader: ThumbnailLoader | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.loader = loader
        self.cache = PixmapCache()
        self._source = None
        self._items: list[Item] = []
        self._rows: dict[int, int] = {}  # photo id -> row
        self._failed: set[int] = set()
        if loader is not None:
            loader.loaded.connect(self._on_loaded)
            loader.failed.connect(self._on_failed)

    # -- source --------------------------------------------------------------

    def set_source(self, source) -> None:
        self.beginResetModel()
        self._source = source
        self._items, self._rows = [], {}
        self._failed.clear()
        if self.loader is not None:
            self.loader.clear()
        self.endResetModel()
        self.countChanged.emit(self.total())

    def source(self):
        return self._source

    def total(self) -> int:
        return len(self._source) if self._source is not None else 0

    def item(self, row: int) -> Item:
        return self._items[row]

    def items(self) -> list[Item]:
        """Every item of the source (fetching the rest): for "cut out all"."""
        if self._source is None:
            return []
        return self._items + self._source.fetch(len(self._items), self.total())

    def row_of(self, photo_id: int) -> int | None:
        return self._rows.get(photo_id)

    # -- Qt model ------------------------------------------------------------

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def canFetchMore(self, parent: QModelIndex = QModelIndex()) -> bool:
        return not parent.isValid() and len(self._items) < self.total()

    def fetchMore(self, parent: QModelIndex = QModelIndex()) -> None:
        if not self.canFetchMore(parent):
            return
        start = len(self._items)
        page = self._source.fetch(start, PAGE)
        if not page:
            return
        self.beginInsertRows(QModelIndex(), start, start + len(page) - 1)
        for offset, item in enumerate(page):
            self._rows[item.photo.id] = start + offset
        self._items.extend(page)
        self.endInsertRows()

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._items):
            return None
        item = self._items[index.row()]
        if role == CellRole:
            pixmap = self._pixmap(item.photo)
            return Cell(
                os.path.basename(item.photo.rel_path),
                pixmap,
                self._thumb_state(item.photo.id, pixmap),
                item.photo.state,
                "; ".join(item.why),
            )
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

    def _thumb_state(self, photo_id: int, pixmap: QPixmap | None) -> str:
        if pixmap is not None:
            return "ready"
        return "none" if photo_id in self._failed else "loading"

    def _pixmap(self, photo: Photo) -> QPixmap | None:
        pixmap = self.cache.get(photo.id)
        if pixmap is None and photo.id not in self._failed and self.loader is not None:
            self.loader.request(photo)
        return pixmap

    def _on_loaded(self, photo_id: int, image: QImage) -> None:
        self.cache.put(photo_id, QPixmap.fromImage(image))
        self._changed(photo_id)

    def _on_failed(self, photo_id: int) -> None:
        self._failed.add(photo_id)
        self._changed(photo_id)

    def _changed(self, photo_id: int) -> None:
        row = self._rows.get(photo_id)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def refresh_photo(self, photo: Photo) -> None:
        """A photo's row changed (indexed, renamed): show the new state, retry its thumbnail."""
        row = self._rows.get(photo.id)
        if row is None:
            return
        old = self._items[row]
        self._items[row] = Item(photo, old.why, old.score, old.box, old.detection_id)
        self._failed.discard(photo.id)
        self._changed(photo.id)


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
