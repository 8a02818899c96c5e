"""The People & Pets view: one tile per group (its clearest face), largest first; name
a group once, merge groups, open one to move a face out or say "not this person".

Every read and write goes through the TaskRunner (its own Library on its own thread):
a 10,000-face merge or the crops of a few hundred tiles never block the window. Tiles
appear at once with their names; the crops follow, a page at a time, made into QImages
on the task thread and kept, so a reload after an edit crops only new covers.
bench/people_view.py, 10,000 faces (2 shared cores, load 6-7, two runs of two rounds):
the GUI thread is busy 66-109 ms CPU to open the view (longest stall 29-104 ms) and
70-119 ms for a merge of two 1,200-face groups (stall 33-111 ms); before the cache, one
layout per listing and the QImages off the GUI thread (one run): 209-247 ms (stall
118-128) and 256-420 ms (stall 127-255).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .. import people
from .canvas import qimage_from_pil

MAX_TILES = 400  # groups shown; the rest are the smallest (often one face each)
MAX_MEMBERS = 300
CROPS_PER_TASK = 24  # a page per task, so a search typed meanwhile waits for one page only
MAX_CACHED_CROPS = 2_000  # about 100 MB of icons at most; then they are made again
GroupRole = Qt.ItemDataRole.UserRole + 1
FaceRole = Qt.ItemDataRole.UserRole + 2
CroppedRole = Qt.ItemDataRole.UserRole + 3  # True once the face crop replaced the grey


@dataclass(frozen=True)
class Listing:
    groups: list
    totals: dict
    counts: dict


def _load_groups(lib, task) -> Listing:
    return Listing(
        people.groups(lib.store, limit=MAX_TILES),
        people.scan_totals(lib.store),
        people.group_counts(lib.store),
    )


def _crop_page(faces: list):
    """fn(lib, task) giving (key, QImage) for one page of (key, photo id, box). The
    QImage is made on the task thread too (QImage, unlike QPixmap, may be): the GUI
    thread only turns it into a pixmap."""

    def work(lib, task):
        photos = {p.id: p for p in lib.store.photos({f[1] for f in faces})}
        return [
            (key, qimage_from_pil(people.face_crop(photos[photo_id], lib.thumbs_dir, box)))
            for key, photo_id, box in faces
            if photo_id in photos and not task.cancel.is_set()
        ]

    return work


def _items(view: QListWidget, role: int) -> dict:
    return {view.item(row).data(role): view.item(row) for row in range(view.count())}


def _set_icon(item: QListWidgetItem, icon: QIcon) -> None:
    item.setIcon(icon)
    item.setData(CroppedRole, True)


def _label(group) -> str:
    kind = "" if group.kind == "person" else f" ({group.kind})"
    return f"{group.name or 'Unnamed'}{kind}\n{group.size} face{'s' if group.size != 1 else ''}"


class PeopleView(QWidget):
    changed = Signal()  # names changed: the sidebar's people list and searches follow
    showQuery = Signal(str)

    def __init__(self, tasks, parent=None):
        super().__init__(parent)
        self.tasks = tasks
        self.groups: list = []
        self._pages: dict[str, int] = {}  # crop kind -> generation; a newer listing wins
        # Crops by (photo, box): a reload after an edit shows the tiles it had at once
        # and crops only the new covers (a merge changes one tile, not 400).
        self._icons: dict[tuple, QIcon] = {}
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.tiles = self._list(people.CROP_SIDE)
        self.tiles.itemSelectionChanged.connect(self._selection_changed)
        self.members = self._list(people.CROP_SIDE * 2 // 3)
        self.name_button = QPushButton("Name…")
        self.merge_button = QPushButton("Merge")
        self.move_button = QPushButton("Move Out")
        self.reject_button = QPushButton("Not This Person")
        self.name_button.clicked.connect(self._ask_name)
        self.merge_button.clicked.connect(self.merge_selected)
        self.move_button.clicked.connect(lambda: self.move_out_selected(False))
        self.reject_button.clicked.connect(lambda: self.move_out_selected(True))
        buttons = QHBoxLayout()
        for b in (self.name_button, self.merge_button, self.move_button, self.reject_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tiles)
        split.addWidget(self.members)
        split.setSizes([520, 200])
        v = QVBoxLayout(self)
        v.addWidget(self.summary)
        v.addLayout(buttons)
        v.addWidget(split, 1)
        self._selection_changed()

    def _list(self, side: int) -> QListWidget:
        view = QListWidget()
        view.setViewMode(QListWidget.ViewMode.IconMode)
        view.setResizeMode(QListWidget.ResizeMode.Adjust)
        view.setMovement(QListWidget.Movement.Static)
        view.setWordWrap(True)
        view.setIconSize(QSize(side, side))
        view.setGridSize(QSize(side + 28, side + 48))  # the crop and two lines of text
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setUniformItemSizes(True)  # every tile is one grid cell: no per-item measuring
        pixmap = QPixmap(view.iconSize())
        pixmap.fill(QColor(200, 200, 200))
        view.setProperty("placeholder", QIcon(pixmap))
        return view

    @staticmethod
    def _placeholder(view: QListWidget) -> QIcon:
        """Grey until the crop comes, at the crop's size, so the grid does not jump."""
        return view.property("placeholder")

    # -- loading -------------------------------------------------------------------

    def reload(self) -> None:
        self.summary.setText("Loading people and pets…")
        self.tasks.submit("people", _load_groups, on_done=self._show, on_error=self._failed)
        # Faces found since the last look join groups on the writer; the groups are
        # shown meanwhile and listed again if any face moved.
        self.tasks.edit(
            lambda lib, task: people.group_new_faces(lib.store),
            on_done=self._grouped,
            on_error=self._failed,
        )

    def _grouped(self, moved: int) -> None:
        if moved:
            self.tasks.submit("people", _load_groups, on_done=self._show, on_error=self._failed)

    def _show(self, listing: Listing) -> None:
        self.groups = listing.groups
        chosen = {g.id for g in self.selected_groups()}
        # One selection change and one layout for the whole listing, not one per tile.
        self.tiles.blockSignals(True)
        self.tiles.setUpdatesEnabled(False)
        self.tiles.clear()
        self.members.clear()
        for g in listing.groups:
            item = QListWidgetItem(self._placeholder(self.tiles), _label(g))
            item.setData(GroupRole, g.id)
            item.setToolTip(f"Group {g.id}: {g.size} faces")
            self.tiles.addItem(item)
            item.setSelected(g.id in chosen)
        self.tiles.setUpdatesEnabled(True)
        self.tiles.blockSignals(False)
        self.summary.setText(self._summary(listing))
        self._load_crops(
            "people-crops",
            [(g.id, g.cover_photo_id, g.cover_box) for g in listing.groups],
            self.tiles,
            GroupRole,
        )
        self._selection_changed()

    def _summary(self, listing: Listing) -> str:
        if not listing.groups:
            return (
                "No faces yet. Faces are found while photos are indexed, once the face models are installed."
            )
        counts = listing.counts
        shown = (
            "" if counts["groups"] <= len(listing.groups) else f" (the {len(listing.groups)} largest shown)"
        )
        text = (
            f"{counts['groups']} groups{shown}, {counts['named']} named. Select a group to "
            "see its faces; name it once and every face in it is named."
        )
        t = listing.totals
        if t.get("too_small") or t.get("capped"):
            text += (
                f" Left out: {t['too_small']} faces too small to recognise, "
                f"{t['capped']} beyond the per-photo cap."
            )
        return text

    def _load_crops(self, kind: str, faces: list, view: QListWidget, role: int) -> None:
        """Crops for (key, photo id, box): the ones made before at once, the rest a page
        per task."""
        generation = self._pages[kind] = self._pages.get(kind, 0) + 1
        items = _items(view, role)
        missing = []
        for key, photo_id, box in faces:
            icon = self._icons.get((photo_id, tuple(box)))
            if icon is not None and key in items:
                _set_icon(items[key], icon)
            else:
                missing.append((key, photo_id, box))
        self._next_page(kind, generation, missing, view, role)

    def _next_page(self, kind, generation, faces, view, role) -> None:
        page, rest = faces[:CROPS_PER_TASK], faces[CROPS_PER_TASK:]
        if not page or self._pages.get(kind) != generation:
            return
        where = {key: (photo_id, tuple(box)) for key, photo_id, box in page}

        def done(crops):
            if len(self._icons) > MAX_CACHED_CROPS:
                self._icons.clear()
            items = _items(view, role)
            for key, image in crops:
                icon = self._icons[where[key]] = QIcon(QPixmap.fromImage(image))
                if key in items:
                    _set_icon(items[key], icon)
            self._next_page(kind, generation, rest, view, role)

        self.tasks.submit(kind, _crop_page(page), on_done=done)

    def _failed(self, message: str) -> None:
        self.summary.setText(message)

    # -- selection -------------------------------------------------------------------

    def selected_groups(self) -> list:
        ids = {item.data(GroupRole) for item in self.tiles.selectedItems()}
        return [g for g in self.groups if g.id in ids]

    def selected_faces(self) -> list[int]:
        return [item.data(FaceRole) for item in self.members.selectedItems()]

    def _selection_changed(self) -> None:
        chosen = self.selected_groups()
        self.name_button.setEnabled(len(chosen) == 1)
        self.merge_button.setEnabled(len(chosen) >= 2)
        self.move_button.setEnabled(len(chosen) == 1)
        self.reject_button.setEnabled(len(chosen) == 1 and bool(chosen[0].name))
        if len(chosen) == 1:
            self._open_group(chosen[0].id)
        else:
            self.members.clear()

    def _open_group(self, group_id: int) -> None:
        def load(lib, task):
            return people.members(lib.store, group_id, MAX_MEMBERS)

        self.tasks.submit("people-members", load, on_done=self._show_members, on_error=self._failed)

    def _show_members(self, faces: list) -> None:
        self.members.clear()
        for f in faces:
            item = QListWidgetItem(self._placeholder(self.members), f.subject_name or "?")
            item.setData(FaceRole, f.id)
            item.setToolTip(
                "named by you"
                if f.named_by == "user"
                else "named automatically"
                if f.named_by == "auto"
                else "a suggestion"
            )
            self.members.addItem(item)
        self._load_crops(
            "people-member-crops", [(f.id, f.photo_id, f.box) for f in faces], self.members, FaceRole
        )

    # -- edits (each on the task thread, then a reload) ---------------------------------

    def _edit(self, fn, what: str) -> None:
        self.summary.setText(f"{what}…")
        self.tasks.edit(  # to the writer, in order: a second click never replaces the first
            lambda lib, task: fn(lib.store),
            on_done=lambda _: self._edited(),
            on_error=self._failed,
        )

    def _edited(self) -> None:
        self.changed.emit()
        self.reload()

    def _ask_name(self) -> None:
        chosen = self.selected_groups()
        if len(chosen) != 1:
            return
        name, ok = QInputDialog.getText(self, "Name", "Who is this?", text=chosen[0].name or "")
        if ok:
            self.name_selected(name)

    def name_selected(self, name: str) -> None:
        (group,) = self.selected_groups()
        self._edit(lambda store: people.name_group(store, group.id, name), f"Naming {name}")

    def merge_selected(self) -> None:
        chosen = self.selected_groups()
        if len(chosen) < 2:
            return
        target, others = chosen[0], chosen[1:]  # the largest keeps its id

        def merge(store):
            for other in others:
                people.merge(store, target.id, other.id)

        self._edit(merge, f"Merging {len(chosen)} groups")

    def move_out_selected(self, not_this_person: bool) -> None:
        faces = self.selected_faces()
        if not faces:
            self.summary.setText("Select the faces to move out in the lower list first.")
            return

        def move(store):
            for face_id in faces:
                people.move_out(store, face_id, not_this_person)

        self._edit(move, "Moving faces out")
