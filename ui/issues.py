"""The Issues view: every file photoorg could not read, and why."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget


class ProblemModel(QAbstractTableModel):
    HEADERS = ("File", "Reason")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.problems: list = []

    def set_problems(self, problems: list) -> None:
        self.beginResetModel()
        self.problems = list(problems)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.problems)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else 2

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        problem = self.problems[index.row()]
        value = problem.path if index.column() == 0 else problem.reason
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return value
        return None


class IssuesView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        v = QVBoxLayout(self)
        self.summary = QLabel()
        v.addWidget(self.summary)
        self.model = ProblemModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 420)
        v.addWidget(self.table)

    def show_problems(self, problems: list) -> None:
        self.model.set_problems(problems)
        self.summary.setText(
            f"{len(problems)} file(s) could not be read. They stay listed until they are fixed "
            "or removed; photoorg never changes them."
            if problems
            else "No problems: every file was read."
        )
