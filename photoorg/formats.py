"""Which files are photos, by their names: the scanner, the watcher and the library's
own checks decide it without Pillow, which the window's start does not otherwise need
(imaging.py is the decoder)."""

from __future__ import annotations

import os

SUPPORTED_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif"}
)
# Camera RAW files: not decoded, but a RAW beside a JPEG of the same name is one shot
# (a stack for duplicate finding, a sidecar that moves with its photo when organizing).
RAW_EXTENSIONS = (".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw")


def is_supported(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in SUPPORTED_EXTENSIONS
