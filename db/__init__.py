"""Storage for photoorg: schema, migrations and every SQL statement."""

from .rows import PHOTO_STATES, Photo, PhotoMeta, Root, ScanProblem, StoredDetection, Subject, Tag
from .schema import MIGRATIONS, DatabaseTooNew
from .store import KnownFile, NotALibrary, Store

__all__ = [
    "PHOTO_STATES",
    "Photo",
    "PhotoMeta",
    "Root",
    "ScanProblem",
    "StoredDetection",
    "Subject",
    "Tag",
    "MIGRATIONS",
    "DatabaseTooNew",
    "KnownFile",
    "NotALibrary",
    "Store",
]
