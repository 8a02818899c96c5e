"""The main window: sidebar, search, thumbnail grid, banner, status bar. It wires
views to the Library and to the background threads; the logic lives in the engine.

The window holds no Library: the GUI thread never runs SQL. Reads go to the task
runners (`tasks`; `pages` for the grid's rows, so a slow search never greys the
grid), edits to the one writer (`tasks.edit`: the index worker's thread), and every
result comes back as a signal (tests/test_ui_threads.py checks it statement by
statement)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QStringListModel, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCompleter,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ..library import default_folder, query_labels
from ..progress import format_duration
from .banner import ModelBanner, model_needs
from .grid import ThumbnailGrid
from .issues import IssuesView
from .photomodel import PAGE, HitSource, IdSource, PhotoListModel
from .sidebar import KindRole, Sidebar, ValueRole
from .tasks import IndexWorker, TaskRunner
from .thumbs import ThumbnailLoader
from .welcome import WelcomeView

if TYPE_CHECKING:  # built when first shown: they import numpy and Pillow
    from .cutout import CutoutDialog
    from .people import PeopleView

SEARCH_LIMIT = 20_000


@dataclass
class LibraryState:
    status: object
    tags: list
    subjects: list
    problems: int
    ids: list[int] | None  # the browsed photos, when the grid shows a folder or all
    photos: list  # the shown photos that were still in progress, as they are now


def _browsed(lib, root) -> tuple[bool, list[int], list]:
    """On the task thread: whether the library has folders, the first page's ids and
    their photos. Through an index they take a few ms; the whole id list (0.25-0.3 s
    at 100,000 photos) follows in a second task, so the first screenful waits for
    neither it nor a second trip to the task thread."""
    ids = lib.browse(root, limit=PAGE)
    return bool(lib.roots()), ids, lib.photos(ids)


def _read_state(lib, browse: bool, root, unfinished: list[int]) -> LibraryState:
    """On the task thread (its own Library)."""
    ids = lib.browse(root) if browse else None
    return LibraryState(
        lib.status(), lib.tag_counts(), lib.subjects(), len(lib.problems()), ids, lib.photos(unfinished)
    )


class MainWindow(QMainWindow):
    def __init__(self, folder: Path | str | None = None, watch: bool = True):
        super().__init__()
        self.folder = Path(folder).expanduser() if folder else default_folder()
        self.setWindowTitle("photoorg")
        self.resize(1280, 820)
        self.setAcceptDrops(True)
        self.worker = IndexWorker(self.folder, watch=watch, parent=self)
        self.tasks = TaskRunner(self.folder, self, writer=self.worker.inbox)
        self.pages = TaskRunner(self.folder, self)
        self.downloads = TaskRunner(self.folder, self)
        self.loader = ThumbnailLoader(self.folder / "thumbs", parent=self)
        self.model = PhotoListModel(self.loader, self)
        self.viewer = None
        self._query = ""
        self._view = 0  # which browse or search the grid should show; older results are dropped
        self._closed = False
        self._reconciled = False
        # The first page is read while the widgets are built (its result is handled
        # after this constructor). The task thread opens the library first (a new one
        # is created then); the others open it after, so no two threads create it at once.
        self.show_all()  # first in the task queue: the grid fills before the counts arrive
        self.tasks.ready.connect(self._start_the_others)
        self.tasks.start()
        self._build()
        self._wire()
        self.refresh_sidebar()

    def _start_the_others(self) -> None:
        if not self._closed:
            for thread in (self.worker, self.pages, self.downloads):
                thread.start()

    # -- layout --------------------------------------------------------------------

    def _build(self) -> None:
        self.sidebar = Sidebar()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search: beach, dog, person:Ana, after:2021, in:Holidays …")
        self.search.setClearButtonEnabled(True)
        self.completions = QStringListModel(self)
        completer = QCompleter(self.completions, self.search)
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search.setCompleter(completer)
        self.grid = ThumbnailGrid()
        self.grid.setModel(self.model)
        self.banner = ModelBanner(self.tasks, self.downloads)
        self.heading = QLabel()
        self.heading.setContentsMargins(8, 4, 8, 0)
        grid_page = QWidget()
        v = QVBoxLayout(grid_page)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(0)
        v.addWidget(self.banner)
        v.addWidget(self.heading)
        v.addWidget(self.grid)
        self.issues = IssuesView()
        self._welcome = self._people = None  # built when first shown
        self.stack = QStackedWidget()
        for page in (grid_page, self.issues):
            self.stack.addWidget(page)
        self.grid_page = grid_page
        split = QSplitter()
        split.addWidget(self.sidebar)
        split.addWidget(self.stack)
        split.setStretchFactor(1, 1)
        split.setSizes([240, 1040])
        self.setCentralWidget(split)
        self._build_toolbar()
        self._build_menus()
        self._build_status()

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setMovable(False)
        self.add_action = QAction("Add Folder…", self)
        self.add_action.setShortcut(QKeySequence("Ctrl+O"))
        self.cutout_all_action = QAction("Cut Out All…", self)
        bar.addAction(self.add_action)
        bar.addWidget(self.search)
        bar.addAction(self.cutout_all_action)
        self.addToolBar(bar)

    def _build_menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        file.addAction(self.add_action)
        file.addAction("Remove Selected Folder…", self._remove_selected_folder)
        file.addAction(self.cutout_all_action)
        file.addSeparator()
        file.addAction("&Quit", QKeySequence.StandardKey.Quit, self.close)
        view = self.menuBar().addMenu("&View")
        view.addAction("All Photos", self.show_all)
        view.addAction("Issues", self.show_issues)
        find = QAction("Find", self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: self.search.setFocus())
        view.addAction(find)
        organize = self.menuBar().addMenu("&Organize")
        organize.addAction("Duplicates…", self.show_duplicates)
        organize.addAction("Sort or Rename These Photos…", self.organize_view)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("Search Syntax", self.show_query_help)
        help_menu.addAction("&About photoorg", self.show_about)

    def _build_status(self) -> None:
        self.status_text = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(False)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._pause_toggled)
        self.cut_progress = QProgressBar()
        self.cut_progress.setMaximumWidth(160)
        self.cut_stop = QPushButton("Stop Cut-outs")
        self.cut_stop.clicked.connect(lambda: self.tasks.interrupt(self._cut_token))
        self._cut_token = 0
        for w in (self.progress, self.pause_button, self.cut_progress, self.cut_stop):
            w.hide()
        bar = self.statusBar()
        bar.addWidget(self.status_text, 1)
        for w in (self.cut_progress, self.cut_stop, self.progress, self.pause_button):
            bar.addPermanentWidget(w)

    def _wire(self) -> None:
        self.add_action.triggered.connect(self.choose_folder)
        self.cutout_all_action.triggered.connect(self.cut_out_all)
        self.search.returnPressed.connect(lambda: self.run_search(self.search.text()))
        self.search.textEdited.connect(self._search_edited)
        self._debounce = QTimer(self, singleShot=True, interval=350)
        self._debounce.timeout.connect(lambda: self.run_search(self.search.text()))
        self.sidebar.showAll.connect(self._sidebar_all)
        self.sidebar.showFolder.connect(self.show_folder)
        self.sidebar.showQuery.connect(self._sidebar_query)
        self.sidebar.showIssues.connect(self.show_issues)
        self.sidebar.showPeople.connect(self.show_people)
        self.sidebar.addFolder.connect(self.choose_folder)
        self.sidebar.removeFolder.connect(self.remove_folder)
        self.sidebar.rescanFolder.connect(lambda root: self.worker.scan([root.path]))
        self.grid.opened.connect(self.open_viewer)
        self.model.countChanged.connect(lambda n: self._update_heading())
        self.worker.progress.connect(self._on_progress)
        self.worker.changed.connect(self._on_changed)
        self.worker.message.connect(self.status_text.setText)
        self.worker.busyChanged.connect(self._on_busy)
        self.banner.modelsChanged.connect(self._models_changed)
        self._refresh_timer = QTimer(self, singleShot=True, interval=1500)
        self._refresh_timer.timeout.connect(self._refresh_after_work)

    # -- showing ---------------------------------------------------------------------

    def show_all(self) -> None:
        self._browse(None, "All photos")

    def show_folder(self, root) -> None:
        title = root.path + ("" if root.online else "  (offline: cached previews)")
        self._browse(root, title)

    def _browse(self, root, title: str) -> None:
        """The ids are read on the task thread, so the window paints at once and the
        grid fills when they are there: the first page's first, then all of them."""
        self._query = ""
        self._view += 1
        view = self._view
        self.tasks.submit(
            "browse", lambda lib, task: _browsed(lib, root), lambda r: self._show_ids(view, *r, title, root)
        )
        self.tasks.submit(
            "browse-all", lambda lib, task: lib.browse(root), lambda ids: self._all_ids(view, ids)
        )

    def _show_ids(self, view: int, has_folders: bool, ids: list[int], first: list, title: str, root) -> None:
        if view != self._view or self._closed:
            return
        self.sidebar.setVisible(has_folders)  # the welcome view says all there is to do
        if not has_folders:
            self.stack.setCurrentWidget(self.welcome)
            self.tasks.submit("models", lambda lib, task: model_needs(lib), self.welcome.show_needs)
            return
        self.stack.setCurrentWidget(self.grid_page)
        self.model.set_source(IdSource(self._read_page, ids, title, root, first, complete=False))
        if not self._reconciled:
            self._reconciled = True
            self.worker.scan()  # reconcile what changed while the app was closed

    def _all_ids(self, view: int, ids: list[int]) -> None:
        """The whole id list of the browse whose first page is shown: its rows grow."""
        source = self.model.source()
        if view == self._view and not self._closed and isinstance(source, IdSource):
            self.model.set_source(IdSource(self._read_page, ids, source.title, source.root))

    def _read_page(self, ids: list[int], done) -> None:
        """The grid's rows, read on their own task thread (the model reads one page at a time)."""
        self.pages.submit("page", lambda lib, task: lib.photos(ids), done)

    def show_issues(self) -> None:
        self.stack.setCurrentWidget(self.issues)
        self.tasks.submit("problems", lambda lib, task: lib.problems(), self.issues.show_problems)

    @property
    def welcome(self) -> WelcomeView:
        """The welcome view, built when first asked for: a library with
        folders never shows it, and it asks the platform for the Pictures folder."""
        if self._welcome is None:
            self._welcome = WelcomeView()
            self._welcome.start.connect(self.start_from_welcome)
            self.stack.addWidget(self._welcome)
        return self._welcome

    @property
    def people(self) -> PeopleView:
        """The People view, built when first asked for: its face groups
        (numpy, Pillow) are not needed for the first screenful."""
        if self._people is None:
            from .people import PeopleView

            self._people = PeopleView(self.tasks)
            self._people.changed.connect(self.refresh_sidebar)
            self.stack.addWidget(self._people)
        return self._people

    def show_people(self) -> None:
        self.stack.setCurrentWidget(self.people)
        self.people.reload()

    def _sidebar_all(self) -> None:
        self.search.clear()
        self.show_all()

    def _sidebar_query(self, query: str) -> None:
        self.search.setText(query)
        self.run_search(query)

    def _update_heading(self) -> None:
        source = self.model.source()
        title = getattr(source, "title", "")
        count = f" — {self.model.total()} photos" if getattr(source, "complete", True) else ""
        self.heading.setText(f"<b>{title}</b>{count}" if title else "")

    def refresh_sidebar(self) -> None:
        """Re-read counts, tags, names, problems (and the browsed ids) on the task
        thread: at 100,000 photos these queries take longer than a frame."""
        if self._closed:
            return
        source = self.model.source()
        browse = isinstance(source, IdSource)
        root = source.root if browse else None
        # Shown photos still in progress are read again with the rest.
        unfinished = [item.photo.id for item in self.model.loaded() if item.photo.state != "indexed"]
        self.tasks.submit(
            "refresh",
            lambda lib, task: _read_state(lib, browse, root, unfinished),
            lambda state: self._apply_state(source, state),
        )

    def _apply_state(self, source, state: LibraryState) -> None:
        if self._closed:
            return
        self.sidebar.populate(state.status, state.tags, state.subjects, state.problems, self.worker.busy)
        if self.model.source() is not source:
            return
        if state.ids is not None and state.ids != source.ids:
            scroll = self.grid.verticalScrollBar().value()
            self.model.set_source(IdSource(self._read_page, state.ids, source.title, source.root))
            QTimer.singleShot(0, lambda: self.grid.verticalScrollBar().setValue(scroll))
            return
        for photo in state.photos:
            self.model.refresh_photo(photo)

    # -- search ----------------------------------------------------------------------

    def _search_edited(self, text: str) -> None:
        self.sidebar.clear_choice()
        self._complete(text)
        self._debounce.start()

    def _complete(self, text: str) -> None:
        from ..search import completions

        if not text.strip():
            self._show_completions([])
            return
        self.tasks.submit("complete", lambda lib, task: completions(lib.store, text), self._show_completions)

    def _show_completions(self, options: list[str]) -> None:
        self.completions.setStringList(options)
        if options and self.search.hasFocus():
            self.search.completer().complete()

    def run_search(self, text: str) -> None:
        self._debounce.stop()
        query = text.strip()
        if query == self._query and self.stack.currentWidget() is self.grid_page:
            return
        self._query = query
        if not query:
            self.show_all()
            return
        self.status_text.setText(f"Searching for {query}…")
        self.search.setStyleSheet("")
        self._view += 1
        view = self._view
        self.tasks.submit(
            "search",
            lambda lib, task: lib.search(query, limit=SEARCH_LIMIT),
            lambda hits: self._show_hits(view, query, hits),
            lambda message: self._search_failed(query, message),
        )

    def _show_hits(self, view: int, query: str, hits: list) -> None:
        if view != self._view or self._closed:
            return  # an older search finished after something newer was asked for
        self.model.set_source(HitSource(hits, f"Search: {query}"))
        self.stack.setCurrentWidget(self.grid_page)
        self.status_text.setText(f"{len(hits)} photos match {query}" if hits else f"No photos match {query}")

    def _search_failed(self, query: str, message: str) -> None:
        if query == self._query:
            self._query = ""
            self.search.setStyleSheet("QLineEdit { border: 1px solid #d03b3b; }")
            self.status_text.setText(message)

    def show_query_help(self) -> None:
        from ..search import QUERY_HELP

        QMessageBox.information(self, "Search syntax", QUERY_HELP)

    # -- folders ---------------------------------------------------------------------

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a photo folder", str(Path.home()))
        if path:
            self.add_folders([path])

    def add_folders(self, paths: list[str], then=None) -> None:
        """Added by the writer; `then()` runs once they are in (not if refused)."""

        def added(roots) -> None:
            self._reconciled = True  # the new folders' scan is the one needed
            self.worker.scan([r.path for r in roots])
            self.status_text.setText("Added " + ", ".join(r.path for r in roots) + "; scanning…")
            self.show_all()  # first in the task queue: the grid fills before the counts arrive
            self.refresh_sidebar()
            if then is not None:
                then()

        self.tasks.edit(
            lambda lib, task: lib.add_roots(paths),
            added,
            lambda message: QMessageBox.warning(self, "Cannot add folder", message),
        )

    def remove_folder(self, root, confirm: bool = True) -> None:
        if (
            confirm
            and QMessageBox.question(
                self,
                "Remove folder",
                f"Forget {root.path} and its photos' tags and names? The files are not touched.",
            )
            != QMessageBox.StandardButton.Yes
        ):
            return
        self.tasks.edit(lambda lib, task: lib.remove_root(root.path), lambda _root: self._removed())

    def _removed(self) -> None:
        self.show_all()  # first in the task queue: the grid fills before the counts arrive
        self.refresh_sidebar()

    def _remove_selected_folder(self) -> None:
        item = self.sidebar.currentItem()
        if item is None or item.data(0, KindRole) != "folder":
            self.status_text.setText("Select a folder in the sidebar first.")
            return
        self.remove_folder(item.data(0, ValueRole))

    def start_from_welcome(self, folders: list[str], download: bool) -> None:
        self.add_folders(folders, self.banner.download if download else None)

    def dragEnterEvent(self, event) -> None:
        if any(Path(u.toLocalFile()).is_dir() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        folders = [u.toLocalFile() for u in event.mimeData().urls() if Path(u.toLocalFile()).is_dir()]
        if folders:
            self.add_folders(folders)
            event.acceptProposedAction()

    # -- background progress ------------------------------------------------------------

    def _on_progress(self, p) -> None:
        verb = {"scan": "Scanning", "index": "Indexing"}.get(p.stage, p.stage.capitalize())
        self.progress.setRange(0, max(p.total, 1))
        self.progress.setValue(p.done)
        self.progress.show()
        self.pause_button.setVisible(p.stage == "index")
        if p.stage == "index":
            self.status_text.setText(
                f"{verb} {p.done}/{p.total} · {p.rate:.1f} photos/s · "
                f"ETA {format_duration(p.eta)}" + (f" · {p.message}" if p.message else "")
            )
        else:
            self.status_text.setText(f"{verb} {p.done}/{p.total}")
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _on_busy(self, busy: bool) -> None:
        if not busy:
            self.progress.hide()
            self.pause_button.hide()
            self._refresh_after_work()

    def _on_changed(self, kind: str) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()
        if kind == "indexed":
            self.status_text.setText("Library up to date")

    def _refresh_after_work(self) -> None:
        """New photos appear, states and counts update; the grid keeps its scroll."""
        self.refresh_sidebar()
        self.banner.refresh()

    def _pause_toggled(self, paused: bool) -> None:
        if paused:
            self.worker.pause()
        else:
            self.worker.resume()
        self.pause_button.setText("Resume" if paused else "Pause")
        if paused:
            self.status_text.setText("Indexing paused")

    def _models_changed(self) -> None:
        self.worker.index()
        self.status_text.setText("Models installed; photos waiting for them are indexed next.")

    # -- viewer and cut-outs ---------------------------------------------------------------

    def open_viewer(self, photo) -> None:
        from .viewer import ViewerWindow

        if self.viewer is None:
            self.viewer = ViewerWindow(self.folder / "thumbs", self.tasks)
            self.viewer.changed.connect(self.refresh_sidebar)
            self.viewer.cutoutRequested.connect(self.open_cutout)
        row = self.model.row_of(photo.id)
        item = self.model.item(row) if row is not None else None
        focus = (item.detection_id, item.box) if item is not None else None
        self.viewer.show_photo(photo, [i.photo for i in self.model.loaded()], focus)
        self.viewer.show()
        self.viewer.raise_()
        self.viewer.activateWindow()

    def open_cutout(self, photo) -> CutoutDialog:
        from .cutout import CutoutDialog

        dialog = CutoutDialog(self.tasks, photo, self.viewer or self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def cut_out_all(self, folder: str | None = None) -> int | None:
        from .cutout import export_all

        if self.model.total() == 0:
            self.status_text.setText("Nothing to cut out: the view is empty.")
            return None
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Save cut-outs into", str(Path.home()))
            if not folder:
                return None
        source = self.model.source()
        total = self.model.total()
        self.cut_progress.setRange(0, total)
        self.cut_progress.setValue(0)
        self.cut_progress.show()
        self.cut_stop.show()
        self.status_text.setText(f"Cutting out {total} photos into {folder}…")
        # The photos of a browse are read on the task thread, with the cut-outs.
        photos = (
            (lambda lib: lib.photos(source.ids))
            if isinstance(source, IdSource)
            else (lambda lib: [item.photo for item in source.items])
        )
        self._cut_token = self.tasks.submit(
            "cutout-all",
            export_all(photos, Path(folder), query_labels(self._query)),
            lambda result: self._cut_out_done(folder, result),
            lambda message: self._cut_out_done(folder, None, message),
            self._cut_out_progress,
        )
        return self._cut_token

    def _cut_out_progress(self, p) -> None:
        self.cut_progress.setRange(0, p.total)
        self.cut_progress.setValue(p.done)
        self.status_text.setText(f"Cutting out {p.done}/{p.total} · ETA {format_duration(p.eta)}")

    def _cut_out_done(self, folder: str, result, message: str | None = None) -> None:
        self.cut_progress.hide()
        self.cut_stop.hide()
        if result is None:
            self.status_text.setText(f"Cut-outs stopped: {message}")
            return
        written, failed = result
        text = f"Saved {len(written)} cut-outs in {folder}"
        if failed:
            text += f"; {len(failed)} failed ({failed[0][1]})"
        self.status_text.setText(text)

    def show_duplicates(self):
        from .duplicates import DuplicatesDialog

        dialog = DuplicatesDialog(self.tasks, self)
        dialog.finished.connect(self.refresh_sidebar)
        dialog.show()
        return dialog

    def organize_view(self):
        from .organize import OrganizeDialog, view_ids

        dialog = OrganizeDialog(self.tasks, view_ids(self.grid, self.model.source()), self)
        dialog.finished.connect(self.refresh_sidebar)
        dialog.show()
        return dialog

    def show_about(self) -> None:
        """The models' licences are read on the task thread, then the dialog opens."""
        from .about import AboutDialog

        self.tasks.submit(
            "about",
            lambda lib, task: model_needs(lib),
            lambda needs: AboutDialog(self.folder, needs, self).exec(),
        )

    # -- closing ---------------------------------------------------------------------------

    def closeEvent(self, event) -> None:
        """Stop the workers (each commits per batch, so nothing finished is lost),
        then close the library."""
        if self._closed:
            event.accept()
            return
        self._closed = True
        self.status_text.setText("Stopping background work…")
        self._refresh_timer.stop()
        self.loader.shutdown()
        self.worker.stop()
        for runner in (self.tasks, self.pages, self.downloads):
            runner.stop()
        if self.viewer is not None:
            self.viewer.close()
        # The view may still ask for another page while the window goes away; an empty
        # model has nothing left to read.
        self.model.set_source(None)
        event.accept()
