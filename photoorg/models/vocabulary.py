"""The curated tag vocabulary (vocabulary.txt) and the prompts that name each tag.

Each section has a few caption templates; a tag's prompt ensemble is every template
filled with every phrase of the tag. The same templates filled with neutral fillers
("something", "a place") give the section's background caption, which the tagger
compares each tag against: the two captions then differ only in the tag's words.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import UserError

_FILE = Path(__file__).with_name("vocabulary.txt")


@dataclass(frozen=True)
class Section:
    templates: tuple[str, ...]
    fillers: tuple[str, ...]  # neutral phrases for the background caption
    article: bool  # default phrase gets "a"/"an" (countable things)


SECTIONS: dict[str, Section] = {
    "scene": Section(
        ("a photo of {}.", "a picture of {}.", "a wide photo of {}."), ("a place", "somewhere"), True
    ),
    "nature": Section(
        ("a photo of {}.", "a picture of {}.", "a photo with {}."), ("something", "a scene"), False
    ),
    "animal": Section(
        ("a photo of {}.", "a close-up photo of {}.", "a picture of {}."), ("something", "an object"), True
    ),
    "food": Section(
        ("a photo of {}.", "a close-up photo of {}.", "a picture of {}."), ("something", "an object"), False
    ),
    "event": Section(
        ("a photo of {}.", "a photo taken at {}.", "a picture from {}."), ("an event", "something"), True
    ),
    "activity": Section(
        ("a photo of someone {}.", "a photo of people {}.", "a picture of a person {}."),
        ("doing something", "doing an activity"),
        False,
    ),
    "people": Section(
        ("a photo of {}.", "a picture of {}.", "a candid photo of {}."), ("something", "a thing"), True
    ),
    "object": Section(
        ("a photo of {}.", "a close-up photo of {}.", "a photo with {} in it."),
        ("something", "an object"),
        True,
    ),
    "style": Section(("{}.", "this is {}.", "an image that is {}."), ("a photo", "an image"), False),
    # User-added words: generic templates, the word with and without an article.
    "user": Section(
        ("a photo of {}.", "a picture of {}.", "a close-up photo of {}."), ("something", "an object"), True
    ),
}


@dataclass(frozen=True)
class Tag:
    name: str
    section: str
    phrases: tuple[str, ...]

    def prompts(self) -> list[str]:
        templates = SECTIONS[self.section].templates
        return [t.format(p) for t in templates for p in self.phrases]


class VocabularyError(UserError):
    """A vocabulary word or file line that cannot be used; str() says why."""


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _default_phrases(name: str, section: str) -> tuple[str, ...]:
    if section == "user":
        starts_with_article = name.lower().split(" ", 1)[0] in ("a", "an", "the")
        return (name,) if starts_with_article else (name, _article(name))
    return (_article(name),) if SECTIONS[section].article else (name,)


def make_tag(name: str, section: str = "user", phrases: tuple[str, ...] = ()) -> Tag:
    name = " ".join(name.split())
    if not name:
        raise VocabularyError("A tag needs at least one letter.")
    return Tag(name, section, tuple(phrases) or _default_phrases(name, section))


def background_prompts(section: str) -> list[str]:
    spec = SECTIONS[section]
    return [t.format(f) for t in spec.templates for f in spec.fillers]


def parse(text: str) -> tuple[Tag, ...]:
    tags: dict[str, Tag] = {}
    section = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            if section not in SECTIONS:
                raise VocabularyError(f"Line {number}: unknown section {section!r}.")
            continue
        if section is None:
            raise VocabularyError(f"Line {number}: a tag before any [section].")
        name, _, phrases = line.partition(":")
        tag = make_tag(name.strip(), section, tuple(p.strip() for p in phrases.split(";") if p.strip()))
        if tag.name in tags:
            raise VocabularyError(f"Line {number}: the tag {tag.name!r} appears twice.")
        tags[tag.name] = tag
    return tuple(tags.values())


@lru_cache(maxsize=1)
def builtin() -> tuple[Tag, ...]:
    return parse(_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def version() -> str:
    """Changes whenever the tags, phrases, templates or fillers change."""
    digest = hashlib.sha256(_FILE.read_bytes())
    digest.update(repr(sorted(SECTIONS.items())).encode())
    return digest.hexdigest()[:10]
