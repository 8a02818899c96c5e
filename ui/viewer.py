"""The photo viewer: the photo with its boxes, naming, suggestions and tags.

The GUI thread never touches the database: reads and decoding the full photo run on
the task thread (its own Library), edits on the writer (TaskRunner.edit), and their
results come back as callbacks."""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .canvas import PhotoCanvas, qimage_from_pil

VIEW_SIDE = 2048


def _load_full(photo):
    """On the task thread: the upright photo at screen size, or None if unreadable."""
    from ..imaging import load_image

    return qimage_from_pil(load_image(photo.path, max_side=VIEW_SIDE))


@dataclass(frozen=True)
class _State:
    """What the side panel shows of one photo, read on the task thread."""

    boxes: list
    suggestions: list
    names: list[str]
    tags: list


def _read_state(lib, photo) -> _State:
    return _State(
        lib.detections(photo), lib.suggestions(photo), [s.name for s in lib.subjects()], lib.tags_of(photo)
    )


def _folder_online(lib, photo) -> bool:
    return next((r.online for r in lib.roots() if r.id == photo.root_id), True)


class ViewerWindow(QWidget):
    """One window; show_photo() switches photo. `changed` tells the main window
    that names or tags changed (sidebar counts, search results)."""

    changed = Signal()
    cutoutRequested = Signal(object)  # Photo

    def __init__(self, thumbs_dir, tasks, parent=None):
        super().__init__(parent, Qt.WindowType.Window)
        self.thumbs_dir, self.tasks = thumbs_dir, tasks
        self.photo = None
        self.photos: list = []
        self.setWindowTitle("photoorg")
        self.resize(1200, 800)
        self.canvas = PhotoCanvas()
        self.canvas.nameEntered.connect(self.name_box)
        self._build_side()
        split = QSplitter()
        split.addWidget(self.canvas)
        split.addWidget(self.side)
        split.setStretchFactor(0, 1)
        split.setSizes([900, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        QShortcut(QKeySequence(Qt.Key.Key_Right), self, lambda: self.step(1))
        QShortcut(QKeySequence(Qt.Key.Key_Left), self, lambda: self.step(-1))
        QShortcut(QKeySequence(QKeySequence.StandardKey.Close), self, self.close)
        self.tag_list.installEventFilter(self)  # Delete removes the selected tag

    def _build_side(self) -> None:
        self.side = QWidget()
        self.side.setMinimumWidth(260)
        v = QVBoxLayout(self.side)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.title)
        v.addWidget(_heading("People & pets"))
        self.box_list = QListWidget()
        self.box_list.itemActivated.connect(self._box_chosen)
        self.box_list.itemClicked.connect(self._box_chosen)
        v.addWidget(self.box_list, 2)
        self.suggest_heading = _heading("Suggestions")
        v.addWidget(self.suggest_heading)
        self.suggest_box = QVBoxLayout()
        v.addLayout(self.suggest_box)
        v.addWidget(_heading("Tags"))
        self.tag_list = QListWidget()
        v.addWidget(self.tag_list, 3)
        row = QHBoxLayout()
        self.tag_edit = QLineEdit()
        self.tag_edit.setPlaceholderText("Add a tag")
        self.tag_edit.returnPressed.connect(self._add_tag)
        self.remove_tag_button = QPushButton("Remove")
        self.remove_tag_button.clicked.connect(self._remove_selected_tag)
        row.addWidget(self.tag_edit)
        row.addWidget(self.remove_tag_button)
        v.addLayout(row)
        self.cutout_button = QPushButton("Cut out…")
        self.cutout_button.clicked.connect(lambda: self.cutoutRequested.emit(self.photo))
        v.addWidget(self.cutout_button)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #c0392b")
        v.addWidget(self.message)

    def eventFilter(self, obj, event) -> bool:
        if (
            obj is self.tag_list
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
        ):
            self._remove_selected_tag()
            return True
        return super().eventFilter(obj, event)

    # -- navigation -------------------------------------------------------------

    def show_photo(self, photo, photos: list | None = None, focus=None) -> None:
        """focus: the search hit's (detection_id, box) to highlight, if a region matched."""
        if photos is not None:
            self.photos = photos
        self.photo = photo
        self.canvas.set_focus(*(focus or (None, None)))
        self.setWindowTitle(f"{os.path.basename(photo.rel_path)} — photoorg")
        self.message.clear()
        self.canvas.set_image(self._cached_preview(photo), "")
        self.tasks.submit(
            "viewer-image",
            lambda lib, task: _load_full(photo),
            lambda image, p=photo: self._image_loaded(p, image),
            lambda message, p=photo: self._image_failed(p, message),
        )
        self.refresh()

    def step(self, delta: int) -> None:
        ids = [p.id for p in self.photos]
        if self.photo is None or self.photo.id not in ids:
            return
        i = ids.index(self.photo.id) + delta
        if 0 <= i < len(self.photos):
            self.show_photo(self.photos[i])

    def _cached_preview(self, photo) -> QImage | None:
        from ..thumbs import thumbnail_path

        path = thumbnail_path(self.thumbs_dir, photo)
        image = QImage(str(path)) if path.exists() else None
        return image if image is not None and not image.isNull() else None

    def _image_loaded(self, photo, image: QImage) -> None:
        if self.photo is not None and photo.id == self.photo.id:
            self.canvas.set_image(image)

    def _image_failed(self, photo, message: str) -> None:
        if self.photo is None or photo.id != self.photo.id:
            return
        self.tasks.submit(
            "viewer-folder",
            lambda lib, task: _folder_online(lib, photo),
            lambda online: self._image_note(photo, message, online),
        )

    def _image_note(self, photo, message: str, online: bool) -> None:
        if self.photo is None or photo.id != self.photo.id:
            return
        note = (
            "The folder is offline: showing the cached preview."
            if not online
            else f"Cannot show the full photo: {message}"
        )
        self.canvas.set_image(self.canvas.image, note)

    # -- state -------------------------------------------------------------------

    def refresh(self) -> None:
        photo = self.photo
        if photo is None:
            return
        self.title.setText(_describe(photo))
        self.tasks.submit(
            "viewer-state",
            lambda lib, task: _read_state(lib, photo),
            lambda state: self._show_state(photo, state),
        )

    def _show_state(self, photo, state: _State) -> None:
        if self.photo is None or photo.id != self.photo.id:
            return  # another photo is shown by now
        boxes, suggestions = state.boxes, state.suggestions
        self.canvas.set_boxes(boxes, suggestions, state.names)
        self.box_list.clear()
        by_box = {s.detection_id: s for s in suggestions}
        for det in boxes:
            if det.subject_name:
                text = f"{det.subject_name} ({det.label})"
            elif det.id in by_box:
                text = f"{det.label} {det.score:.0%}: {by_box[det.id].subject.name}?"
            else:
                text = f"{det.label} {det.score:.0%}  — click to name"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, det.id)
            self.box_list.addItem(item)
        if not boxes:
            self.box_list.addItem("No people or pets found")
        self._show_suggestions(suggestions)
        self._show_tags(state.tags)

    def _show_suggestions(self, suggestions) -> None:
        while self.suggest_box.count():
            widget = self.suggest_box.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.suggest_heading.setVisible(bool(suggestions))
        for s in suggestions:
            self.suggest_box.addWidget(self._suggestion_row(s))

    def _suggestion_row(self, s) -> QWidget:
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(QLabel(f"Is this {s.subject.name}? ({s.score:.0%})"), 1)
        yes, no = QPushButton("Yes"), QPushButton("No")
        yes.setObjectName(f"confirm-{s.detection_id}")
        no.setObjectName(f"reject-{s.detection_id}")
        yes.clicked.connect(lambda: self.confirm_suggestion(s))
        no.clicked.connect(lambda: self.reject_suggestion(s))
        h.addWidget(yes)
        h.addWidget(no)
        return row

    def _show_tags(self, tags: list) -> None:
        self.tag_list.clear()
        for tag in tags:
            text = tag.tag if tag.source == "user" else f"{tag.tag}  (auto, {tag.score:.0%})"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, tag.tag)
            self.tag_list.addItem(item)

    # -- edits -------------------------------------------------------------------

    def _box_chosen(self, item: QListWidgetItem) -> None:
        det_id = item.data(Qt.ItemDataRole.UserRole)
        det = next((d for d in self.canvas.boxes if d.id == det_id), None)
        if det is not None:
            self.canvas.edit_name(det)

    def name_box(self, det, name: str) -> None:
        self._edit(lambda lib: lib.name_box(det.id, name))

    def confirm_suggestion(self, s) -> None:
        self._edit(lambda lib: lib.name_box(s.detection_id, s.subject.name))

    def reject_suggestion(self, s) -> None:
        self._edit(lambda lib: lib.reject_suggestion(s.detection_id, s.subject.id))

    def add_tag(self, word: str) -> None:
        path = self.photo.path
        self._edit(lambda lib: lib.tag(path, add=[word]))

    def remove_tag(self, word: str) -> None:
        path = self.photo.path
        self._edit(lambda lib: lib.tag(path, remove=[word]))

    def _add_tag(self) -> None:
        word = self.tag_edit.text().strip()
        if word:
            self.add_tag(word)
            self.tag_edit.clear()

    def _remove_selected_tag(self) -> None:
        item = self.tag_list.currentItem()
        if item is not None:
            self.remove_tag(item.data(Qt.ItemDataRole.UserRole))

    def _edit(self, action) -> None:
        """action(lib) on the writer's thread, then the panel read again there."""
        photo = self.photo
        self.message.clear()

        def work(lib, task):
            action(lib)
            return _read_state(lib, photo)

        def done(state: _State) -> None:
            self._show_state(photo, state)
            self.changed.emit()

        def failed(sentence: str) -> None:
            self.message.setText(sentence)
            self.refresh()

        self.tasks.edit(work, done, failed)  # in order, none replacing another


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def _describe(photo) -> str:
    parts = [os.path.dirname(photo.path)]
    if photo.taken_at:
        parts.append(photo.taken_at.replace("T", " "))
    if photo.width:
        parts.append(f"{photo.width} x {photo.height}")
    camera = " ".join(x for x in (photo.camera_make, photo.camera_model) if x)
    if camera:
        parts.append(camera)
    if photo.state == "error":
        parts.append(f"Cannot read: {photo.error}")
    name = _escape(os.path.basename(photo.rel_path))
    return f"<b>{name}</b><br>" + "<br>".join(_escape(p) for p in parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
