"""The sidebar: the whole library, folders with their state, tags with counts,
people and pets, and the issues list. Choosing an entry emits what to show."""

from __future__ import annotations

import os

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QMenu, QStyle, QTreeWidget, QTreeWidgetItem

KindRole = Qt.ItemDataRole.UserRole + 1
ValueRole = Qt.ItemDataRole.UserRole + 2
MAX_TAGS = 60


def filter_query(key: str, value: str) -> str:
    """`tag:beach`, or `tag:"birthday cake"` when the value has spaces."""
    return f'{key}:"{value}"' if any(c.isspace() or c == '"' for c in value) else f"{key}:{value}"


class Sidebar(QTreeWidget):
    showAll = Signal()
    showFolder = Signal(object)  # Root
    showQuery = Signal(str)
    showIssues = Signal()
    showPeople = Signal()
    addFolder = Signal()
    removeFolder = Signal(object)  # Root
    rescanFolder = Signal(object)  # Root

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setRootIsDecorated(False)
        self.setIndentation(12)
        self.setUniformRowHeights(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.itemClicked.connect(self._chosen)
        self.itemActivated.connect(self._chosen)
        self._no_choice = False
        style = self.style()
        self._icons = {
            "all": style.standardIcon(QStyle.StandardPixmap.SP_DirHomeIcon),
            "online": style.standardIcon(QStyle.StandardPixmap.SP_DirIcon),
            "offline": style.standardIcon(QStyle.StandardPixmap.SP_DriveNetIcon),
            "indexing": style.standardIcon(QStyle.StandardPixmap.SP_BrowserReload),
            "issues": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning),
            "add": style.standardIcon(QStyle.StandardPixmap.SP_FileDialogNewFolder),
        }

    def populate(
        self, status, tags: list[tuple[str, int]], subjects: list, problems: int, indexing: bool
    ) -> None:
        """Rebuild from the library's state, keeping which entry is selected."""
        chosen = self._chosen_key()
        self.clear()
        shown = sum(status.counts.values()) - status.counts.get("missing", 0)
        top = self._entry(None, f"All photos  ({shown})", "all", None, self._icons["all"])
        folders = self._section("Folders")
        for rs in status.roots:
            self._folder(folders, rs, indexing)
        self._entry(folders, "Add folder…", "add", None, self._icons["add"])
        if tags:
            section = self._section("Tags")
            for tag, count in tags[:MAX_TAGS]:
                self._entry(section, f"{tag}  ({count})", "query", filter_query("tag", tag))
        section = self._section("People & Pets")
        self._entry(section, "All people & pets", "people", None)
        for s in subjects:
            self._entry(section, f"{s.name}  ({s.count})", "query", filter_query(s.kind, s.name))
        if not subjects:
            hint = self._entry(section, "Name a box in the viewer", "hint", None)
            hint.setFlags(Qt.ItemFlag.NoItemFlags)
        if problems:
            self._entry(None, f"Issues  ({problems})", "issues", None, self._icons["issues"])
        self.expandAll()
        if not self._no_choice:
            self._select(chosen or ("all", None), fallback=top)

    def clear_choice(self) -> None:
        """A typed search shows something no entry stands for."""
        self._no_choice = True
        self.setCurrentItem(None)
        self.clearSelection()

    def _folder(self, section, rs, indexing: bool) -> None:
        root = rs.root
        pending = rs.counts.get("pending", 0)
        total = sum(rs.counts.values()) - rs.counts.get("missing", 0)
        name = os.path.basename(root.path.rstrip(os.sep)) or root.path
        if not root.online:
            state, label = "offline", f"{name}  (offline)"
        elif pending and indexing:
            state, label = "indexing", f"{name}  (indexing, {pending} left)"
        else:
            state, label = "online", f"{name}  ({total})"
        item = self._entry(section, label, "folder", root, self._icons[state])
        reason = root.offline_reason or "not reachable"
        tip = (
            root.path
            if root.online
            else f"{root.path}\nOffline: {reason}; its photos stay browsable from cached thumbnails."
        )
        item.setToolTip(0, tip)
        item.setData(0, Qt.ItemDataRole.AccessibleDescriptionRole, state)

    def _section(self, title: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self, [title.upper()])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = item.font(0)
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 0.85)
        item.setFont(0, font)
        return item

    def _entry(self, parent, text, kind, value, icon=None) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent if parent is not None else self, [text])
        item.setData(0, KindRole, kind)
        item.setData(0, ValueRole, value)
        if icon is not None:
            item.setIcon(0, icon)
        return item

    def entries(self, kind: str) -> list[QTreeWidgetItem]:
        found = []
        stack = [self.topLevelItem(i) for i in range(self.topLevelItemCount())]
        while stack:
            item = stack.pop(0)
            if item.data(0, KindRole) == kind:
                found.append(item)
            stack.extend(item.child(i) for i in range(item.childCount()))
        return found

    def _chosen_key(self):
        item = self.currentItem()
        if item is None:
            return None
        value = item.data(0, ValueRole)
        return item.data(0, KindRole), getattr(value, "id", value)

    def _select(self, key, fallback) -> None:
        kind, value = key
        for item in self.entries(kind):
            found = item.data(0, ValueRole)
            if getattr(found, "id", found) == value:
                self.setCurrentItem(item)
                return
        self.setCurrentItem(fallback)

    def _chosen(self, item: QTreeWidgetItem) -> None:
        self._no_choice = False
        kind, value = item.data(0, KindRole), item.data(0, ValueRole)
        if kind == "all":
            self.showAll.emit()
        elif kind == "folder":
            self.showFolder.emit(value)
        elif kind == "query":
            self.showQuery.emit(value)
        elif kind == "issues":
            self.showIssues.emit()
        elif kind == "people":
            self.showPeople.emit()
        elif kind == "add":
            self.addFolder.emit()

    def _menu(self, pos: QPoint) -> None:
        item = self.itemAt(pos)
        if item is None or item.data(0, KindRole) != "folder":
            return
        root = item.data(0, ValueRole)
        menu = QMenu(self)
        menu.addAction("Rescan", lambda: self.rescanFolder.emit(root))
        menu.addAction("Remove from library…", lambda: self.removeFolder.emit(root))
        menu.exec(self.viewport().mapToGlobal(pos))
