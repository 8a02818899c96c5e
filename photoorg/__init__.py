"""photoorg: a local-first desktop photo library."""

__version__ = "0.1.0"
