"""The first-run view on an empty library: pick folders (the Pictures folder is
suggested when there is one), see what the models need, start."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .banner import Need, human_size


def pictures_folder() -> Path | None:
    """The user's Pictures folder (XDG or the platform's), when it exists."""
    try:
        from platformdirs import user_pictures_dir

        found = Path(user_pictures_dir())
    except Exception:  # noqa: BLE001 - no platform answer: fall back to the usual name
        found = Path.home() / "Pictures"
    return found if found.is_dir() else None


class WelcomeView(QWidget):
    """Emits start(folders, download_models)."""

    start = Signal(list, bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(48, 32, 48, 32)
        box = QWidget()
        box.setMaximumWidth(720)
        v = QVBoxLayout(box)
        title = QLabel(
            "<h1>Welcome to photoorg</h1><p>Choose the folders that hold your photos. "
            "photoorg keeps them indexed as they change, tags every photo, finds the "
            "people and pets in them, and never modifies or uploads a file.</p>"
        )
        title.setWordWrap(True)
        v.addWidget(title)
        self.folders = QListWidget()
        self.folders.setMaximumHeight(140)
        self.folders.itemChanged.connect(lambda _item: self._update())
        v.addWidget(self.folders)
        self.empty_hint = QLabel("No folder chosen yet: add one, or drop it on this window.")
        self.empty_hint.setStyleSheet("color: palette(placeholder-text)")
        v.addWidget(self.empty_hint)
        row = QHBoxLayout()
        add = QPushButton("Add folder…")
        add.clicked.connect(self._choose)
        row.addWidget(add)
        row.addStretch(1)
        v.addLayout(row)
        self.models_text = QLabel()
        self.models_text.setWordWrap(True)
        self.models_text.hide()
        v.addWidget(self.models_text)
        self.download = QCheckBox()
        self.download.hide()
        v.addWidget(self.download)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self._start)
        v.addWidget(self.start_button, alignment=Qt.AlignmentFlag.AlignRight)
        outer.addWidget(box, alignment=Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        suggested = pictures_folder()
        if suggested is not None:
            self.add_folder(str(suggested))
        self._update()

    def show_needs(self, needs: list[Need]) -> None:
        """The models not installed yet (model_needs, read on a task thread)."""
        needs = [n for n in needs if not n.installed]
        self.models_text.setVisible(bool(needs))
        self.download.setVisible(bool(needs))
        if not needs:
            return
        lines = "".join(
            f"<li>{n.feature}: <b>{n.name}</b>, {human_size(n.size)}, licence {n.licence}</li>" for n in needs
        )
        self.models_text.setText(
            f"<p><b>Models</b> run on this computer. These are not installed yet:</p><ul>{lines}</ul>"
        )
        self.download.setText(
            f"Download them now ({human_size(sum(n.size for n in needs))}); "
            "otherwise browsing and search by name and date still work"
        )

    def add_folder(self, path: str) -> None:
        if path in self.chosen():
            return
        item = QListWidgetItem(path)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked)
        self.folders.addItem(item)
        self._update()

    def chosen(self) -> list[str]:
        return [
            self.folders.item(i).text()
            for i in range(self.folders.count())
            if self.folders.item(i).checkState() == Qt.CheckState.Checked
        ]

    def _choose(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a photo folder", str(Path.home()))
        if path:
            self.add_folder(path)

    def _update(self) -> None:
        self.start_button.setEnabled(bool(self.chosen()))
        self.folders.setVisible(self.folders.count() > 0)
        self.empty_hint.setVisible(self.folders.count() == 0)

    def _start(self) -> None:
        self.start.emit(self.chosen(), self.download.isChecked())
