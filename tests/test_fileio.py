"""Atomic writes: a failure leaves the old file as it was; special files are refused."""

from __future__ import annotations

import errno
import os

import pytest

from photoorg.errors import UserError
from photoorg.fileio import WriteRefused, atomic_write, atomic_write_bytes


def test_write_replaces_whole_and_leaves_no_temp(tmp_path):
    target = tmp_path / "keep.png"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.png"
    target.write_bytes(b"old")

    def fail(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteRefused, match="is full; keep.png was left as it was"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_a_bug_in_the_writer_is_not_turned_into_a_user_error(tmp_path):
    target = tmp_path / "a.bin"
    with pytest.raises(ZeroDivisionError):
        atomic_write(target, lambda f: 1 / 0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make", ["fifo", "link-to-device", "folder"])
def test_special_targets_are_refused_untouched(tmp_path, make):
    target = tmp_path / "out.png"
    if make == "fifo":
        os.mkfifo(target)
    elif make == "link-to-device":
        target.symlink_to("/dev/null")
    else:
        target.mkdir()
    with pytest.raises(UserError, match="not a regular file"):
        atomic_write_bytes(target, b"x")
    assert target.is_symlink() if make == "link-to-device" else target.exists()


def test_link_to_a_regular_file_writes_the_file_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink()
    assert real.read_bytes() == b"new"


def test_no_replace_refuses_an_existing_target(tmp_path):
    target = tmp_path / "a.png"
    target.write_bytes(b"old")
    with pytest.raises(WriteRefused, match="already exists"):
        atomic_write_bytes(target, b"new", replace=False)
    assert target.read_bytes() == b"old"
    atomic_write_bytes(tmp_path / "b.png", b"new", replace=False)
    assert (tmp_path / "b.png").read_bytes() == b"new"


def test_mode_of_a_replaced_file_is_kept(tmp_path):
    target = tmp_path / "a.json"
    target.write_bytes(b"{}")
    target.chmod(0o600)
    atomic_write_bytes(target, b"{1}")
    assert oct(target.stat().st_mode & 0o777) == "0o600"
