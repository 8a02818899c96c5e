"""Is a root folder the one photoorg knows, or the mount point of an unplugged drive?

Offline is decided by evidence, not by emptiness. A mount point left behind by an
unplugged drive is rarely empty: macOS leaves `.DS_Store`, ext4 `lost+found/`, desktops
`.Trash-1000/`, people a `readme.txt`. So a root is judged by what the library knows of
it: the device it was last seen on and a sample of the photos last seen there. A
reachable folder where none of those photos exists is offline, never "all missing"
(whether its device changed or not; the device is named in the reason when it did).
A changed device alone is not proof: a USB drive plugged in after another one comes
back as sdc1 instead of sdb1, with its photos all there.

Even with the evidence, a scan that finds many photos gone at once (`is_bulk`) does
not mark them missing on its own word: they are kept "unconfirmed" until the user
confirms (`photoorg scan --confirm-missing PATH`).

Pure: it reads the folder and stats a few files; it does not know the database.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

# Entries a filesystem, an OS or a desktop leaves on an otherwise empty mount point.
# Names starting with "." (.DS_Store, .Trash-0, .hidden, .Spotlight-V100) are ignored too.
IGNORED_NAMES = frozenset(
    {
        "lost+found",
        "$RECYCLE.BIN",
        "System Volume Information",
        "Thumbs.db",
        "desktop.ini",
    }
)
SAMPLE_SIZE = 16  # known photos checked per judgement: 16 stats, well under a millisecond
BULK_SHARE = 0.2  # more than this share of a root's photos gone in one pass...
BULK_COUNT = 500  # ...or this many in one pass over all roots, is "bulk"
BULK_FLOOR = 10  # below this many, a pass is never bulk: small folders lose a few photos


@dataclass(frozen=True)
class Evidence:
    """What the library knows of a root: the device it was last seen on (None before
    the first look), how many photos it believes present there, and the absolute
    paths of a few of them."""

    device: int | None
    present: int
    sample: Sequence[str] = ()


@dataclass(frozen=True)
class Verdict:
    online: bool
    reason: str | None = None  # why offline, one sentence fragment
    device: int | None = None  # st_dev of the folder now, when it could be read


def evidence(path: str, device: int | None, present: Sequence[str]) -> Evidence:
    """Evidence from the relative paths of the photos believed present in the root:
    SAMPLE_SIZE of them, spread evenly over the list (so not all from one folder)."""
    step = max(1, len(present) // SAMPLE_SIZE)
    sample = [os.path.join(path, rel) for rel in present[::step][:SAMPLE_SIZE]]
    return Evidence(device, len(present), sample)


def ignorable(name: str) -> bool:
    """An entry that says nothing about whether the drive is there."""
    return name.startswith(".") or name in IGNORED_NAMES


def judge(path: str, evidence: Evidence) -> Verdict:
    """Online, or offline with the reason."""
    try:
        info = os.stat(path)
        if not stat.S_ISDIR(info.st_mode):
            return Verdict(False, "folder not found (drive unplugged or folder moved?)")
        with os.scandir(path) as entries:
            visible = any(not ignorable(e.name) for e in entries)
    except FileNotFoundError:
        return Verdict(False, "folder not found (drive unplugged or folder moved?)")
    except OSError as e:
        return Verdict(False, f"folder cannot be read: {e.strerror or e}")
    if evidence.present == 0:
        return Verdict(True, device=info.st_dev)
    if not visible:
        return Verdict(
            False,
            "folder is empty (apart from hidden, trash or lost+found entries) "
            f"but the library knows {evidence.present} photos in it (drive not mounted?)",
            info.st_dev,
        )
    if evidence.sample and not any(os.path.lexists(p) for p in evidence.sample):
        other_drive = evidence.device is not None and evidence.device != info.st_dev
        where = " and it is on another device than before" if other_drive else ""
        return Verdict(
            False,
            f"none of the photos the library knows in it is there{where} "
            "(drive not mounted?); if they are really gone, run "
            f"`photoorg scan --confirm-missing {path}`",
            info.st_dev,
        )
    return Verdict(True, device=info.st_dev)


def same_device(path: str, device: int | None) -> bool:
    """The folder at `path` is still on the device the library last saw it on."""
    try:
        return device is not None and os.stat(path).st_dev == device
    except OSError:
        return False


def is_bulk(gone: int, present: int, gone_this_pass: int) -> bool:
    """Too many photos gone at once to believe without asking: more than BULK_SHARE
    of the root, or BULK_COUNT over the whole pass (never fewer than BULK_FLOOR)."""
    if gone < BULK_FLOOR:
        return False
    return gone > BULK_SHARE * present or gone_this_pass >= BULK_COUNT
