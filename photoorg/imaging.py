"""One safe loader for every photo format photoorg reads.

Everything that opens an image goes through here: EXIF orientation is applied, EXIF
date/camera/GPS are read, decompression bombs are refused before any pixel is
decoded, and JPEG draft mode decodes at (about) the size the caller needs.
"""

from __future__ import annotations

import os
import stat
import warnings
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.ExifTags import GPS, IFD, Base

from .db import PhotoMeta
from .errors import UserError

# The largest phone sensors are 200 MP; a bigger image is a panorama or a bomb. We
# check width x height from the header ourselves so nothing is ever allocated.
MAX_PIXELS = 250_000_000
Image.MAX_IMAGE_PIXELS = None  # our own check replaces Pillow's warning/error pair

_heif_registered = False


class DecodeError(UserError):
    """A photo that cannot be read; str() is the reason a user can act on."""


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            from pillow_heif import register_heif_opener

            register_heif_opener()
        except ImportError:  # HEIC stays unsupported; other formats still work
            pass
        _heif_registered = True


def _open(path: Path | str) -> Image.Image:
    _register_heif()
    try:
        info = os.stat(path)
        # A pipe or a device swapped in where a photo was: opening a FIFO would wait
        # forever and /dev/zero never ends, so neither is read at all.
        if not stat.S_ISREG(info.st_mode):
            raise DecodeError(
                "not a regular file (a pipe, device or socket is there now); photoorg reads only files"
            )
        if info.st_size == 0:
            raise DecodeError("the file is empty (0 bytes)")
        image = Image.open(path)
    except DecodeError:
        raise
    except UnidentifiedImageError:
        raise DecodeError("not an image, or a format photoorg cannot read") from None
    except PermissionError:
        raise DecodeError("permission denied") from None
    except OSError as e:
        raise DecodeError(f"cannot open: {e.strerror or e}") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise DecodeError(
            f"image is {width}x{height} ({width * height / 1e6:.0f} megapixels), over the "
            f"{MAX_PIXELS // 1_000_000}-megapixel safety limit"
        )
    return image


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    orientation = image.getexif().get(Base.Orientation, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value).strip("\x00 ").strip()
    return value or None


def _taken_at(exif: Image.Exif) -> str | None:
    raw = _text(exif.get_ifd(IFD.Exif).get(Base.DateTimeOriginal) or exif.get(Base.DateTime))
    if not raw:
        return None
    try:
        return datetime.strptime(raw[:19], "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None


def _gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    gps = exif.get_ifd(IFD.GPSInfo)
    try:
        lat = _degrees(gps[GPS.GPSLatitude]) * (-1 if _text(gps.get(GPS.GPSLatitudeRef)) == "S" else 1)
        lon = _degrees(gps[GPS.GPSLongitude]) * (-1 if _text(gps.get(GPS.GPSLongitudeRef)) == "W" else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return round(lat, 7), round(lon, 7)


def _degrees(dms) -> float:
    d, m, s = (float(x) for x in dms)
    return d + m / 60 + s / 3600


def read_meta(path: Path | str) -> PhotoMeta:
    """Size as displayed (after EXIF rotation), date, camera and place, from the header."""
    with _open(path) as image:
        try:
            exif = image.getexif()
            width, height = _oriented_size(image)
            lat, lon = _gps(exif)
            return PhotoMeta(
                width=width,
                height=height,
                taken_at=_taken_at(exif),
                camera_make=_text(exif.get(Base.Make)),
                camera_model=_text(exif.get(Base.Model)),
                lat=lat,
                lon=lon,
            )
        except (OSError, SyntaxError, ValueError) as e:
            raise DecodeError(f"unreadable header: {e}") from None


def load_image(path: Path | str, max_side: int | None = None, *, shrink: bool = True) -> Image.Image:
    """Decode fully to RGB, upright. With max_side, JPEG draft mode decodes at the
    smallest scale that is still at least max_side, then we shrink to fit (shrink
    False: not, for a caller that crops first and shrinks only the crops)."""
    image = _open(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's EXIF/palette chatter is not the user's problem
            if max_side and image.format == "JPEG":
                scale = max_side / max(image.size)
                if scale < 1:
                    image.draft("RGB", (int(image.width * scale) + 1, int(image.height * scale) + 1))
            image.seek(0)  # first frame of a GIF or multi-page TIFF
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = upright.convert("RGB")
    except DecodeError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        reason = str(e) or type(e).__name__
        if "truncated" in reason or "image file is truncated" in reason:
            reason = "the file is truncated (incomplete download or copy?)"
        raise DecodeError(f"cannot decode: {reason}") from None
    finally:
        image.close()
    if shrink and max_side and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return rgb
