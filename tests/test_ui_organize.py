"""The Duplicates view and the sort/rename dialog, on real widgets and a real task
thread: review a group side by side and keep one; preview old -> new, apply, undo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from photoorg.modelset import ModelSet
from photoorg.progress import drive
from photoorg.ui.duplicates import DuplicatesDialog
from photoorg.ui.organize import OrganizeDialog
from photoorg.ui.tasks import TaskRunner

from .organize_photos import save, scene

WAIT = 60_000


@pytest.fixture
def setup(library, tmp_path, qtbot):
    folder = tmp_path / "photos"
    original = scene(1)
    save(
        original,
        folder / "a" / "IMG_1.jpg",
        taken="2023:05:01 10:00:00",
        camera=("Canon", "R6"),
    )
    save(original.resize((320, 240)), folder / "b" / "small.jpg")
    save(original, folder / "b" / "reencoded.jpg", quality=50)
    save(scene(9), folder / "c" / "other.jpg", taken="2022:01:02 10:00:00")
    library.add_roots([folder])
    drive(library.scan())
    drive(library.index(models=ModelSet()))
    tasks = TaskRunner(library.folder)
    tasks.start()
    yield library, tasks, folder
    tasks.stop()


def test_review_a_group_side_by_side_and_keep_one(setup, qtbot, tmp_path):
    library, tasks, folder = setup
    trash = tmp_path / "trash"
    trash.mkdir()
    dialog = DuplicatesDialog(tasks, send=lambda p: shutil.move(p, trash / Path(p).name))
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.groups.count() == 1, timeout=WAIT)
    assert dialog.groups.item(0).text() == "1. re-encoded, resized or cropped · 3 photos"
    assert dialog.cards_layout.count() == 3
    keeper = dialog.reviews[0].group.keeper
    assert (keeper.path, dialog.chosen()) == (
        str(folder / "a" / "IMG_1.jpg"),
        keeper.id,
    )
    small = next(s for s in dialog.reviews[0].members if s.path.endswith("small.jpg"))
    assert small.details == "320×240 · " + f"{(folder / 'b' / 'small.jpg').stat().st_size / 1024:.0f} KB"
    next(b for b in dialog.choice.buttons() if b.property("photo_id") == small.id).setChecked(True)
    dialog.trash_others(confirm=False)
    qtbot.waitUntil(lambda: dialog.status.text() == "No duplicates or bursts found.", timeout=WAIT)
    assert sorted(p.name for p in trash.iterdir()) == ["IMG_1.jpg", "reencoded.jpg"]
    assert (folder / "b" / "small.jpg").exists()


def test_preview_apply_and_undo_from_the_dialog(setup, qtbot, tmp_path):
    library, tasks, folder = setup
    before = {p: p.read_bytes() for p in folder.rglob("*.jpg")}
    ids = [p.id for p in library.store.photos_where("1 ORDER BY p.id")]
    dialog = OrganizeDialog(tasks, ids)
    qtbot.addWidget(dialog)
    dialog.into.setText(str(tmp_path / "sorted"))
    dialog.pattern.setText("{year}")
    dialog.preview_button.click()
    qtbot.waitUntil(lambda: dialog.preview_list.count() == 4, timeout=WAIT)
    lines = sorted(dialog.preview_list.item(i).text() for i in range(4))
    assert lines[0] == (
        f"{folder / 'a' / 'IMG_1.jpg'} -> {tmp_path / 'sorted' / '2023' / 'IMG_1.jpg'}"
        "  (date: EXIF date as indexed)"
    )
    assert not (tmp_path / "sorted").exists()
    dialog.apply_button.click()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Done: 4 files"), timeout=WAIT)
    assert (tmp_path / "sorted" / "2023" / "IMG_1.jpg").exists()
    dialog.undo_button.click()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Undid"), timeout=WAIT)
    assert {p: p.read_bytes() for p in folder.rglob("*.jpg")} == before
    assert not (tmp_path / "sorted").exists()


def test_main_window_organize_menu_opens_both_views(qtbot, tmp_path):
    from photoorg.ui.mainwindow import MainWindow

    w = MainWindow(tmp_path / "library", watch=False)
    qtbot.addWidget(w)
    actions = [a.text() for m in w.menuBar().actions() if m.text() == "&Organize" for a in m.menu().actions()]
    assert actions == ["Duplicates…", "Sort or Rename These Photos…"]
    dupes = w.show_duplicates()
    qtbot.waitUntil(lambda: dupes.status.text() == "No duplicates or bursts found.", timeout=WAIT)
    organize = w.organize_view()
    assert organize.ids == []
    dupes.close()
    organize.close()
    w.close()
