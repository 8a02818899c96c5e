"""The About dialog: version, library, and the licence of every model in use."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout

from .. import __version__
from .banner import Need, human_size


class AboutDialog(QDialog):
    def __init__(self, folder, needs: list[Need], parent=None):
        """needs: model_needs() of the library, read on a task thread."""
        super().__init__(parent)
        self.setWindowTitle("About photoorg")
        v = QVBoxLayout(self)
        title = QLabel(
            f"<h2>photoorg {__version__}</h2>"
            "<p>A local-first photo library: folders that index themselves, tags, "
            "people and pets, search and cut-outs. Nothing leaves this machine.</p>"
            f"<p>Library: {folder}<br>photoorg is licensed under Apache-2.0.</p>"
        )
        title.setWordWrap(True)
        title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(title)
        v.addWidget(QLabel("<b>Models</b> (weights are downloaded only when you ask)"))
        self.table = QTableWidget(len(needs), 5)
        self.table.setHorizontalHeaderLabels(["Feature", "Model", "Size", "Licence", "Installed"])
        for row, n in enumerate(needs):
            for col, text in enumerate(
                (n.feature, n.name, human_size(n.size), n.licence, "yes" if n.installed else "no")
            ):
                item = QTableWidgetItem(text)
                item.setToolTip(n.summary)
                self.table.setItem(row, col, item)
        self.table.verticalHeader().hide()
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        v.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)
        self.resize(820, 320)

    def licences(self) -> dict[str, str]:
        return {
            self.table.item(r, 1).text(): self.table.item(r, 3).text() for r in range(self.table.rowCount())
        }
