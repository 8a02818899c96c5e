"""Sort into folders or rename, for the photos of the current view or selection:
the plan is shown as a list of old -> new paths before anything moves, applied with
progress, and undone with one button. Planning and moving run on the task thread."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..journal import undo
from ..organize import apply, plan
from ..progress import drive


def view_ids(grid, source) -> list[int]:
    """The selected photos, or every photo of the view (a folder, or a search result)."""
    from .photomodel import PhotoRole

    selected = [i.data(PhotoRole).id for i in grid.selectionModel().selectedIndexes()]
    if selected:
        return selected
    if source is None:
        return []
    return list(dict.fromkeys(getattr(source, "ids", None) or [i.photo.id for i in source.items]))


PATTERNS = {
    "organize": "{year}/{month:02}-{event}",
    "rename": "{year}{month:02}{day:02}_{counter:03}",
}


class OrganizeDialog(QDialog):
    """`ids`: the photos to organize (the selection, or every photo of the view)."""

    def __init__(self, tasks, ids: list[int], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Sort or Rename Photos")
        self.resize(900, 560)
        self.tasks, self.ids = tasks, list(ids)
        self.plan = None
        self.mode = QComboBox()
        self.mode.addItem("Sort into folders", "organize")
        self.mode.addItem("Rename in place", "rename")
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.into = QLineEdit()
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose)
        into_row = QWidget()
        h = QHBoxLayout(into_row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.into, 1)
        h.addWidget(browse)
        self.pattern = QLineEdit(PATTERNS["organize"])
        self.copy = QCheckBox("Copy (leave the originals where they are)")
        form = QFormLayout()
        form.addRow("Action", self.mode)
        form.addRow("Into folder", into_row)
        form.addRow("Pattern", self.pattern)
        form.addRow("", self.copy)
        self.preview_list = QListWidget()
        self.status = QLabel(f"{len(self.ids)} photos. Preview first: nothing moves until you apply.")
        self.status.setWordWrap(True)
        self.preview_button = QPushButton("Preview")
        self.apply_button = QPushButton("Apply")
        self.undo_button = QPushButton("Undo Last")
        self.apply_button.setEnabled(False)
        self.preview_button.clicked.connect(self.preview)
        self.apply_button.clicked.connect(self.apply)
        self.undo_button.clicked.connect(self.undo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.undo_button)
        buttons.addStretch(1)
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.preview_list, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        for edit in (self.into, self.pattern):
            edit.textChanged.connect(self._invalidate)
        self.copy.toggled.connect(self._invalidate)

    def _mode_changed(self) -> None:
        kind = self.mode.currentData()
        self.pattern.setText(PATTERNS[kind])
        self.into.setEnabled(kind == "organize")
        self.copy.setEnabled(kind == "organize")
        self._invalidate()

    def _choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Sort photos into", str(Path.home()))
        if folder:
            self.into.setText(folder)

    def _invalidate(self) -> None:
        self.plan = None
        self.apply_button.setEnabled(False)

    def preview(self) -> None:
        ids, pattern, kind = self.ids, self.pattern.text(), self.mode.currentData()
        into, copy = self.into.text().strip() or None, self.copy.isChecked()
        self.status.setText("Planning…")
        self.tasks.submit(
            "organize-plan",
            lambda lib, task: plan(
                lib,
                lib.photos(ids),
                pattern,
                into=into,
                copy=copy,
                rename=kind == "rename",
            ),
            self._planned,
            self._failed,
        )

    def _planned(self, the_plan) -> None:
        self.plan = the_plan
        self.preview_list.clear()
        for c in the_plan.changes:
            note = f"  (date: {c.date_from})" if c.date_from else "  (sidecar)"
            self.preview_list.addItem(f"{c.src} -> {c.dst}{note}")
        verb = "copied" if the_plan.copy else "moved"
        extra = f" {the_plan.new_root} becomes a library folder." if the_plan.new_root else ""
        self.status.setText(
            f"{len(the_plan.changes)} files would be {verb}; "
            f"{len(the_plan.unchanged)} are already in place.{extra}"
        )
        self.apply_button.setEnabled(bool(the_plan.changes))

    def _failed(self, message: str) -> None:
        self.status.setText(message)

    def apply(self) -> None:
        if self.plan is None:
            return
        the_plan, self.plan = self.plan, None
        self.apply_button.setEnabled(False)
        self.status.setText("Applying…")
        self.tasks.edit(
            lambda lib, task: drive(apply(lib, the_plan), lambda p: task.runner.report(task, p)),
            self._applied,
            self._failed,
            lambda p: self.status.setText(f"Moving {p.done}/{p.total}…"),
        )

    def _applied(self, report) -> None:
        self.status.setText(f"Done: {report.files} files. Undo Last puts them back.")

    def undo(self) -> None:
        self.status.setText("Undoing…")
        self.tasks.edit(
            lambda lib, task: undo(lib.store, lib.folder),
            self._undone,
            self._failed,
        )

    def _undone(self, report) -> None:
        problems = f" {len(report.problems)} problems: {report.problems[0]}" if report.problems else ""
        self.status.setText(f"Undid {report.run.description}: {report.restored} files put back." + problems)
