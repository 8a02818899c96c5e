"""The viewer's photo canvas: the upright photo scaled to fit, with the people and
pet boxes drawn and labelled; clicking a box opens an inline name editor with
completion over the names already given."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QCompleter, QLineEdit, QSizePolicy, QWidget

NAMED = QColor("#2fb36b")
UNNAMED = QColor("#f2b632")
SUGGESTED = QColor("#4a90e2")


def qimage_from_pil(image: Image.Image) -> QImage:
    """A deep copy, so the QImage outlives the PIL buffer (safe on any thread)."""
    rgb = image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image.convert("RGB")
    fmt = QImage.Format.Format_RGBA8888 if rgb.mode == "RGBA" else QImage.Format.Format_RGB888
    data = rgb.tobytes()
    channels = 4 if rgb.mode == "RGBA" else 3
    return QImage(data, rgb.width, rgb.height, rgb.width * channels, fmt).copy()


def box_label(det, suggestion=None) -> str:
    if det.subject_name:
        return det.subject_name
    if suggestion is not None:
        return f"{suggestion.subject.name}?"
    return f"{det.label} {det.score:.0%}"


class PhotoCanvas(QWidget):
    boxClicked = Signal(object)  # StoredDetection
    nameEntered = Signal(object, str)  # StoredDetection, name

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.image: QImage | None = None
        self.boxes: list = []
        self.suggested: dict[int, object] = {}
        self.note = ""
        self._hover: int | None = None
        self.editor = QLineEdit(self)
        self.editor.setPlaceholderText("Name, then Enter")
        self.editor.hide()
        self.editor.returnPressed.connect(self._commit_name)
        self.completer = QCompleter([], self.editor)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.editor.setCompleter(self.completer)
        self._editing = None
        self.focus = None  # (detection_id, box) a search matched, drawn as a highlight

    def set_focus(self, detection_id: int | None, box) -> None:
        self.focus = (detection_id, box) if detection_id is not None or box else None
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(900, 650)

    def set_image(self, image: QImage | None, note: str = "") -> None:
        self.image, self.note = image, note
        self.update()

    def set_boxes(self, boxes: list, suggestions: list = (), names: list[str] = ()) -> None:
        self.boxes = list(boxes)
        self.suggested = {s.detection_id: s for s in suggestions}
        self.completer.model().setStringList(sorted(set(names), key=str.lower))
        self.editor.hide()
        self._editing = None
        self.update()

    # -- geometry --------------------------------------------------------------

    def image_rect(self) -> QRectF:
        if self.image is None or self.image.isNull():
            return QRectF()
        size = QSize(self.image.width(), self.image.height()).scaled(
            self.size(), Qt.AspectRatioMode.KeepAspectRatio
        )
        x = (self.width() - size.width()) / 2
        y = (self.height() - size.height()) / 2
        return QRectF(x, y, size.width(), size.height())

    def box_rect(self, det) -> QRectF:
        area = self.image_rect()
        x0, y0, x1, y1 = det.box
        return QRectF(
            area.x() + x0 * area.width(),
            area.y() + y0 * area.height(),
            (x1 - x0) * area.width(),
            (y1 - y0) * area.height(),
        )

    def box_at(self, point: QPointF):
        """The smallest box under the point (a face inside a group box wins)."""
        hits = [d for d in self.boxes if self.box_rect(d).contains(point)]
        return min(hits, key=lambda d: self.box_rect(d).width() * self.box_rect(d).height(), default=None)

    # -- interaction -----------------------------------------------------------

    def mousePressEvent(self, event) -> None:
        det = self.box_at(event.position())
        if det is not None and event.button() == Qt.MouseButton.LeftButton:
            self.boxClicked.emit(det)
            self.edit_name(det)
        else:
            self.editor.hide()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        det = self.box_at(event.position())
        hover = det.id if det is not None else None
        if hover != self._hover:
            self._hover = hover
            self.setCursor(Qt.CursorShape.PointingHandCursor if det else Qt.CursorShape.ArrowCursor)
            self.setToolTip("Click to name" if det is not None and not det.subject_name else "")
            self.update()

    def edit_name(self, det) -> None:
        self._editing = det
        rect = self.box_rect(det)
        width = max(180, int(rect.width()))
        self.editor.setGeometry(int(rect.x()), int(min(rect.bottom() + 4, self.height() - 30)), width, 28)
        self.editor.setText(det.subject_name or "")
        self.editor.selectAll()
        self.editor.show()
        self.editor.setFocus()

    def _commit_name(self) -> None:
        det, name = self._editing, self.editor.text().strip()
        self.editor.hide()
        self._editing = None
        if det is not None and name:
            self.nameEntered.emit(det, name)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self.editor.isVisible():
            self.editor.hide()
            self._editing = None
            return
        super().keyPressEvent(event)

    # -- painting --------------------------------------------------------------

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#1e1e1e"))
        if self.image is None or self.image.isNull():
            painter.setPen(QColor("#bbbbbb"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.note or "Loading…")
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self.image_rect(), self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._labels: list[QRectF] = []
        for det in self.boxes:
            self._draw_box(painter, det)
        self._draw_focus(painter)
        if self.note:
            painter.setPen(QColor("#f0f0f0"))
            painter.drawText(
                self.rect().adjusted(10, 10, -10, -10),
                Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft,
                self.note,
            )

    def _draw_focus(self, painter: QPainter) -> None:
        """The region a search matched ("dog on a sofa" pointing at the dog)."""
        if self.focus is None:
            return
        det_id, box = self.focus
        det = next((d for d in self.boxes if d.id == det_id), None)
        if det is None and not box:
            return
        rect = self.box_rect(det) if det is not None else self.box_rect(_Region(box))
        pen = QPen(QColor("white"), 2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect.adjusted(-4, -4, 4, 4), 4, 4)

    def _draw_box(self, painter: QPainter, det) -> None:
        suggestion = self.suggested.get(det.id)
        colour = NAMED if det.subject_name else SUGGESTED if suggestion else UNNAMED
        rect = self.box_rect(det)
        pen = QPen(colour, 3 if det.id == self._hover else 2)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, 3, 3)
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        text = box_label(det, suggestion)
        metrics = QFontMetrics(font)
        tag = QRectF(
            rect.x(),
            rect.y() - metrics.height() - 4,
            metrics.horizontalAdvance(text) + 10,
            metrics.height() + 4,
        )
        if tag.top() < 0:
            tag.moveTop(rect.y())
        # Crowded photos: slide a label down inside its box rather than cover another.
        while any(tag.intersects(other) for other in self._labels) and tag.bottom() < rect.bottom():
            tag.moveTop(max(tag.top() + tag.height(), rect.y()))
        self._labels.append(tag)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(tag, 3, 3)
        painter.setPen(QColor("#101010"))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, text)


class _Region:
    """A bare box (normalised x0, y0, x1, y1) shaped like a StoredDetection for box_rect()."""

    def __init__(self, box):
        self.box = box
