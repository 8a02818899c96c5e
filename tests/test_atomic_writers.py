"""Every file photoorg writes goes through fileio.atomic_write: the disk filling up in
the middle of a write (injected at the fsync every atomic write does before its rename)
leaves the old file exactly as it was and no temporary file behind."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from photoorg.errors import UserError


@pytest.fixture
def disk_fills(monkeypatch):
    """From now on, every fsync says the disk is full."""

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_settings_keep_the_old_file(tmp_path, disk_fills):
    from photoorg.settings import Settings, save_settings, settings_path

    path = settings_path(tmp_path)
    path.write_text('{"device": "cpu"}\n')
    with pytest.raises(UserError, match="full"):
        save_settings(tmp_path, Settings(device="cuda"))
    assert path.read_text() == '{"device": "cpu"}\n'
    assert listing(tmp_path) == [path.name]


def test_thumbnail_is_whole_or_absent(tmp_path, disk_fills):
    from PIL import Image

    from photoorg.db import Photo
    from photoorg.thumbs import save_thumbnail, thumbnail_path

    photo = Photo(
        1,
        1,
        "a.jpg",
        str(tmp_path / "a.jpg"),
        1,
        1,
        "abcdef",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        "pending",
        None,
    )
    with pytest.raises(UserError, match="full"):
        save_thumbnail(tmp_path / "thumbs", photo, Image.new("RGB", (600, 400)))
    target = thumbnail_path(tmp_path / "thumbs", photo)
    assert listing(target.parent) == []


def test_weights_note_keeps_the_old_one_and_installs_nothing(tmp_path, disk_fills):
    from photoorg.models.registry import MODELS, WeightStore

    weights = WeightStore(tmp_path)
    spec = MODELS["yolox-nano"]
    note = tmp_path / (spec.filename + ".json")
    note.write_text('{"verified": true}')
    part = tmp_path / "download.part"
    part.write_bytes(b"new weights")
    with pytest.raises(UserError, match="full"):
        weights._install(spec, part, "0" * 64, "test", verified=False)
    assert note.read_text() == '{"verified": true}'
    assert not (tmp_path / spec.filename).exists()


def test_vector_index_meta_keeps_the_old_one(tmp_path, monkeypatch):
    from photoorg.db import Store
    from photoorg.vectors import VectorIndex

    store = Store(tmp_path / "lib.db")
    store.add_root(str(tmp_path / "p"))
    pid = store.add_photo(store.roots()[0].id, "a.jpg", 1, 1, "h")
    store.replace_embeddings(pid, "m", [(None, np.ones(8, np.float32))])
    index = VectorIndex.open(store, "m")
    meta = index.folder / "meta.json"
    before = meta.read_text()
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    index.seq += 1
    with pytest.raises(UserError, match="full"):
        index._save()
    assert meta.read_text() == before and json.loads(before)["seq"] == index.seq - 1
    assert not [p for p in listing(index.folder) if p.endswith(".part")]
    store.close()
