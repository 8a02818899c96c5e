"""Cut-outs: one subject previewed on a checkerboard and saved as PNG, or every
subject of the current results exported into a folder, with progress."""

from __future__ import annotations

import os
import re
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from ..errors import UserError
from ..fileio import atomic_write_bytes
from ..progress import Progress
from .canvas import box_label

PREVIEW = QSize(520, 420)


def cut(lib, photo, detection_id: int | None, out: Path, force: bool = False) -> Path:
    """Write the RGBA cut-out PNG of one box, or of the main subject for None."""
    subject = str(detection_id) if detection_id is not None else None
    return lib.cutout(photo.path, out, subject=subject, force=force).path


def checkerboard(image: QImage, size: QSize = PREVIEW, square: int = 12) -> QPixmap:
    """The cut-out scaled into `size` over light/dark squares, as image editors show
    transparency."""
    scaled = image.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                          Qt.TransformationMode.SmoothTransformation)
    pixmap = QPixmap(scaled.size())
    painter = QPainter(pixmap)
    light, dark = QColor("#ffffff"), QColor("#cccccc")
    for y in range(0, scaled.height(), square):
        for x in range(0, scaled.width(), square):
            painter.fillRect(x, y, square, square, light if (x // square + y // square) % 2 else dark)
    painter.drawImage(0, 0, scaled)
    painter.end()
    return pixmap


def safe_name(text: str) -> str:
    """A file-name part with no separators or dots that could leave the chosen folder."""
    return re.sub(r"[^\w\-]+", "_", text).strip("_.") or "subject"


def export_all(items, folder: Path):
    """A task fn: cut out every subject (or the main subject of a photo without boxes)
    of `items` into `folder`; yields progress through the runner."""
    folder = Path(folder)

    def work(lib, task):
        written, failed = [], []
        started = Progress("cutout", 0, len(items)).started
        for n, item in enumerate(items):
            if task.cancel.is_set():
                break
            boxes = lib.detections(item.photo) or [None]
            for det in boxes:
                target = _target(folder, item.photo, det)
                try:
                    written.append(cut(lib, item.photo, det.id if det else None, target))
                except Exception as e:  # noqa: BLE001 - one bad photo must not end the export
                    failed.append((item.photo.path, str(e)))
            task.runner.report(task, Progress("cutout", n + 1, len(items), started))
        return written, failed

    return work


def _target(folder: Path, photo, det) -> Path:
    stem = safe_name(os.path.splitext(os.path.basename(photo.rel_path))[0])
    what = "main" if det is None else safe_name(det.subject_name or det.label) + f"-{det.id}"
    target = (folder / f"{stem}-{photo.id}-{what}.png").resolve()
    if target.parent != folder.resolve():
        raise ValueError(f"{target} is outside {folder}")
    return target


class CutoutDialog(QDialog):
    def __init__(self, lib, tasks, photo, parent=None):
        super().__init__(parent)
        self.lib, self.tasks, self.photo = lib, tasks, photo
        self.result_image: bytes | None = None
        self.setWindowTitle(f"Cut out — {os.path.basename(photo.rel_path)}")
        v = QVBoxLayout(self)
        self.subject = QComboBox()
        self.subject.addItem("Main subject", None)
        for det in lib.detections(photo):
            self.subject.addItem(f"{box_label(det)} ({det.label})", det.id)
        self.subject.currentIndexChanged.connect(self.render)
        v.addWidget(self.subject)
        self.preview = QLabel("Cutting out…")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(PREVIEW)
        v.addWidget(self.preview, 1)
        row = QHBoxLayout()
        self.status = QLabel()
        self.status.setWordWrap(True)
        row.addWidget(self.status, 1)
        self.save_button = QPushButton("Save PNG…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(lambda: self.save())
        row.addWidget(self.save_button)
        v.addLayout(row)
        if self.subject.count() > 1:
            self.subject.setCurrentIndex(1)  # the best box is the likeliest wish
        self.render()

    def render(self) -> None:
        det_id = self.subject.currentData()
        self.save_button.setEnabled(False)
        self.result_image = None
        self.preview.setText("Cutting out…")
        self.tasks.submit("cutout-preview", lambda lib, task: _rendered(lib, self.photo, det_id),
                          self._shown, self._failed)

    def _shown(self, result) -> None:
        png, image = result
        self.result_image = png
        self.preview.setPixmap(checkerboard(image))
        self.status.setText(f"{image.width()} x {image.height()}, transparent outside the subject")
        self.save_button.setEnabled(True)

    def _failed(self, message: str) -> None:
        self.preview.setText("No cut-out")
        self.status.setText(message)

    def save(self, path: str | None = None) -> Path | None:
        if self.result_image is None:
            return None
        if path is None:
            stem = os.path.splitext(os.path.basename(self.photo.rel_path))[0]
            path, _ = QFileDialog.getSaveFileName(self, "Save cut-out", f"{stem}-cutout.png",
                                                  "PNG image (*.png)")
            if not path:
                return None
        target = Path(path).with_suffix(".png")
        try:  # the dialog asked before replacing a file; a failed write keeps the old one
            atomic_write_bytes(target, self.result_image)
        except UserError as e:
            self.status.setText(str(e))
            return None
        except OSError as e:
            self.status.setText(f"Cannot write {target}: {e.strerror or e}.")
            return None
        self.status.setText(f"Saved {target}")
        return target


def _rendered(lib, photo, det_id):
    """The cut-out's PNG bytes and image, made in the library's cache folder."""
    preview = lib.folder / "cache" / "cutout-preview.png"
    preview.parent.mkdir(parents=True, exist_ok=True)
    cut(lib, photo, det_id, preview, force=True)
    png = preview.read_bytes()
    image = QImage()
    image.loadFromData(png, "PNG")
    return png, image
