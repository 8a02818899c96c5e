"""photoorg: a local-first desktop photo library."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy, so `photoorg --help` does not pay for SQLite and numpy imports.
    if name == "Library":
        from .library import Library

        return Library
    raise AttributeError(name)
