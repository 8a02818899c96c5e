"""The real main window, driven on the offscreen platform: add a folder, index it,
search, open the viewer, name a box and find it by name, remove a tag, cut out."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from photoorg.cutout import crop_to_subject
from photoorg.library import Library
from photoorg.ui.mainwindow import MainWindow
from photoorg.ui.photomodel import IdSource
from tests.conftest import write_photo

WAIT = 60_000


@dataclass
class Box:
    label: str
    score: float
    box: tuple[float, float, float, float]


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.delenv("PHOTOORG_RANDOM_WEIGHTS", raising=False)
    made = []

    def make(watch: bool = False, folder: Path | None = None) -> MainWindow:
        folder = folder or tmp_path / "library"
        lib = Library(folder)  # the test's own connection, to check on the window's work
        w = MainWindow(folder, watch=watch)
        w.lib = lib
        made.append(w)
        w.show()
        return w

    yield make
    for w in made:
        w.close()
        w.lib.close()


def _settled(w: MainWindow) -> bool:
    counts = w.lib.status().counts
    return not w.worker.busy and counts["pending"] == 0 and sum(counts.values()) > 0


def _indexed_window(window, qtbot, photo_dir) -> MainWindow:
    w = window()
    # An empty library starts with the welcome view (once the task thread has looked).
    qtbot.waitUntil(lambda: w.stack.currentWidget() is w.welcome, timeout=WAIT)
    w.add_folders([str(photo_dir)])
    qtbot.waitUntil(lambda: _settled(w) and w.model.total() == 4, timeout=WAIT)
    return w


def _photos(w: MainWindow) -> list:
    """Every photo the grid shows, fetched or not (a browse read through the test's own
    connection: the window reads its rows on the task thread as they are painted)."""
    source = w.model.source()
    if isinstance(source, IdSource):
        return w.lib.photos(source.ids)
    return [item.photo for item in source.items]


def _hits(w: MainWindow) -> list[str]:
    return sorted(Path(p.path).name for p in _photos(w))


def _settle(viewer, qtbot) -> None:
    """The viewer reads and edits on the task thread: wait until its results are shown."""
    qtbot.waitUntil(lambda: viewer.tasks.settled, timeout=WAIT)


def _search(w, qtbot, text: str) -> None:
    w.search.setText(text)
    w.run_search(text)
    qtbot.waitUntil(lambda: getattr(w.model.source(), "title", "") == f"Search: {text}", timeout=WAIT)


def test_add_index_search_name_a_box_and_find_it(window, qtbot, photo_dir):
    w = _indexed_window(window, qtbot, photo_dir)
    assert w.stack.currentWidget() is w.grid_page
    qtbot.waitUntil(lambda: [i.text(0) for i in w.sidebar.entries("folder")] == ["photos  (4)"], timeout=WAIT)

    _search(w, qtbot, "sunny")
    assert _hits(w) == ["sunny_day.jpg"]

    photo = _photos(w)[0]
    (box_id,) = w.lib.store.replace_detections(
        photo.id, "test-detector", [Box("person", 0.9, (0.1, 0.1, 0.6, 0.9))]
    )
    qtbot.waitUntil(lambda: w.model.rowCount() == 1, timeout=WAIT)  # the view fetches rows lazily
    w.grid.setCurrentIndex(w.model.index(0))
    qtbot.keyClick(w.grid, Qt.Key.Key_Return)  # opens the viewer, like a double-click
    viewer = w.viewer
    assert viewer is not None and viewer.isVisible() and viewer.photo.id == photo.id
    qtbot.waitUntil(lambda: viewer.canvas.image is not None, timeout=WAIT)
    _settle(viewer, qtbot)
    assert [d.id for d in viewer.canvas.boxes] == [box_id]

    centre = viewer.canvas.box_rect(viewer.canvas.boxes[0]).center().toPoint()
    qtbot.mouseClick(viewer.canvas, Qt.MouseButton.LeftButton, pos=centre)
    assert viewer.canvas.editor.isVisible()
    qtbot.keyClicks(viewer.canvas.editor, "Ana")
    qtbot.keyClick(viewer.canvas.editor, Qt.Key.Key_Return)
    _settle(viewer, qtbot)
    assert w.lib.detections(photo)[0].subject_name == "Ana"
    qtbot.waitUntil(lambda: any("Ana" in i.text(0) for i in w.sidebar.entries("query")), timeout=WAIT)

    _search(w, qtbot, "person:Ana")
    assert _hits(w) == ["sunny_day.jpg"]
    qtbot.waitUntil(lambda: w.model.rowCount() == 1, timeout=WAIT)
    w.open_viewer(w.model.item(0).photo)
    assert viewer.canvas.focus[0] == box_id  # the viewer points at the box the search matched


def test_removed_auto_tag_stays_removed(window, qtbot, photo_dir):
    w = _indexed_window(window, qtbot, photo_dir)
    photo = _photos(w)[0]
    w.lib.store.set_auto_tags(photo.id, [("beach", 0.9, "test-clip"), ("sea", 0.8, "test-clip")])
    w.open_viewer(photo)
    viewer = w.viewer

    def tags():
        _settle(viewer, qtbot)
        return [
            viewer.tag_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(viewer.tag_list.count())
        ]

    assert tags() == ["beach", "sea"]
    viewer.tag_list.setCurrentRow(0)
    qtbot.mouseClick(viewer.remove_tag_button, Qt.MouseButton.LeftButton)
    assert tags() == ["sea"]
    # A re-index writes the model's tags again: the removed one must not come back.
    w.lib.store.set_auto_tags(photo.id, [("beach", 0.95, "test-clip"), ("sea", 0.8, "test-clip")])
    viewer.refresh()
    assert tags() == ["sea"]
    viewer.tag_list.setFocus()
    viewer.tag_list.setCurrentRow(0)
    qtbot.keyClick(viewer.tag_list, Qt.Key.Key_Delete)
    assert tags() == []
    qtbot.keyClicks(viewer.tag_edit, "holiday")
    qtbot.keyClick(viewer.tag_edit, Qt.Key.Key_Return)
    assert tags() == ["holiday"]
    _search(w, qtbot, "tag:beach")
    assert _hits(w) == []
    _search(w, qtbot, "tag:holiday")
    assert _hits(w) == [Path(photo.path).name]


def test_suggestion_confirmed_and_rejected_in_the_viewer(window, qtbot, photo_dir):
    w = _indexed_window(window, qtbot, photo_dir)
    first, second = _photos(w)[0], _photos(w)[1]
    store = w.lib.store
    (named,) = store.replace_detections(first.id, "d", [Box("person", 0.9, (0.1, 0.1, 0.5, 0.9))])
    near, other = store.replace_detections(
        second.id, "d", [Box("person", 0.9, (0.1, 0.1, 0.4, 0.9)), Box("person", 0.8, (0.5, 0.1, 0.9, 0.9))]
    )
    v = np.eye(4, dtype=np.float32)
    store.replace_embeddings(first.id, "c", [(named, v[0])])
    store.replace_embeddings(second.id, "c", [(near, v[0] + 0.01), (other, v[0] + 0.02)])
    w.lib.name_box(named, "Ana")
    w.open_viewer(second)
    viewer = w.viewer
    _settle(viewer, qtbot)
    assert sorted(viewer.canvas.suggested) == sorted([near, other])
    qtbot.mouseClick(
        viewer.findChild(type(viewer.remove_tag_button), f"confirm-{near}"), Qt.MouseButton.LeftButton
    )
    _settle(viewer, qtbot)
    assert {d.id: d.subject_name for d in w.lib.detections(second)}[near] == "Ana"
    qtbot.mouseClick(
        viewer.findChild(type(viewer.remove_tag_button), f"reject-{other}"), Qt.MouseButton.LeftButton
    )
    _settle(viewer, qtbot)
    assert viewer.canvas.suggested == {}
    viewer.show_photo(second)  # reopening does not offer the rejected one again
    _settle(viewer, qtbot)
    assert viewer.canvas.suggested == {}


def test_cut_out_a_subject_and_all_results(window, qtbot, photo_dir, tmp_path, monkeypatch):
    w = _indexed_window(window, qtbot, photo_dir)
    monkeypatch.setenv("PHOTOORG_RANDOM_WEIGHTS", "1")  # a stand-in segmenter, no weights
    _search(w, qtbot, "beach")
    photo = next(p for p in _photos(w) if p.rel_path.endswith("sunny_day.jpg"))
    (box_id,) = w.lib.store.replace_detections(photo.id, "d", [Box("dog", 0.9, (0.2, 0.2, 0.8, 0.8))])
    dialog = w.open_cutout(photo)
    qtbot.waitUntil(lambda: dialog.subject.currentData() == box_id, timeout=WAIT)  # boxes read off-thread
    qtbot.waitUntil(lambda: dialog.result_image is not None, timeout=WAIT)
    saved = dialog.save(str(tmp_path / "dog"))
    with Image.open(saved) as png:
        assert png.mode == "RGBA" and png.size == (photo.width, photo.height)
        region = crop_to_subject(png).size  # the visible subject, grown by a margin
    dialog.crop.setChecked(True)  # the subject's region only, not the photo's canvas
    with Image.open(dialog.save(str(tmp_path / "dog-cropped"))) as png:
        assert png.mode == "RGBA" and png.size == region
        assert png.width < photo.width and png.height < photo.height

    out = tmp_path / "export"
    out.mkdir()
    w.cut_out_all(str(out))
    qtbot.waitUntil(lambda: "Saved" in w.status_text.text(), timeout=WAIT)
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == len(_photos(w)) == 2
    assert any(f"-dog-{box_id}.png" in n for n in names) and any("-main.png" in n for n in names)


def test_issues_view_lists_unreadable_files(window, qtbot, tmp_path):
    folder = tmp_path / "mixed"
    write_photo(folder / "fine.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    w = window()
    w.add_folders([str(folder)])
    qtbot.waitUntil(lambda: _settled(w) and bool(w.sidebar.entries("issues")), timeout=WAIT)
    w.sidebar.itemClicked.emit(w.sidebar.entries("issues")[0], 0)
    assert w.stack.currentWidget() is w.issues
    qtbot.waitUntil(lambda: w.tasks.settled, timeout=WAIT)  # read on the task thread
    model = w.issues.model
    assert model.rowCount() == 1
    assert model.index(0, 0).data().endswith("empty.jpg") and "empty" in model.index(0, 1).data()


def test_missing_models_banner_and_about_licences(window, qtbot, photo_dir, tmp_path):
    w = _indexed_window(window, qtbot, photo_dir)
    assert w.banner.isVisible()
    text = w.banner.text.text()
    assert "People & pet boxes" in html.unescape(text)
    assert "picodet-s" in text and "Download (" in w.banner.download_button.text()
    # The two face models are one feature: named once, as one list.
    faces = "Faces grouped into people wait for the models <b>dlib-face-resnet-v1</b>"
    assert text.count("Faces grouped into people") == 1 and faces in text
    assert "and <b>dlib-face-landmarks-5</b>" in text
    bogus = tmp_path / "not-weights.onnx"
    bogus.write_bytes(b"nonsense")
    need = next(n for n in w.banner.missing if n.name == "picodet-s")
    w.banner.import_file(need, str(bogus))  # checked on the downloads thread
    qtbot.waitUntil(lambda: "checksum" in w.banner.text.text(), timeout=WAIT)
    from photoorg.ui.about import AboutDialog
    from photoorg.ui.banner import model_needs

    about = AboutDialog(w.folder, model_needs(w.lib), w)
    assert about.licences()["picodet-s"] == "Apache-2.0"


def test_welcome_suggests_pictures_folder(window, qtbot, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "Pictures").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    w = window()
    qtbot.waitUntil(lambda: w.stack.currentWidget() is w.welcome, timeout=WAIT)
    assert w.welcome.chosen() == [str(home / "Pictures")]
    write_photo(home / "Pictures" / "a.jpg")
    qtbot.mouseClick(w.welcome.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _settled(w) and w.model.total() == 1, timeout=WAIT)
    assert w.stack.currentWidget() is w.grid_page


def test_dropped_folder_is_watched_and_indexed(window, qtbot, photo_dir, tmp_path):
    w = window(watch=True)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo_dir))])
    drop = QDropEvent(
        QPoint(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    w.dropEvent(drop)
    qtbot.waitUntil(lambda: w.lib.status().counts["indexed"] == 4 and w.model.total() == 4, timeout=WAIT)
    write_photo(photo_dir / "new" / "later.jpg")  # the watch service notices, no rescan asked
    qtbot.waitUntil(lambda: w.model.total() == 5, timeout=WAIT)
    w.pause_button.setChecked(True)  # pause reaches the service that indexes
    assert w.worker.service.paused
    w.pause_button.setChecked(False)
    assert not w.worker.service.paused


def test_closing_mid_index_stops_workers_and_keeps_work(window, qtbot, tmp_path):
    folder = tmp_path / "many"
    for i in range(60):
        write_photo(folder / f"p{i:02}.jpg", size=(320, 240), color=(i * 4, 80, 120))
    w = window()
    w.add_folders([str(folder)])
    qtbot.waitUntil(lambda: w.lib.status().counts["indexed"] > 0, timeout=WAIT)
    w.close()
    assert w.worker.isFinished() and w.tasks.isFinished() and w.downloads.isFinished()
    again = window(folder=w.lib.folder)
    counts = again.lib.status().counts
    assert sum(counts.values()) == 60 and counts["error"] == 0
    assert again.lib.store.integrity_ok()
    qtbot.waitUntil(lambda: _settled(again) and again.lib.status().counts["indexed"] == 60, timeout=WAIT)


def test_completion_pause_and_cli_entry(window, qtbot, photo_dir):
    w = _indexed_window(window, qtbot, photo_dir)
    photo = _photos(w)[0]
    w.lib.store.set_auto_tags(photo.id, [("beach", 0.9, "test-clip")])
    w.search.setFocus()
    qtbot.keyClicks(w.search, "tag:be")
    qtbot.waitUntil(lambda: "tag:beach" in w.completions.stringList(), timeout=WAIT)
    w.search.clear()
    qtbot.keyClicks(w.search, "pers")
    qtbot.waitUntil(lambda: "person:" in w.completions.stringList(), timeout=WAIT)

    w.pause_button.setChecked(True)
    assert w.worker.paused and w.pause_button.text() == "Resume"
    w.pause_button.setChecked(False)
    assert not w.worker.paused


def test_gui_command_imports_qt_only_when_run():
    import subprocess
    import sys

    code = (
        "import sys; from photoorg.__main__ import build_parser; build_parser(); "
        "assert 'PySide6' not in sys.modules, 'Qt imported by the CLI'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    from photoorg.__main__ import build_parser

    args = build_parser().parse_args(["gui", "--no-watch"])
    assert args.no_watch and args.run.__name__ == "cmd_gui"


def test_first_window_does_not_load_the_models(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from photoorg.ui.app import make_app\n"
        "app = make_app()\n"
        "from photoorg.ui.mainwindow import MainWindow\n"
        f"w = MainWindow({str(tmp_path / 'lib')!r}, watch=False)\n"
        "w.show(); app.processEvents()\n"
        "heavy = [m for m in ('torch', 'open_clip', 'onnxruntime') if m in sys.modules]\n"
        "w.close()\n"
        "print(heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_banner_download_shows_progress_then_the_failure(window, qtbot, photo_dir, monkeypatch):
    from photoorg.library import Library
    from photoorg.models.registry import DownloadFailed
    from photoorg.progress import Progress

    seen = []

    def offline_download(self, name=None):
        yield Progress(f"download {name}", 1_000_000, 4_000_000)
        seen.append(name)
        raise DownloadFailed(f"Could not download {name!r} from github.com (no network).")

    monkeypatch.setattr(Library, "download_models", offline_download)
    w = _indexed_window(window, qtbot, photo_dir)
    banner = w.banner
    qtbot.mouseClick(banner.download_button, Qt.MouseButton.LeftButton)
    assert banner.download_button.text() == "Cancel" and banner.progress.isVisible()
    qtbot.waitUntil(lambda: "Could not download" in banner.text.text(), timeout=WAIT)
    assert seen and seen[0] == banner.missing[0].name  # stops at the first failure
    assert not banner.progress.isVisible() and banner.download_button.text().startswith("Download (")


def test_removing_the_only_folder_returns_to_the_welcome_view(window, qtbot, photo_dir):
    w = _indexed_window(window, qtbot, photo_dir)
    qtbot.waitUntil(lambda: bool(w.sidebar.entries("folder")), timeout=WAIT)
    w.sidebar.setCurrentItem(w.sidebar.entries("folder")[0])
    root = w.sidebar.entries("folder")[0].data(0, Qt.ItemDataRole.UserRole + 2)
    w.remove_folder(root, confirm=False)  # by the writer, then the view follows
    qtbot.waitUntil(lambda: w.stack.currentWidget() is w.welcome, timeout=WAIT)
    assert w.lib.roots() == []
    assert all(p.exists() for p in photo_dir.rglob("*.jpg"))  # files are never touched


def test_a_refused_name_in_the_viewer_is_one_sentence_and_changes_nothing(window, qtbot, photo_dir):
    w = _indexed_window(window, qtbot, photo_dir)
    photo = _photos(w)[0]
    (box,) = w.lib.store.replace_detections(photo.id, "d", [Box("person", 0.9, (0.1, 0.1, 0.5, 0.9))])
    w.open_viewer(photo)
    viewer = w.viewer
    _settle(viewer, qtbot)
    viewer.name_box(viewer.canvas.boxes[0], "person:Ana")  # edited on the task thread
    _settle(viewer, qtbot)
    assert viewer.message.text().endswith(".") and "person:Ana" in viewer.message.text()
    assert [d.subject_name for d in w.lib.detections(photo)] == [None]
    assert [d.id for d in viewer.canvas.boxes] == [box]
