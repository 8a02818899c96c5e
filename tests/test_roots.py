"""roots.py, the offline rule, on real folders: evidence, not emptiness."""

from __future__ import annotations

import os

from photoorg.roots import Evidence, ignorable, is_bulk, judge


def test_entries_left_on_a_mount_point_say_nothing():
    for name in (
        ".DS_Store",
        ".Trash-1000",
        ".hidden",
        "lost+found",
        "$RECYCLE.BIN",
        "System Volume Information",
    ):
        assert ignorable(name), name
    for name in ("readme.txt", "DCIM", "photo.jpg"):
        assert not ignorable(name), name


def test_verdicts(tmp_path):
    root = tmp_path / "drive"
    assert judge(str(root), Evidence(None, 3)).reason.startswith("folder not found")
    root.mkdir()
    device = os.stat(root).st_dev
    assert judge(str(root), Evidence(None, 0)).online  # nothing known: nothing to lose
    (root / "lost+found").mkdir()
    empty = judge(str(root), Evidence(device, 3, [str(root / "a.jpg")]))
    assert not empty.online and "empty" in empty.reason
    (root / "readme.txt").write_text("mount the drive here")
    stray = judge(str(root), Evidence(device, 3, [str(root / "a.jpg")]))
    assert not stray.online and "none of the photos" in stray.reason
    assert "another device" not in stray.reason
    moved = judge(str(root), Evidence(device + 1, 3, [str(root / "a.jpg")]))
    assert not moved.online and "another device" in moved.reason
    (root / "a.jpg").write_bytes(b"x")
    renumbered = judge(str(root), Evidence(device + 1, 3, [str(root / "a.jpg"), str(root / "b.jpg")]))
    assert renumbered.online and renumbered.device == device  # sdb1 came back as sdc1


def test_bulk_threshold():
    assert not is_bulk(9, 10, 9)  # under the floor: a small folder may lose a few
    assert is_bulk(10, 40, 10)  # 25% of the folder
    assert not is_bulk(10, 100, 10)  # 10%
    assert is_bulk(500, 100_000, 500)  # 500 in one pass
    assert not is_bulk(20, 1000, 499)
