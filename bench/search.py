"""Search latency on synthetic libraries of 10k / 100k / 1M photos.

    .venv/bin/python bench/search.py [--sizes 10000 100000 1000000] [--runs 40]

Each library: one root, folders "<year>/Event <n>", 3 tags per photo from a 300-word
vocabulary ("dog" on about 5% of photos), dates 2005-2024, one random 512-d unit vector
per photo. Libraries are built once into /tmp/photoorg-bench/ and reused (the 1M one
takes minutes on 2 cores). Prints p50/p95 per query kind and memory. Text encoding is
excluded from the free-text rows and timed on its own with a randomly initialised
open_clip ViT-B-32 (same architecture and cost as the real one).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from photoorg.db import Store
from photoorg.search import search
from photoorg.vectors import VectorIndex

CACHE = Path("/tmp/photoorg-bench")
DIM = 512
MODEL = "bench-clip"
VOCAB = ["dog", "cat", "beach", "snow", "mountain", "car", "sunset", "tree", "city", "food"] + [
    f"thing{i:03}" for i in range(290)
]


class RandomText:
    """Stands in for the text tower: a fixed random unit vector per text."""

    model_id = MODEL

    def __init__(self):
        self.cache = {}  # so the timings exclude "encoding"

    def embed_texts(self, texts):
        for t in texts:
            if t not in self.cache:
                v = np.random.default_rng(abs(hash(t)) % 2**32).normal(size=DIM).astype(np.float32)
                self.cache[t] = v / np.linalg.norm(v)
        return np.stack([self.cache[t] for t in texts])


def build(n: int) -> Path:
    path = CACHE / f"lib-{n}.db"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    store = Store(tmp)
    conn, rng = store.db.conn, np.random.default_rng(n)
    started = time.perf_counter()
    # Bench fixture only: bulk rows straight into the tables the app's Store writes.
    conn.execute("BEGIN")
    conn.execute("INSERT INTO roots (id, path, added_at) VALUES (1, '/photos', 0)")
    weights = np.array([8.0, 5, 4, 3, 3, 3, 3, 3, 3, 3] + [1.0] * 290)
    weights /= weights.sum()
    for start in range(0, n, 100_000):
        ids = np.arange(start + 1, min(n, start + 100_000) + 1)
        days = rng.integers(0, 20 * 365, len(ids))
        photos, fts, tags, vecs = [], [], [], []
        vectors = rng.standard_normal((len(ids), DIM), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for k, pid in enumerate(ids.tolist()):
            year = 2005 + int(days[k]) // 365
            doy = int(days[k]) % 365
            taken = f"{year}-{doy // 31 % 12 + 1:02}-{doy % 28 + 1:02}T12:00:00"
            event = pid % 997
            rel = f"{year}/Event {event}/IMG_{pid}.jpg"
            words = set(rng.choice(300, 3, replace=False, p=weights).tolist())
            photos.append((pid, rel, taken))
            tag_words = [VOCAB[w] for w in words]
            tags += [(pid, t, float(0.3 + 0.7 * rng.random())) for t in tag_words]
            fts.append((pid, f"photos {year} Event {event} IMG {pid}", " ".join(tag_words)))
            vecs.append((pid, vectors[k].tobytes()))
        conn.executemany(
            "INSERT INTO photos (id, root_id, rel_path, size, mtime_ns, taken_at, state, added_at) "
            "VALUES (?, 1, ?, 1000, 0, ?, 'indexed', 0)",
            photos,
        )
        conn.executemany(
            "INSERT INTO tags (photo_id, tag, score, source, model) VALUES (?, ?, ?, 'auto', 'b')", tags
        )
        conn.executemany("INSERT INTO photos_fts (rowid, path, tags, names) VALUES (?, ?, ?, '')", fts)
        conn.executemany("INSERT INTO embeddings (photo_id, model, vector) VALUES (?, 'bench-clip', ?)", vecs)
        print(f"  built {ids[-1]:,} photos, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    store.close()
    os.replace(tmp, path)
    print(f"  library of {n:,} built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


_FRESH = """
import sys, time
from photoorg.db import Store
from photoorg.vectors import VectorIndex
store = Store(sys.argv[1])
t = time.perf_counter()
VectorIndex.open(store, sys.argv[2])
print((time.perf_counter() - t) * 1000)
"""


def fresh_open(path: Path) -> float:
    """ms to open the index in a new process (nothing of it in this one's memory)."""
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", _FRESH, str(path), MODEL], check=True, capture_output=True, text=True
    ).stdout
    return float(out.split()[-1])


def timed(fn, runs: int) -> tuple[float, float]:
    fn(0)  # warm caches once
    times = []
    for i in range(runs):
        t = time.perf_counter()
        fn(i + 1)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def bench(n: int, runs: int) -> list[tuple[str, float, float, int]]:
    path = build(n)
    store = Store(path)
    built = not (VectorIndex.folder_for(store, MODEL) / "meta.json").exists()
    t = time.perf_counter()
    index = VectorIndex.open(store, MODEL)  # the first open of a new library rebuilds
    opened = (time.perf_counter() - t) * 1000
    fresh = fresh_open(path)
    enc = RandomText()
    texts = [
        "kids playing in snow",
        "red car at night",
        "old harbour boats",
        "birthday party",
        "a quiet forest path",
        "grandma in the kitchen",
        "crowded market",
        "rainbow over hills",
    ]
    tags = VOCAB[:10]
    photo_paths = [p.path for p in store.photos(range(1, n + 1, max(1, n // 50)))]
    rows = []

    def run(name, fn):
        counts = []
        p50, p95 = timed(lambda i: counts.append(len(fn(i))), runs)
        rows.append((name, p50, p95, int(np.median(counts))))

    run("tag word (dog)", lambda i: search(store, tags[i % 10], vectors=index, text_encoder=enc))
    run(
        "two tag words (dog beach)",
        lambda i: search(store, f"{tags[i % 10]} {tags[(i + 3) % 10]}", vectors=index, text_encoder=enc),
    )
    run("tag:dog filter", lambda i: search(store, f"tag:{tags[i % 10]}", vectors=index))
    run("free text", lambda i: search(store, texts[i % 8], vectors=index, text_encoder=enc))
    run(
        "free text + after: + in:",
        lambda i: search(
            store, f'{texts[i % 8]} after:2012 in:"Event {i * 37 % 997}"', vectors=index, text_encoder=enc
        ),
    )
    run(
        "free text + after:2010",
        lambda i: search(store, f"{texts[i % 8]} after:2010", vectors=index, text_encoder=enc),
    )
    run("similar:", lambda i: search(store, f'similar:"{photo_paths[i % len(photo_paths)]}"', vectors=index))
    run("empty (most recent)", lambda i: search(store, "", vectors=index))
    rng = np.random.default_rng(1)
    with store.transaction():
        for pid in rng.choice(n, 1000, replace=False).tolist():
            v = rng.normal(size=DIM).astype(np.float32)
            store.replace_embeddings(pid + 1, MODEL, [(None, v / np.linalg.norm(v))])
    t = time.perf_counter()
    changed = index.sync(store)
    synced = (time.perf_counter() - t) * 1000
    store.close()
    rows.append((f"(index {'build, first open' if built else 'open'}, ms)", opened, opened, len(index)))
    rows.append(("(index open, fresh process)", fresh, fresh, len(index)))
    rows.append(("(sync 1,000 changed, ms)", synced, synced, changed))
    return rows


def encode_time(runs: int) -> tuple[float, float] | None:
    try:
        import open_clip
        import torch

        model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
        tokenizer = open_clip.get_tokenizer("ViT-B-32")
    except Exception as e:  # noqa: BLE001 - the bench reports what it could not time
        print(f"text encoding not timed: {e}", file=sys.stderr)
        return None
    with torch.no_grad():
        return timed(lambda i: model.encode_text(tokenizer([f"kids playing in snow {i}"])), runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    print(f"{'photos':>10}  {'query':<28} {'p50 ms':>8} {'p95 ms':>8} {'hits':>6}")
    for n in args.sizes:
        for name, p50, p95, hits in bench(n, args.runs):
            print(f"{n:>10,}  {name:<28} {p50:8.1f} {p95:8.1f} {hits:>6}", flush=True)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        files = sum(f.stat().st_size for f in CACHE.glob(f"lib-{n}.db.vectors/*/*"))
        print(
            f"{n:>10,}  peak RSS so far {rss:.0f} MB; index files {files / 2**20:.0f} MB; "
            f"db {(CACHE / f'lib-{n}.db').stat().st_size / 2**20:.0f} MB",
            flush=True,
        )
    enc = encode_time(min(args.runs, 20))
    if enc:
        print(f"text encoding (ViT-B-32, random init, CPU): p50 {enc[0]:.1f} ms, p95 {enc[1]:.1f} ms")


if __name__ == "__main__":
    main()
