"""Duplicates, near-duplicates and bursts, in explained tiers.

The complaint users make most about duplicate finders is similar shots called
duplicates (Immich #31487: thousands of false groups; dupeGuru #387: burst frames at
100%). So every group says why it is a group, and a burst is never a duplicate:

1. identical bytes: the same full-file hash (the scan's hash reads only head and
   tail, so candidates sharing it are hashed whole);
2. same pixels, other metadata: decoded pixels hash the same (checked only for
   same-size photos whose perceptual hashes are equal);
3. re-encoded, resized or cropped: perceptual hashes (imagehash pHash and dHash,
   64 bits each) within a few bits; or, when CLIP embeddings exist, a close
   embedding with a moderately close pHash (larger crops);
4. burst or similar shot: taken by one camera within BURST_GAP of the previous shot,
   or another shot (a different EXIF time) that looks alike. Listed, never trashed
   by `--trash`.

RAW+JPEG and Live Photo pairs (one name, two extensions, one folder) are stacks,
not duplicates. Apple's BurstUUID lives in maker notes Pillow cannot read, so bursts
are found by time (SubSecDateTimeOriginal where the camera wrote it).

Pairs are found without comparing all pairs: photos sharing any 16-bit band of
either hash (a pair within 3 bits always shares one; the bands overlap, starting
every 8 bits, for crops whose changed bits scatter), plus
neighbours in shot time. On 294 COCO photos and 10 copies of them (resized,
re-encoded at quality 50, cropped 5%), all 10 copies are grouped and no unrelated pair.
Measured (bench/dupes.py, synthetic hashes and 512-d vectors, 2 cores shared at
load 10): grouping 100,000 photos costs 5.8 s of CPU (19 s wall on the busy
machine), 10,000 cost 0.15 s.

The suggested keeper follows KEEPER_RULE; trashing the others goes through
send2trash (the system trash), is journaled, and carries the user's tags and names
over to the keeper first.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from .db import Store
from .db.organize import Candidate, Features, OrganizeStore
from .errors import UserError
from .imaging import DecodeError, load_image
from .progress import Progress, Work

FEATURES_MODEL = "imagehash-phash8+dhash8"
IDENTICAL, SAME_PIXELS, NEAR, SIMILAR = 1, 2, 3, 4
TIER_NAMES = {
    IDENTICAL: "identical bytes",
    SAME_PIXELS: "same pixels, other metadata",
    NEAR: "re-encoded, resized or cropped",
    SIMILAR: "burst or similar shot (not a duplicate)",
}
NEAR_BITS = 6  # pHash bits a re-encode or resize may change (measured: 0 for both)
# A 5% crop measured pHash 12-16 and dHash 3-10 bits (seeded scenes and COCO photos);
# of 43,071 pairs of unrelated COCO photos the closest had pHash 16 with dHash 24,
# and none had a dHash under 11. A crop must be close in both.
CROP_BITS, CROP_DHASH_BITS = 18, 10
CLIP_NEAR, CLIP_NEAR_BITS = 0.93, 24
CLIP_SIMILAR = 0.95
BURST_GAP = 0.5  # seconds, when the camera wrote sub-seconds; else 1 s (whole seconds)
# A band value shared by more photos (flat grey frames) is skipped.
BAND_BUCKET_MAX = 200
TIME_WINDOW = 8  # neighbours in shot time compared for bursts and similar shots
SIMILAR_SECONDS = 600  # similar shots (by CLIP) are looked for within ten minutes
FORMAT_RANK = {
    ".dng": 5,
    ".heic": 4,
    ".heif": 4,
    ".jpg": 3,
    ".jpeg": 3,
    ".jpe": 3,
    ".tif": 2,
    ".tiff": 2,
    ".png": 2,
}
KEEPER_RULE = (
    "keeper: the camera original (EXIF camera) first, then the most pixels, then "
    "the format (RAW+JPEG > HEIC > JPEG > TIFF/PNG > other), then for copies the "
    "largest file (the least compressed) and for bursts the sharpest, then the most "
    "of your tags and names"
)


class DupesError(UserError):
    """A duplicates request that cannot be carried out."""


@dataclass
class Item:
    """One photo as grouping sees it; arrays of these are all the bench needs."""

    id: int
    path: str
    full_hash: str | None = None
    pixel_hash: str | None = None
    phash: int | None = None
    dhash: int | None = None
    shot: float | None = None  # seconds, local
    subsec: bool = False
    camera: str | None = None
    size: tuple[int, int] | None = None
    bytes: int = 0
    sharpness: float = 0.0
    user_data: int = 0
    embedding: np.ndarray | None = None


@dataclass
class Member:
    id: int
    path: str
    relation: str  # to the keeper
    keep: bool


@dataclass
class Group:
    tier: int
    members: list[Member] = field(default_factory=list)

    @property
    def label(self) -> str:
        return TIER_NAMES[self.tier]

    @property
    def keeper(self) -> Member:
        return next(m for m in self.members if m.keep)

    @property
    def is_duplicate(self) -> bool:
        return self.tier < SIMILAR


# -- features -------------------------------------------------------------------------


def _exif_shot(path: str) -> tuple[str | None, str | None]:
    """(ISO local time with fraction, which EXIF tag): SubSecDateTimeOriginal, then
    DateTimeOriginal, then CreateDate."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            ifd = image.getexif().get_ifd(0x8769)
    except (OSError, ValueError, SyntaxError):
        return None, None
    for date_tag, subsec_tag, name in (
        (0x9003, 0x9291, "DateTimeOriginal"),
        (0x9004, 0x9292, "CreateDate"),
    ):
        raw = ifd.get(date_tag)
        if not raw:
            continue
        try:
            when = datetime.strptime(str(raw).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            continue
        subsec = str(ifd.get(subsec_tag) or "").strip("\x00 ")
        if subsec.isdigit():
            when = when.replace(microsecond=int(subsec[:6].ljust(6, "0")))
            name = "SubSec" + name if name == "DateTimeOriginal" else name
        return when.isoformat(), name
    return None, None


def _signed(bits: int) -> int:
    """SQLite integers are signed 64-bit."""
    return bits - (1 << 64) if bits >= 1 << 63 else bits


def _bits(h) -> int:
    return int(str(h), 16)


def sharpness(grey: np.ndarray) -> float:
    """Variance of the Laplacian, on a fixed-size grey image (higher is sharper)."""
    g = grey.astype(np.float32)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def photo_features(photo: Candidate, thumbs_dir) -> Features:
    """Perceptual hashes, sharpness and EXIF shot time of one photo. The cached
    thumbnail is used when there is one (no decode of the original)."""
    import imagehash
    from PIL import Image

    from .thumbs import thumbnail_path

    thumb = thumbnail_path(thumbs_dir, photo) if thumbs_dir else None
    if thumb is not None and thumb.exists():
        with Image.open(thumb) as t:
            image = t.convert("RGB")
    else:
        image = load_image(photo.path, max_side=512)
    grey = image.convert("L")
    grey.thumbnail((256, 256))
    shot_at, shot_from = _exif_shot(photo.path)
    return Features(
        photo.id,
        photo.hash or "",
        FEATURES_MODEL,
        _signed(_bits(imagehash.phash(image))),
        _signed(_bits(imagehash.dhash(image))),
        sharpness(np.asarray(grey)),
        None,
        None,
        shot_at,
        shot_from,
    )


def full_hash(path: str) -> str:
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pixel_hash(path: str) -> str:
    image = load_image(path)
    return hashlib.blake2b(image.tobytes() + repr(image.size).encode(), digest_size=20).hexdigest()


def update_features(store: Store, thumbs_dir, batch: int = 200) -> Work[int]:
    """Compute what is missing: features of photos that have none (or of older
    content), and the full-file hash of photos whose scan hash is shared."""
    org = OrganizeStore(store)
    known = org.features()
    photos = org.candidates()
    todo = [p for p in photos if p.id not in known and p.hash]
    progress = Progress("dupes", 0, len(todo), message="perceptual hashes")
    for start in range(0, len(todo), batch):
        rows = []
        for photo in todo[start : start + batch]:
            try:
                rows.append(photo_features(photo, thumbs_dir))
            except (DecodeError, OSError):
                continue  # the index run reports unreadable photos; nothing to group
        with store.transaction():
            org.save_features(rows)
        progress = replace(progress, done=min(start + batch, len(todo)))
        yield progress
    known = org.features()
    by_hash: dict[str, list[Candidate]] = {}
    for p in photos:
        if p.hash and p.id in known:
            by_hash.setdefault(p.hash, []).append(p)
    for group in (g for g in by_hash.values() if len(g) > 1):
        for p in group:
            if known[p.id].full_hash is None:
                try:
                    org.set_full_hash(p.id, full_hash(p.path))
                except OSError:
                    continue
    return len(todo)


def load_items(
    store: Store,
    ids: Iterable[int] | None = None,
    embeddings: dict[int, np.ndarray] | None = None,
) -> list[Item]:
    org = OrganizeStore(store)
    known = org.features()
    items = []
    for p in org.candidates(ids):
        f = known.get(p.id)
        if f is None:
            continue
        shot, subsec = None, False
        when = f.shot_at or p.taken_at
        if when:
            try:
                shot = datetime.fromisoformat(when).timestamp()
                subsec = f.shot_from == "SubSecDateTimeOriginal"
            except ValueError:
                pass
        items.append(
            Item(
                p.id,
                p.path,
                f.full_hash,
                f.pixel_hash,
                None if f.phash is None else f.phash & ((1 << 64) - 1),
                None if f.dhash is None else f.dhash & ((1 << 64) - 1),
                shot,
                subsec,
                p.camera,
                (p.width, p.height) if p.width else None,
                p.size,
                f.sharpness or 0.0,
                p.user_tags + p.names,
                (embeddings or {}).get(p.id),
            )
        )
    return items


def clip_embeddings(store: Store) -> dict[int, np.ndarray]:
    """Whole-photo CLIP vectors of the first model that has any (normalised)."""
    for model in store.embedding_models():
        ids, _, matrix = store.embeddings(model)
        if len(ids):
            matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)
            return dict(zip(ids.tolist(), matrix))
    return {}


# -- pairs --------------------------------------------------------------------------


def _equal_neighbours(
    keys: np.ndarray, order: np.ndarray, reach: int, same=None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of `order` positions up to `reach` apart whose keys are equal (or, with
    `same`, for which same(k) says so)."""
    firsts, seconds = [], []
    for k in range(1, min(reach, len(order) - 1) + 1):
        hit = keys[k:] == keys[:-k] if same is None else same(k)
        if not hit.any():
            break
        firsts.append(order[:-k][hit])
        seconds.append(order[k:][hit])
    if not firsts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(firsts), np.concatenate(seconds)


def _band_pairs(hashes: np.ndarray, valid: np.ndarray, step: int = 16):
    """Index pairs that share a 16-bit band of a 64-bit hash. With step 8 the bands
    overlap (wrapping round), so hashes a few scattered bits apart share one far more
    often than with four disjoint bands, for twice the pairs."""
    index = np.flatnonzero(valid)
    values = hashes[index]
    out = []
    for shift in range(0, 64, step):
        rotated = (values >> np.uint64(shift)) | (values << np.uint64((64 - shift) % 64))
        band = (rotated & np.uint64(0xFFFF)).astype(np.int64)
        order = np.argsort(band, kind="stable")
        out.append(_equal_neighbours(band[order], index[order], BAND_BUCKET_MAX))
    return out


def _time_pairs(shots: np.ndarray):
    """Each photo with its next TIME_WINDOW photos in shot time."""
    index = np.flatnonzero(~np.isnan(shots))
    order = index[np.argsort(shots[index], kind="stable")]
    return [_equal_neighbours(None, order, TIME_WINDOW, same=lambda k: np.ones(len(order) - k, bool))]


def _full_hash_pairs(items: list[Item]):
    by_full: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        if it.full_hash:
            by_full.setdefault(it.full_hash, []).append(i)
    pairs = [(a, b) for same in by_full.values() for k, a in enumerate(same) for b in same[k + 1 :]]
    array = np.array(pairs, np.int64).reshape(-1, 2)
    return [(array[:, 0], array[:, 1])]


def _stack_key(path: str) -> str:
    """RAW+JPEG, HEIC+JPEG, Live Photo: one shot, one name, two files in one folder."""
    return os.path.splitext(path)[0].lower()


def relation(
    a: Item,
    b: Item,
    phash_bits: int | None,
    dhash_bits: int | None,
    cosine: float | None = None,
) -> int | None:
    """The tier that links two photos (not one stack: find_pairs leaves those out), or None."""
    if a.full_hash is not None and a.full_hash == b.full_hash:
        return IDENTICAL
    if a.shot is not None and b.shot is not None and a.shot != b.shot:
        gap = BURST_GAP if a.subsec and b.subsec else 1.0
        same_camera = a.camera is not None and a.camera == b.camera
        if (
            (same_camera and abs(a.shot - b.shot) <= gap)
            or (cosine or 0) >= CLIP_SIMILAR
            or (phash_bits is not None and phash_bits <= NEAR_BITS)
        ):
            return SIMILAR  # another moment: never a duplicate
        return None
    if phash_bits is None:
        return None
    if phash_bits <= NEAR_BITS:
        if phash_bits > 0 and a.size == b.size and a.camera and a.camera == b.camera:
            return SIMILAR  # two frames of one second, same camera and size
        if a.pixel_hash is not None and a.pixel_hash == b.pixel_hash:
            return SAME_PIXELS
        return NEAR
    if phash_bits <= CROP_BITS and dhash_bits is not None and dhash_bits <= CROP_DHASH_BITS:
        return NEAR
    if cosine is not None and cosine >= CLIP_NEAR and phash_bits <= CLIP_NEAR_BITS:
        return NEAR
    return None


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy's hash-based unique was 8x slower on 3M pairs)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def _cosines(items: list[Item], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CLIP cosine per pair (NaN where either photo has no embedding). Only the
    photos these pairs name are gathered into a matrix."""
    out = np.full(len(a), np.nan, np.float32)
    needed = _sorted_unique(np.concatenate([a, b]))
    needed = needed[[items[i].embedding is not None for i in needed.tolist()]]
    if not len(needed):
        return out
    matrix = np.stack([items[i].embedding for i in needed.tolist()]).astype(np.float32)
    x, y = np.searchsorted(needed, a), np.searchsorted(needed, b)
    x, y = np.minimum(x, len(needed) - 1), np.minimum(y, len(needed) - 1)
    has = (needed[x] == a) & (needed[y] == b)
    for start in range(0, len(a), 50_000):
        part = slice(start, start + 50_000)
        dots = np.einsum("ij,ij->i", matrix[x[part]], matrix[y[part]])
        out[part] = np.where(has[part], dots, np.nan)
    return out


def _codes(values: list[str | None]) -> np.ndarray:
    """Equal strings -> equal integers; None -> a code shared with nothing."""
    table: dict[str, int] = {}
    return np.array(
        [table.setdefault(v, len(table)) if v else -1 - i for i, v in enumerate(values)],
        np.int64,
    )


def find_pairs(items: list[Item]) -> list[tuple[int, int, int]]:
    """(index a, index b, tier) for every linked pair. Candidates come from hash bands,
    shot-time neighbours and equal full hashes; numpy drops the pairs that cannot be
    linked (far in hash, time and meaning) before each remaining pair is judged."""
    if len(items) < 2:
        return []
    ph = np.array([it.phash or 0 for it in items], dtype=np.uint64)
    dh = np.array([it.dhash or 0 for it in items], dtype=np.uint64)
    has = np.array([it.phash is not None for it in items], dtype=bool)
    shots = np.array([np.nan if it.shot is None else it.shot for it in items], dtype=np.float64)
    parts = (
        _band_pairs(ph, has, step=8)
        + _band_pairs(dh, has, step=8)
        + _time_pairs(shots)
        + _full_hash_pairs(items)
    )
    a = np.concatenate([p[0] for p in parts]).astype(np.int64)
    b = np.concatenate([p[1] for p in parts]).astype(np.int64)
    keys = _sorted_unique(np.minimum(a, b) * len(items) + np.maximum(a, b))
    if not len(keys):
        return []
    a, b = keys // len(items), keys % len(items)
    stacks = _codes([_stack_key(it.path) for it in items])
    apart = stacks[a] != stacks[b]  # a stack is never a duplicate of itself
    a, b = a[apart], b[apart]
    pbits = np.bitwise_count(ph[a] ^ ph[b]).astype(np.int64)
    dbits = np.bitwise_count(dh[a] ^ dh[b]).astype(np.int64)
    both = has[a] & has[b]
    gap = np.abs(shots[a] - shots[b])
    full = _codes([it.full_hash for it in items])
    same_full = full[a] == full[b]
    close = both & (pbits <= max(CROP_BITS, CLIP_NEAR_BITS))
    # Similar shots are near in time: only those pairs are compared by meaning.
    cos = np.full(len(a), np.nan, np.float32)
    near_time = gap <= SIMILAR_SECONDS
    ask = close | near_time
    cos[ask] = _cosines(items, a[ask], b[ask])
    maybe = close | same_full | (gap <= 1.0) | (np.nan_to_num(cos, nan=0.0) >= CLIP_SIMILAR)
    found = []
    for i, j, p, d, ok, c in zip(
        a[maybe].tolist(),
        b[maybe].tolist(),
        pbits[maybe].tolist(),
        dbits[maybe].tolist(),
        both[maybe].tolist(),
        cos[maybe].tolist(),
    ):
        tier = relation(
            items[i],
            items[j],
            p if ok else None,
            d if ok else None,
            None if np.isnan(c) else c,
        )
        if tier is not None:
            found.append((i, j, tier))
    return found


# -- groups and keepers -----------------------------------------------------------------


def keeper_key(item: Item, tier: int) -> tuple:
    """KEEPER_RULE. Among copies of one shot, compression artefacts read as
    "sharp", so the least compressed (largest) file wins there; among the frames
    of a burst, the sharpest."""
    ext = os.path.splitext(item.path)[1].lower()
    pixels = item.size[0] * item.size[1] if item.size else 0
    quality = (item.sharpness, item.bytes) if tier == SIMILAR else (item.bytes, item.sharpness)
    return (
        item.camera is not None,
        pixels,
        FORMAT_RANK.get(ext, 0),
        *quality,
        item.user_data,
        -item.id,
    )


def group_items(items: list[Item]) -> list[Group]:
    """Union the linked pairs; a group's tier is its loosest link."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    tier_of: dict[int, int] = {}
    links = find_pairs(items)
    for a, b, tier in links:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
            tier_of[ra] = max(tier_of.get(ra, 0), tier_of.pop(rb, 0), tier)
        else:
            tier_of[ra] = max(tier_of.get(ra, 0), tier)
    direct = {(a, b): t for a, b, t in links}
    members: dict[int, list[int]] = {}
    for i in range(len(items)):
        if parent[i] != i or i in tier_of:
            members.setdefault(root(i), []).append(i)
    groups = []
    for r, idx in members.items():
        keep = max(idx, key=lambda i: keeper_key(items[i], tier_of[r]))
        group = Group(tier_of[root(r)])
        for i in sorted(idx, key=lambda i: (i != keep, items[i].path)):
            link = direct.get((min(i, keep), max(i, keep)))
            why = "suggested keeper" if i == keep else TIER_NAMES[link or group.tier]
            group.members.append(Member(items[i].id, items[i].path, why, i == keep))
        groups.append(group)
    groups.sort(key=lambda g: (g.tier, g.keeper.path))
    return groups


def find_groups(store: Store, thumbs_dir=None, use_clip: bool = True) -> Work[list[Group]]:
    """Compute missing features, then group every present photo."""
    yield from update_features(store, thumbs_dir)
    embeddings = clip_embeddings(store) if use_clip else {}
    items = load_items(store, embeddings=embeddings)
    _fill_pixel_hashes(store, items)
    return group_items(items)


def _fill_pixel_hashes(store: Store, items: list[Item]) -> None:
    """Decode in full only the photos that may be the same pixels: equal pHash, equal
    size, different bytes."""
    org = OrganizeStore(store)
    same: dict[tuple, list[Item]] = {}
    for it in items:
        if it.phash is not None and it.size:
            same.setdefault((it.phash, it.size), []).append(it)
    for bucket in same.values():
        if len(bucket) < 2 or len({it.full_hash or it.id for it in bucket}) < 2:
            continue
        for it in bucket:
            if it.pixel_hash is None:
                try:
                    it.pixel_hash = pixel_hash(it.path)
                except (DecodeError, OSError):
                    continue
                org.set_pixel_hash(it.id, it.pixel_hash)


# -- trashing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrashReport:
    trashed: list[str]
    kept: list[str]


def trash_others(
    store: Store,
    folder,
    groups: list[Group],
    keep: dict[int, int] | None = None,
    send: Callable[[str], None] | None = None,
) -> TrashReport:
    """For each duplicate group, send every photo but the keeper (or the id chosen
    in `keep[group index]`) to the system trash. The user's tags and names go to the
    keeper first; each file is journaled before it is touched. A burst is left whole
    unless `keep` picks a frame of it."""
    from .journal import Journal, library_lock

    if send is None:
        from send2trash import send2trash as send
    keep = keep or {}
    org = OrganizeStore(store)
    trashed, kept = [], []
    with library_lock(folder):
        journal = Journal(store, "trash", f"trash duplicates of {len(groups)} groups")
        for index, group in enumerate(groups):
            if not group.is_duplicate and index not in keep:
                continue
            keeper_id = keep.get(index, group.keeper.id)
            if keeper_id not in {m.id for m in group.members}:
                raise DupesError(f"Photo {keeper_id} is not in group {index + 1}; choose one of its photos.")
            keeper = next(m for m in group.members if m.id == keeper_id)
            kept.append(keeper.path)
            for m in group.members:
                if m.id == keeper_id:
                    continue
                with store.transaction():
                    org.carry_over(m.id, keeper_id, _same_framing(store, m.id, keeper_id))
                journal.trash(m.path, m.id, keeper_id, send)
                trashed.append(m.path)
        journal.finish()
    return TrashReport(trashed, kept)


def _same_framing(store: Store, a: int, b: int) -> bool:
    """Named boxes are normalised, so they fit a copy of the same aspect ratio."""
    pa, pb = store.photo(a), store.photo(b)
    if not (pa and pb and pa.width and pb.width and pa.height and pb.height):
        return False
    return abs(pa.width / pa.height - pb.width / pb.height) < 0.01
