"""The journal of every change photoorg makes to the user's files, and `undo`.

Each operation (make a folder, move, copy, send to the trash) is written to the
library database *before* the file is touched, and marked done together with the
library row it changes after. A run killed at any point (kill -9 included) leaves
each file either where it was or fully at its new place (a move is a hard link then
an unlink, or a rename; never a partial file under the real name), and `undo` reads
the journal backwards, looks where each file actually is, and puts it back with its
old name, folder and mtime. One run at a time per library: a lock file next to the
database (released by the system when the process dies).
"""

from __future__ import annotations

import errno
import filecmp
import os
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .db import Store
from .db.organize import Op, OrganizeStore, Run
from .errors import UserError

LOCK_NAME = "organize.lock"


class JournalError(UserError):
    """A file operation that was refused or stopped; files are in place or fully moved."""


class Busy(JournalError):
    """Another organize, rename, trash or undo is running on this library."""


class DiskFull(JournalError):
    """The target disk filled up; the file being copied was left where it was."""


@contextmanager
def library_lock(folder: Path):
    from filelock import FileLock, Timeout

    lock = FileLock(str(Path(folder) / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise Busy(
            "Another organize, rename or undo is running on this library; "
            "wait for it to finish, then try again."
        ) from None
    try:
        yield
    finally:
        lock.release()


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def place_file(src: str, dst: str, keep_source: bool = False) -> None:
    """Move (or copy) src to dst without ever overwriting dst and without a partial
    file under dst's name. mtime is kept (rename and link keep it; copy2 copies it)."""
    if not keep_source:
        try:
            os.link(src, dst)  # fails if dst exists: never overwrite
        except FileExistsError:
            raise JournalError(f"{dst} appeared meanwhile; {src} was left where it was.") from None
        except OSError as e:
            if e.errno not in (
                errno.EXDEV,
                errno.EPERM,
                errno.ENOTSUP,
                errno.EOPNOTSUPP,
                errno.EMLINK,
            ):
                raise
        else:
            os.unlink(src)
            return
    part = os.path.join(os.path.dirname(dst), f".{os.path.basename(dst)}.photoorg-part")
    try:
        shutil.copy2(src, part)
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        os.link(part, dst)
    except OSError as e:
        if os.path.exists(part):
            os.unlink(part)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(
                f"The disk holding {os.path.dirname(dst)} is full; {src} was left "
                "where it was (`photoorg undo` puts back what was already moved)."
            ) from None
        if isinstance(e, FileExistsError):
            raise JournalError(f"{dst} appeared meanwhile; {src} was left where it was.") from None
        raise
    os.unlink(part)
    if not keep_source:
        os.unlink(src)


class Journal:
    """One run: every op recorded before it happens."""

    def __init__(self, store: Store, kind: str, description: str):
        self.store = store
        self.org = OrganizeStore(store)
        self.run_id = self.org.start_run(kind, description)

    def makedirs(self, folder: str) -> None:
        missing = []
        path = Path(folder)
        while not path.exists():
            missing.append(path)
            path = path.parent
        for path in reversed(missing):
            op = self.org.add_op(self.run_id, "mkdir", str(path))
            path.mkdir()
            self.org.set_op_state(op, "done")

    def add_root(self, path: str) -> int:
        """The target folder becomes a library folder, so its photos stay in the library."""
        op = self.org.add_op(self.run_id, "root", path)
        root = self.store.add_root(path)
        self.org.set_op_state(op, "done")
        return root.id

    def move(
        self,
        src: str,
        dst: str,
        *,
        copy: bool = False,
        photo_id: int | None = None,
        src_root_id: int | None = None,
        src_rel: str | None = None,
        dst_root_id: int | None = None,
        dst_rel: str | None = None,
    ) -> None:
        st = os.stat(src)
        self.makedirs(os.path.dirname(dst))
        op = self.org.add_op(
            self.run_id,
            "copy" if copy else "move",
            src,
            dst,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            photo_id=photo_id,
            src_root_id=src_root_id,
            src_rel=src_rel,
            dst_root_id=dst_root_id,
            dst_rel=dst_rel,
        )
        place_file(src, dst, keep_source=copy)
        with self.store.transaction():
            self.org.set_op_state(op, "done")
            if photo_id is not None and dst_root_id is not None and not copy:
                self.org.set_photo_path(photo_id, dst_root_id, dst_rel)

    def trash(self, path: str, photo_id: int, keeper_id: int, send: Callable[[str], None]) -> None:
        st = os.stat(path)
        op = self.org.add_op(
            self.run_id,
            "trash",
            path,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            photo_id=photo_id,
            keeper_id=keeper_id,
        )
        send(path)
        with self.store.transaction():
            self.org.set_op_state(op, "done")
            self.org.mark_missing(photo_id)

    def finish(self) -> None:
        self.org.finish_run(self.run_id)


# -- undo ------------------------------------------------------------------------------


@dataclass
class UndoReport:
    run: Run
    restored: int = 0
    removed_copies: int = 0
    problems: list[str] = field(default_factory=list)


def last_undoable(store: Store) -> Run | None:
    for run in OrganizeStore(store).runs():
        if run.undone_at is None and run.kind != "trash":
            return run
    return None


def undo(store: Store, folder: Path) -> UndoReport:
    """Undo the latest organize or rename run (finished or interrupted)."""
    with library_lock(folder):
        run = last_undoable(store)
        if run is None:
            raise JournalError(
                "Nothing to undo: no organize or rename run is recorded "
                "(files sent to the trash are restored from the system trash)."
            )
        org = OrganizeStore(store)
        report = UndoReport(run)
        for op in reversed(org.ops(run.id)):
            if op.state == "undone":
                continue
            _undo_op(org, op, report)
        org.mark_undone(run.id)
        return report


def _undo_op(org: OrganizeStore, op: Op, report: UndoReport) -> None:
    if op.op == "root":
        root = org.store.root_by_path(op.src)
        if root is not None and not sum(org.store.counts_by_root().get(root.id, {}).values()):
            org.store.remove_root(root.id)
    elif op.op == "mkdir":
        try:
            os.rmdir(op.src)
        except FileNotFoundError:
            pass
        except OSError:
            report.problems.append(f"{op.src} is not empty any more; it was left.")
    elif op.op == "copy":
        if _unchanged(op.dst, op) and os.path.exists(op.src):
            os.unlink(op.dst)
            report.removed_copies += 1
        elif os.path.exists(op.dst):
            report.problems.append(f"{op.dst} changed since it was copied; it was left.")
    elif op.op == "move":
        _undo_move(org, op, report)
    org.set_op_state(op.id, "undone")


def _unchanged(path: str, op: Op) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == op.size and st.st_mtime_ns == op.mtime_ns


def _undo_move(org: OrganizeStore, op: Op, report: UndoReport) -> None:
    at_src, at_dst = os.path.exists(op.src), os.path.exists(op.dst)
    if at_dst and not at_src:
        os.makedirs(os.path.dirname(op.src), exist_ok=True)
        place_file(op.dst, op.src)
        report.restored += 1
    elif at_dst and at_src:
        if _same_file(op.src, op.dst):  # killed between link and unlink
            os.unlink(op.dst)
        else:
            report.problems.append(f"{op.src} and {op.dst} both exist and differ; both were left.")
            return
    elif not at_src:
        report.problems.append(f"{op.src} is gone from {op.dst} too; it cannot be put back.")
        return
    if op.mtime_ns is not None:
        st = os.stat(op.src)
        os.utime(op.src, ns=(st.st_atime_ns, op.mtime_ns))
    if op.photo_id is not None and op.src_root_id is not None:
        with org.store.transaction():
            org.set_photo_path(op.photo_id, op.src_root_id, op.src_rel)
