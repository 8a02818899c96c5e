"""Storage for photoorg: schema, migrations and every SQL statement."""

from .rows import PHOTO_STATES, Detection, Photo, PhotoMeta, Root, ScanProblem, Subject, Tag
from .schema import MIGRATIONS, DatabaseTooNew
from .store import KnownFile, NotALibrary, Store

__all__ = [
    "PHOTO_STATES", "Detection", "Photo", "PhotoMeta", "Root", "ScanProblem", "Subject", "Tag",
    "MIGRATIONS", "DatabaseTooNew", "KnownFile", "NotALibrary", "Store",
]
