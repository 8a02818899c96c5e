"""The vector index: exhaustive similarity search over every stored CLIP embedding.

Layout: per model, three raw files next to the library database
(`<library.db>.vectors/<model>/`): an int8 matrix (one row per vector, L2-normalised
then scaled so its largest component is 127), the float32 scale of each row, and the
(photo_id, detection_id or -1) key of each row. The matrix is memory-mapped, so the OS
keeps it in the page cache and several processes share it. Whole-photo and region (box)
vectors live in two such segments.

Why int8 rows scanned by torch, measured on this 2-core EPYC (AVX-512 VNNI/BF16) with
1,000,000 x 512 unit vectors (min / median of 7 scans):
    numpy float32 matrix-vector        96 / 140 ms, 2.0 GB resident
    torch float16 mv                   88 / 97 ms,  1.0 GB
    numpy float16 -> float32 in chunks  3.9 s (numpy has no fast f16 conversion)
    numpy int8 -> float32 in chunks     1.1 s
    torch int8 weight-only matmul      38 / 48 ms,  0.5 GB  <- chosen
                                       (aten._weight_int8pack_mm, bfloat16 query)
One torch thread is used: the scan is memory-bound, and under load (other processes on
the 2 cores) two threads took 105 ms against 56 ms for one. The files cost 532 bytes
per vector (512 MB at 1M); the scores themselves 4 MB.

Opening maps the files and checks only their sizes and a hash of their last rows
(recorded in meta.json at every save): nothing is read in proportion to the library.
Measured with bench/search.py (machine shared, load 5-10): open in a fresh process
10 ms at 100k, 6-22 ms at 1M; the first open of a library with no index files rebuilds
them from the embeddings table (26 s at 1M, 50 s under load 9; only for a new index
or broken files); sync after 1,000 photos changed 53 ms.

The int8 scan is exhaustive (every row is scored: no graph or cluster can miss a photo,
unlike HNSW/IVF); quantisation moves a cosine by at most 0.002 (measured), far below
the gap between related (~0.3) and unrelated (~0.15-0.2) CLIP text-photo pairs and below
the cut-off's spread. sqlite-vec would keep the vectors in the database but scans
float32 (2 GB at 1M) in one thread; faiss/usearch would be a new native dependency for
the same exhaustive scan. Where torch lacks the int8 kernel, numpy scores the same
int8 rows (correct, about 1 s per million); so does a process that has not loaded torch
(a `photoorg search`) for a matrix under 300,000 rows, rather than import it (2-3 s).

Keeping in step: migration 0003 logs each photo whose embeddings are inserted, updated
or deleted (including by cascade when a photo row goes) in `embedding_changes` with a
rising seq. sync() replays the log after the seq it last applied: rows of changed
photos are tombstoned (key -1) and their current vectors appended; when tombstones
exceed a quarter of the rows the files are rewritten compactly. The applied seq and
row count are written to meta.json last, so a crash mid-sync only makes the next
sync redo the same photos.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from filelock import FileLock

from .db import Store
from .db import search as sql
from .fileio import atomic_write_text

FORMAT = 1
_SAMPLE = 20_000  # rows used to estimate a query's null distribution
_TAIL = 64  # last rows hashed into meta.json, checked on every open
_TORCH_ROWS = 300_000  # from here the int8 scan imports torch for its int8 kernel


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-normalise rows, then int8 codes and per-row float32 scales."""
    v = np.asarray(vectors, np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    scale = np.maximum(np.abs(v).max(axis=1), 1e-12) / 127.0
    codes = np.clip(np.rint(v / scale[:, None]), -127, 127).astype(np.int8)
    return codes, scale.astype(np.float32)


_ONES: dict[int, object] = {}


def _int8_scores(codes: np.ndarray, scales: np.ndarray, query: np.ndarray) -> np.ndarray:
    # torch where it is loaded already (the indexer, the GUI after indexing) or the
    # matrix is large: below _TORCH_ROWS a search process would pay 2-3 s importing it
    # for a scan numpy does in ~0.1 s per 100k rows; above, numpy's ~1 s per million
    # rows on every query costs more than the import.
    torch = sys.modules.get("torch")
    if torch is None and len(codes) >= _TORCH_ROWS:
        try:
            import torch
        except ImportError:
            torch = None
    kernel = getattr(getattr(torch, "ops", None), "aten", None)
    kernel = getattr(kernel, "_weight_int8pack_mm", None) if kernel is not None else None
    if kernel is not None and len(codes):
        w = torch.from_numpy(np.ascontiguousarray(codes))
        x = torch.from_numpy(np.asarray(query, np.float32)[None]).to(torch.bfloat16)
        # Unit scales in the kernel, the real ones applied afterwards in float32
        # (bfloat16 scales would cost precision); cached, as allocating them per query
        # costs as much as a 100k-row scan on a busy 2-core machine.
        ones = _ONES.get(len(codes))
        if ones is None:
            _ONES.clear()
            ones = _ONES[len(codes)] = torch.ones(len(codes), dtype=torch.bfloat16)
        # One thread: the scan is memory-bound, and on a busy 2-core machine a second
        # thread only makes the call wait for the slower one (1M rows, load 13:
        # 56 ms with one thread, 105 ms with two).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            raw = kernel(x, w, ones)[0].view(torch.int16).numpy()
        finally:
            torch.set_num_threads(threads)
        # bfloat16 -> float32 is a 16-bit shift, done in numpy without torch's thread pool.
        return (raw.astype(np.int32) << 16).view(np.float32) * scales
    out = np.empty(len(codes), np.float32)
    for start in range(0, len(codes), 32768):
        out[start : start + 32768] = codes[start : start + 32768].astype(np.float32) @ query
    return out * scales


class _Segment:
    """One int8 matrix with scales and keys as raw files, appended in place."""

    def __init__(self, folder: Path, name: str, dim: int):
        self.paths = {k: folder / f"{name}.{k}" for k in ("codes", "scales", "keys")}
        self.dim, self.count = dim, 0
        self._map()

    def _map(self) -> None:
        shapes = {"codes": (self.dim, np.int8), "scales": (None, np.float32), "keys": (2, np.int64)}
        for name, (width, dtype) in shapes.items():
            shape = (self.count,) if width is None else (self.count, width)
            if self.count:
                arr = np.memmap(self.paths[name], dtype, "r+", shape=shape)
            else:
                arr = np.empty(shape, dtype)
            setattr(self, name, arr)
        self._live = None  # caches derived from keys
        self._sample = None

    def load(self, count: int, tail: str | None = None) -> bool:
        """Map the files' first `count` rows; False when they cannot be those rows.

        Only sizes and the last rows are checked (tail_digest, recorded at every save),
        so opening costs the same at 1M rows as at 1k, and a file cut short, replaced
        or rewritten by another library is still caught."""
        sizes = {"codes": self.dim, "scales": 4, "keys": 16}
        if count and any(
            not p.exists() or p.stat().st_size < count * sizes[k] for k, p in self.paths.items()
        ):
            return False
        self.count = count
        self._map()
        return tail is None or tail == self.tail_digest()

    def tail_digest(self) -> str:
        """A hash of the last rows' keys, scales and codes: changes with any append,
        compaction or foreign rewrite that the row count alone would miss."""
        tail = slice(max(0, self.count - _TAIL), self.count)
        digest = hashlib.sha1(str(self.count).encode())
        for arr in (self.keys, self.scales, self.codes):
            digest.update(np.ascontiguousarray(arr[tail]).tobytes())
        return digest.hexdigest()[:16]

    def append(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        if not len(keys):
            return
        codes, scales = quantize(vectors)
        arrays = {"codes": codes, "scales": scales, "keys": np.asarray(keys, np.int64)}
        for name, arr in arrays.items():
            path = self.paths[name]
            with open(path, "r+b" if path.exists() else "wb") as f:
                f.seek(self.count * arr[0].nbytes if arr.ndim > 1 else self.count * arr.itemsize)
                f.write(np.ascontiguousarray(arr).tobytes())
                f.truncate()
        self._flush()
        self.count += len(keys)
        self._map()

    def _flush(self) -> None:
        for name in ("codes", "scales", "keys"):
            arr = getattr(self, name)
            if isinstance(arr, np.memmap):
                arr.flush()

    def remove(self, photo_ids: Iterable[int]) -> int:
        ids = np.fromiter(photo_ids, np.int64)
        rows = np.flatnonzero(np.isin(self.keys[:, 0], ids)) if len(ids) and self.count else []
        if len(rows):
            self.keys[rows, 0] = -1
            self.keys.flush()
            self._live = self._sample = None
        return len(rows)

    @property
    def live(self) -> np.ndarray:
        if self._live is None:
            self._live = self.keys[:, 0] >= 0
        return self._live

    @property
    def dead(self) -> int:
        return int(self.count - self.live.sum())

    def compact(self) -> None:
        keep = np.flatnonzero(self.live)
        arrays = {
            "codes": np.asarray(self.codes[keep]),
            "scales": np.asarray(self.scales[keep]),
            "keys": np.asarray(self.keys[keep]),
        }
        for name, arr in arrays.items():
            tmp = self.paths[name].with_suffix(".tmp")
            arr.tofile(tmp)
            os.replace(tmp, self.paths[name])
        self.count = len(keep)
        self._map()

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine of every row with `query` (tombstones -inf)."""
        s = _int8_scores(self.codes, self.scales, query)
        s[~self.live] = -np.inf
        return s

    def sample_rows(self) -> np.ndarray:
        """Evenly spaced live rows, at most _SAMPLE, for the null distribution."""
        if self._sample is None:
            live = np.flatnonzero(self.live)
            step = max(1, len(live) // _SAMPLE)
            self._sample = live[::step][:_SAMPLE]
        return self._sample


class VectorIndex:
    """Whole-photo and region vectors of one embedding model, searchable together."""

    def __init__(self, folder: Path, model: str, dim: int):
        self.folder, self.model, self.dim = Path(folder), model, dim
        self.folder.mkdir(parents=True, exist_ok=True)
        self.photos = _Segment(self.folder, "photos", dim)
        self.regions = _Segment(self.folder, "regions", dim)
        self.seq = 0
        self.born: float | None = None  # library_born of the database these files follow

    @staticmethod
    def folder_for(store: Store, model: str) -> Path:
        slug = re.sub(r"[^A-Za-z0-9]+", "_", model).strip("_")[:48]
        digest = hashlib.sha1(model.encode()).hexdigest()[:8]
        return store.path.with_name(store.path.name + ".vectors") / f"{slug}-{digest}"

    @classmethod
    def open(cls, store: Store, model: str, folder: Path | None = None) -> VectorIndex:
        """The index of `model` for this library: loaded from its files when they are
        intact, else rebuilt from the embeddings table; then synced."""
        folder = Path(folder or cls.folder_for(store, model))
        meta = _read_meta(folder)
        born = sql.library_born(store)
        if (
            meta
            and meta.get("format") == FORMAT
            and meta.get("model") == model
            and meta.get("born") in (None, born)
        ):  # files of an earlier library.db: rebuilt
            index = cls(folder, model, meta["dim"])
            index.born = born
            if index._load(meta):
                index.sync(store)
                return index
        index = cls(folder, model, _dim_of(store, model))
        index.rebuild(store)
        return index

    def _load(self, meta: dict) -> bool:
        self.seq = meta["seq"]
        return self.photos.load(meta["photos"], meta.get("photos_tail")) and self.regions.load(
            meta["regions"], meta.get("regions_tail")
        )

    def __len__(self) -> int:
        return int(self.photos.live.sum())

    # -- keeping in step -------------------------------------------------------

    def rebuild(self, store: Store) -> None:
        """Rewrite the files from the embeddings table."""
        with _locked(self.folder):
            self._rebuild(store)

    def _rebuild(self, store: Store) -> None:
        for seg in (self.photos, self.regions):
            for p in seg.paths.values():
                p.unlink(missing_ok=True)
            seg.count = 0
            seg._map()
        self.seq = sql.latest_change(store)  # changes after this are replayed by sync
        self.born = sql.library_born(store)
        for rows in sql.all_vectors(store, self.model):
            self._append(rows)
        self._save()

    def sync(self, store: Store) -> int:
        """Apply the embedding changes logged since the last sync; returns how many
        photos changed."""
        latest = sql.latest_change(store)
        if latest == self.seq and _read_meta(self.folder).get("seq") == self.seq:
            return 0
        if latest < self.seq:  # files newer than the log: library.db started over or restored
            self.rebuild(store)
            return len(self)
        with _locked(self.folder):
            meta = _read_meta(self.folder)
            if meta.get("seq", self.seq) != self.seq:  # another process synced the files
                if not self._load(meta):
                    self._rebuild(store)
                    return len(self)
            seq, changed = sql.changed_since(store, self.seq)
            if changed:
                self.replace(changed, sql.vectors_of(store, self.model, changed))
            self.seq = seq
            self._save()
        return len(changed)

    def replace(self, photo_ids: list[int], rows: list[tuple[int, int, bytes]]) -> None:
        """Drop every vector of `photo_ids`, then add `rows` ((photo_id, detection_id
        or -1, float32 blob)); removing a photo is replacing it with no rows."""
        for seg in (self.photos, self.regions):
            seg.remove(photo_ids)
        self._append(rows)
        for seg in (self.photos, self.regions):
            if seg.dead > max(1000, seg.count // 4):
                seg.compact()

    def add(self, photo_id: int, vectors: list[tuple[int | None, np.ndarray]]) -> None:
        """Set one photo's vectors ((detection_id or None, vector) pairs) directly."""
        rows = [(photo_id, -1 if d is None else d, np.asarray(v, np.float32).tobytes()) for d, v in vectors]
        self.replace([photo_id], rows)

    def remove(self, photo_ids: list[int]) -> None:
        self.replace(photo_ids, [])

    def _append(self, rows: list[tuple[int, int, bytes]]) -> None:
        if self.dim == 0 and rows:  # built before the first embedding of this model
            self.dim = len(rows[0][2]) // 4
            self.photos = _Segment(self.folder, "photos", self.dim)
            self.regions = _Segment(self.folder, "regions", self.dim)
        rows = [r for r in rows if len(r[2]) == self.dim * 4]
        for seg, pick in ((self.photos, lambda d: d < 0), (self.regions, lambda d: d >= 0)):
            part = [r for r in rows if pick(r[1])]
            if part:
                keys = np.array([(r[0], r[1]) for r in part], np.int64)
                matrix = np.frombuffer(b"".join(r[2] for r in part), np.float32).reshape(-1, self.dim)
                seg.append(keys, matrix)

    def _save(self) -> None:
        meta = {
            "format": FORMAT,
            "model": self.model,
            "dim": self.dim,
            "seq": self.seq,
            "born": self.born,
            "photos": self.photos.count,
            "regions": self.regions.count,
            "photos_tail": self.photos.tail_digest(),
            "regions_tail": self.regions.tail_digest(),
        }
        atomic_write_text(self.folder / "meta.json", json.dumps(meta))

    # -- searching -------------------------------------------------------------

    def search(self, query: np.ndarray, regions: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys (n, 2), cosine scores (n,), null sample scores) over one segment."""
        seg = self.regions if regions else self.photos
        q = np.asarray(query, np.float32)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        if seg.count == 0:
            return np.empty((0, 2), np.int64), np.empty(0, np.float32), np.empty(0, np.float32)
        scores = seg.scores(q)
        return seg.keys, scores, scores[seg.sample_rows()]


def _read_meta(folder: Path) -> dict:
    try:
        return json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return {}


def _dim_of(store: Store, model: str) -> int:
    for rows in sql.all_vectors(store, model, batch=1):
        return len(rows[0][2]) // 4
    return 0


@contextmanager
def _locked(folder: Path):
    """One writer at a time across processes (the CLI and the GUI may share a library);
    filelock, because flock does nothing on Windows."""
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / "lock"):
        yield
