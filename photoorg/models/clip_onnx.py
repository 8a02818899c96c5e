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

Image tower (image-fp32.onnx, image-int8.onnx: onnxruntime's quantize_dynamic of the
MatMul and Gemm weights to int8, activations quantized per batch, each GELU one
operator (clip_fuse.py); see INT8_SCHEME):
the indexer's CPU path. int8 runs by default only when it passes its check against
torch fp32 (check_int8) on a fixed probe set (24 deterministic pictures plus the
library's first photos): mean cosine >= 0.995 and top-5 tag agreement >= 0.95 over
the vocabulary; otherwise fp32, with the reason. The same probes hold the fp32 export
to torch (every cosine >= 0.9999). The figures are kept in image-int8.json (checked
once per weights and quantization recipe) and shown by `photoorg models list`; the
precision setting or `index --precision` forces either. On a GPU torch keeps running
the model (fp16).

Once all of that has passed, an index run does not import torch at all (ExportedClip,
load_exported): `photoorg index` of 40 COCO photos peaked at 733 MiB with fp32 (2.05 GB
through torch); see modelset.py for the whole run's figures.

Why int8 gains 1.4-1.7x here, not the 3.2x the issue saw: onnxruntime's profile of
batch 8 (this 2-core AMD EPYC, AVX2 without VNNI) puts 78-81% of the int8 model's time
in DynamicQuantizeMatMul, and with uint8 weights that was only 1.2x faster than fp32's
MatMul and Gemm; 7-bit int8 weights take a faster kernel (INT8_SCHEME). ConvInteger
was 3.5x slower than the fp32 Conv (now left in fp32). CPU seconds per image (2
threads, interleaved, loaded machine): fp32 0.204, uint8 weights 0.149. The transformer
optimizer (it finds no attention to fuse in the dynamo export; attention is under 5% of
the time anyway) and the TorchScript exporter (it cannot export the fused attention)
gave nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .onnxrt import normalized_planes
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
    note = _read_json(path.with_suffix(".json"))
    return note if path.is_file() or not note.get("ok") else {}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


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
        # verbose=False: the exporter's progress lines and its advice about dynamic_axes
        # are for model authors; a user preparing a model sees one line of ours.
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*dynamic_axes.*")
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
                verbose=False,
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
    if isinstance(clip, ExportedClip):  # loaded from the exports: nothing left to make
        return clip.path_info
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


class TextEncoder:
    """The exported text tower and the torch-free tokenizer, both opened at the first
    call: unit embeddings of texts, without torch."""

    def __init__(self, path: Path, trims: bool):
        self.path, self._trims = path, trims
        self._session = self._tokenizer = None
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        from .cliptok import Tokenizer
        from .onnxrt import ort_session

        with self._lock:
            if self._session is None:
                # No prepacking: it copies every weight to run a few texts a little faster.
                self._session = ort_session(self.path, "cpu", prepack=False)
                self._tokenizer = Tokenizer()
        tokens = self._tokenizer(texts)
        if self._trims:
            tokens = tokens[:, : int(tokens.argmax(axis=1).max()) + 1]
        return self._session.run(None, {"input": tokens})[0].astype(np.float32)


RECENT = 256  # query embeddings remembered per model weights, across processes


class QueryEncoder:
    """The text tower through onnxruntime, for search: no torch, and the last RECENT
    queries' embeddings kept on disk, so repeating a search skips even the session."""

    def __init__(self, path: Path, note: dict):
        self.path, self.model_id, self.dim = path, note["model_id"], note["dim"]
        self._encode = TextEncoder(path, note["trims"])
        self._recent_path = path.with_name("recent-queries.npz")
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
# What quantize_dynamic is asked for (kept in the check's note: a new recipe re-makes and
# re-checks the export): the MatMul and Gemm weights as int8 in 7 bits, per output
# channel, except the last one, the projection to the embedding (one token per image, so
# its cost is nil). Activations are quantized per run.
# - int8 weights take onnxruntime's fast AVX2 kernel (uint8 activations times int8
#   weights, VPMADDUBSW; this CPU has no VNNI); 7 bits keep its int16 pair sums from
#   saturating (8 bits: mean cosine 0.990, top-5 0.93). Model alone, one thread, batch
#   8, quiet: 10.3 images/s against 8.5 for uint8 weights; thread CPU 100 against
#   123 ms per image (loaded).
# - The projection in fp32 is what makes 7 bits as faithful as uint8 weights were.
#   Random ViT-B-32-256, the 24 probes (and 40 COCO photos beside them): 7-bit per
#   channel with the projection in fp32, mean cosine 0.99988, top-5 agreement 0.967
#   (0.975); projection quantized too, 0.99973 / 0.942 (fails); per tensor 0.9996 /
#   0.917; uint8 weights (the recipe until session 5) 0.99983 / 0.967 (0.9625).
# - Only MatMul and Gemm: onnxruntime's ConvInteger (the patch embedding) took 3.5x the
#   fp32 Conv's time, 11% of the model.
# - Then each GELU as one com.microsoft Gelu (clip_fuse.py), on the quantized graph:
#   onnxruntime's profile, one thread, batch 8, per image: Gelu 3.8 ms against 7.8 for
#   the Div, Erf, Add and Mul passes it replaces. The whole model, A/B alternated
#   (bench/onnx_ab.py, five runs of 12-16 rounds, loaded machine): thread CPU median
#   93.4 against 97.4 ms per image, 0.95-0.98x (median 0.961). Outputs against the
#   unfused int8 model: min cosine 0.99998. Probes: mean cosine 0.99988, top-5 0.975
#   (unfused 0.99988 / 0.967); with 40 COCO photos 0.99988 / 0.972 (0.99988 / 0.975).
#   Tried on top and not kept, each about 2 ms per image in the profile and within
#   this machine's noise in A/B: the attention blocks as com.microsoft
#   MultiHeadAttention (0.98-1.01x; the CPU kernel has no packed-QKV form) and the
#   patch embedding's Conv as a quantized MatMul over patches (0.93-0.98x, outputs
#   further off: min cosine 0.99991); both together 0.96-0.99x. Quiet, 12 rounds: the
#   patch MatMul 0.961-0.971x, with the attention 0.937x; but with the patch embedding
#   quantized the check's top-5 agreement fell to 0.950 on the 24 probes (fails the
#   0.95 bar; 0.975 without), and a failed check means fp32, 3x slower: not kept.
INT8_SCHEME = "dynamic, MatMul and Gemm but the projection, int8 weights in 7 bits, per channel; GELU fused"
FP32_MIN_COSINE = 0.9999  # the fp32 export must be torch's model (checked with int8's probes)
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
    if read_note(int8).get("scheme") != INT8_SCHEME:  # made by an older recipe: again
        int8.unlink(missing_ok=True)
    if not int8.is_file():
        _quantize(fp32, int8)
    return fp32, int8


def _quantize(fp32: Path, int8: Path) -> None:
    """int8 made from fp32 by INT8_SCHEME's recipe: quantize_dynamic, then each GELU as
    one operator (clip_fuse.py), through a temporary file beside int8."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .clip_fuse import fused_graph

    tmp = int8.with_name(f".{int8.stem}.{os.getpid()}.tmp.onnx")
    try:
        with _root_logger_silenced():
            quantize_dynamic(
                fp32,
                tmp,
                op_types_to_quantize=["MatMul", "Gemm"],
                nodes_to_exclude=[_projection(fp32)],
                weight_type=QuantType.QInt8,
                reduce_range=True,
                per_channel=True,
            )
        onnx.save(fused_graph(tmp), str(tmp))
        os.replace(tmp, int8)
    finally:
        tmp.unlink(missing_ok=True)


def _projection(model: Path) -> str:
    """The name of the graph's last MatMul or Gemm: the projection to the embedding
    (ONNX keeps nodes in topological order)."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type in ("MatMul", "Gemm")][-1]


@contextlib.contextmanager
def _root_logger_silenced():
    """quantize_dynamic logs "consider pre-processing" through logging.warning, which
    also installs a stderr handler on the root logger when it has none. That pass was
    measured here and gave no speed (ViT-B-32-256, 2 cores); a user preparing a model
    should see our one line, not its advice. A NullHandler keeps basicConfig away."""
    root, quiet = logging.getLogger(), logging.NullHandler()
    level = root.level
    root.addHandler(quiet)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
        root.removeHandler(quiet)


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
    mean share of each image's top-5 tags that both agree on. The fp32 export is held
    to torch on the same probes (every cosine >= FP32_MIN_COSINE): only then may an
    index run use the exports without loading torch at all (load_exported)."""
    from .onnxrt import ort_session

    images = probe_images(extra)
    tensors = [clip.preprocess(im) for im in images]
    want = clip.embed_torch(tensors)
    got = _run_image(ort_session(int8, "cpu"), tensors)
    fp32 = _run_image(ort_session(int8.with_name("image-fp32.onnx"), "cpu", prepack=False), tensors)
    fp32_cosine = float((want * fp32).sum(axis=1).min())
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
        "fp32_min_cosine": round(fp32_cosine, 7),
        "fp32_ok": fp32_cosine >= FP32_MIN_COSINE,
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
    if check.get("scheme") != INT8_SCHEME:  # none yet, or of an older recipe
        check = {**check_int8(clip, int8, tag_embeddings, extra, **tolerance), "scheme": INT8_SCHEME}
        _write_note(int8, check)
    write_facts(clip)
    use_int8, reason = _choice(precision, check)
    if not (use_int8 or check["fp32_ok"]):
        why = f"the fp32 export differs from torch (min cosine {check['fp32_min_cosine']})"
        return {**check, "path": clip.image_path, "reason": why}
    clip.use_onnx(
        image_session(int8 if use_int8 else fp32, use_int8), f"onnxruntime {'int8' if use_int8 else 'fp32'}"
    )
    return {**check, "path": clip.image_path, "reason": reason}


def image_session(path: Path, int8: bool):
    """The image tower's CPU session. int8 runs as two sessions side by side
    (onnxrt.SplitSession): the 294 COCO photos, CLIP only, quiet 2-core machine, 23.96-
    25.86 s against 26.66-27.66 s, peak RSS 693-708 MiB against 536-585. fp32 keeps one:
    a second copy of its weights would cost 350 MB more."""
    from .onnxrt import SplitSession, ort_session

    return SplitSession(path) if int8 else ort_session(path, "cpu")


def _choice(precision: str, check: dict) -> tuple[bool, str]:
    """(whether int8 runs, why) for a precision setting and the int8 check's note."""
    if precision in ("int8", "fp32"):
        return precision == "int8", f"forced by --precision {precision}"
    return bool(check["ok"]), "passed its check" if check["ok"] else check["reason"]


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


# -- an index run without torch -------------------------------------------------------
#
# Once a weights file's exports exist and have passed their checks (text tower, fp32
# image tower against torch, int8 check), an index run needs nothing of torch: the
# image tower runs through onnxruntime, the vocabulary comes from the text cache (and
# a missing prompt through the text export), and open_clip's eval transform is
# repeated in PIL + numpy from the numbers recorded at export (model.json). Importing
# torch, torchvision and open_clip alone cost 892 MiB and 3-5 s here.

# torchvision's InterpolationMode values -> PIL's filters (torchvision.transforms.functional
# resizes PIL images with PIL itself, so the same filter gives the same pixels)
_PIL_FILTERS = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
_PLAIN_STEPS = {"MaybeConvertMode", "MaybeToTensor", "ToTensor"}  # RGB and to floats in 0..1


def transform_recipe(preprocess) -> dict | None:
    """open_clip's eval transform as numbers, when it is the usual chain (resize, centre
    crop, RGB, to tensor, normalise; no padding); None for anything else (the torch
    model then keeps running it)."""
    from torchvision import transforms as T

    recipe: dict = {}
    for step in preprocess.transforms:
        kind = type(step).__name__
        if isinstance(step, T.Resize) and step.max_size is None and step.interpolation.value in _PIL_FILTERS:
            size = [step.size] if isinstance(step.size, int) else list(step.size)
            recipe.update(resize=size, interpolation=step.interpolation.value)
        elif isinstance(step, T.CenterCrop):
            recipe["crop"] = list(step.size)
        elif isinstance(step, T.Normalize):
            recipe.update(mean=[float(m) for m in step.mean], std=[float(v) for v in step.std])
        elif getattr(step, "mode", "RGB") != "RGB" or kind not in _PLAIN_STEPS | {"function"}:
            return None
        elif kind == "function" and step.__name__ != "_convert_to_rgb":
            return None
    if not {"resize", "crop", "mean"} <= recipe.keys():
        return None
    side = recipe["resize"]
    if (
        len(side) == 1
        and max(recipe["crop"]) > side[0]
        or len(side) == 2
        and (recipe["crop"][0] > side[0] or recipe["crop"][1] > side[1])
    ):
        return None  # a crop larger than the image would be padded: not repeated here
    return recipe


def pil_preprocess(image, recipe: dict) -> np.ndarray:
    """torchvision's Resize, CenterCrop, ToTensor and Normalize on a PIL image, in PIL
    and numpy: the same float32 pixels (tests/test_clip_paths.py compares them)."""
    image = image.convert("RGB")
    w, h = image.size
    if len(recipe["resize"]) == 1:  # the shorter side to the size, as torchvision rounds it
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = recipe["resize"][0], int(recipe["resize"][0] * long / short)
        size = (new_short, new_long) if w <= h else (new_long, new_short)
    else:
        size = (recipe["resize"][1], recipe["resize"][0])
    if size != (w, h):
        image = image.resize(size, _PIL_FILTERS[recipe["interpolation"]])
    (crop_h, crop_w), (w, h) = recipe["crop"], image.size
    top, left = int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0))
    image = image.crop((left, top, left + crop_w, top + crop_h))
    return normalized_planes(image, recipe["mean"], recipe["std"])


def write_facts(clip: ClipModel) -> None:
    """model.json: what load_exported needs to know of the model without loading it."""
    recipe = transform_recipe(clip._preprocess)
    if recipe is None:
        return
    facts = {
        "model_id": clip.model_id,
        "dim": clip.dim,
        "image_size": clip.image_size,
        "logit_scale": clip.logit_scale,
        "trims": clip.trims_text,
        "transform": recipe,
    }
    path = export_dir(clip.weights_id) / "model.json"
    if _read_json(path) != facts:
        _write_note(path, facts)


class ExportedClip:
    """CLIP on the CPU without torch: ClipModel's interface over the checked exports."""

    device = "cpu"

    def __init__(self, folder: Path, weights_id: str, facts: dict, session, path_info: dict):
        self.model_id, self.weights_id = facts["model_id"], weights_id
        self.dim, self.image_size = facts["dim"], facts["image_size"]
        self.logit_scale, self.trims_text = facts["logit_scale"], facts["trims"]
        self._recipe = facts["transform"]
        self._session = session
        self._text = TextEncoder(folder / "text.onnx", self.trims_text)
        self.lock = threading.RLock()
        self.image_path, self.path_info = path_info["path"], path_info

    def preprocess(self, image) -> np.ndarray:
        return pil_preprocess(image, self._recipe)

    def embed_images(self, images: list) -> np.ndarray:
        return self.embed_preprocessed([self.preprocess(im) for im in images])

    def embed_preprocessed(self, arrays: list) -> np.ndarray:
        if not arrays:
            return np.zeros((0, self.dim), np.float32)
        return _run_image(self._session, arrays)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self._text(list(texts))


def load_exported(model_id: str, weights: Path | None, precision: str) -> ExportedClip | None:
    """This weights file's CLIP without torch, when its exports passed their checks and
    its facts were recorded; None otherwise (the torch model then loads and makes them)."""
    if weights is None:
        return None
    weights_id = file_digest(weights)
    folder = export_dir(weights_id)
    facts, check = _read_json(folder / "model.json"), read_note(folder / "image-int8.onnx")
    if facts.get("model_id") != model_id or not read_note(folder / "text.onnx").get("ok"):
        return None
    if not check.get("fp32_ok") or check.get("scheme") != INT8_SCHEME:
        return None
    use_int8, reason = _choice(precision, check)
    image = folder / f"image-{'int8' if use_int8 else 'fp32'}.onnx"
    if not image.is_file():
        return None
    info = {**check, "path": f"onnxruntime {'int8' if use_int8 else 'fp32'}", "reason": reason}
    return ExportedClip(folder, weights_id, facts, image_session(image, use_int8), info)
