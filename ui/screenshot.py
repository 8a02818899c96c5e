"""Screenshots of the real app on a real library, for people to look at:

    python -m photoorg.ui.screenshot OUTDIR [--photos DIR] [--detector FILE] [--segmenter FILE]

Builds (or reuses) a library in OUTDIR/library from the photos (by default the COCO
sample next to the repository), imports the detector/segmenter files when given or
found, indexes, names one person, then saves PNGs of the welcome view, indexing in
progress, the main window, a search result, the viewer with boxes, a cut-out and the About dialog.
Runs on any Qt platform: offscreen by default, or a real X server (xvfb-run)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")
DEFAULT_PHOTOS = SHARED / "photos" / "coco-train-mini" / "images"
DEFAULT_MODELS = {
    "picodet-s": SHARED / "models" / "picodet_s_416_coco.onnx",
    "u2netp": SHARED / "models" / "u2netp.onnx",
}


def wait(app, condition, timeout: float = 60.0) -> bool:
    """Run the event loop until `condition()` or the timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return False


def import_weights(folder: Path, weights: dict[str, Path]) -> None:
    from ..library import Library

    with Library(folder) as lib:
        for name, path in weights.items():
            if path.is_file() and lib.weights.path(name) is None:
                # The shared files are another export of the official weights.
                lib.import_model(name, path, allow_mismatch=True)


def prepare(folder: Path, photos: Path, weights: dict[str, Path]) -> None:
    """Library with the photos indexed and one person named (no window yet)."""
    from ..library import Library
    from ..progress import drive

    import_weights(folder, weights)
    with Library(folder) as lib:
        if not lib.roots():
            lib.add_roots([photos])
        drive(lib.scan())
        drive(lib.index())
        if not lib.subjects():
            _name_someone(lib)


def _name_someone(lib) -> None:
    """Name the biggest person box "Ana" and the biggest dog box "Rex"."""

    def area(d):
        return (d.box[2] - d.box[0]) * (d.box[3] - d.box[1])

    for label, name in (("person", "Ana"), ("dog", "Rex")):
        boxes = []
        for photo in lib.photos(lib.browse()[:300]):
            found = lib.detections(photo)
            if 2 <= len(found) <= 5:  # a photo the viewer screenshot may show
                boxes += [d for d in found if d.label == label and d.score > 0.6]
        if boxes:
            lib.name_box(max(boxes, key=area).id, name)


def shoot(window, path: Path) -> Path:
    window.grab().save(str(path))
    print(path)
    return path


def _thumbs_ready(window) -> bool:
    from .photomodel import ThumbStateRole

    rows = [window.model.index(r) for r in range(min(window.model.rowCount(), 24))]
    return bool(rows) and all(i.data(ThumbStateRole) != "loading" for i in rows)


def _photo_with_most_boxes(lib):
    """A photo with a named box and a few others, else the one with most (up to 5) boxes."""
    best, best_key = None, (False, 0)
    for photo in lib.photos(lib.browse()[:300]):
        boxes = lib.detections(photo)
        if not 2 <= len(boxes) <= 5:
            continue
        key = (any(d.subject_name for d in boxes), len(boxes))
        if key > best_key:
            best, best_key = photo, key
    return best


def run(out: Path, photos: Path, weights: dict[str, Path]) -> list[Path]:
    from .app import make_app

    out.mkdir(parents=True, exist_ok=True)
    app = make_app()
    from .mainwindow import MainWindow

    shots = []
    empty = MainWindow(out / "empty-library", watch=False)
    empty.resize(1280, 800)
    empty.show()
    # A new library's first open creates its schema on the task thread; then the
    # welcome view replaces the empty grid.
    wait(app, lambda: empty.stack.currentWidget() is empty.welcome)
    wait(app, lambda: False, 0.3)
    shots.append(shoot(empty, out / "welcome.png"))
    empty.close()

    import_weights(out / "indexing-library", weights)  # a detector makes indexing take a while
    busy = MainWindow(out / "indexing-library", watch=False)
    busy.resize(1280, 800)
    busy.show()
    busy.add_folders([str(photos)])
    wait(
        app,
        lambda: (
            busy.status_text.text().startswith("Indexing")
            and busy.progress.value() >= 16
            and busy.model.rowCount() > 0
        ),
    )
    shots.append(shoot(busy, out / "indexing.png"))
    busy.close()  # mid-index: stops the worker after its batch

    prepare(out / "library", photos, weights)
    window = MainWindow(out / "library", watch=False)
    window.resize(1400, 900)
    window.show()
    wait(app, lambda: window.model.rowCount() > 0 and _thumbs_ready(window) and not window.worker.busy)
    wait(app, lambda: False, 0.5)
    shots.append(shoot(window, out / "main.png"))

    window.search.setText("has:dog")
    window.run_search("has:dog")
    wait(app, lambda: getattr(window.model.source(), "title", "") == "Search: has:dog")
    wait(app, lambda: _thumbs_ready(window))
    shots.append(shoot(window, out / "search.png"))

    from ..library import Library
    from .banner import model_needs

    with Library(window.folder) as lib:  # this tool's own reads; the window has no Library
        photo = _photo_with_most_boxes(lib)
        needs = model_needs(lib)
    if photo is not None:
        window.open_viewer(photo)
        viewer = window.viewer
        viewer.resize(1400, 900)
        wait(app, lambda: False, 0.3)
        wait(
            app,
            lambda: (
                viewer.canvas.image is not None
                and viewer.tasks.settled
                and viewer.canvas.image.width() >= min(photo.width or 0, 1000)
            ),
        )
        wait(app, lambda: False, 0.5)
        shots.append(shoot(viewer, out / "viewer.png"))
        dialog = window.open_cutout(photo)
        wait(app, lambda: dialog.result_image is not None or "No cut-out" in dialog.preview.text(), 120)
        wait(app, lambda: False, 0.3)
        shots.append(shoot(dialog, out / "cutout.png"))
        dialog.close()
        viewer.close()

    from .about import AboutDialog

    about = AboutDialog(window.folder, needs, window)
    about.show()
    wait(app, lambda: False, 0.3)
    shots.append(shoot(about, out / "about.png"))
    about.close()
    window.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m photoorg.ui.screenshot")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--detector", type=Path, default=DEFAULT_MODELS["picodet-s"])
    parser.add_argument("--segmenter", type=Path, default=DEFAULT_MODELS["u2netp"])
    args = parser.parse_args(argv)
    if not args.photos.is_dir():
        print(f"screenshot: {args.photos} is not a folder of photos; pass --photos DIR.", file=sys.stderr)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    run(args.outdir, args.photos, {"picodet-s": args.detector, "u2netp": args.segmenter})
    return 0


if __name__ == "__main__":
    sys.exit(main())
