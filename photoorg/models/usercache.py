"""The user's cache folder, shared by every library: what is derived from a model's
weights alone (text embeddings of the vocabulary, ONNX exports and their checks) is
computed once per weights file, not once per library."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

CACHE_ENV = "PHOTOORG_CACHE"  # tests and benches point it at a folder of their own


def user_cache(*parts: str) -> Path:
    root = os.environ.get(CACHE_ENV)
    if not root:
        from platformdirs import user_cache_dir

        root = user_cache_dir("photoorg", appauthor=False)
    return Path(root).joinpath(*parts)


def file_digest(path: Path) -> str:
    """sha256 of a weights file: the store's install note (written just after the file
    is complete, so no 600 MB re-read per start) while the file is not newer than it,
    else read here."""
    path = Path(path)
    note = path.with_name(path.name + ".json")
    try:
        digest = json.loads(note.read_text()).get("sha256")
        if digest and path.stat().st_mtime_ns <= note.stat().st_mtime_ns:
            return digest
    except (OSError, ValueError, AttributeError):
        pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
