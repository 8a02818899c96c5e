"""The viewer's photo canvas: the upright photo scaled to fit, with the people and
pet boxes drawn and labelled, and the faces in them drawn apart (an oval, its name or
"Unnamed" under it); clicking a box or a face opens an inline name editor with
completion over the names already given. A drag on the photo draws a face the finder
missed, then asks its name."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QCompleter, QLineEdit, QSizePolicy, QWidget

NAMED = QColor("#2fb36b")
UNNAMED = QColor("#f2b632")
SUGGESTED = QColor("#4a90e2")
DRAG_PX = 8  # a press that moves further draws a face; less is a click


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
    faceClicked = Signal(object)  # PhotoFace
    faceNamed = Signal(object, str)  # PhotoFace, name
    faceDrawn = Signal(object, str)  # (x0, y0, x1, y1) normalised to the photo, name or ""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.image: QImage | None = None
        self.boxes: list = []
        self.faces: list = []  # PhotoFace
        self.suggested: dict[int, object] = {}
        self.note = ""
        self._hover: tuple | None = None  # ("box" | "face", id)
        self._press: QPointF | None = None
        self.drawing: QRectF | None = None  # the face being dragged out, or waiting for its name
        self.editor = QLineEdit(self)
        self.editor.setPlaceholderText("Name, then Enter")
        self.editor.hide()
        self.editor.returnPressed.connect(self._commit_name)
        self.completer = QCompleter([], self.editor)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.editor.setCompleter(self.completer)
        self._editing: tuple | None = None  # ("box", det) | ("face", PhotoFace) | ("draw", box)
        self.focus = None  # (detection_id, box) a search matched, drawn as a highlight

    def set_focus(self, detection_id: int | None, box) -> None:
        self.focus = (detection_id, box) if detection_id is not None or box else None
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(900, 650)

    def set_image(self, image: QImage | None, note: str = "") -> None:
        self.image, self.note = image, note
        self.update()

    def set_boxes(self, boxes: list, suggestions: list = (), names: list[str] = (), faces: list = ()) -> None:
        self.boxes = list(boxes)
        self.faces = list(faces)
        self.drawing = None
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

    def face_at(self, point: QPointF):
        """The smallest face under the point."""
        hits = [f for f in self.faces if self.box_rect(f.face).contains(point)]
        return min(
            hits, key=lambda f: self.box_rect(f.face).width() * self.box_rect(f.face).height(), default=None
        )

    def to_photo(self, rect: QRectF) -> tuple[float, float, float, float]:
        """A rectangle on the widget as a box normalised to the photo."""
        area = self.image_rect()
        return (
            (rect.left() - area.x()) / area.width(),
            (rect.top() - area.y()) / area.height(),
            (rect.right() - area.x()) / area.width(),
            (rect.bottom() - area.y()) / area.height(),
        )

    # -- interaction -----------------------------------------------------------

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and not self.image_rect().isEmpty():
            self._press = event.position()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        point = event.position()
        if self._press is not None and event.buttons() & Qt.MouseButton.LeftButton:
            if self.drawing is not None or (point - self._press).manhattanLength() > DRAG_PX:
                self.editor.hide()
                self.drawing = QRectF(self._press, point).normalized() & self.image_rect()
                self.update()
                return
        face = self.face_at(point)
        det = self.box_at(point) if face is None else None
        hover = ("face", face.face.id) if face else ("box", det.id) if det else None
        if hover != self._hover:
            self._hover = hover
            self.setCursor(Qt.CursorShape.PointingHandCursor if hover else Qt.CursorShape.CrossCursor)
            named = face.face.subject_name if face else det.subject_name if det else None
            self.setToolTip(
                "Click to name" if hover and not named else "" if hover else "Drag to draw a missed face"
            )
            self.update()

    def mouseReleaseEvent(self, event) -> None:
        press, self._press = self._press, None
        super().mouseReleaseEvent(event)
        if press is None or event.button() != Qt.MouseButton.LeftButton:
            return
        if self.drawing is not None:
            if min(self.drawing.width(), self.drawing.height()) < DRAG_PX:
                self.drawing = None  # a slip, not a face
                self.update()
            else:
                self._open_editor(
                    ("draw", self.to_photo(self.drawing)), self.drawing, "", "Who is this? Enter"
                )
            return
        face = self.face_at(press)
        det = self.box_at(press)
        if face is not None:
            self.faceClicked.emit(face)
            self.edit_face(face)
        elif det is not None:
            self.boxClicked.emit(det)
            self.edit_name(det)
        else:
            self.editor.hide()
            self._editing = None

    def edit_name(self, det) -> None:
        self._open_editor(("box", det), self.box_rect(det), det.subject_name or "")

    def edit_face(self, face) -> None:
        self._open_editor(
            ("face", face), self.box_rect(face.face), face.face.subject_name or face.suggestion or ""
        )

    def _open_editor(self, what: tuple, rect: QRectF, text: str, hint: str = "Name, then Enter") -> None:
        self._editing = what
        width = max(180, int(rect.width()))
        self.editor.setPlaceholderText(hint)
        self.editor.setGeometry(int(rect.x()), int(min(rect.bottom() + 4, self.height() - 30)), width, 28)
        self.editor.setText(text)
        self.editor.selectAll()
        self.editor.show()
        self.editor.setFocus()

    def _commit_name(self) -> None:
        what, name = self._editing, self.editor.text().strip()
        self.editor.hide()
        self._editing = None
        if what is None:
            return
        kind, item = what
        if kind == "draw":  # a drawn face is kept even unnamed: it was missed
            self.faceDrawn.emit(item, name)
        elif name and kind == "face":
            self.faceNamed.emit(item, name)
        elif name:
            self.nameEntered.emit(item, name)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and (self.editor.isVisible() or self.drawing is not None):
            self.editor.hide()
            self._editing = None
            self.drawing = None
            self.update()
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
        for face in self.faces:
            self._draw_face(painter, face)
        if self.drawing is not None:
            painter.setPen(QPen(QColor("white"), 2, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(self.drawing)
            painter.drawRect(self.drawing)
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
        pen = QPen(colour, 3 if self._hover == ("box", det.id) else 2)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, 3, 3)
        self._draw_label(painter, box_label(det, suggestion), colour, rect, below=False)

    def _draw_face(self, painter: QPainter, face) -> None:
        """A face: an oval in its box (a person box is a rectangle), its label under it;
        dashed when the user drew it."""
        f = face.face
        colour = NAMED if f.subject_name else SUGGESTED if face.suggestion else UNNAMED
        rect = self.box_rect(f)
        style = Qt.PenStyle.DashLine if f.by_hand else Qt.PenStyle.SolidLine
        painter.setPen(QPen(colour, 3 if self._hover == ("face", f.id) else 2, style))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(rect)
        self._draw_label(painter, face.label, colour, rect, below=True)

    def _draw_label(self, painter: QPainter, text: str, colour: QColor, rect: QRectF, below: bool) -> None:
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        metrics = QFontMetrics(font)
        width = metrics.horizontalAdvance(text) + 10
        if below:  # centred under a face, so it does not sit on its person box's label
            tag = QRectF(rect.center().x() - width / 2, rect.bottom() + 2, width, metrics.height() + 4)
            if tag.bottom() > self.height():
                tag.moveBottom(rect.bottom())
        else:
            tag = QRectF(rect.x(), rect.y() - metrics.height() - 4, width, metrics.height() + 4)
            if tag.top() < 0:
                tag.moveTop(rect.y())
        # Crowded photos: slide a label down rather than cover another.
        bottom = max(rect.bottom(), tag.bottom()) + (tag.height() * 3 if below else 0)
        while any(tag.intersects(other) for other in self._labels) and tag.bottom() < bottom:
            tag.moveTop(tag.top() + tag.height())
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
