"""The Duplicates view: groups in their explained tiers on the left, one group's
photos side by side on the right, each with its size and why it is in the group;
the user picks the one to keep and the others go to the system trash after a
confirmation. Finding, reading and trashing run on the task thread."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..dupes import KEEPER_RULE, Group, find_groups, trash_others
from ..imaging import DecodeError
from ..progress import drive

THUMB = 220


@dataclass(frozen=True)
class Shown:
    """One member as the view shows it (read on the task thread)."""

    id: int
    path: str
    relation: str
    keep: bool
    thumb: str | None
    details: str


@dataclass(frozen=True)
class Review:
    group: Group
    members: list[Shown]


def review(lib, task) -> list[Review]:
    """On the task thread: groups, and for each photo its thumbnail and size."""
    groups = drive(find_groups(lib.store, lib.thumbs_dir), lambda p: task.runner.report(task, p))
    out = []
    for g in groups:
        shown = []
        for m, photo in zip(g.members, lib.photos([m.id for m in g.members])):
            try:
                thumb = str(lib.thumbnail(photo))
            except (DecodeError, OSError):
                thumb = None
            size = f"{photo.width}×{photo.height} · " if photo.width else ""
            shown.append(
                Shown(
                    m.id,
                    m.path,
                    m.relation,
                    m.keep,
                    thumb,
                    f"{size}{photo.size / 1024:.0f} KB",
                )
            )
        out.append(Review(g, shown))
    return out


class DuplicatesDialog(QDialog):
    def __init__(self, tasks, parent=None, send=None):
        super().__init__(parent)
        self.setWindowTitle("Duplicates")
        self.resize(1100, 640)
        self.tasks, self.send = tasks, send
        self.reviews: list[Review] = []
        self.groups = QListWidget()
        self.groups.currentRowChanged.connect(self._show_group)
        self.cards = QWidget()
        self.cards_layout = QHBoxLayout(self.cards)
        self.cards_layout.setAlignment(Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.cards)
        self.choice = QButtonGroup(self)
        self.keep_button = QPushButton("Keep Selected, Trash the Others…")
        self.keep_button.setEnabled(False)
        self.keep_button.clicked.connect(lambda: self.trash_others())
        self.status = QLabel("Looking for duplicates…")
        self.status.setWordWrap(True)
        rule = QLabel(KEEPER_RULE[0].upper() + KEEPER_RULE[1:] + ". Bursts are never duplicates.")
        rule.setWordWrap(True)
        right = QWidget()
        v = QVBoxLayout(right)
        v.addWidget(scroll, 1)
        v.addWidget(rule)
        v.addWidget(self.keep_button, 0, Qt.AlignmentFlag.AlignRight)
        split = QSplitter()
        split.addWidget(self.groups)
        split.addWidget(right)
        split.setSizes([300, 800])
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        self.refresh()

    def refresh(self) -> None:
        self.status.setText("Looking for duplicates…")
        self.tasks.submit("dupes", review, self._loaded, self._failed, self._progress)

    def _progress(self, p) -> None:
        self.status.setText(f"Reading photos for duplicates: {p.done}/{p.total}")

    def _failed(self, message: str) -> None:
        self.status.setText(message)

    def _loaded(self, reviews: list[Review]) -> None:
        self.reviews = reviews
        self.groups.clear()
        for n, r in enumerate(reviews, 1):
            self.groups.addItem(f"{n}. {r.group.label} · {len(r.members)} photos")
        dupes = sum(1 for r in reviews if r.group.is_duplicate)
        self.status.setText(
            f"{dupes} groups of duplicates, {len(reviews) - dupes} bursts or similar shots."
            if reviews
            else "No duplicates or bursts found."
        )
        if reviews:
            self.groups.setCurrentRow(0)
        else:
            self._show_group(-1)

    def _show_group(self, row: int) -> None:
        while self.cards_layout.count():
            self.cards_layout.takeAt(0).widget().deleteLater()
        for button in self.choice.buttons():
            self.choice.removeButton(button)
        self.keep_button.setEnabled(0 <= row < len(self.reviews))
        if not 0 <= row < len(self.reviews):
            return
        for shown in self.reviews[row].members:
            self.cards_layout.addWidget(self._card(shown))

    def _card(self, shown: Shown) -> QWidget:
        card = QWidget()
        v = QVBoxLayout(card)
        picture = QLabel()
        picture.setFixedSize(THUMB, THUMB)
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        if shown.thumb:
            picture.setPixmap(
                QPixmap(shown.thumb).scaled(
                    THUMB,
                    THUMB,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
        keep = QRadioButton("Keep this one")
        keep.setChecked(shown.keep)
        keep.setProperty("photo_id", shown.id)
        self.choice.addButton(keep)
        name = QLabel(
            f"<b>{Path(shown.path).name}</b><br>{os.path.dirname(shown.path)}<br>"
            f"{shown.details}<br><i>{shown.relation}</i>"
        )
        name.setWordWrap(True)
        name.setMaximumWidth(THUMB)
        for w in (picture, name, keep):
            v.addWidget(w)
        v.addStretch(1)
        return card

    def chosen(self) -> int | None:
        button = self.choice.checkedButton()
        return button.property("photo_id") if button else None

    def trash_others(self, confirm: bool = True) -> None:
        row = self.groups.currentRow()
        if not 0 <= row < len(self.reviews) or self.chosen() is None:
            return
        group, keep_id = self.reviews[row].group, self.chosen()
        others = [m.path for m in group.members if m.id != keep_id]
        if (
            confirm
            and QMessageBox.question(
                self,
                "Move to Trash",
                f"Move {len(others)} photos to the system trash? Their tags and names go to "
                "the one you keep.",
            )
            != QMessageBox.StandardButton.Yes
        ):
            return
        send = self.send
        self.keep_button.setEnabled(False)
        self.status.setText(f"Moving {len(others)} photos to the trash…")
        self.tasks.edit(
            lambda lib, task: trash_others(lib.store, lib.folder, [group], {0: keep_id}, send),
            self._trashed,
            self._failed,
        )

    def _trashed(self, report) -> None:
        self.status.setText(f"Moved {len(report.trashed)} photos to the trash.")
        self.refresh()
