"""Cut-outs: one subject previewed on a checkerboard and saved as PNG, or every
subject of the current results exported into a folder, with progress."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from ..cutout import crop_to_subject
from ..errors import UserError
from ..fileio import atomic_write_bytes
from ..progress import drive
from .canvas import box_label

PREVIEW = QSize(520, 420)


def cut(lib, photo, detection_id: int | None, out: Path, force: bool = False) -> Path:
    """Write the RGBA cut-out PNG of one box, or of the main subject for None."""
    subject = str(detection_id) if detection_id is not None else None
    return lib.cutout(photo.path, out, subject=subject, force=force).path


def checkerboard(image: QImage, size: QSize = PREVIEW, square: int = 12) -> QPixmap:
    """The cut-out scaled into `size` over light/dark squares, as image editors show
    transparency."""
    scaled = image.scaled(
        size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    pixmap = QPixmap(scaled.size())
    painter = QPainter(pixmap)
    light, dark = QColor("#ffffff"), QColor("#cccccc")
    for y in range(0, scaled.height(), square):
        for x in range(0, scaled.width(), square):
            painter.fillRect(x, y, square, square, light if (x // square + y // square) % 2 else dark)
    painter.drawImage(0, 0, scaled)
    painter.end()
    return pixmap


def export_all(photos, folder: Path, labels: frozenset[str] = frozenset(), crop: bool = False):
    """A task fn: cut out every subject of `photos(lib)` (read on the task thread; the
    boxes with `labels` when given, the main subject of a photo without boxes) into
    `folder` through Library.cutouts, the code `photoorg cutout --query` runs; reports
    progress through the runner and returns (written paths, [(photo path, reason)])."""

    def work(lib, task):
        batch = drive(
            lib.cutouts(photos(lib), folder, labels, crop, cancel=task.cancel.is_set),
            lambda p: task.runner.report(task, p),
        )
        return batch.written, batch.failed

    return work


class CutoutDialog(QDialog):
    """The photo's boxes are read on the task thread; until they arrive the main
    subject is the only choice."""

    def __init__(self, tasks, photo, parent=None):
        super().__init__(parent)
        self.tasks, self.photo = tasks, photo
        self.result_image: bytes | None = None  # the PNG on the photo's full canvas
        self.cropped_image: bytes | None = None  # the same, trimmed to the subject
        self.setWindowTitle(f"Cut out — {os.path.basename(photo.rel_path)}")
        v = QVBoxLayout(self)
        self.subject = QComboBox()
        self.subject.addItem("Main subject", None)
        self.subject.setEnabled(False)
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
        self.crop = QCheckBox("Crop to the subject")
        self.crop.setToolTip("Save only the subject and a small margin, not the whole photo")
        row.addWidget(self.crop)
        self.save_button = QPushButton("Save PNG…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(lambda: self.save())
        row.addWidget(self.save_button)
        v.addLayout(row)
        self.tasks.submit("cutout-boxes", lambda lib, task: lib.detections(photo), self._boxes)

    def _boxes(self, boxes: list) -> None:
        for det in boxes:
            self.subject.addItem(f"{box_label(det)} ({det.label})", det.id)
        self.subject.setEnabled(True)
        if self.subject.count() > 1:
            self.subject.setCurrentIndex(1)  # the best box is the likeliest wish (renders it)
        else:
            self.render()

    def render(self) -> None:
        det_id = self.subject.currentData()
        self.save_button.setEnabled(False)
        self.result_image = self.cropped_image = None
        self.preview.setText("Cutting out…")
        self.tasks.submit(
            "cutout-preview", lambda lib, task: _rendered(lib, self.photo, det_id), self._shown, self._failed
        )

    def _shown(self, result) -> None:
        png, cropped, image = result
        self.result_image, self.cropped_image = png, cropped
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
            path, _ = QFileDialog.getSaveFileName(
                self, "Save cut-out", f"{stem}-cutout.png", "PNG image (*.png)"
            )
            if not path:
                return None
        target = Path(path).with_suffix(".png")
        data = self.cropped_image if self.crop.isChecked() else self.result_image
        try:
            atomic_write_bytes(target, data)  # the file dialog asked before replacing a file
        except UserError as e:
            self.status.setText(str(e))
            return None
        except OSError as e:
            self.status.setText(f"Cannot write {target}: {e.strerror or e}.")
            return None
        self.status.setText(f"Saved {target}")
        return target


def _rendered(lib, photo, det_id):
    """The cut-out's PNG bytes on the full canvas and cropped to the subject, and its
    image, made in the library's cache folder."""
    from PIL import Image

    preview = lib.folder / "cache" / "cutout-preview.png"
    preview.parent.mkdir(parents=True, exist_ok=True)
    cut(lib, photo, det_id, preview, force=True)
    png = preview.read_bytes()
    with Image.open(io.BytesIO(png)) as full:
        buffer = io.BytesIO()
        crop_to_subject(full).save(buffer, "PNG")
    image = QImage()
    image.loadFromData(png, "PNG")
    return png, buffer.getvalue(), image
