"""The thumbnail grid: a QListView in icon mode over PhotoListModel, with a delegate
that paints fixed-size cells (uniform sizes keep layout O(1) per row at 100,000)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate

from .photomodel import CellRole, PhotoRole

CELL = 176
THUMB = 160
LABEL_H = 36  # two lines: the file name, and why a search matched it
BADGES = {"error": QColor("#d03b3b"), "pending": QColor("#9a9a9a"), "missing": QColor("#d08a1b")}
ELIDED_KEPT = 4000  # elided labels remembered (a few screenfuls' worth)


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints a cell from one Cell (CellRole); elided labels are remembered, as eliding
    is the costliest step left in a repaint."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._elided: dict[tuple[str, int, int], str] = {}

    def sizeHint(self, option, index) -> QSize:
        return QSize(CELL, CELL + LABEL_H)

    def _elide(self, metrics, text: str, mode, width: int) -> str:
        key = (text, width, int(mode.value))
        elided = self._elided.get(key)
        if elided is None:
            if len(self._elided) >= ELIDED_KEPT:
                self._elided.clear()
            elided = self._elided[key] = metrics.elidedText(text, mode, width)
        return elided

    def paint(self, painter: QPainter, option, index: QModelIndex) -> None:
        cell = index.data(CellRole)
        if cell is None:
            return
        painter.save()
        rect = option.rect
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(rect.adjusted(2, 2, -2, -2), 6, 6)
        frame = QRect(rect.x() + (rect.width() - THUMB) // 2, rect.y() + 8, THUMB, THUMB)
        pixmap = cell.pixmap
        if pixmap is not None and not pixmap.isNull():
            # Bottom-aligned, so every name sits right under its picture.
            target = QRect(0, 0, pixmap.width(), pixmap.height())
            target.moveCenter(frame.center())
            target.moveBottom(frame.bottom())
            painter.drawPixmap(target, pixmap)
        else:
            target = frame
            self._placeholder(painter, frame, palette, cell.thumb_state)
        self._state_badge(painter, target, cell.state)
        metrics = option.fontMetrics
        line = QRect(rect.x() + 4, frame.bottom() + 4, rect.width() - 8, metrics.height())
        painter.setPen(
            palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        )
        name = self._elide(metrics, cell.name, Qt.TextElideMode.ElideMiddle, line.width())
        painter.drawText(line, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        if cell.why:
            line.translate(0, metrics.height())
            if not selected:
                painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                line,
                Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                self._elide(metrics, cell.why, Qt.TextElideMode.ElideRight, line.width()),
            )
        painter.restore()

    @staticmethod
    def _placeholder(painter, frame, palette, state) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
        painter.drawRoundedRect(frame.adjusted(8, 8, -8, -8), 4, 4)
        if state == "none":
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(frame, Qt.AlignmentFlag.AlignCenter, "no preview")

    @staticmethod
    def _state_badge(painter, frame, state) -> None:
        colour = BADGES.get(state)
        if colour is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("white"))
        painter.setBrush(colour)
        painter.drawEllipse(frame.right() - 16, frame.top() + 4, 12, 12)


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
