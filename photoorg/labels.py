"""The one check for text a user gives as a label: a tag, a person's or pet's name, a
vocabulary word. Enforced by the engine (Library, naming), so the GUI, the CLI and a
script all get the same limits.

A label is shown in lists, written into XMP sidecars and searched as words, so it is
one line of printable text: whitespace runs become one space, control characters
(NUL included) are refused, and so are bytes that are not UTF-8 (a terminal in
another encoding passes them through as surrogates, which SQLite cannot store).
"""

from __future__ import annotations

import unicodedata

from .errors import UserError

MAX_LABEL = 200  # characters: longer than any real tag or name, short enough to show


class LabelError(UserError):
    """A tag, name or word that cannot be stored; str() says why."""


def shown(text: str) -> str:
    """`text` printable whatever it holds (undecodable bytes as \\x escapes)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:60]


def clean_label(text: str, what: str = "tag") -> str:
    """The label as stored (whitespace squeezed), or LabelError with one sentence."""
    if not isinstance(text, str):
        raise LabelError(f"A {what} must be text, not {type(text).__name__}.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise LabelError(
            f"The {what} {shown(text)!r} is not valid UTF-8 text; type it again in a UTF-8 terminal."
        ) from None
    text = " ".join(text.split())
    if not text:
        raise LabelError(f"A {what} cannot be empty.")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise LabelError(
            f"The {what} {shown(text)!r} holds a control character; a {what} is one line of printable text."
        )
    if len(text) > MAX_LABEL:
        raise LabelError(f"A {what} is at most {MAX_LABEL} characters; this one has {len(text)}.")
    return text
