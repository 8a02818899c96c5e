"""Real photos for the organize tests: distinct scenes (smooth colour fields with
shapes, seeded) and their resized, re-encoded and cropped copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def scene(seed: int, size=(640, 480)) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
        r = int(rng.integers(20, 120))
        draw.ellipse(
            (x - r, y - r, x + r, y + r),
            fill=tuple(int(v) for v in rng.integers(0, 255, 3)),
        )
    return image.filter(ImageFilter.GaussianBlur(2))


def save(
    image: Image.Image,
    path: Path,
    *,
    taken: str | None = None,
    subsec: str | None = None,
    camera: tuple[str, str] | None = None,
    quality: int = 92,
) -> Path:
    exif = Image.Exif()
    if camera:
        exif[0x010F], exif[0x0110] = camera
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken
        if subsec:
            exif.get_ifd(0x8769)[0x9291] = subsec
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        image.save(path, "PNG")
    else:
        image.save(path, "JPEG", quality=quality, exif=exif)
    return path


def crop(image: Image.Image, fraction: float) -> Image.Image:
    w, h = image.size
    dx, dy = int(w * fraction), int(h * fraction)
    return image.crop((dx, dy, w - dx, h - dy))
