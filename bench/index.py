"""Indexer throughput: per stage, end to end, and how well decoding hides behind inference.

    python bench/index.py [--photos DIR] [--synthetic N] [--limit N] [--batch-size 16]
                          [--clip NAME] [--device cpu] [--workdir DIR] [--process-only] [--regions]

For each photo set (default: ../shared/photos/coco-train-mini/images when present, and
N synthetic 12-megapixel JPEGs made once under --workdir) it prints:

- decode: photos/s of the pipeline's decode step alone (thread pool, JPEG draft to the
  models' size, thumbnail written), as the indexer runs it;
- model stages on already-decoded photos, timed by wrapping the model calls: CLIP on
  whole photos, the detector, CLIP on the person/pet boxes, the tagger;
- model-only photos/s: the indexer's own inference step (index.infer) over the
  pre-decoded batches, so exactly the model work an index run does, minus decoding
  and writing;
- end-to-end photos/s of `Library.index` on a fresh library (decode, inference,
  thumbnails and one transaction per batch), and the ratio end-to-end / model-only
  (goal >= 0.9: decoding and writing hide behind inference);
- peak resident memory during the end-to-end run;
- "searchable after": when pass 1 (embeddings, tags, boxes) ended and pass 2 (box
  embeddings) began, against the whole run; and the same end to end with CLIP only
  (no detector), so no boxes and no pass 2 work;
- a fresh `photoorg index` process per mode (CLIP only, full pipeline) on a library
  that has a fixed random CLIP *file* imported (loading weights from a file is part of
  what a user's process pays): wall seconds and peak RSS (ru_maxrss), goal <= 1.0 GB.
  The first such run with a new file embeds the vocabulary (its text cache is cold).

--regions prints only which boxes get a region embedding (the real detector on --photos,
no CLIP): boxes per photo, those worth a region, those CLIP would see as the whole photo.

The detector is the default, the real PP-PicoDet-S from ../shared/models, imported
into each bench library with `photoorg models import picodet-s FILE`. No CLIP weights exist here:
CLIP is the chosen architecture randomly initialised (PHOTOORG_RANDOM_WEIGHTS=1; the
output says so). Random weights cost what trained ones cost, so speeds hold; the
number of boxes per photo (and so of box embeddings) comes from the real detector.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the repository (a worktree one level deeper: ../../shared)
SHARED = next(
    (p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()), ROOT.parent / "shared"
)
COCO = SHARED / "photos" / "coco-train-mini" / "images"
DETECTOR = SHARED / "models" / "picodet_s_416_coco.onnx"


def make_synthetic(folder: Path, n: int) -> Path:
    """n 4000x3000 JPEGs with photo-like content (smooth shapes, some texture)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(12)
    for i in range(n):
        path = folder / f"synthetic_{i:03d}.jpg"
        if path.exists():
            continue
        base = rng.integers(0, 255, (30, 40, 3), np.uint8)
        image = Image.fromarray(base).resize((4000, 3000), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = rng.integers(0, 3600), rng.integers(0, 2600)
            draw.ellipse(
                (x, y, x + rng.integers(200, 900), y + rng.integers(200, 900)),
                fill=tuple(int(v) for v in rng.integers(0, 255, 3)),
            )
        grain = Image.effect_noise((4000, 3000), 12).convert("RGB")
        image = Image.blend(image, grain, 0.08).filter(ImageFilter.SMOOTH)
        image.save(path, quality=90)
    return folder


class PeakRSS:
    """Samples this process's resident memory in a thread (bytes)."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Timed:
    """Wraps a model method to add up the seconds spent in it."""

    def __init__(self, owner, name: str):
        self.owner, self.name = owner, name
        self.inner = getattr(owner, name)
        self.seconds, self.items = 0.0, 0

    def __call__(self, items):
        start = time.perf_counter()
        out = self.inner(items)
        self.seconds += time.perf_counter() - start
        self.items += len(items)
        return out

    def __enter__(self):
        setattr(self.owner, self.name, self)
        return self

    def __exit__(self, *exc) -> None:
        delattr(self.owner, self.name)  # the class's method shows through again


def new_library(workdir: Path, name: str, photos: list[Path]):
    """A fresh library over a folder of links to `photos`, with PicoDet imported."""
    from photoorg.cli import main
    from photoorg.library import Library
    from photoorg.models.usercache import CACHE_ENV
    from photoorg.progress import drive

    folder = workdir / f"{name}-photos"
    lib_dir = workdir / f"{name}-lib"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(lib_dir, ignore_errors=True)
    folder.mkdir(parents=True)
    for p in photos:
        (folder / p.name).symlink_to(p)
    lib_dir.mkdir()
    # vocabulary embeddings (per model weights), shared by every bench library
    os.environ.setdefault(CACHE_ENV, str(workdir / "user-cache"))
    if main(["--library", str(lib_dir), "models", "import", "picodet-s", str(DETECTOR)]) != 0:
        sys.exit("bench: could not import the PicoDet file")
    lib = Library(lib_dir)
    lib.add_roots([folder])
    drive(lib.scan())
    return lib


def decode_stage(lib, model_set) -> tuple[dict, float, int, int]:
    """The pipeline's decode step alone over the pending photos: (images by photo id,
    photos/s, decode side, threads)."""
    from concurrent.futures import ThreadPoolExecutor

    from photoorg import index

    jobs = index.plan(lib.store, lib.store.pending(), index.stage_models(model_set))
    side = index.decode_side(model_set)
    workers = index.decode_workers()
    scratch = lib.folder / "bench-thumbs"
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        jobs = list(pool.map(lambda j: index.decode(j, side, scratch), jobs))
    seconds = time.perf_counter() - start
    shutil.rmtree(scratch, ignore_errors=True)
    return {j.photo.id: j.image for j in jobs}, len(jobs) / seconds, side, workers


def model_round(lib, model_set, images: dict, batch_size: int, limit: int | None = None) -> dict[str, float]:
    """index.infer, the indexer's own inference step, over pre-decoded batches; each
    model call timed on its own."""
    from photoorg import index

    jobs = index.plan(lib.store, lib.store.pending(limit), index.stage_models(model_set))
    for job in jobs:
        job.image = images[job.photo.id]
    batches = [jobs[i : i + batch_size] for i in range(0, len(jobs), batch_size)]
    clip, det, tagger = model_set.clip, model_set.detector, model_set.tagger
    with Timed(clip, "embed_images") as c, Timed(det, "detect") as d, Timed(tagger, "tag") as t:
        start = time.perf_counter()
        for batch in batches:
            index.infer(lib.store, model_set, batch)
        seconds = time.perf_counter() - start
    n = len(jobs)
    # CLIP ran on whole photos and on box crops through the same method.
    return {
        "model_only": n / seconds,
        "clip": c.items / c.seconds,
        "detect": d.items / d.seconds,
        "regions_per_photo": (c.items - n) / n,
        "tagger": t.items / t.seconds,
    }


def end_to_end(lib, model_set, batch_size: int) -> tuple[float, int, object, float, float]:
    """(photos/s, peak RSS, report, seconds to the end of pass 1, seconds in all)."""
    from photoorg.progress import drive

    n = lib.store.pending_count()
    first_pass = []

    def note(progress) -> None:
        if not first_pass and progress.message.startswith("pass 2"):
            first_pass.append(time.perf_counter() - start)

    with PeakRSS() as rss:
        start = time.perf_counter()
        report = drive(lib.index(models=model_set, batch_size=batch_size), note)
        seconds = time.perf_counter() - start
    assert report.indexed + report.failed == n, report
    return n / seconds, rss.peak, report, (first_pass or [seconds])[0], seconds


def fixed_random_clip(workdir: Path, name: str) -> Path:
    """A CLIP weights file of `name`'s architecture, random but the same every run."""
    from photoorg.models.registry import MODELS

    path = workdir / f"{name}-random-seed0.safetensors"
    if not path.exists():
        import open_clip
        import torch
        from safetensors.torch import save_file

        torch.manual_seed(0)
        model = open_clip.create_model(MODELS[name].arch, pretrained=None)
        tmp = path.with_suffix(".tmp")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
        os.replace(tmp, path)
    return path


# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec, so a child of
# this (large) bench process would report the bench's own size.
PEAK_CODE = (
    "import sys\nfrom photoorg.cli import main\nrc = main(sys.argv[1:])\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
    "print('peak-kb', hwm.split()[1], file=sys.stderr)\nsys.exit(rc)"
)


def peak_process(args: list[str], env: dict) -> tuple[float, float, float]:
    """One `photoorg ARGS` process: (wall seconds, CPU seconds, peak MiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", PEAK_CODE, *args], env=env, capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, cpu, int(out.stderr.split("peak-kb ")[1].split()[0]) / 1024


def index_process(
    workdir: Path, name: str, photos: list[Path], clip_file: Path, clip_name: str, full: bool, cache: Path
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """A fresh library: `photoorg models import` of the CLIP file (the first run with
    these weights in `cache` exports and checks them there, through torch), then a
    fresh `photoorg index` process; (wall s, CPU s, peak MiB) of each."""
    lib = new_library(workdir, name, photos)  # the detector imported, photos scanned
    lib.close()
    env = {k: v for k, v in os.environ.items() if k != "PHOTOORG_RANDOM_WEIGHTS"}
    env["PHOTOORG_CACHE"] = str(cache)
    library = ["--library", str(lib.folder)]
    imported = peak_process(
        [*library, "models", "import", clip_name, str(clip_file), "--allow-checksum-mismatch"], env
    )
    if not full:  # a detector that is not installed: the run is CLIP only
        peak_process([*library, "models", "use", "fasterrcnn-mobilenet-v3"], env)
    return imported, peak_process([*library, "index"], env)


def bench_set(title: str, photos: list[Path], args, workdir: Path) -> None:
    print(f"\n== {title}: {len(photos)} photos")
    name = title.split()[0]
    if args.regions:
        region_figures(photos)
        return
    if not args.process_only:
        stages(name, photos, args, workdir)
    if args.process:
        processes(name, photos, args, workdir)


def stages(name: str, photos: list[Path], args, workdir: Path) -> None:
    import torch

    from photoorg.modelset import ModelSet, load_model_set
    from photoorg.settings import Settings

    lib = new_library(workdir, name, photos)
    settings = Settings(clip=args.clip or "", device=args.device)
    torch.manual_seed(0)  # the same random CLIP every run, so the text cache is reused
    model_set = load_model_set(lib.folder, settings, lib.weights, [], args.device)
    if model_set.missing:
        sys.exit(f"bench: {model_set.missing}")
    model_set.wait_for_tagger()  # the stage figures are steady-state ones
    print(
        f"CLIP: {model_set.clip.model_id} (random weights: speed only)  "
        f"detector: {model_set.detector.model_id} (real weights)"
    )
    images, decode_rate, side, workers = decode_stage(lib, model_set)
    model_round(lib, model_set, images, args.batch_size, limit=args.batch_size)  # warm-up
    models, ends = [], []
    # Model-only and end-to-end alternate, best of --rounds each: the machine is shared,
    # and the best figure is the one least disturbed by other processes.
    clip_only = ModelSet(model_set.clip, model_set.tagger, None)
    clip_ends = []
    for _ in range(args.rounds):
        models.append(model_round(lib, model_set, images, args.batch_size))
        fresh = new_library(workdir, name + "-e2e", photos)
        ends.append(end_to_end(fresh, model_set, args.batch_size))
        fresh.close()
        fresh = new_library(workdir, name + "-clip", photos)
        clip_ends.append(end_to_end(fresh, clip_only, args.batch_size))
        fresh.close()
    lib.close()
    best = max(models, key=lambda f: f["model_only"])
    rate, _, report, pass1, whole = max(ends, key=lambda e: e[0])
    clip_rate, _, _, _, clip_whole = max(clip_ends, key=lambda e: e[0])
    print(
        f"decode   {decode_rate:8.1f} photos/s  (draft to {side} px, {workers} threads, thumbnails included)"
    )
    print(f"CLIP     {best['clip']:8.1f} images/s  (whole photos and box crops)")
    print(f"detector {best['detect']:8.1f} photos/s")
    print(f"boxes    {best['regions_per_photo']:8.2f} CLIP box embeddings per photo")
    print(f"tagger   {best['tagger']:8.0f} photos/s  (from embeddings)")
    model_rounds = ", ".join(f"{m['model_only']:.2f}" for m in models)
    end_rounds = ", ".join(f"{e[0]:.2f}" for e in ends)
    print(
        f"model-only  {best['model_only']:6.2f} photos/s  (index.infer on decoded batches; "
        f"rounds: {model_rounds})"
    )
    print(
        f"end-to-end  {rate:6.2f} photos/s  (Library.index, {report.indexed} indexed, "
        f"{report.failed} failed; rounds: {end_rounds})"
    )
    print(f"ratio end-to-end / model-only: {rate / best['model_only']:.2f}  (goal >= 0.9)")
    print(
        f"peak RSS during an end-to-end run: {max(e[1] for e in ends) / 2**20:.0f} MiB "
        f"(this bench process, models loaded once)"
    )
    print(
        f"searchable after {pass1:.1f} s of {whole:.1f} s (pass 1: embeddings, tags, boxes; "
        f"pass 2: box embeddings)"
    )
    clip_rounds = ", ".join(f"{e[0]:.2f}" for e in clip_ends)
    print(
        f"CLIP only end-to-end {clip_rate:6.2f} photos/s  ({clip_whole:.1f} s; no detector, "
        f"no boxes; rounds: {clip_rounds})"
    )


def _shows(label: str, pets: frozenset[str]) -> str:
    return "pets" if label in pets else "people" if label == "person" else "wild animals"


def region_figures(photos: list[Path]) -> None:
    """Which boxes get a region embedding (index.region_targets, index._same_view), with
    the real detector on these photos: how many boxes, how many are worth a region, how
    many of those CLIP would see as it sees the whole photo (they take the photo's own
    vector), so how many CLIP runs on crops a photo costs."""
    from PIL import Image

    from photoorg import index
    from photoorg.face_stage import PET_LABELS
    from photoorg.models.detect import load_detector
    from photoorg.models.registry import spec_for

    detector = load_detector(spec_for("picodet-s"), DETECTOR, "cpu")
    boxes = targets = same = decoded_again = 0
    crops = Counter()  # CLIP runs on crops, by what the box shows
    for path in photos:
        with Image.open(path) as im:
            image = im.convert("RGB")
        found = detector.detect([image])[0]
        picked = index.region_targets([index.Region(d.box, d.label, d.score) for d in found])
        boxes, targets = boxes + len(found), targets + len(picked)
        cropped = [r for r in picked if not index._same_view(r, image.size)]
        same += len(picked) - len(cropped)
        decoded_again += bool(cropped)
        crops.update(_shows(r.label, PET_LABELS) for r in cropped)
    n = len(photos)
    print(
        f"regions  {boxes / n:.2f} boxes per photo (PicoDet-S); worth a region (>= "
        f"{index.REGION_MIN_AREA:.0%} of the photo or named; pets, then {index.MAX_SEARCH_REGIONS} for "
        f"search alone; at most {index.MAX_REGIONS}): {targets} ({targets / n:.2f} per photo); CLIP "
        f"would see {same} of them as the whole photo (centre-square IoU >= {index.REGION_SAME_VIEW}): "
        f"the photo's vector, no CLIP run; CLIP runs on crops: {targets - same} ({(targets - same) / n:.2f}"
        f" per photo: {', '.join(f'{v} {k}' for k, v in crops.most_common())}); photos decoded again in "
        f"pass 2: {decoded_again} of {n}"
    )


def processes(name: str, photos: list[Path], args, workdir: Path) -> None:
    clip_name = args.clip or default_clip()
    clip_file = fixed_random_clip(workdir, clip_name)
    cache = workdir / "user-cache"
    shutil.rmtree(cache, ignore_errors=True)  # the first import below exports and checks
    for full in (False, True):
        first, run = index_process(workdir, name + "-proc", photos, clip_file, clip_name, full, cache)
        what = "full pipeline" if full else "CLIP only"
        exports = "exports cached" if full else "first use: exports and checks"
        print(
            f"`photoorg models import` of the CLIP file ({exports}): "
            f"{first[0]:.1f} s wall, {first[1]:.1f} s CPU, peak RSS {first[2]:.0f} MiB"
        )
        print(
            f"`photoorg index` process, {what}: {run[0]:.1f} s wall, {run[1]:.1f} s CPU "
            f"({run[1] / len(photos):.3f} CPU s/photo), {len(photos) / run[0]:.2f} photos/s, "
            f"peak RSS {run[2]:.0f} MiB (goal <= 1024)"
        )


def default_clip() -> str:
    from photoorg.models import DEFAULTS

    return DEFAULTS["clip"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=COCO if COCO.is_dir() else None)
    parser.add_argument(
        "--synthetic",
        type=int,
        default=48,
        metavar="N",
        help="12-megapixel JPEGs to make and index (0: none)",
    )
    parser.add_argument("--limit", type=int, default=96, help="photos taken from --photos (0: none)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--clip", default=None, help="CLIP model name (default: the default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds, best kept")
    parser.add_argument(
        "--no-process",
        dest="process",
        action="store_false",
        help="skip the fresh `photoorg index` processes (wall, peak RSS)",
    )
    parser.add_argument(
        "--process-only", action="store_true", help="only the fresh `photoorg index` processes"
    )
    parser.add_argument(
        "--regions", action="store_true", help="only the region-embedding figures (real detector, no CLIP)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/photoorg-bench-index"))
    args = parser.parse_args()
    os.environ["PHOTOORG_RANDOM_WEIGHTS"] = "1"  # CLIP only: the detector is installed for real
    if not DETECTOR.is_file():
        sys.exit(f"bench: {DETECTOR} is needed (the real detector)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"photoorg index bench: {os.cpu_count()} CPUs, device {args.device}, "
        f"batch {args.batch_size}, load average {os.getloadavg()[0]:.1f} "
        f"(other processes share these CPUs: compare figures from one run only)"
    )
    if args.photos and args.limit:
        photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
        bench_set(f"{args.photos.parent.name} (real photos)", photos[: args.limit], args, args.workdir)
    if args.synthetic:
        folder = make_synthetic(args.workdir / "synthetic-12mp", args.synthetic)
        bench_set("synthetic 12-MP JPEGs", sorted(folder.glob("*.jpg"))[: args.synthetic], args, args.workdir)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    print(
        f"process peak RSS (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
