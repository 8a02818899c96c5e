"""What a purge of missing photos may remove, decided at the moment of purging.

A photo's "missing" state is what the last scan saw. By the time the user purges, the
file may be back, or its drive unplugged (a mount point where nothing is found looks
exactly like deleted files). So every missing photo is checked again on disk: its
file still absent, and its folder online by the evidence rule of roots.py and on the
drive the library last saw it on. Only then is it listed, with the tags and names the
user gave it: those are user data, removed only when the user says so explicitly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .db import Photo, Store
from .roots import evidence, judge, same_device


@dataclass(frozen=True)
class PurgeItem:
    photo: Photo
    tags: tuple[str, ...]  # the user's own tags
    names: tuple[str, ...]  # people and pets named in it

    @property
    def user_data(self) -> bool:
        return bool(self.tags or self.names)


@dataclass(frozen=True)
class Kept:
    photo: Photo
    why: str


@dataclass
class PurgePlan:
    items: list[PurgeItem] = field(default_factory=list)  # may be removed now
    kept: list[Kept] = field(default_factory=list)  # missing, but not removable now

    @property
    def with_user_data(self) -> list[PurgeItem]:
        return [i for i in self.items if i.user_data]


def _folder_doubt(store: Store, root_id: int, path: str, device: int | None) -> str | None:
    """Why the photos of this folder cannot be purged now, or None."""
    present = [rel for rel, k in store.known_files(root_id).items() if k.state != "missing"]
    verdict = judge(path, evidence(path, device, present))
    if not verdict.online:
        return f"its folder is offline now: {verdict.reason}"
    if not same_device(path, device):
        return "its folder is on another drive than the library last saw; run `photoorg scan` first"
    return None


def plan_purge(store: Store) -> PurgePlan:
    plan = PurgePlan()
    doubts: dict[int, str | None] = {}
    for root in store.roots():
        doubts[root.id] = _folder_doubt(store, root.id, root.path, root.device)
    for photo in store.missing():
        doubt = doubts.get(photo.root_id)
        if doubt is None and os.path.lexists(photo.path):
            doubt = "its file is there again; run `photoorg scan` to take it back"
        if doubt is not None:
            plan.kept.append(Kept(photo, doubt))
            continue
        tags = tuple(t.tag for t in store.tags_of(photo.id) if t.source == "user")
        names = tuple(sorted({d.subject_name for d in store.detections_of(photo.id) if d.subject_name}))
        plan.items.append(PurgeItem(photo, tags, names))
    return plan
