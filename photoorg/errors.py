"""The one base class for mistakes a user can make or fix.

Every error whose message is written for a person (a bad query, a missing model, a
folder that is not there) subclasses `UserError`. Front ends catch this base and
nothing else by name: the CLI prints `str(error)` and exits with `exit_code`; the
GUI shows the sentence. Anything else is a bug and keeps its traceback.

This module imports nothing of photoorg, so every layer (db included) may use it.
"""

from __future__ import annotations


class UserError(Exception):
    """str() is one sentence to show as is."""

    exit_code = 2


class LibraryError(UserError):
    """A user mistake or an unusable input met by the Library and the work it runs
    (here, not in library.py, so that the engine modules below the Library raise it too)."""
