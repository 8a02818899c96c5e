"""Duplicates on real folders of real images: copies are grouped in the right tier,
unrelated photos are not, a burst is one group and never a duplicate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL.PngImagePlugin import PngInfo

from photoorg.cli import main
from photoorg.dupes import (
    NEAR,
    SAME_PIXELS,
    SIMILAR,
    Item,
    find_groups,
    group_items,
    trash_others,
)
from photoorg.modelset import ModelSet
from photoorg.progress import drive

from .organize_photos import crop, save, scene

CANON = ("Canon", "EOS R6")


def _library_of(library, folder: Path):
    library.add_roots([folder])
    drive(library.scan())
    drive(library.index(models=ModelSet()))
    return library


@pytest.fixture
def dupes_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    original = scene(1)
    save(
        original,
        folder / "trip" / "IMG_0001.jpg",
        taken="2023:05:01 10:00:00",
        camera=CANON,
    )
    (folder / "backup").mkdir()
    shutil.copy2(folder / "trip" / "IMG_0001.jpg", folder / "backup" / "IMG_0001.jpg")
    save(original.resize((320, 240)), folder / "shared" / "small.jpg")
    save(original, folder / "shared" / "reencoded.jpg", quality=60)
    save(crop(original, 0.05), folder / "shared" / "cropped.jpg")
    for k in range(12):  # a burst: one camera, 0.1 s apart, a subject moving
        frame = scene(50).transform((640, 480), 0, (1, 0, -2 * k, 0, 1, 0))
        save(
            frame,
            folder / "burst" / f"B{k:02}.jpg",
            taken=f"2023:05:02 12:00:0{(k // 10)}",
            subsec=f"{(k % 10) * 100:03}",
            camera=CANON,
        )
    for seed in range(100, 108):
        save(
            scene(seed),
            folder / "other" / f"o{seed}.jpg",
            taken=f"2023:06:{seed - 99:02} 09:00:00",
        )
    return folder


def _groups(library):
    return drive(find_groups(library.store, library.thumbs_dir))


def test_copies_grouped_in_tiers_and_unrelated_photos_alone(library, dupes_dir):
    groups = _groups(_library_of(library, dupes_dir))
    by_tier = {}
    for g in groups:
        by_tier.setdefault(g.tier, []).append(
            sorted(Path(m.path).relative_to(dupes_dir).as_posix() for m in g.members)
        )
    copies = [
        "backup/IMG_0001.jpg",
        "shared/cropped.jpg",
        "shared/reencoded.jpg",
        "shared/small.jpg",
        "trip/IMG_0001.jpg",
    ]
    assert by_tier[NEAR] == [copies]
    assert by_tier[SIMILAR] == [[f"burst/B{k:02}.jpg" for k in range(12)]]
    assert set(by_tier) == {NEAR, SIMILAR}  # the unrelated photos are in no group
    near = next(g for g in groups if g.tier == NEAR)
    assert near.keeper.path in {
        str(dupes_dir / "trip/IMG_0001.jpg"),
        str(dupes_dir / "backup/IMG_0001.jpg"),
    }
    relations = {Path(m.path).relative_to(dupes_dir).as_posix(): m.relation for m in near.members}
    other_original = (
        {"trip/IMG_0001.jpg", "backup/IMG_0001.jpg"}
        - {Path(near.keeper.path).relative_to(dupes_dir).as_posix()}
    ).pop()
    assert relations[other_original] == "identical bytes"
    assert relations["shared/small.jpg"] == "re-encoded, resized or cropped"


def test_same_pixels_other_metadata(library, tmp_path):
    folder = tmp_path / "p"
    image = scene(7)
    save(image, folder / "a.png")
    info = PngInfo()
    info.add_text("Comment", "edited by another app")
    image.save(folder / "b.png", "PNG", pnginfo=info)
    groups = _groups(_library_of(library, folder))
    assert [(g.tier, len(g.members)) for g in groups] == [(SAME_PIXELS, 2)]


def test_raw_jpeg_style_pair_is_a_stack_not_a_duplicate(library, tmp_path):
    folder = tmp_path / "p"
    image = scene(3)
    save(image, folder / "IMG_1.jpg")
    save(image, folder / "IMG_1.png")
    assert _groups(_library_of(library, folder)) == []


def test_trash_carries_tags_to_keeper_and_is_recorded(library, dupes_dir):
    _library_of(library, dupes_dir)
    library.tag(dupes_dir / "shared" / "small.jpg", add=["Holiday"])
    groups = [g for g in _groups(library) if g.tier <= NEAR]
    sent = []
    report = trash_others(
        library.store,
        library.folder,
        groups,
        send=lambda p: (sent.append(p), Path(p).unlink()),
    )
    keeper = groups[0].keeper
    assert sorted(sent) == sorted(m.path for m in groups[0].members if not m.keep)
    assert report.kept == [keeper.path]
    assert [t.tag for t in library.tags_of(library.photo(keeper.path))] == ["Holiday"]
    assert all(library.store.photo(m.id).state == "missing" for m in groups[0].members if not m.keep)
    ops = library.store.db.execute("SELECT op, state FROM journal_ops").fetchall()
    assert ops == [("trash", "done")] * 4


def test_dupes_cli_json_lists_tiers_and_rule(library, dupes_dir, capsys):
    _library_of(library, dupes_dir)
    library.close()
    assert main(["--library", str(library.folder), "dupes", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [g["tier"] for g in out["groups"]] == [
        "re-encoded, resized or cropped",
        "burst or similar shot (not a duplicate)",
    ]
    assert out["groups"][0]["duplicate"] is True and out["groups"][1]["duplicate"] is False
    assert out["rule"].startswith("keeper: the camera original")


def test_photos_far_apart_in_time_and_look_make_no_group():
    items = [
        Item(1, "/p/a.jpg", phash=0x0F0F, dhash=1, shot=0.0),
        Item(2, "/p/b.jpg", phash=0xF0F0 << 40, dhash=2 << 50, shot=86_400.0),
    ]
    assert group_items(items) == []
    assert group_items(items[:1]) == []


def test_cli_trash_asks_then_uses_the_system_trash(library, dupes_dir, tmp_path):
    _library_of(library, dupes_dir)
    library.close()
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }  # the trash send2trash uses
    command = [
        sys.executable,
        "-m",
        "photoorg",
        "--library",
        str(library.folder),
        "dupes",
        "--trash",
    ]
    asked = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert (asked.returncode, asked.stdout.splitlines()[-1]) == (
        1,
        "Nothing was trashed (answer y, or pass --yes).",
    )
    done = subprocess.run(command + ["--yes"], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "Sent 4 files to the system trash; their tags and names are on the 1 kept photos."
    )
    trashed = sorted(p.name for p in (tmp_path / "data" / "Trash" / "files").iterdir())
    assert len(trashed) == 4 and all(name.endswith(".jpg") for name in trashed)
    assert sorted(p.name for p in (dupes_dir / "burst").iterdir()) == [f"B{k:02}.jpg" for k in range(12)]


# shared/ in the checkout, ../shared beside it (as bench/ looks), or beside its worktrees.
COCO = next(
    (
        up / "shared" / "photos" / "coco-train-mini" / "images"
        for up in Path(__file__).resolve().parents[1:4]
        if (up / "shared").is_dir()
    ),
    Path("/nonexistent"),
)


@pytest.mark.skipif(not COCO.is_dir(), reason="the shared COCO sample is not here")
def test_real_photos_copies_grouped_and_no_false_groups(library, tmp_path):
    from PIL import Image

    folder = tmp_path / "coco"
    names = sorted(p.name for p in COCO.glob("*.jpg"))[:40]
    folder.mkdir()
    for name in names:
        shutil.copy2(COCO / name, folder / name)
    for k, name in enumerate(names[:3]):  # resized, re-encoded, cropped 5%
        image = Image.open(COCO / name).convert("RGB")
        w, h = image.size
        copy = [
            image.resize((w // 2, h // 2)),
            image,
            image.crop((w // 20, h // 20, w - w // 20, h - h // 20)),
        ][k]
        copy.save(folder / f"copy{k}.jpg", quality=[90, 50, 90][k])
    groups = _groups(_library_of(library, folder))
    found = sorted(sorted(Path(m.path).name for m in g.members) for g in groups)
    assert found == sorted(sorted([names[k], f"copy{k}.jpg"]) for k in range(3))
    assert {g.keeper.path for g in groups} == {str(folder / n) for n in names[:3]}
