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
uses torch. Its weights sit page-aligned in text.onnx.data, which onnxruntime maps:
opening it took 0.11 s instead of 2.6 s for one 243 MB file (loaded machine).

Image tower (image-fp32.onnx, image-int8.onnx: onnxruntime's quantize_dynamic, int8
weights, activations quantized per batch): the indexer's CPU path. int8 runs by
default only when it passes its check against torch fp32 (check_int8) on a fixed
probe set (24 deterministic pictures plus the library's first photos): mean cosine
>= 0.995 and top-5 tag agreement >= 0.95 over the vocabulary; otherwise fp32, with
the reason. The figures are kept in image-int8.json (checked once per weights) and
shown by `photoorg models list`; the precision setting or `index --precision` forces
either. On a GPU torch keeps running the model (fp16).

Measured with bench/clip_speed.py --paths (ViT-B-32-256, random weights, batch 8, this
2-core machine at load 1.7): torch fp32 13.7 images/s, onnxruntime fp32 13.7, int8 22.1
(1.6x); at load 8-11: 1.3 / 3.4 / 5.2. Export of both 23 s (336 and 85 MiB). With random
weights int8 fails its check (mean cosine 0.990-0.992, top-5 agreement 0.93-0.99):
random weights are not what the check is for, and auto then runs fp32.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .usercache import file_digest, user_cache

if TYPE_CHECKING:
    from .clip import ClipModel

OPSET = 18
TEXT_MIN_COSINE = 0.9999
TEXT_PROBES = (
    "a photo of my dog.",
    "kids playing in the snow",
    "red car at night",
    "a close-up photo of a birthday cake with candles on a wooden table.",
    "grandma",
    "東京の夜景",
    "x",
)


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


def _text_module(clip: ClipModel):
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


def _export(module, example, path: Path, dynamic: dict, mapped: bool = False) -> None:
    """torch.onnx.export into a temporary file beside `path`, renamed when complete.

    mapped: the weights go to `<path>.data`, page-aligned, which onnxruntime maps
    instead of copying: a search process opens the text tower in 0.11 s instead of
    2.6 s (243 MB, measured here under load), and reads only the pages it uses."""
    import torch

    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                module,
                (example,),
                str(tmp),
                input_names=["input"],
                output_names=["vectors"],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
            )
        if mapped:
            _save_mapped(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _save_mapped(source: Path, path: Path) -> None:
    import onnx_ir

    data = path.with_name(path.name + ".data")
    staging = path.with_name(f".{path.stem}.{os.getpid()}.staging")
    staging.mkdir(exist_ok=True)
    try:
        onnx_ir.save(
            onnx_ir.load(source),
            staging / path.name,
            external_data=data.name,
            alignment=65536,
            align_threshold=4096,
        )
        os.replace(staging / data.name, data)  # the weights first: the graph names them
        os.replace(staging / path.name, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def text_tokens(clip: ClipModel, texts) -> np.ndarray:
    from .clip import trim_tokens

    tokens = clip.tokenizer(list(texts))
    return (trim_tokens(tokens) if clip.trims_text else tokens).numpy()


def export_text(clip: ClipModel) -> Path | None:
    """The checked text.onnx of this model's weights, exported now if need be; None
    when the export does not match torch (search then keeps the torch path)."""
    import torch

    path = export_dir(clip.weights_id) / "text.onnx"
    note = read_note(path)
    if note:
        return path if note.get("ok") else None
    example = torch.from_numpy(text_tokens(clip, TEXT_PROBES[:2]))
    _export(
        _text_module(clip),
        example,
        path,
        {"input": {0: "batch", 1: "length"}, "vectors": {0: "batch"}},
        mapped=True,
    )
    from .onnxrt import ort_session

    session = ort_session(path, "cpu", prepack=False)
    got = np.concatenate([session.run(None, {"input": text_tokens(clip, [t])})[0] for t in TEXT_PROBES])
    want = clip.embed_texts(list(TEXT_PROBES))
    cosine = float((got * want).sum(axis=1).min())
    ok = cosine >= TEXT_MIN_COSINE
    _write_note(
        path,
        {
            "model_id": clip.model_id,
            "weights_id": clip.weights_id,
            "trims": clip.trims_text,
            "dim": clip.dim,
            "ok": ok,
            "min_cosine": round(cosine, 7),
            "threshold": TEXT_MIN_COSINE,
        },
    )
    if not ok:
        path.unlink(missing_ok=True)  # the note stays: not exported again for these weights
    return path if ok else None


def prepare(clip: ClipModel, precision: str, tag_embeddings: np.ndarray, probes=()) -> dict:
    """Make this weights file's exports if they are missing (a no-op once made) and put
    the image tower on its CPU path; returns what runs and why. Random weights differ
    in every process, so nothing is exported for them: torch runs."""
    if clip.weights_id.startswith("random-"):
        return {"path": clip.image_path, "reason": "random weights are not exported"}
    if clip.device != "cpu":  # the exports are made from the CPU fp32 model
        return {"path": clip.image_path, "reason": f"{clip.device}: torch runs the model"}
    try:
        with clip.lock:  # no photo is embedded while the model is traced
            export_text(clip)
            return choose_image_path(clip, precision, tag_embeddings, probes)
    except Exception as e:  # noqa: BLE001 - an export the exporter cannot make leaves torch
        return {"path": clip.image_path, "reason": f"no ONNX export ({type(e).__name__}: {e})"}


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
        return np.stack([recent[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def _encode(self, texts: list[str]) -> np.ndarray:
        from .cliptok import Tokenizer
        from .onnxrt import ort_session

        if self._session is None:
            # No prepacking: it copies every weight to run one query a little faster.
            self._session = ort_session(self.path, "cpu", prepack=False)
            self._tokenizer = Tokenizer()
        tokens = self._tokenizer(texts)
        if self._trims:
            tokens = tokens[:, : int(tokens.argmax(axis=1).max()) + 1]
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
            np.savez(tmp, texts=np.array([t for t, _ in keep]), vectors=np.stack([v for _, v in keep]))
            os.replace(tmp, self._recent_path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a read-only cache only costs the next search time


def query_encoder(weights: Path) -> QueryEncoder | None:
    """The exported, checked text tower of this weights file, if there is one (no torch)."""
    path = export_dir(file_digest(weights)) / "text.onnx"
    note = read_note(path)
    return QueryEncoder(path, note) if note.get("ok") else None


# -- image tower: the CPU path ---------------------------------------------------------

INT8_MIN_COSINE = 0.995
INT8_MIN_TOP5 = 0.95
_PROBES = 24


def _image_module(clip: ClipModel):
    import torch

    class ImageTower(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, pixels):
            return torch.nn.functional.normalize(self.model.encode_image(pixels).float(), dim=-1)

    return ImageTower(clip.torch_model).eval()


def export_image(clip: ClipModel) -> tuple[Path, Path]:
    """(fp32, int8) image tower exports of these weights, made now if missing."""
    import torch

    folder = export_dir(clip.weights_id)
    fp32, int8 = folder / "image-fp32.onnx", folder / "image-int8.onnx"
    if not fp32.is_file():
        example = torch.zeros(2, 3, clip.image_size, clip.image_size)
        _export(_image_module(clip), example, fp32, {"input": {0: "batch"}, "vectors": {0: "batch"}})
    if not int8.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = int8.with_name(f".{int8.stem}.{os.getpid()}.tmp.onnx")
        try:
            quantize_dynamic(fp32, tmp, weight_type=QuantType.QInt8)
            os.replace(tmp, int8)
        finally:
            tmp.unlink(missing_ok=True)
    return fp32, int8


def probe_images(extra=()) -> list:
    """The fixed probe set: deterministic pictures (gradients, shapes, textures, noise at
    several scales) plus any photos given (the library's first ones)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(20261129)
    images = []
    for i in range(_PROBES):
        side = 256
        base = rng.integers(0, 256, (2, 2, 3)).astype(np.uint8)
        im = Image.fromarray(base).resize((side, side), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(im)
        for _ in range(1 + i % 6):
            box = sorted(rng.integers(0, side, 2).tolist()) + sorted(rng.integers(0, side, 2).tolist())
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if i % 2 else draw.rectangle)((box[0], box[2], box[1], box[3]), fill=colour)
        if i % 3 == 0:
            grain = rng.integers(-40, 40, (side, side, 3))
            im = Image.fromarray(np.clip(np.asarray(im, np.int16) + grain, 0, 255).astype(np.uint8))
        images.append(im)
    for path in extra:
        try:
            from ..imaging import load_image

            images.append(load_image(path, max_side=512))
        except Exception:  # noqa: BLE001, S112 - an unreadable photo is just not a probe
            continue
    return images


def check_int8(
    clip: ClipModel,
    int8: Path,
    tag_embeddings: np.ndarray,
    extra=(),
    min_cosine: float = INT8_MIN_COSINE,
    min_top5: float = INT8_MIN_TOP5,
) -> dict:
    """int8 against torch fp32 on the probe set: mean cosine of the embeddings and the
    mean share of each image's top-5 tags that both agree on."""
    from .onnxrt import ort_session

    images = probe_images(extra)
    tensors = [clip.preprocess(im) for im in images]
    want = clip.embed_torch(tensors)
    got = _run_image(ort_session(int8, "cpu"), tensors)
    cosine = float((want * got).sum(axis=1).mean())
    top_want = np.argsort(-(want @ tag_embeddings.T), axis=1)[:, :5]
    top_got = np.argsort(-(got @ tag_embeddings.T), axis=1)[:, :5]
    top5 = float(np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top_want, top_got)]))
    ok = cosine >= min_cosine and top5 >= min_top5
    why = (
        ""
        if ok
        else "int8 differs from fp32 too much: "
        + ", ".join(
            [f"mean cosine {cosine:.4f} < {min_cosine}"] * (cosine < min_cosine)
            + [f"top-5 tag agreement {top5:.3f} < {min_top5}"] * (top5 < min_top5)
        )
    )
    return {
        "ok": ok,
        "mean_cosine": round(cosine, 5),
        "top5_agreement": round(top5, 4),
        "probes": len(images),
        "min_cosine": min_cosine,
        "min_top5": min_top5,
        "reason": why,
    }


def _run_image(session, tensors) -> np.ndarray:
    batch = np.stack([np.asarray(t, np.float32) for t in tensors])
    return session.run(None, {"input": batch})[0].astype(np.float32)


def choose_image_path(
    clip: ClipModel, precision: str, tag_embeddings: np.ndarray, extra=(), **tolerance
) -> dict:
    """Put the image tower on onnxruntime (CPU only): int8 when forced, or under "auto"
    when its check passed (checked once per weights, the figures kept in
    image-int8.json), else fp32. Returns what runs and why ({"path", "reason", ...})."""
    if clip.device != "cpu":
        return {"path": f"torch {'fp16' if clip.device == 'cuda' else 'fp32'} ({clip.device})"}
    fp32, int8 = export_image(clip)
    check = read_note(int8)
    if not check or "mean_cosine" not in check:
        check = check_int8(clip, int8, tag_embeddings, extra, **tolerance)
        _write_note(int8, check)
    use_int8 = precision == "int8" or (precision == "auto" and check["ok"])
    reason = (
        "forced by --precision int8"
        if precision == "int8"
        else "forced by --precision fp32"
        if precision == "fp32"
        else "passed its check"
        if check["ok"]
        else check["reason"]
    )
    path = int8 if use_int8 else fp32
    from .onnxrt import ort_session

    clip.use_onnx(ort_session(path, "cpu"), f"onnxruntime {'int8' if use_int8 else 'fp32'}")
    return {**check, "path": clip.image_path, "reason": reason}


def describe(weights: Path, precision: str) -> dict:
    """What runs this weights file on the CPU and the figures behind it, from the notes
    alone (no model is loaded): for `photoorg models list`."""
    folder = export_dir(file_digest(weights))
    text, check = read_note(folder / "text.onnx"), read_note(folder / "image-int8.onnx")
    if not check:
        image = "decided at the first index (int8 if it passes its check)"
    elif precision in ("int8", "fp32"):
        image = f"onnxruntime {precision} (forced by the precision setting)"
    else:
        image = "onnxruntime int8" if check["ok"] else "onnxruntime fp32"
    if check:
        image += (
            f"; int8 check on {check['probes']} probes: mean cosine "
            f"{check['mean_cosine']:.4f} (>= {check['min_cosine']}), top-5 tag agreement "
            f"{check['top5_agreement']:.3f} (>= {check['min_top5']})" + ("" if check["ok"] else ": failed")
        )
    search = (
        f"onnxruntime text tower (min cosine {text['min_cosine']:.7f} to torch, >= {text['threshold']})"
        if text.get("ok")
        else "torch (no checked ONNX export yet)"
    )
    return {"image": image, "search": search, "int8_check": check or None, "text_check": text or None}
