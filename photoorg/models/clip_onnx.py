"""CLIP through onnxruntime: the exports, where they are cached, and the checks that
decide whether they may replace torch.

Each export is made once per weights file (the file's sha256; random weights: a hash
of their parameters) into the user's cache folder, shared by every library:
<cache>/onnx/<weights id>/. A file appears only complete (written beside, then
renamed), with a JSON note of what it is and how it was checked.

Text tower (text.onnx): what `photoorg search` runs, so a search never imports torch
(2-3 s here). Dynamic batch and length: the tokens are cut to the longest prompt as
in clip.py where that gives the same embedding. Checked against torch at export:
every probe prompt's cosine >= TEXT_MIN_COSINE, else no export is kept and search
uses torch.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .usercache import user_cache

if TYPE_CHECKING:
    from .clip import ClipModel

OPSET = 18
TEXT_MIN_COSINE = 0.9999
TEXT_PROBES = ("a photo of a dog.", "kids playing in the snow", "red car at night",
               "a close-up photo of a birthday cake with candles on a wooden table.",
               "grandma", "東京の夜景", "x")


def export_dir(weights_id: str) -> Path:
    return user_cache("onnx", weights_id[:40])


def read_note(path: Path) -> dict:
    """The JSON note beside an export: what it is and how it was checked ({} when none;
    "ok" false when the export failed its check and was not kept)."""
    try:
        note = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}
    return note if path.is_file() or not note.get("ok") else {}


def _write_note(path: Path, note: dict) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.json.tmp")
    tmp.write_text(json.dumps(note, indent=1))
    os.replace(tmp, path.with_suffix(".json"))


def _text_module(clip: "ClipModel"):
    import torch

    from .clip import encode_text_trimmed

    class TextTower(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, tokens):
            if clip.trims_text:
                x = encode_text_trimmed(self.model, tokens)
            else:
                x = self.model.encode_text(tokens)
            return torch.nn.functional.normalize(x.float(), dim=-1)

    return TextTower(clip.torch_model).eval()


def _export(module, example, path: Path, dynamic: dict) -> None:
    """torch.onnx.export into a temporary file beside `path`, renamed when complete."""
    import torch

    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(module, (example,), str(tmp), input_names=["input"],
                              output_names=["vectors"], dynamic_axes=dynamic,
                              opset_version=OPSET, dynamo=True, external_data=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def text_tokens(clip: "ClipModel", texts) -> np.ndarray:
    from .clip import trim_tokens

    tokens = clip.tokenizer(list(texts))
    return (trim_tokens(tokens) if clip.trims_text else tokens).numpy()


def export_text(clip: "ClipModel") -> Path | None:
    """The checked text.onnx of this model's weights, exported now if need be; None
    when the export does not match torch (search then keeps the torch path)."""
    import torch

    path = export_dir(clip.weights_id) / "text.onnx"
    note = read_note(path)
    if note:
        return path if note.get("ok") else None
    example = torch.from_numpy(text_tokens(clip, TEXT_PROBES[:2]))
    _export(_text_module(clip), example, path,
            {"input": {0: "batch", 1: "length"}, "vectors": {0: "batch"}})
    from .onnxrt import ort_session

    session = ort_session(path, "cpu")
    got = np.concatenate([session.run(None, {"input": text_tokens(clip, [t])})[0]
                          for t in TEXT_PROBES])
    want = clip.embed_texts(list(TEXT_PROBES))
    cosine = float((got * want).sum(axis=1).min())
    ok = cosine >= TEXT_MIN_COSINE
    _write_note(path, {"model_id": clip.model_id, "weights_id": clip.weights_id,
                       "trims": clip.trims_text, "dim": clip.dim, "ok": ok,
                       "min_cosine": round(cosine, 7), "threshold": TEXT_MIN_COSINE})
    if not ok:
        path.unlink(missing_ok=True)  # the note stays: not exported again for these weights
    return path if ok else None


def prepare(clip: "ClipModel") -> None:
    """Make this weights file's exports if they are missing (a no-op once made).
    Random weights differ in every process, so nothing is exported for them."""
    if clip.weights_id.startswith("random-"):
        return
    export_text(clip)


def clear(weights_id: str) -> None:
    shutil.rmtree(export_dir(weights_id), ignore_errors=True)


RECENT = 256  # query embeddings remembered per model weights, across processes


class QueryEncoder:
    """The text tower through onnxruntime, for search: no torch, and the last RECENT
    queries' embeddings kept on disk, so repeating a search skips even the session."""

    def __init__(self, path: Path, note: dict):
        self.path, self.model_id, self.dim = path, note["model_id"], note["dim"]
        self._trims = note["trims"]
        self._recent_path = path.with_name("recent-queries.npz")
        self._session = self._tokenizer = None
        self._recent: dict[str, np.ndarray] | None = None

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        recent = self._load_recent()
        new = [t for t in dict.fromkeys(texts) if t not in recent]
        if new:
            for text, row in zip(new, self._encode(new)):
                recent.pop(text, None)
                recent[text] = row
            self._save_recent()
        return np.stack([recent[t] for t in texts]) if texts else \
            np.zeros((0, self.dim), np.float32)

    def _encode(self, texts: list[str]) -> np.ndarray:
        from .cliptok import Tokenizer
        from .onnxrt import ort_session

        if self._session is None:
            self._session, self._tokenizer = ort_session(self.path, "cpu"), Tokenizer()
        tokens = self._tokenizer(texts)
        if self._trims:
            tokens = tokens[:, :int(tokens.argmax(axis=1).max()) + 1]
        return self._session.run(None, {"input": tokens})[0].astype(np.float32)

    def _load_recent(self) -> dict[str, np.ndarray]:
        if self._recent is None:
            try:
                with np.load(self._recent_path) as data:
                    self._recent = dict(zip(data["texts"].tolist(), data["vectors"]))
            except (OSError, KeyError, ValueError):
                self._recent = {}
        return self._recent

    def _save_recent(self) -> None:
        keep = list(self._recent.items())[-RECENT:]
        self._recent = dict(keep)
        tmp = self._recent_path.with_name(f".recent.{os.getpid()}.tmp.npz")
        try:
            np.savez(tmp, texts=np.array([t for t, _ in keep]),
                     vectors=np.stack([v for _, v in keep]))
            os.replace(tmp, self._recent_path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a read-only cache only costs the next search time


def query_encoder(weights: Path) -> QueryEncoder | None:
    """The exported, checked text tower of this weights file, if there is one (no torch)."""
    from .usercache import file_digest

    path = export_dir(file_digest(weights)) / "text.onnx"
    note = read_note(path)
    return QueryEncoder(path, note) if note.get("ok") else None
