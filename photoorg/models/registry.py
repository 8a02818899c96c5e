"""Which models photoorg knows, where their weights come from, and the local weight store.

Every file comes from where its authors publish it: open_clip's Hugging Face repos
(the `hf_hub` entries of `open_clip.get_pretrained_cfg`, fetched as
`https://huggingface.co/<repo>/resolve/main/open_clip_model.safetensors`, the file
open_clip itself prefers), torchvision's weight enums (`Weights.url`), and the
YOLOX and rembg GitHub releases, and dlib.net for the face models (dlib's own
bz2-compressed files; the store unpacks them, and checks the sha256 of the unpacked
file, the form every copy shares), and the PicoDet ONNX file at a pinned commit.
dlib's HOG face detector is built into dlib and needs no file. Nothing is fetched unless the user asks.

Checksums: YOLOX-Nano and U2-Netp have published sha256 sums; PicoDet-S is pinned to
the sha256 of the file at a fixed commit of hpc203/picodet-onnxruntime (PaddleDetection's
own export of that name was not checked byte for byte). torchvision publishes
the first hex digits of each file's sha256 in its file name (the torch.hub
convention), which the store checks. open_clip publishes no checksum; for those
the store records the sha256 of the file it got, so later corruption shows.
CLIP sizes are the fp32 state-dict sizes (the safetensors header adds a few KiB);
torchvision sizes come from the enums' `_file_size` (MiB, three decimals).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import UserError
from ..fileio import atomic_write_text
from ..progress import Progress, Work, drive
from .thresholds import ClassThresholds


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: str  # "clip" | "detector" | "segmenter" | "face" | "face-landmarks"
    backend: str  # "open_clip" | "torchvision" | "onnx" | "dlib"
    arch: str
    url: str
    sha256: str | None
    size_bytes: int
    licence: str
    filename: str
    pretrained_tag: str | None = None
    summary: str = ""
    # Detectors: per-class score cuts calibrated on labelled photos (thresholds.ClassThresholds).
    thresholds: Mapping[str, ClassThresholds] | None = None


@dataclass(frozen=True)
class ModelStatus:
    name: str
    role: str
    installed: bool
    size: int  # bytes on disk when installed, else the download size
    licence: str
    summary: str
    is_default: bool
    path: Path | None = None
    verified: bool | None = None  # None: not installed; False: no checksum matched


_HF = "https://huggingface.co/{}/resolve/main/open_clip_model.safetensors"
_TV = "https://download.pytorch.org/models/{}"
_DLIB = "https://dlib.net/files/{}.bz2"
# Davis King's model files, released into the public domain (CC0) with dlib's examples.
_DLIB_LICENCE = "CC0-1.0 (public domain; dlib.net model files)"
_TV_LICENCE = "BSD-3-Clause code; COCO-trained weights, dataset terms may apply (torchvision)"
_MIB = 1024 * 1024


def _clip(name, arch, tag, repo, size, licence, summary) -> ModelSpec:
    return ModelSpec(
        name,
        "clip",
        "open_clip",
        arch,
        _HF.format(repo),
        None,
        size,
        licence,
        f"{name}.safetensors",
        tag,
        summary,
    )


def _tv(name, role, arch, file, mib, summary) -> ModelSpec:
    return ModelSpec(
        name,
        role,
        "torchvision",
        arch,
        _TV.format(file),
        None,
        round(mib * _MIB),
        _TV_LICENCE,
        file,
        None,
        summary,
    )


_T = ClassThresholds
# Calibrated on coco-train-mini (294 photos) by bench/quality.py, which prints each cut's
# precision/recall (the README has them): draw = the box-level F1-optimal score (IoU 0.5,
# not under 0.25); count = the lowest score whose boxes are >= 90% right; tag = the lowest
# score at which the photos whose best box of the label passes are >= 90% right (never
# under draw). "*" pools the animals with too few photos of their own (under 8).
_PICODET_THRESHOLDS = {
    "person": _T(0.42, 0.54, 0.42),
    "dog": _T(0.40, 0.50, 0.40),
    "cat": _T(0.54, 0.54, 0.54),
    "*": _T(0.46, 0.46, 0.46),
}
_YOLOX_THRESHOLDS = {
    "person": _T(0.32, 0.49, 0.32),
    "dog": _T(0.25, 0.54, 0.52),
    "cat": _T(0.55, 0.55, 0.55),
    "*": _T(0.26, 0.45, 0.26),
}

_SPECS = (
    _clip(
        "clip-vit-b-32-laion2b",
        "ViT-B-32",
        "laion2b_s34b_b79k",
        "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        605_109_252,
        "MIT",
        "OpenCLIP ViT-B/32 on LAION-2B, 66.6% ImageNet zero-shot, 224 px",
    ),
    _clip(
        "clip-vit-b-32-datacomp-xl",
        "ViT-B-32",
        "datacomp_xl_s13b_b90k",
        "laion/CLIP-ViT-B-32-DataComp.XL-s13B-b90K",
        605_109_252,
        "MIT",
        "OpenCLIP ViT-B/32 on DataComp-XL, 69.2% ImageNet zero-shot, 224 px",
    ),
    _clip(
        "clip-vit-b-32-256-datacomp",
        "ViT-B-32-256",
        "datacomp_s34b_b86k",
        "laion/CLIP-ViT-B-32-256x256-DataComp-s34B-b86K",
        605_155_332,
        "MIT",
        "OpenCLIP ViT-B/32 at 256 px on DataComp-1B, 72.8% ImageNet zero-shot",
    ),
    _clip(
        "mobileclip-s1",
        "MobileCLIP-S1",
        "datacompdr",
        "apple/MobileCLIP-S1-OpenCLIP",
        340_237_956,
        "Apple model licence (see the model card); not an open-source licence",
        "Apple MobileCLIP-S1, 72.6% ImageNet zero-shot, 256 px",
    ),
    _clip(
        "mobileclip-s2",
        "MobileCLIP-S2",
        "datacompdr",
        "apple/MobileCLIP-S2-OpenCLIP",
        397_473_060,
        "Apple model licence (see the model card); not an open-source licence",
        "Apple MobileCLIP-S2, 74.4% ImageNet zero-shot, 256 px",
    ),
    ModelSpec(
        "picodet-s",
        "detector",
        "onnx",
        "picodet",
        "https://github.com/hpc203/picodet-onnxruntime/raw/"
        "dfe4d6cd0a18cd4126ee381e81df8a0b1e6ad97b/coco/picodet_s_416_coco.onnx",
        "cdab77bdde16e4f76bec734c4e5791801d1739e4c7ec1995e0e110e04300d0c2",
        4_040_573,
        "Apache-2.0",
        "picodet_s_416_coco.onnx",
        None,
        "PP-PicoDet-S (onnxruntime), 30.6 COCO box mAP at 416 px, ~15 ms/photo on a CPU",
        _PICODET_THRESHOLDS,
    ),
    ModelSpec(
        "yolox-nano",
        "detector",
        "onnx",
        "yolox",
        "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",
        "c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d",
        3_659_407,
        "Apache-2.0",
        "yolox_nano.onnx",
        None,
        "YOLOX-Nano (onnxruntime), 25.8 COCO box mAP at 416 px, ~10 ms/photo on a CPU",
        _YOLOX_THRESHOLDS,
    ),
    _tv(
        "fasterrcnn-mobilenet-v3",
        "detector",
        "fasterrcnn_mobilenet_v3_large_fpn",
        "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth",
        74.239,
        "torchvision Faster R-CNN MobileNetV3-Large FPN, 32.8 COCO box mAP",
    ),
    _tv(
        "retinanet-resnet50-v2",
        "detector",
        "retinanet_resnet50_fpn_v2",
        "retinanet_resnet50_fpn_v2_coco-5905b1c5.pth",
        146.037,
        "torchvision RetinaNet ResNet-50 FPN v2, 41.5 COCO box mAP",
    ),
    _tv(
        "fasterrcnn-resnet50-v2",
        "detector",
        "fasterrcnn_resnet50_fpn_v2",
        "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth",
        167.104,
        "torchvision Faster R-CNN ResNet-50 FPN v2, 46.7 COCO box mAP (GPU default)",
    ),
    ModelSpec(
        "u2netp",
        "segmenter",
        "onnx",
        "u2net",
        "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2netp.onnx",
        "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
        4_574_861,
        "Apache-2.0",
        "u2netp.onnx",
        None,
        "U2-Netp salient-object masks (onnxruntime), ~0.25 s per subject on a CPU",
    ),
    _tv(
        "maskrcnn-resnet50-v2",
        "segmenter",
        "maskrcnn_resnet50_fpn_v2",
        "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
        177.219,
        "torchvision Mask R-CNN ResNet-50 FPN v2, 47.4 box / 41.8 mask COCO mAP",
    ),
    # Sizes are the unpacked files' (the .bz2 downloads are smaller); the sha256 sums are
    # of the unpacked files as PyPI face-recognition-models 0.3.0 carries them.
    ModelSpec(
        "dlib-face-resnet-v1",
        "face",
        "dlib",
        "resnet",
        _DLIB.format("dlib_face_recognition_resnet_model_v1.dat"),
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        22_466_066,
        _DLIB_LICENCE,
        "dlib_face_recognition_resnet_model_v1.dat",
        None,
        "dlib ResNet face descriptor (128-d), 99.38% on LFW (published); with dlib's HOG face detector",
    ),
    ModelSpec(
        "dlib-face-landmarks-5",
        "face-landmarks",
        "dlib",
        "shape_predictor",
        _DLIB.format("shape_predictor_5_face_landmarks.dat"),
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        9_150_489,
        _DLIB_LICENCE,
        "shape_predictor_5_face_landmarks.dat",
        None,
        "dlib 5-point face landmarks, to align a face before its descriptor",
    ),
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}

# CLIP default, measured with bench/clip_speed.py on this 2-core CPU (torch threads =
# cores, batch 8, images/s of the image encoder; published ImageNet zero-shot):
#   ViT-B-32 laion2b 22.6 / 66.6%       ViT-B-32 datacomp-xl 20.4 / 69.2%
#   ViT-B-32-256 datacomp 16.8 / 72.8%  MobileCLIP-S1 25.1 / 72.6%  MobileCLIP-S2 16.9 / 74.4%
# MobileCLIP-S1 is the fastest and within 0.2 points of ViT-B-32-256, but its weights
# come under Apple's own model licence, not an open-source one; an open-source app
# should not make users accept that by default. So the default is ViT-B-32-256 on
# DataComp (MIT, 72.8%), and MobileCLIP stays one settings line away.
# Detector: PP-PicoDet-S over YOLOX-Nano, bench/quality.py on coco-train-mini (box AP
# person/dog/cat 0.440/0.596/0.807 against 0.393/0.518/0.607) for about 1.4x the model
# time (a few ms more per photo; the README has the figures). Segmenter: U2-Netp.
DEFAULTS: dict[str, str] = {
    "clip": "clip-vit-b-32-256-datacomp",
    "detector": "picodet-s",
    "segmenter": "u2netp",
    "face": "dlib-face-resnet-v1",
    "face-landmarks": "dlib-face-landmarks-5",
}

ROLES = ("clip", "detector", "segmenter", "face", "face-landmarks")

# torch.hub names files "<name>-<first sha256 hex digits>.<ext>" and checks that prefix.
_BZ2_MAGIC = b"BZh"
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")
_CHUNK = 1 << 20
_TIMEOUT_S = 10


class ModelError(UserError):
    """Base of every model/weights problem the user can act on; str() is one sentence."""


class UnknownModel(ModelError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(
            f"There is no model called {name!r}; `photoorg models list` shows "
            f"the known ones ({', '.join(MODELS)})."
        )


class ModelMissing(ModelError):
    def __init__(self, name: str):
        self.name = name
        role = MODELS[name].role if name in MODELS else "model"
        super().__init__(
            f"The {role} model {name!r} is not installed: run `photoorg models download {name}`, "
            f"or on a machine without internet `photoorg models import {name} FILE`."
        )


class DownloadFailed(ModelError):
    """No network, a refused connection or an HTTP error; nothing half-written is kept."""


class ChecksumMismatch(ModelError):
    """The file is not the one the registry names."""


def spec_for_model_id(model_id: str) -> ModelSpec | None:
    """The spec whose model made results recorded as `model_id` ("onnx:yolox-nano",
    "torchvision:<arch>:<weights>", either with "+random"); None when none did."""
    parts = model_id.removesuffix("+random").split(":")
    for spec in MODELS.values():
        if parts[:2] in (["onnx", spec.name], ["torchvision", spec.arch]):
            return spec
    return None


def spec_for(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModel(name) from None


def expected_sha256(spec: ModelSpec) -> str | None:
    """The full published sha256, or the published prefix for torch.hub files."""
    if spec.sha256:
        return spec.sha256
    match = _HASH_IN_NAME.search(spec.filename) if spec.backend == "torchvision" else None
    return match.group(1) if match else None


def _matches(expected: str | None, digest: str) -> bool:
    return expected is None or digest.startswith(expected)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


ProgressFn = Callable[[int, int], None]


class WeightStore:
    """Weight files under <library>/models/, one per model, with a JSON note beside each."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, name: str) -> Path | None:
        target = self.root / spec_for(name).filename
        return target if target.is_file() else None

    def require(self, name: str) -> Path:
        found = self.path(name)
        if found is None:
            raise ModelMissing(name)
        return found

    def download(self, name: str, progress: ProgressFn | None = None, url: str | None = None) -> Path:
        """`downloading` run to the end; progress(done_bytes, total_bytes)."""
        return drive(self.downloading(name, url), (lambda p: progress(p.done, p.total)) if progress else None)

    def downloading(self, name: str, url: str | None = None) -> Work[Path]:
        """Fetch the official file (or `url`), check it, then move it into place,
        yielding Progress in bytes; closing the generator stops the download.

        Bytes go to `<file>.part`; an interrupted run leaves only that, and the next
        run continues it with an HTTP Range request when the server allows.
        """
        spec = spec_for(name)
        source = url or spec.url
        self.root.mkdir(parents=True, exist_ok=True)
        part = self.root / (spec.filename + ".part")
        digest = _unpacked(part, (yield from _fetch(name, source, part, spec.size_bytes)))
        expected = expected_sha256(spec)
        if not _matches(expected, digest):
            part.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"The download of {name!r} from {source} does not match its published checksum "
                f"(expected sha256 {expected}, got {digest}), so it was discarded."
            )
        return self._install(spec, part, digest, source, verified=expected is not None)

    def import_file(self, name: str, src: Path, allow_mismatch: bool = False) -> Path:
        """Copy a weights file the user already has into the store."""
        spec = spec_for(name)
        src = Path(src)
        if not src.is_file():
            raise ModelError(f"Cannot import {name!r}: {src} is not a readable file.")
        self.root.mkdir(parents=True, exist_ok=True)
        part = self.root / (spec.filename + ".part")
        shutil.copyfile(src, part)
        digest = _unpacked(part, _sha256(part))
        expected = expected_sha256(spec)
        verified = expected is not None and _matches(expected, digest)
        if expected is not None and not verified and not allow_mismatch:
            part.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{src} does not match the published checksum of {name!r} (expected sha256 "
                f"{expected}, got {digest}); if you trust this file, import it again with "
                f"--allow-mismatch."
            )
        return self._install(spec, part, digest, str(src.resolve()), verified)

    def status(self) -> list[ModelStatus]:
        rows = []
        for spec in MODELS.values():
            found = self.path(spec.name)
            note = self._read_note(spec) if found else {}
            rows.append(
                ModelStatus(
                    name=spec.name,
                    role=spec.role,
                    installed=found is not None,
                    size=found.stat().st_size if found else spec.size_bytes,
                    licence=spec.licence,
                    summary=spec.summary,
                    is_default=DEFAULTS.get(spec.role) == spec.name,
                    path=found,
                    verified=bool(note.get("verified")) if found else None,
                )
            )
        return rows

    def _install(self, spec: ModelSpec, part: Path, digest: str, source: str, verified: bool) -> Path:
        target = self.root / spec.filename
        # The note goes first: a file without a note is treated as unverified, never
        # the reverse, and os.replace makes the weights appear all at once.
        note = {"sha256": digest, "source": source, "verified": verified}
        atomic_write_text(self._note_path(spec), json.dumps(note, indent=1))
        os.replace(part, target)
        return target

    def _note_path(self, spec: ModelSpec) -> Path:
        return self.root / (spec.filename + ".json")

    def _read_note(self, spec: ModelSpec) -> dict:
        try:
            return json.loads(self._note_path(spec).read_text())
        except (OSError, ValueError):
            return {}


def _unpacked(part: Path, digest: str) -> str:
    """A bz2 file (dlib publishes its models so) is unpacked in place; returns the
    sha256 of what is kept. No model file of ours starts with bz2's magic otherwise."""
    import bz2

    with open(part, "rb") as f:
        if f.read(3) != _BZ2_MAGIC:
            return digest
    plain = part.with_name(part.name + ".unpacked")
    try:
        with bz2.open(part, "rb") as src, open(plain, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
    except (OSError, EOFError, ValueError) as e:
        plain.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
        raise ModelError(
            f"{part.name[:-5]} looks bz2-compressed but cannot be unpacked ({e}); fetch the file again."
        ) from None
    os.replace(plain, part)
    return _sha256(part)


def _fetch(name: str, url: str, part: Path, size_hint: int) -> Work[str]:
    """Stream `url` into `part` (continuing it if possible); returns the sha256 of the whole."""
    import urllib.error
    import urllib.request

    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "photoorg"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the part file is already complete, or stale
            part.unlink()
            return (yield from _fetch(name, url, part, size_hint))
        raise _failed(name, url, f"the server answered {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise _failed(name, url, _reason(e)) from None
    with response:
        resumed = have > 0 and response.status == 206
        digest = hashlib.sha256()
        if resumed:
            with open(part, "rb") as f:
                for chunk in iter(lambda: f.read(_CHUNK), b""):
                    digest.update(chunk)
        else:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else size_hint
        done = yield from _stream(name, url, response, part, "ab" if resumed else "wb", digest, have, total)
    if length and length.isdigit() and done != total:
        raise _failed(name, url, f"the connection ended after {done} of {total} bytes")
    return digest.hexdigest()


def _stream(name, url, response, part, mode, digest, done, total) -> Work[int]:
    import http.client

    started = time.monotonic()
    try:
        with open(part, mode) as out:
            yield Progress(f"download {name}", done, total, started)
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                yield Progress(f"download {name}", done, total, started)
    except http.client.HTTPException as e:  # e.g. IncompleteRead: the server hung up
        raise _failed(name, url, f"the connection broke ({type(e).__name__})") from None
    except OSError as e:  # socket timeouts and resets, a full disk
        raise _failed(name, url, _reason(e)) from None
    return done


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None) or error
    text = str(reason).strip() or type(reason).__name__
    return text.rstrip(".")


def _failed(name: str, url: str, why: str) -> DownloadFailed:
    host = urlparse(url).netloc or url
    return DownloadFailed(
        f"Could not download {name!r} from {host} ({why}); check the internet connection, "
        f"or fetch {url} elsewhere and run `photoorg models import {name} FILE`."
    )
