"""Scan speed: first scan of N small JPEGs (files/s), then a rescan with nothing
changed, plus `photoorg --help` start-up time.

    python bench/scan.py [--n 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from photoorg.library import Library
from photoorg.progress import drive


def make_photos(folder: Path, n: int) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 80, 40)).save(buffer, "JPEG", quality=70)
    base = buffer.getvalue()
    for i in range(n):
        sub = folder / f"{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        # A JPEG comment makes every file's content (and hash) unique.
        unique = base[:2] + b"\xff\xfe" + (len(str(i)) + 2).to_bytes(2, "big") + str(i).encode() + base[2:]
        (sub / f"img_{i:06d}.jpg").write_bytes(unique)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        t = time.perf_counter()
        make_photos(photos, args.n)
        print(f"made {args.n} JPEGs in {time.perf_counter() - t:.1f} s")
        with Library(Path(tmp) / "lib") as lib:
            lib.add_roots([photos])
            t = time.perf_counter()
            [first] = drive(lib.scan())
            first_s = time.perf_counter() - t
            t = time.perf_counter()
            [again] = drive(lib.scan())
            rescan_s = time.perf_counter() - t
        assert first.new == args.n and again.new == again.changed == 0
        print(f"first scan:        {args.n} files in {first_s:.2f} s = {args.n / first_s:,.0f} files/s")
        print(f"no-change rescan:  {rescan_s:.2f} s ({args.n / rescan_s:,.0f} files/s)")
        print(f"peak memory:       {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "photoorg", "--help"], check=True, capture_output=True)
        runs.append(time.perf_counter() - t)
    print(f"photoorg --help:   {min(runs) * 1000:.0f} ms best of 5, {sorted(runs)[2] * 1000:.0f} ms median")


if __name__ == "__main__":
    main()
