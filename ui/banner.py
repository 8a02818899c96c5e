"""The missing-models banner: which features wait for which model, with a download
button (size, progress) and "import from file". Nothing downloads without a click.
What is installed is read on the task thread; downloads and imports (a checksum of a
file of hundreds of MB) run on the downloads thread."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QToolButton,
)

from ..progress import Progress, drive

FEATURES = {
    "clip": "Tags and free-text search",
    "detector": "People & pet boxes",
    "segmenter": "Cut-outs",
    "face": "Faces grouped into people",
    "face-landmarks": "Faces grouped into people",
}


class DownloadCancelled(Exception):
    """The user pressed Cancel during a model download."""


@dataclass(frozen=True)
class Need:
    role: str
    feature: str
    name: str
    size: int
    licence: str
    summary: str
    installed: bool


def model_needs(lib) -> list[Need]:
    """The model each feature uses in this library (its settings, else the defaults)."""
    chosen = {c.status.role: c.status for c in lib.models() if c.chosen}
    return [
        Need(role, feature, m.name, m.size, m.licence, m.summary, m.installed)
        for role, feature in FEATURES.items()
        if (m := chosen.get(role)) is not None
    ]


def human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"


def _model_of(p: Progress) -> str:
    return p.stage.removeprefix("download ")  # Library.download_models names its stages so


def _download(names: list[str]):
    def work(lib, task):
        def progress(p: Progress) -> None:
            if task.cancel.is_set():  # closing the download's generator stops it
                raise DownloadCancelled(f"The download of {_model_of(p)} was cancelled.")
            task.runner.report(task, p)

        for name in names:
            drive(lib.download_models(name), progress)
        return names

    return work


class ModelBanner(QFrame):
    modelsChanged = Signal()

    def __init__(self, tasks, downloads, parent=None):
        super().__init__(parent)
        self.tasks, self.downloads = tasks, downloads
        self._token = None
        self.setObjectName("modelBanner")
        self.setStyleSheet(
            "#modelBanner { background: #fff4d6; border-bottom: 1px solid #e0c97a; }"
            "#modelBanner QLabel { color: #3d3000; }"
        )
        h = QHBoxLayout(self)
        h.setContentsMargins(12, 6, 12, 6)
        self.text = QLabel()
        self.text.setWordWrap(True)
        h.addWidget(self.text, 1)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        h.addWidget(self.progress)
        self.download_button = QPushButton()
        self.download_button.clicked.connect(self.download)
        h.addWidget(self.download_button)
        self.import_button = QToolButton()
        self.import_button.setText("Import from file…")
        self.import_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        h.addWidget(self.import_button)
        self.missing: list[Need] = []
        self._note = ""  # what the last download said, shown before the list
        self.hide()
        self.refresh()

    def refresh(self) -> None:
        self.tasks.submit("models", lambda lib, task: model_needs(lib), self._show_needs)

    def _show_needs(self, needs: list[Need]) -> None:
        self.missing = [n for n in needs if not n.installed]
        self.setVisible(bool(self.missing))
        if not self.missing:
            return
        # One clause per feature, so the two face models read as one list (no feature
        # has more than two).
        by_feature: dict[str, list[str]] = {}
        for n in self.missing:
            by_feature.setdefault(n.feature, []).append(f"<b>{n.name}</b> ({human_size(n.size)})")
        lines = [
            f"{feature} wait for {'the model' if len(models) == 1 else 'the models'} {' and '.join(models)}"
            for feature, models in by_feature.items()
        ]
        text = "; ".join(lines) + "."
        self.text.setText(f"{self._note} {text}" if self._note else text)
        self._note = ""
        if self._token is None:
            self._download_label()
        menu = QMenu(self)
        for n in self.missing:
            menu.addAction(f"{n.name} ({n.feature.lower()})…", lambda n=n: self.import_file(n))
        self.import_button.setMenu(menu)

    def download(self) -> None:
        if self._token is not None:  # the button reads "Cancel" while downloading
            self.downloads.cancel(self._token)
            self._finished(None, "Download cancelled.")
            return
        names = [n.name for n in self.missing]
        self.progress.setRange(0, 0)
        self.progress.show()
        self.download_button.setText("Cancel")
        self._token = self.downloads.submit(
            "download",
            _download(names),
            lambda done: self._finished(done, None),
            lambda message: self._finished(None, message),
            self._progress,
        )

    def _download_label(self) -> None:
        self.download_button.setText(f"Download ({human_size(sum(n.size for n in self.missing))})")

    def _progress(self, event: Progress) -> None:
        name, done, total = _model_of(event), event.done, event.total
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
        self.progress.setFormat(f"{name}: {human_size(done)} of {human_size(total)}")

    def _finished(self, names, message: str | None) -> None:
        self._token = None
        self.progress.hide()
        self._download_label()
        if message:  # shown now, and kept before the list the refresh brings
            self.text.setText(f"{message} {self.text.text()}")
        self._note = message or ""
        self.refresh()
        if names:
            self.modelsChanged.emit()

    def import_file(self, need: Need, path: str | None = None) -> None:
        """Copy a weights file the user has (checked on the downloads thread); a
        refusal is one sentence in the banner."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, f"Weights file for {need.name}")
            if not path:
                return
        self.downloads.submit(
            "import", lambda lib, task: lib.import_model(need.name, path), self._imported, self._refused
        )

    def _refused(self, message: str) -> None:
        self.text.setText(message)
        self._note = message  # a model-list refresh already on its way keeps it in front

    def _imported(self, _path) -> None:
        self.refresh()
        self.modelsChanged.emit()


def needs_text(needs: list[Need]) -> str:
    return "\n".join(
        f"{n.feature}: {n.name}, {human_size(n.size)}, licence {n.licence}"
        + ("" if not n.installed else " (installed)")
        for n in needs
    )
