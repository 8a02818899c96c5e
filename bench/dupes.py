"""Duplicate grouping and organize planning at 10,000 and 100,000 photos.

    .venv/bin/python bench/dupes.py [--sizes 10000 100000] [--no-organize]

Grouping runs on synthetic features (no decoding): random 64-bit pHash/dHash per
scene; 10% of photos are copies of another with a few bits flipped (re-encodes),
5% sit in bursts of 6 frames 0.2 s apart from one camera, and every photo has a
random 512-d unit CLIP vector. Prints seconds and how many groups of each tier came
out (they should match what was planted).

`organize --dry-run` plans "{year}/{month:02}-{event}" for a real library database
of 100,000 photos whose (empty) files exist in 200 folders, so folder listings and
sidecar lookups are real. Built once into /tmp/photoorg-bench/organize-N/.
Goal (issue 14): both under 10 s at 100,000.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from photoorg.dupes import TIER_NAMES, Item, group_items

CACHE = Path("/tmp/photoorg-bench")


def synthetic_items(n: int, seed: int = 0) -> list[Item]:
    rng = np.random.default_rng(seed)
    items: list[Item] = []
    start = 1_600_000_000.0
    vectors = rng.normal(size=(n, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    while len(items) < n:
        i = len(items)
        roll = rng.random()
        shot = start + i * 3600.0
        if roll < 0.10 and items:  # a re-encoded copy of an earlier photo
            src = items[int(rng.integers(0, len(items)))]
            flip = sum(1 << int(b) for b in rng.choice(64, size=int(rng.integers(0, 4)), replace=False))
            items.append(
                Item(
                    i,
                    f"/p/copy{i}.jpg",
                    phash=src.phash ^ flip,
                    dhash=src.dhash,
                    shot=src.shot,
                    size=src.size,
                    embedding=vectors[i],
                )
            )
        elif roll < 0.15 and len(items) + 6 <= n:  # a burst of 6 frames
            base = int(rng.integers(0, 2**63))
            for k in range(6):
                items.append(
                    Item(
                        len(items),
                        f"/p/b{i}_{k}.jpg",
                        phash=base ^ (k << 3),
                        dhash=int(rng.integers(0, 2**63)),
                        shot=shot + 0.2 * k,
                        subsec=True,
                        camera="Canon EOS R6",
                        size=(4000, 3000),
                        embedding=vectors[len(items)],
                    )
                )
        else:
            items.append(
                Item(
                    i,
                    f"/p/{i}.jpg",
                    phash=int(rng.integers(0, 2**63)) | (int(rng.integers(0, 2)) << 63),
                    dhash=int(rng.integers(0, 2**63)),
                    shot=shot,
                    size=(4000, 3000),
                    embedding=vectors[i],
                )
            )
    return items


def bench_grouping(n: int) -> None:
    items = synthetic_items(n)
    started, cpu = time.perf_counter(), time.process_time()
    groups = group_items(items)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    tiers = Counter(TIER_NAMES[g.tier] for g in groups)
    print(
        f"grouping {n:>7,} photos: {elapsed:6.2f} s wall, {cpu:6.2f} s cpu  ({len(groups)} groups: "
        + ", ".join(f"{v} {k}" for k, v in tiers.most_common())
        + ")"
    )


def build_library(n: int) -> Path:
    from photoorg.library import Library

    base = CACHE / f"organize-{n}"
    lib_dir, photos = base / "library", base / "photos"
    if (base / "ready").exists():
        return base
    import shutil

    shutil.rmtree(base, ignore_errors=True)
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        folder = f"Event {i % 200:03}"
        name = f"IMG_{i:06}.jpg"
        (photos / folder).mkdir(parents=True, exist_ok=True)
        (photos / folder / name).touch()
        year, month, day = (
            2005 + int(rng.integers(0, 20)),
            int(rng.integers(1, 13)),
            int(rng.integers(1, 29)),
        )
        rows.append((f"{folder}/{name}", f"{year}-{month:02}-{day:02}T12:00:00"))
    with Library(lib_dir) as lib:
        root = lib.add_roots([photos])[0]
        now = time.time()
        lib.store.db.conn.executemany(
            "INSERT INTO photos (root_id, rel_path, size, mtime_ns, hash, taken_at, state, added_at) "
            "VALUES (?, ?, 0, 0, ?, ?, 'indexed', ?)",
            [(root.id, rel, f"h{k}", taken, now) for k, (rel, taken) in enumerate(rows)],
        )
    (base / "ready").touch()
    return base


def bench_organize(n: int) -> None:
    from photoorg.library import Library
    from photoorg.organize import plan, select

    base = build_library(n)
    with Library(base / "library") as lib:
        started, cpu = time.perf_counter(), time.process_time()
        photos = select(lib, [])
        the_plan = plan(lib, photos, "{year}/{month:02}-{event}", into=base / "sorted")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"organize --dry-run {n:>7,} photos: {elapsed:6.2f} s wall, {cpu:6.2f} s cpu  "
        f"({len(the_plan.changes)} changes planned)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--no-organize", action="store_true")
    args = parser.parse_args()
    print(
        f"cpu: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (wall time "
        "stretches with the load; cpu time is what the work itself costs)"
    )
    for n in args.sizes:
        bench_grouping(n)
    if not args.no_organize:
        bench_organize(max(args.sizes))


if __name__ == "__main__":
    main()
