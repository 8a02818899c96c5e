"""The thumbnail grid: a QListView in icon mode over PhotoListModel, with a delegate
that paints fixed-size cells (uniform sizes keep layout O(1) per row at 100,000)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate

from .photomodel import PhotoRole

CELL = 176
THUMB = 160
LABEL_H = 36  # two lines: the file name, and why a search matched it
BADGES = {"error": QColor("#d03b3b"), "pending": QColor("#9a9a9a"), "missing": QColor("#d08a1b")}
ELIDED_KEPT = 4000  # elided labels remembered (a few screenfuls' worth)


# Qt's enums cost a Python call each time they are looked up or combined: looked up once.
SELECTED = QStyle.StateFlag.State_Selected
UNDER_CENTRE = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
CENTRE = Qt.AlignmentFlag.AlignCenter
ELIDE_MIDDLE, ELIDE_RIGHT = Qt.TextElideMode.ElideMiddle, Qt.TextElideMode.ElideRight
TEXT, SELECTED_TEXT = QPalette.ColorRole.Text, QPalette.ColorRole.HighlightedText
DIM_TEXT, EMPTY = QPalette.ColorRole.PlaceholderText, QPalette.ColorRole.AlternateBase


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints a cell from one Cell (the model's cell(row)); elided labels are
    remembered, as eliding is the costliest step left in a repaint. A tile is a few
    Qt calls and as little Python as can be: the GUI thread paints about forty new
    tiles per page step (bench/gui.py)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._elided: dict[tuple[str, int, bool], str] = {}

    def sizeHint(self, option, index) -> QSize:
        return QSize(CELL, CELL + LABEL_H)

    def _elide(self, metrics, text: str, middle: bool, width: int) -> str:
        key = (text, width, middle)
        elided = self._elided.get(key)
        if elided is None:
            if len(self._elided) >= ELIDED_KEPT:
                self._elided.clear()
            mode = ELIDE_MIDDLE if middle else ELIDE_RIGHT
            elided = self._elided[key] = metrics.elidedText(text, mode, width)
        return elided

    def paint(self, painter: QPainter, option, index: QModelIndex) -> None:
        cell = index.model().cell(index.row())
        rect = option.rect
        palette = option.palette
        selected = bool(option.state & SELECTED)
        x, y, width = rect.x(), rect.y(), rect.width()
        if selected:
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(rect.adjusted(2, 2, -2, -2), 6, 6)
            painter.restore()
        left = x + (width - THUMB) // 2
        pixmap = cell.pixmap
        if pixmap is not None:
            # Bottom-aligned, so every name sits right under its picture.
            w, h = pixmap.width(), pixmap.height()
            target = QRect(left + (THUMB - w) // 2, y + 8 + THUMB - h, w, h)
            painter.drawPixmap(target, pixmap)
            if cell.state in BADGES:
                self._state_badge(painter, target, cell.state)
        else:
            frame = QRect(left, y + 8, THUMB, THUMB)
            painter.fillRect(frame.adjusted(8, 8, -8, -8), palette.color(EMPTY))
            if cell.thumb_state == "none":
                painter.setPen(palette.color(DIM_TEXT))
                painter.drawText(frame, CENTRE, "no preview")
            if cell.state in BADGES:
                self._state_badge(painter, frame, cell.state)
        if not cell.name:
            return
        metrics = option.fontMetrics
        line = QRect(x + 4, y + 12 + THUMB, width - 8, metrics.height())
        painter.setPen(palette.color(SELECTED_TEXT if selected else TEXT))
        painter.drawText(line, UNDER_CENTRE, self._elide(metrics, cell.name, True, line.width()))
        if cell.why:
            line.translate(0, metrics.height())
            if not selected:
                painter.setPen(palette.color(DIM_TEXT))
            painter.drawText(line, UNDER_CENTRE, self._elide(metrics, cell.why, False, line.width()))

    @staticmethod
    def _state_badge(painter, frame, state) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("white"))
        painter.setBrush(BADGES[state])
        painter.drawEllipse(frame.right() - 16, frame.top() + 4, 12, 12)
        painter.restore()


class ThumbnailGrid(QListView):
    """Emits `opened(photo)` on double-click or Enter."""

    opened = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(400)
        self.setSpacing(4)
        self.setWrapping(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(40)
        self.setItemDelegate(ThumbnailDelegate(self))
        self.setGridSize(QSize(CELL + 8, CELL + LABEL_H + 8))
        self.activated.connect(self._open)

    def _open(self, index: QModelIndex) -> None:
        photo = index.data(PhotoRole)
        if photo is not None:
            self.opened.emit(photo)

    def current_photo(self):
        index = self.currentIndex()
        return index.data(PhotoRole) if index.isValid() else None
