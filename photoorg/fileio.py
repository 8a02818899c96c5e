"""Atomic file writes: the one way photoorg writes a file.

Everything photoorg writes (cut-outs, thumbnails, settings, sidecars, exports) goes
to a temporary file in the target's own folder and is renamed over the target only
when complete, so a full disk, a crash or a failed encoder leaves the old file as it
was. A rename is atomic only within one filesystem, hence the same folder. Special
files (a FIFO, a device, a link to one) are refused as targets: writing "into"
/dev/full or a pipe is never what a user meant.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import UserError


class WriteRefused(UserError):
    """The target cannot be written safely; nothing was changed."""


def _real_target(target: Path) -> Path:
    """The regular file a write should replace: a link to a regular file is followed
    (the user's link stays a link); anything else that is not a regular file is refused."""
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return target.resolve() if target.is_symlink() else target
    if not stat.S_ISREG(info.st_mode):
        raise WriteRefused(f"{target} is not a regular file (a folder, pipe or device); choose another name.")
    return target.resolve()


def atomic_write(target: str | Path, write: Callable[[BinaryIO], None], *, replace: bool = True) -> Path:
    """Call `write(f)` on a temporary file next to `target`, then rename it over
    `target`. With replace=False an existing target is refused, not replaced.
    Returns the path written."""
    target = _real_target(Path(target))
    if not replace and target.exists():
        raise WriteRefused(f"{target} already exists; photoorg never overwrites it without being asked.")
    folder = target.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if the target appeared meanwhile: never overwrite
            os.unlink(tmp)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise WriteRefused(
                f"The disk holding {folder} is full; {target.name} was left as it was."
            ) from None
        if isinstance(e, FileExistsError):
            raise WriteRefused(
                f"{target} already exists; photoorg never overwrites it without being asked."
            ) from None
        raise
    return target


def atomic_write_bytes(target: str | Path, data: bytes, *, replace: bool = True) -> Path:
    return atomic_write(target, lambda f: f.write(data), replace=replace)


def atomic_write_text(target: str | Path, text: str, *, replace: bool = True) -> Path:
    return atomic_write_bytes(target, text.encode("utf-8"), replace=replace)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
