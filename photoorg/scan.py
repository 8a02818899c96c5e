"""Incremental scan of a root folder against the store.

A file is new or changed when its size or mtime differs from what the store has; only
those are hashed. A new file whose content matches a missing photo is that photo,
moved: the row (tags, names, embeddings) follows it. Files gone from a reachable root
become missing and are kept. A root that cannot be reached, or where none of the
photos the library knows is there (an unplugged drive's mount point, even one holding
a .DS_Store or lost+found), is offline and nothing in it changes state: the rule is
in roots.py. Photos gone in bulk (roots.is_bulk) are only noted as unconfirmed until
the user confirms them.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import PurePath

from .coalesce import Change
from .db import KnownFile, ScanProblem, Store
from .formats import is_supported
from .progress import Progress, Work
from .roots import evidence, ignorable, is_bulk, judge

_HASH_CHUNK = 64 * 1024


@dataclass
class ScanResult:
    root: str
    online: bool = True
    offline_reason: str | None = None
    seen: int = 0
    new: int = 0
    changed: int = 0
    moved: int = 0
    missing: int = 0
    unconfirmed: int = 0  # gone in bulk: kept as they were until the user confirms
    problems: list[ScanProblem] = field(default_factory=list)


@dataclass(frozen=True)
class FoundFile:
    rel_path: str
    size: int
    mtime_ns: int


def content_hash(path: str, size: int) -> str:
    """Size plus the first and last 64 KiB: enough to recognise a moved photo without
    reading whole files (a photo's head holds its EXIF and its tail its last scan)."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        digest.update(f.read(_HASH_CHUNK))
        if size > 2 * _HASH_CHUNK:
            f.seek(-_HASH_CHUNK, os.SEEK_END)
            digest.update(f.read(_HASH_CHUNK))
        elif size > _HASH_CHUNK:
            digest.update(f.read())
    return digest.hexdigest()


def _display(path: str) -> str:
    # File names in any encoding: undecodable bytes print as escapes, not a crash.
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def walk(root: str, root_id: int, problems: list[ScanProblem], unreadable: list[str]) -> Iterator[FoundFile]:
    """Supported files under root. Follows folder symlinks once (loops are reported,
    not followed) and records every folder or file it cannot read."""
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in visited:
                problems.append(
                    ScanProblem(root_id, _display(folder), "symlink loop: folder already scanned")
                )
                continue
            visited.add((st.st_dev, st.st_ino))
            entries = list(os.scandir(folder))
        except OSError as e:
            unreadable.append(folder)
            problems.append(ScanProblem(root_id, _display(folder), f"cannot read folder: {e.strerror or e}"))
            continue
        for entry in entries:
            if ignorable(entry.name):  # hidden, trash, lost+found: never photos to index
                continue
            try:
                st = entry.stat()  # follows symlinks
            except OSError as e:
                if is_supported(entry.name) or entry.is_symlink():
                    reason = "symlink loop" if e.errno == 40 else f"cannot read: {e.strerror or e}"
                    problems.append(ScanProblem(root_id, _display(entry.path), reason))
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
            elif stat.S_ISREG(st.st_mode) and is_supported(entry.name):
                rel = os.path.relpath(entry.path, root)
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:
                    problems.append(
                        ScanProblem(
                            root_id,
                            _display(entry.path),
                            "file name is not valid UTF-8; rename the file to index it",
                        )
                    )
                    continue
                yield FoundFile(rel, st.st_size, st.st_mtime_ns)


def _under_any(rel_path: str, root: str, folders: list[str]) -> bool:
    full = os.path.join(root, rel_path)
    return any(full != f and PurePath(full).is_relative_to(f) for f in folders)


@dataclass
class Survey:
    """What one walk of a root found, before anything is written."""

    root_id: int
    path: str
    result: ScanResult
    fresh: list[FoundFile] = field(default_factory=list)
    changed: list[FoundFile] = field(default_factory=list)
    gone: list[KnownFile] = field(default_factory=list)
    known: dict[str, KnownFile] = field(default_factory=dict)


# (root path, found file) -> True to leave the file as it is for this pass: the
# watcher uses it for files still being written.
Skip = Callable[[str, FoundFile], bool]


def survey(store: Store, root_id: int, skip: Skip | None = None, confirm: bool = False) -> Survey:
    """confirm: the user says the photos are really gone (not an unplugged drive):
    a reachable folder is scanned even where none of its known photos is there."""
    root = store.root(root_id)
    found_here = Survey(root_id, root.path, ScanResult(root.path))
    # The rows the scan compares against are the evidence too: no extra query.
    known = store.known_files(root_id)
    present = [rel for rel, k in known.items() if k.state != "missing"]
    verdict = judge(root.path, evidence(root.path, root.device, present))
    if not verdict.online and not (confirm and verdict.device is not None):
        store.set_root_online(root_id, False, verdict.reason)
        found_here.result.online, found_here.result.offline_reason = False, verdict.reason
        return found_here
    store.set_root_online(root_id, True, device=verdict.device)
    found_here.known = known
    unreadable: list[str] = []
    seen: set[str] = set()
    for found in walk(root.path, root_id, found_here.result.problems, unreadable):
        seen.add(found.rel_path)
        if skip is not None and skip(root.path, found):
            continue  # neither new, changed nor gone: a later pass decides
        old = known.get(found.rel_path)
        if old is None:
            found_here.fresh.append(found)
        elif old.size != found.size or old.mtime_ns != found.mtime_ns or old.state == "missing":
            found_here.changed.append(found)
    found_here.result.seen = len(seen)
    found_here.gone = [
        k
        for rel, k in known.items()
        if rel not in seen and k.state != "missing" and not _under_any(rel, root.path, unreadable)
    ]
    return found_here


def scan(
    store: Store, root_ids: list[int], batch_size: int = 500, skip: Skip | None = None, confirm: bool = False
) -> Work[list[ScanResult]]:
    """Survey every root first, then mark what is gone as missing, then write what is
    new: so a file moved from one root to another is recognised whichever root comes
    first. Yields progress while hashing; returns one result per root. `confirm`:
    the user's word that what is gone is gone (no bulk guard, no offline by evidence)."""
    surveys = [survey(store, root_id, skip, confirm) for root_id in root_ids]
    _hold_bulk(store, surveys, confirm)
    with store.transaction():
        for s in surveys:
            store.mark_missing(k.id for k in s.gone)
    work = [(s, f, "changed") for s in surveys for f in s.changed]
    work += [(s, f, "new") for s in surveys for f in s.fresh]
    progress = Progress("scan", 0, len(work))
    moved: set[int] = set()
    for start in range(0, len(work), batch_size):
        batch = work[start : start + batch_size]
        hashed = [(s, f, kind, _hash_or_problem(s, f)) for s, f, kind in batch]
        with store.transaction():
            for s, f, kind, digest in hashed:
                if digest is not None:
                    _write(store, s, f, kind, digest, moved)
        progress = replace(progress, done=start + len(batch))
        yield progress
    for s in surveys:
        if s.result.online:
            s.result.missing = sum(1 for k in s.gone if k.id not in moved)
            store.replace_scan_problems(s.root_id, s.result.problems)
            store.mark_root_scanned(s.root_id)
    return [s.result for s in surveys]


def _hold_bulk(store: Store, surveys: list[Survey], confirm: bool) -> None:
    """Photos gone in bulk are not marked missing on a scan's word: they are noted as
    unconfirmed (status says so) and kept as they are until `scan --confirm-missing`."""
    gone_this_pass = sum(len(s.gone) for s in surveys)
    for s in surveys:
        if not s.result.online:
            continue
        present = sum(1 for k in s.known.values() if k.state != "missing")
        bulk = is_bulk(len(s.gone), present, gone_this_pass)
        held = s.gone if bulk and not confirm else []
        if held:
            s.result.unconfirmed, s.gone = len(held), []
        store.replace_unconfirmed(s.root_id, (k.id for k in held))


def _hash_or_problem(s: Survey, found: FoundFile) -> str | None:
    path = os.path.join(s.path, found.rel_path)
    try:
        return content_hash(path, found.size)
    except OSError as e:
        s.result.problems.append(ScanProblem(s.root_id, _display(path), f"cannot read: {e.strerror or e}"))
        return None


def _write(store: Store, s: Survey, found: FoundFile, kind: str, digest: str, moved: set[int]) -> None:
    old = s.known.get(found.rel_path)
    if kind == "changed" and old is not None:
        if old.state == "missing" and old.hash == digest:  # the same file came back
            store.move_photo(old.id, s.root_id, found.rel_path, found.size, found.mtime_ns)
        else:
            store.mark_changed(old.id, found.size, found.mtime_ns, digest)
            s.result.changed += 1
        return
    moved_id = store.movable_by_hash(digest)
    if moved_id is not None:
        store.move_photo(moved_id, s.root_id, found.rel_path, found.size, found.mtime_ns)
        moved.add(moved_id)
        s.result.moved += 1
    else:
        store.add_photo(s.root_id, found.rel_path, found.size, found.mtime_ns, digest)
        s.result.new += 1


# -- rows that follow the watcher's move and delete events ------------------------------


def follow_events(
    store: Store, changes: list[Change], roots: dict[int, str], still_watched: Callable[[int], bool]
) -> tuple[int, list[int]]:
    """Rows follow the observer's move events, in order, in one transaction; returns
    how many moved and the ids marked missing. Events may be stale, the disk is not: a
    move is applied only if its destination exists, a deletion only if the file is
    still absent and its root is still the folder being watched (an unplugged drive
    sends no per-file deletions, and fails that test). Files deleted one by one are
    missing even if the root ends up empty, so a folder whose last photo moved to
    another root is not taken for an unplugged drive, and the photo's row follows it
    there by content hash in the next scan."""
    moved, gone = 0, []
    with store.transaction():
        for c in changes:
            root = roots.get(c.root_id)
            if root is None or c.kind == "touch":
                continue
            if c.kind == "move" and os.path.lexists(c.dest):
                moved += _move_rows(store, c, root)
            elif not os.path.lexists(c.path) and still_watched(c.root_id):
                gone += _mark_gone(store, c, root)
    return moved, gone


def _rel(root: str, path: str) -> str | None:
    rel = os.path.relpath(path, root)
    return None if rel == "." or rel.startswith(os.pardir) else rel


def _rows_at(store: Store, root_id: int, rel: str, is_dir: bool) -> dict[str, KnownFile]:
    if is_dir:
        return store.files_under(root_id, rel)
    known = store.file_at(root_id, rel)
    return {rel: known} if known else {}


def _move_rows(store: Store, c: Change, root: str) -> int:
    src, dest = _rel(root, c.path), _rel(root, c.dest)
    if src is None or dest is None:
        return 0
    moved = 0
    for rel, known in _rows_at(store, c.root_id, src, c.is_dir).items():
        new_rel = dest + rel[len(src) :]
        # A destination that already has a row (a file moved over another) is
        # left to the rescan, which sees the replaced file as changed.
        if store.file_at(c.root_id, new_rel) is None:
            store.move_photo(known.id, c.root_id, new_rel, known.size, known.mtime_ns)
            moved += 1
    return moved


def _mark_gone(store: Store, c: Change, root: str) -> list[int]:
    rel = _rel(root, c.path)
    if rel is None:
        return []
    ids = [k.id for k in _rows_at(store, c.root_id, rel, c.is_dir).values() if k.state != "missing"]
    store.mark_missing(ids)
    return ids
