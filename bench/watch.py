"""How a watched folder takes a big copy: copies N small photos into a watched root
and prints the time until all are in the library, the scan passes it took (the
measure of coalescing) and the peak memory.

    python bench/watch.py [--files 10000] [--index] [--quiet 1.0] [--max-delay 10]

The photos are made first, outside the root and outside the timing, as distinct
small JPEGs (distinct content, like real photos); then they are copied (shutil.copy2,
like a file manager) into folders of 500 under the root while the watcher runs with
its default timings. With --index the watcher also indexes (thumbnails, and the
models that are installed) and the time until every photo is indexed is printed too.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_photos(folder: Path, n: int) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        path = folder / f"IMG_{i:05d}.jpg"
        out = io.BytesIO()
        Image.new("RGB", (64, 48), (i % 256, (i // 256) % 256, (i * 7) % 256)).save(out, "JPEG")
        path.write_bytes(out.getvalue())
        paths.append(path)
    return paths


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wait_for(condition, timeout: float) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            sys.exit("gave up waiting: the watcher did not take every file")
        time.sleep(0.05)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--index", action="store_true", help="index too, and time it")
    parser.add_argument("--quiet", type=float, default=1.0)
    parser.add_argument("--max-delay", type=float, default=10.0)
    args = parser.parse_args()

    from photoorg.db import Store
    from photoorg.library import Library
    from photoorg.watch import WatchOptions

    with tempfile.TemporaryDirectory(prefix="photoorg-bench-watch-") as tmp:
        tmp = Path(tmp)
        sources = make_photos(tmp / "camera", args.files)
        root = tmp / "photos"
        root.mkdir()
        with Library(tmp / "library") as lib:
            lib.add_roots([root])
        before_rss = peak_rss_mb()
        options = WatchOptions(quiet=args.quiet, max_delay=args.max_delay, index=args.index)
        errors = []
        service = Library(tmp / "library").watcher(
            on_notice=lambda n: errors.append(n.message) if n.kind == "error" else None,
            options=options,
        )
        reader = Store(tmp / "library" / "library.db")
        with service:
            if not service.wait_idle(60):
                sys.exit("the watcher did not start")
            passes_before = service.passes
            start = time.monotonic()
            for i, src in enumerate(sources):
                target = root / f"import{i // 500:03d}" / src.name
                target.parent.mkdir(exist_ok=True)
                shutil.copy2(src, target)
            copied = time.monotonic()

            def present() -> int:
                return sum(reader.counts().values()) - reader.counts()["missing"]

            in_library = wait_for(lambda: present() == args.files, 600)
            rows_passes = service.passes - passes_before
            indexed = None
            if args.index:
                indexed = wait_for(
                    lambda: reader.counts()["indexed"] + reader.counts()["error"] == args.files, 3600
                )
            service.wait_idle(60)
            passes = service.passes - passes_before
        reader.close()

    print(f"copied {args.files} files in {copied - start:.1f} s")
    print(
        f"all {args.files} in the library {in_library - start:.1f} s after the copy began "
        f"({in_library - copied:.1f} s after it ended), in {rows_passes} scan "
        + ("pass" if rows_passes == 1 else "passes")
    )
    if indexed is not None:
        print(f"all indexed {indexed - start:.1f} s after the copy began")
    print(f"scan passes in all: {passes} (quiet {args.quiet:g} s, max delay {args.max_delay:g} s)")
    print(f"peak memory (RSS): {peak_rss_mb():.0f} MB ({before_rss:.0f} MB before watching)")
    if errors:
        print("errors: " + "; ".join(errors))


if __name__ == "__main__":
    main()
