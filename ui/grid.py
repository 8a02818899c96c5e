"""The thumbnail grid: a QListView in icon mode over PhotoListModel, with a delegate
that paints fixed-size cells (uniform sizes keep layout O(1) per row at 100,000)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate

from .photomodel import PhotoRole, StateRole, ThumbStateRole, WhyRole

CELL = 176
THUMB = 160
LABEL_H = 36  # two lines: the file name, and why a search matched it


class ThumbnailDelegate(QStyledItemDelegate):
    def sizeHint(self, option, index) -> QSize:
        return QSize(CELL, CELL + LABEL_H)

    def paint(self, painter: QPainter, option, index: QModelIndex) -> None:
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
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if pixmap is not None and not pixmap.isNull():
            # Bottom-aligned, so every name sits right under its picture.
            target = QRect(0, 0, pixmap.width(), pixmap.height())
            target.moveCenter(frame.center())
            target.moveBottom(frame.bottom())
            painter.drawPixmap(target, pixmap)
        else:
            target = frame
            self._placeholder(painter, frame, palette, index.data(ThumbStateRole))
        self._state_badge(painter, target, index.data(StateRole))
        metrics = option.fontMetrics
        line = QRect(rect.x() + 4, frame.bottom() + 4, rect.width() - 8, metrics.height())
        painter.setPen(palette.color(QPalette.ColorRole.HighlightedText if selected
                                     else QPalette.ColorRole.Text))
        name = metrics.elidedText(index.data(Qt.ItemDataRole.DisplayRole) or "",
                                  Qt.TextElideMode.ElideMiddle, line.width())
        painter.drawText(line, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        why = index.data(WhyRole)
        if why:
            line.translate(0, metrics.height())
            if not selected:
                painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(line, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                             metrics.elidedText(why, Qt.TextElideMode.ElideRight, line.width()))
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
        colour = {"error": QColor("#d03b3b"), "pending": QColor("#9a9a9a"),
                  "missing": QColor("#d08a1b")}.get(state)
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
