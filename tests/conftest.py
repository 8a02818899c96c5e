"""Shared test setup: offline, headless, and real photos made on the spot."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# A test never falls back to the user's real library.
os.environ.pop("PHOTOORG_LIBRARY", None)
# Nor writes to the user's cache folder: one per test session, shared by its libraries
# as the real one is (vocabulary embeddings and ONNX exports per model weights).
os.environ["PHOTOORG_CACHE"] = tempfile.mkdtemp(prefix="photoorg-cache-")


# A small open_clip config run through the same classes (CLIP, VisionTransformer,
# TextTransformer) as ViT-B-32, so model tests stay fast on 2 cores.
TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def register_tiny_clip(folder: Path, name: str) -> str:
    """TINY_CLIP known to open_clip as `name` (its config written into `folder`)."""
    import open_clip

    (folder / f"{name}.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(folder)
    return name


# The registry entry (ModelSpec fields) tests give TINY_CLIP.
TINY_SPEC = (
    "clip-tiny",
    "clip",
    "open_clip",
    "photoorg-tiny-vit",
    "https://example.invalid/tiny.safetensors",
    None,
    1,
    "MIT",
    "clip-tiny.safetensors",
    "none",
)


def write_photo(
    path: Path,
    size=(64, 48),
    color=(200, 120, 40),
    *,
    taken: str | None = None,
    make: str | None = None,
    model: str | None = None,
    orientation: int | None = None,
    gps: tuple[float, float] | None = None,
    fmt: str | None = None,
) -> Path:
    """A real image file with real EXIF, as a camera would write it."""
    from PIL import Image
    from PIL.ExifTags import IFD, Base

    image = Image.new("RGB", size, color)
    # A second colour block makes rotations and crops visible in pixel checks.
    image.paste((20, 20, 220), (0, 0, size[0] // 4, size[1] // 4))
    exif = Image.Exif()
    if make:
        exif[Base.Make] = make
    if model:
        exif[Base.Model] = model
    if orientation:
        exif[Base.Orientation] = orientation
    if taken:
        exif.get_ifd(IFD.Exif)[Base.DateTimeOriginal] = taken
    if gps:
        lat, lon = gps
        exif.get_ifd(IFD.GPSInfo).update(
            {
                1: "N" if lat >= 0 else "S",
                2: (abs(lat), 0.0, 0.0),
                3: "E" if lon >= 0 else "W",
                4: (abs(lon), 0.0, 0.0),
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"exif": exif} if fmt in (None, "JPEG", "WEBP", "PNG", "TIFF") else {}
    image.save(path, fmt, **kwargs)
    return path


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    write_photo(
        folder / "beach" / "sunny_day.jpg",
        taken="2021:07:14 12:00:00",
        make="Canon",
        model="EOS R6",
        gps=(43.5, -1.5),
    )
    write_photo(folder / "beach" / "evening.jpg", color=(10, 40, 90), taken="2022:08:01 20:30:00")
    write_photo(folder / "home" / "cat.png", size=(80, 60), fmt="PNG")
    write_photo(folder / "rotated.jpg", size=(64, 32), orientation=6, taken="2020:01:01 09:00:00")
    return folder


@pytest.fixture
def library(tmp_path: Path):
    from photoorg.library import Library

    lib = Library(tmp_path / "library")
    yield lib
    lib.close()


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real small filesystem mounted at `folder` (the test is skipped where mounting
    is not allowed), unmounted lazily afterwards even if a failure left a file open."""
    folder.mkdir(exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
        pytest.skip("mounting a tmpfs needs privileges this machine does not give")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill_disk(folder: Path) -> None:
    """A file in `folder` that takes its filesystem's last free block."""
    try:
        with open(folder / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:
        pass
