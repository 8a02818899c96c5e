"""The photo viewer: the photo with its boxes and faces, naming, suggestions and tags.
A face is named or refused ("not this person") here as in the People view, and a face
the finder missed is drawn by a drag on the photo.

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
    faces: list  # photoorg.photo_faces.PhotoFace
    suggestions: list
    names: list[str]
    tags: list


def _read_state(lib, photo) -> _State:
    return _State(
        lib.detections(photo),
        # Faces only: a pet's likeness row is its box, drawn and named as a box already.
        [f for f in lib.faces(photo) if f.face.kind == "person"],
        lib.suggestions(photo),
        [s.name for s in lib.subjects()],
        lib.tags_of(photo),
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
        self.canvas.faceNamed.connect(self.name_face)
        self.canvas.faceClicked.connect(self.choose_face)
        self.canvas.faceDrawn.connect(self.draw_face)
        self.face = None  # the face chosen on the photo or in the list
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
        v.addWidget(self._build_face_bar())
        hint = QLabel("Drag on the photo to draw a face the finder missed.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: gray")
        v.addWidget(hint)
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

    def _build_face_bar(self) -> QWidget:
        """The chosen face: its name, "Yes" to a suggestion, "Not …", and Remove for a
        face drawn by hand."""
        self.face_bar = QWidget()
        v = QVBoxLayout(self.face_bar)
        v.setContentsMargins(0, 0, 0, 0)
        self.face_label = QLabel()
        self.face_label.setWordWrap(True)
        v.addWidget(self.face_label)
        h = QHBoxLayout()
        v.addLayout(h)
        self.confirm_face_button = QPushButton("Yes")
        self.reject_face_button = QPushButton("Not this person")
        self.remove_face_button = QPushButton("Remove")
        self.confirm_face_button.clicked.connect(lambda: self.name_face(self.face, self.face.suggestion))
        self.reject_face_button.clicked.connect(lambda: self.not_this_person(self.face))
        self.remove_face_button.clicked.connect(lambda: self.remove_face(self.face))
        for button in (self.confirm_face_button, self.reject_face_button, self.remove_face_button):
            h.addWidget(button)
        h.addStretch(1)
        self.face_bar.hide()
        return self.face_bar

    def choose_face(self, face) -> None:
        self.face = face
        f = face.face
        how = (
            "named by you"
            if f.named_by == "user"
            else "named automatically"
            if f.named_by == "auto"
            else f"looks like {face.suggestion}"
            if face.suggestion
            else "type a name on the photo"
        )
        drawn = ", drawn by you" if f.by_hand else ""
        self.face_label.setText(f"Face: {face.label} ({how}{drawn})")
        self.confirm_face_button.setVisible(bool(face.suggestion))
        self.confirm_face_button.setText(f"Yes, {face.suggestion}" if face.suggestion else "Yes")
        who = f.subject_name or face.suggestion
        self.reject_face_button.setVisible(bool(who))
        self.reject_face_button.setText(f"Not {who}" if who else "Not this person")
        self.remove_face_button.setVisible(f.by_hand)
        self.face_bar.show()

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
        self.canvas.set_boxes(boxes, suggestions, state.names, state.faces)
        chosen = self.face.face.id if self.face is not None else None
        self.face = None
        self.face_bar.hide()
        self.box_list.clear()
        for face in state.faces:
            f = face.face
            hint = "  — click to name" if not f.subject_name and not face.suggestion else ""
            item = QListWidgetItem(f"Face: {face.label}{' (drawn)' if f.by_hand else ''}{hint}")
            item.setData(Qt.ItemDataRole.UserRole, ("face", f.id))
            self.box_list.addItem(item)
            if f.id == chosen:
                self.choose_face(face)
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
        if not boxes and not state.faces:
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
        if isinstance(det_id, tuple):  # ("face", id)
            face = next((f for f in self.canvas.faces if f.face.id == det_id[1]), None)
            if face is not None:
                self.choose_face(face)
                self.canvas.edit_face(face)
            return
        det = next((d for d in self.canvas.boxes if d.id == det_id), None)
        if det is not None:
            self.canvas.edit_name(det)

    def name_box(self, det, name: str) -> None:
        self._edit(lambda lib: lib.name_box(det.id, name))

    def name_face(self, face, name: str) -> None:
        self._edit(lambda lib: lib.name_face(face.face.id, name))

    def not_this_person(self, face) -> None:
        self._edit(lambda lib: lib.not_this_person(face.face.id))

    def draw_face(self, box, name: str) -> None:
        """A face the finder missed; the face model describes it on the task thread."""
        photo = self.photo
        self._edit(lambda lib: lib.draw_face(photo, box, name or None))

    def remove_face(self, face) -> None:
        self._edit(lambda lib: lib.remove_drawn_face(face.face.id))

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
