"""CLIP's tokenizer without torch, for searching: open_clip's tokenizer module imports
torch at its top (2-3 s here), and a search process only needs token ids for one query.

The same byte-level BPE as open_clip's SimpleTokenizer (the one every registry CLIP
model uses: "lower" cleaning, 49,408 tokens), on open_clip's own vocabulary file,
found without importing open_clip. tests/test_clip_paths.py checks it gives
open_clip's ids. ftfy and regex come with open_clip.
"""

from __future__ import annotations

import gzip
import html
import importlib.util
import itertools
import marshal
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..fileio import atomic_write_bytes
from .usercache import user_cache

CONTEXT = 77


def _bpe_file() -> Path:
    spec = importlib.util.find_spec("open_clip")  # locates the package, runs none of it
    return Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"


def _byte_symbols() -> dict[int, str]:
    keep = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    symbols, extra = dict(zip(keep, map(chr, keep))), 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return symbols


def _tables(bpe: Path) -> tuple[dict, dict]:
    """(token -> id, merge pair -> rank), as open_clip builds them."""
    with gzip.open(bpe) as f:
        merges = f.read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in merges[1 : 49152 - 256 - 2 + 1]]
    vocab = list(_byte_symbols().values())
    vocab += [v + "</w>" for v in vocab] + ["".join(m) for m in merges]
    vocab += ["<start_of_text>", "<end_of_text>"]
    return {token: i for i, token in enumerate(vocab)}, {m: i for i, m in enumerate(merges)}


def _cached_tables(bpe: Path) -> tuple[dict, dict]:
    """_tables, kept in the user's cache as marshal data: loads in half the time of
    building them from the vocabulary file (0.2 s against 0.5 s here under load)."""
    stat = bpe.stat()
    cached = user_cache(f"clip-bpe-{stat.st_size}-{stat.st_mtime_ns}.marshal")
    try:
        return marshal.loads(cached.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        pass
    tables = _tables(bpe)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cached, marshal.dumps(tables))
    except (OSError, UserError):
        pass  # a read-only cache costs the next search the build time
    return tables


def _plain(text: str) -> bool:
    """Printable ASCII with no character reference: ftfy.fix_text leaves it unchanged."""
    return text.isascii() and "&" not in text and all(c.isprintable() or c in " \t\n" for c in text)


class Tokenizer:
    def __init__(self, bpe_path: Path | None = None):
        import regex

        self._bytes = _byte_symbols()
        self._ids, self._ranks = _cached_tables(Path(bpe_path or _bpe_file()))
        self._done: dict[str, tuple[str, ...]] = {}  # word -> its BPE tokens
        self.sot, self.eot = self._ids["<start_of_text>"], self._ids["<end_of_text>"]
        self._pattern = regex.compile(
            r"<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|"
            r"[^\s\p{L}\p{N}]+",
            regex.IGNORECASE,
        )

    def __call__(self, texts: list[str], context: int = CONTEXT) -> np.ndarray:
        """(len(texts), context) int64 ids: start, the text's tokens, end, zeros."""
        out = np.zeros((len(texts), context), np.int64)
        for row, text in enumerate(texts):
            ids = [self.sot] + self.encode(text)[: context - 2] + [self.eot]
            out[row, : len(ids)] = ids
        return out

    def encode(self, text: str) -> list[int]:
        if not _plain(text):  # ftfy costs 0.3 s to import and changes nothing in plain text
            import ftfy

            text = ftfy.fix_text(text)
        text = " ".join(html.unescape(html.unescape(text)).split()).lower()
        ids = []
        for word in self._pattern.findall(text):
            symbols = "".join(self._bytes[b] for b in word.encode("utf-8"))
            ids += [self._ids[t] for t in self._bpe(symbols)]
        return ids

    def _bpe(self, token: str) -> tuple[str, ...]:
        if token in self._done:
            return self._done[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [
                (self._ranks.get(p, len(self._ranks)), i) for i, p in enumerate(itertools.pairwise(word))
            ]
            rank, first = min(pairs)
            if rank == len(self._ranks):
                break
            pair = (word[first], word[first + 1])  # merged wherever it occurs, as open_clip does
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == pair:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self._done[token] = tuple(word)
        return self._done[token]
