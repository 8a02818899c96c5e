"""The window's first screenful imports only what it shows: Qt, the Store's read of the
first page and the thumbnail cache. numpy, sqlite-utils, Pillow and the model libraries
come when something first needs them; on the window's path numpy and sqlite-utils alone
were 0.25-0.45 s of its start (bench/gui.py measures the time; this test keeps the
imports from coming back)."""

import subprocess
import sys

from photoorg.library import Library
from photoorg.progress import drive
from tests.conftest import write_photo

HEAVY = ("numpy", "sqlite_utils", "PIL", "torch", "onnxruntime", "open_clip")
PHOTOS = 6

# A fresh process, as a user starts the app: the window watches its folders as it does
# for them, and the grid shows every photo's cached thumbnail.
CHILD = f"""
import sys, time
from pathlib import Path
from photoorg.ui.app import make_app
from photoorg.ui.mainwindow import MainWindow
from photoorg.ui.photomodel import ThumbStateRole

app = make_app()
window = MainWindow(Path(sys.argv[1]), watch=True)
window.show()

def shown():
    rows = [window.model.index(r) for r in range(window.model.rowCount())]
    return len(rows) == {PHOTOS} and all(i.data(ThumbStateRole) == "ready" for i in rows)

deadline = time.monotonic() + 60
while not shown() and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.002)
print(shown(), ",".join(m for m in {HEAVY!r} if m in sys.modules))
window.close()
"""


def _indexed_library(tmp_path):
    """A library whose photos have their thumbnails, as an index run leaves them."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(PHOTOS):
        write_photo(photos / f"p{i}.jpg", color=(30 * i, 90, 200 - 20 * i))
    folder = tmp_path / "library"
    with Library(folder) as lib:
        drive(lib.add([photos]))
        for photo in lib.photos(lib.browse()):
            lib.thumbnail(photo)
            lib.store.set_state(photo.id, "indexed")
    return folder


def test_first_screenful_imports_no_numpy_sqlite_utils_pillow_or_models(tmp_path):
    folder = _indexed_library(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, timeout=120, check=True
    )
    shown, loaded = out.stdout.splitlines()[0].split(" ")
    assert shown == "True"  # every photo's thumbnail is on screen
    assert loaded == ""  # and none of them was imported for it
