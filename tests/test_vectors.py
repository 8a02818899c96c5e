"""The vector index: quantised scores, incremental sync from the change log, files
reopened, compaction and rebuild, on real temp libraries."""

import numpy as np
import pytest

from photoorg.db import Store
from photoorg.vectors import VectorIndex, quantize

DIM = 16
MODEL = "m"


def unit(rng, n=1):
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "lib.db")
    s.add_root(str(tmp_path / "p"))
    yield s
    s.close()


def add(store, rel, vector, regions=()):
    root = store.roots()[0]
    pid = store.add_photo(root.id, rel, 1, 1, rel)
    store.replace_embeddings(pid, MODEL, [(None, vector), *regions])
    return pid


def scores_by_photo(index, q, regions=False):
    keys, scores, _ = index.search(q, regions)
    return {int(k[0]): float(s) for k, s in zip(keys, scores) if k[0] >= 0}


def test_quantised_scores_match_float_cosine():
    rng = np.random.default_rng(0)
    m, q = unit(rng, 2000), unit(rng)[0]
    codes, scales = quantize(m)
    from photoorg.vectors import _int8_scores

    err = np.abs(_int8_scores(codes, scales, q) - m @ q).max()
    assert err < 0.01


def test_sync_follows_adds_changes_and_deletes(store, tmp_path):
    rng = np.random.default_rng(1)
    vecs = unit(rng, 4)
    a, b = add(store, "a.jpg", vecs[0]), add(store, "b.jpg", vecs[1])
    index = VectorIndex.open(store, MODEL)
    assert len(index) == 2
    assert scores_by_photo(index, vecs[0])[a] == pytest.approx(1.0, abs=0.01)
    c = add(store, "c.jpg", vecs[2])
    assert index.sync(store) == 1 and len(index) == 3
    store.replace_embeddings(a, MODEL, [(None, vecs[3])])
    index.sync(store)
    assert scores_by_photo(index, vecs[3])[a] == pytest.approx(1.0, abs=0.01)
    assert set(scores_by_photo(index, vecs[0])) == {a, b, c}  # no stale row for a
    store.db.execute("DELETE FROM photos WHERE id = ?", [b])  # cascades to embeddings
    index.sync(store)
    assert set(scores_by_photo(index, vecs[0])) == {a, c}
    assert index.sync(store) == 0
    # Reopened from its files (no rebuild): the same state.
    again = VectorIndex.open(store, MODEL)
    assert again.seq == index.seq and set(scores_by_photo(again, vecs[0])) == {a, c}


def test_regions_are_kept_apart(store):
    rng = np.random.default_rng(2)
    v = unit(rng, 2)
    pid = add(store, "a.jpg", v[0])
    det = store.replace_detections(
        pid, "d", [type("D", (), {"label": "dog", "score": 1.0, "box": (0, 0, 1, 1)})()]
    )[0]
    store.replace_embeddings(pid, MODEL, [(None, v[0]), (det, v[1])])
    index = VectorIndex.open(store, MODEL)
    keys, scores, _ = index.search(v[1], regions=True)
    assert keys.tolist() == [[pid, det]] and scores[0] == pytest.approx(1.0, abs=0.01)
    assert len(index) == 1


def test_two_handles_see_each_others_syncs(store):
    rng = np.random.default_rng(3)
    add(store, "a.jpg", unit(rng)[0])
    first, second = VectorIndex.open(store, MODEL), VectorIndex.open(store, MODEL)
    b = add(store, "b.jpg", unit(rng)[0])
    first.sync(store)
    second.sync(store)  # reloads the files first wrote instead of appending again
    assert second.photos.count == first.photos.count == 2
    assert b in scores_by_photo(second, unit(rng)[0])


def test_compaction_and_direct_updates(store, tmp_path):
    rng = np.random.default_rng(4)
    index = VectorIndex(tmp_path / "idx", MODEL, DIM)
    vecs = unit(rng, 3000)
    index.replace([], [(i + 1, -1, vecs[i].tobytes()) for i in range(3000)])
    index.remove(list(range(1, 2001)))
    assert len(index) == 1000 and index.photos.count == 1000  # tombstones compacted away
    index.add(2500, [(None, vecs[0])])
    assert scores_by_photo(index, vecs[0])[2500] == pytest.approx(1.0, abs=0.01)
    assert len(index) == 1000


def test_broken_files_are_rebuilt(store):
    rng = np.random.default_rng(5)
    a = add(store, "a.jpg", unit(rng)[0])
    index = VectorIndex.open(store, MODEL)
    index.photos.paths["codes"].write_bytes(b"")
    again = VectorIndex.open(store, MODEL)
    assert set(scores_by_photo(again, unit(rng)[0])) == {a}


def test_index_created_before_any_embedding(store):
    index = VectorIndex.open(store, MODEL)
    assert len(index) == 0
    a = add(store, "a.jpg", unit(np.random.default_rng(6))[0])
    index.sync(store)
    assert len(index) == 1 and index.dim == DIM and a in scores_by_photo(index, np.ones(DIM))


def test_vectors_written_before_the_change_log_existed_are_found(store):
    # A library migrated to 0003 has embeddings but an empty log: the first open
    # rebuilds from the embeddings table itself.
    a = add(store, "a.jpg", unit(np.random.default_rng(7))[0])
    store.db.execute("DELETE FROM embedding_changes")
    index = VectorIndex.open(store, MODEL)
    assert len(index) == 1 and a in scores_by_photo(index, np.ones(DIM))


def test_reopening_reads_the_files_instead_of_rebuilding(store, monkeypatch):
    add(store, "a.jpg", unit(np.random.default_rng(8))[0])  # no regions: those files never exist
    VectorIndex.open(store, MODEL)
    monkeypatch.setattr(VectorIndex, "_rebuild", lambda self, store: pytest.fail("rebuilt"))
    assert len(VectorIndex.open(store, MODEL)) == 1


def test_a_library_database_started_over_is_not_searched_with_old_vectors(store, tmp_path):
    # library.db deleted (or an older backup restored) while its .vectors folder stays:
    # the old photos' vectors must not answer for the new photos that reuse their ids.
    rng = np.random.default_rng(7)
    old = unit(rng, 3)
    for i, v in enumerate(old):
        add(store, f"old{i}.jpg", v)
    assert len(VectorIndex.open(store, MODEL)) == 3
    store.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"lib.db{suffix}").unlink(missing_ok=True)
    fresh = Store(tmp_path / "lib.db")
    fresh.add_root(str(tmp_path / "p"))
    new = unit(rng)[0]
    pid = add(fresh, "new.jpg", new)
    try:
        index = VectorIndex.open(fresh, MODEL)
        assert len(index) == 1
        assert scores_by_photo(index, old[0]) == pytest.approx({pid: float(new @ old[0])}, abs=0.02)
    finally:
        fresh.close()


def test_a_library_started_over_with_more_changes_than_before_is_rebuilt(store, tmp_path):
    rng = np.random.default_rng(8)
    old = unit(rng, 2)
    for i, v in enumerate(old):
        add(store, f"old{i}.jpg", v)
    VectorIndex.open(store, MODEL)
    store.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"lib.db{suffix}").unlink(missing_ok=True)
    fresh = Store(tmp_path / "lib.db")
    fresh.add_root(str(tmp_path / "p"))
    new = unit(rng, 5)  # more changes than the old log had: its seq alone cannot tell
    ids = [add(fresh, f"new{i}.jpg", v) for i, v in enumerate(new)]
    try:
        index = VectorIndex.open(fresh, MODEL)
        got = scores_by_photo(index, old[0])
        assert got == pytest.approx({i: float(v @ old[0]) for i, v in zip(ids, new)}, abs=0.02)
    finally:
        fresh.close()


def test_files_rewritten_under_the_same_size_are_caught_by_their_tail(store, monkeypatch):
    rng = np.random.default_rng(11)
    ids = [add(store, f"{i}.jpg", unit(rng)[0]) for i in range(100)]
    VectorIndex.open(store, MODEL)
    rebuilt = []
    original = VectorIndex._rebuild
    monkeypatch.setattr(
        VectorIndex, "_rebuild", lambda self, store: rebuilt.append(1) or original(self, store)
    )
    reopened = VectorIndex.open(store, MODEL)  # appended rows keep the tail digest in step
    assert rebuilt == [] and len(reopened) == 100
    keys = reopened.photos.paths["keys"]
    raw = bytearray(keys.read_bytes())
    raw[-16:] = np.array([[ids[0], -1]], np.int64).tobytes()  # last row now claims photo 1
    keys.write_bytes(bytes(raw))
    again = VectorIndex.open(store, MODEL)
    assert rebuilt == [1]
    q = unit(np.random.default_rng(12))[0]
    assert sorted(scores_by_photo(again, q)) == ids
