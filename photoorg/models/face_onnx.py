"""dlib's ResNet face descriptor through onnxruntime: the network read from dlib's own
weights file (dlib_face_recognition_resnet_model_v1.dat) and rebuilt as an ONNX graph.

Why: the dlib-bin wheel is built without BLAS, so its descriptor costs 0.11-0.14 s of
CPU per face here, most of the face work on a real photo. The same network in
onnxruntime costs 7-9 ms of CPU per face (2 shared cores, three faces in one batch),
with descriptors equal to dlib's: on faces-mini chips the smallest cosine is 0.9999998
and the largest difference 4e-7 (the check wants >= MIN_COSINE, <= MAX_ABS_DIFF).
Reading and rebuilding the 22 MB file takes about 1 s, once per weights file.

How: the file is dlib's binary serialisation of the `anet_type` network of dlib's
dnn_face_recognition_ex.cpp (a ResNet of 29 conv layers on a 150x150 aligned chip, the
chip get_face_chip makes). read_dlib_net reads it layer by layer and checks every
layer's kind and shape against that architecture (ARCHITECTURE below); anything else
(another network, a newer dlib format) raises NotConvertible with the reason, and the
face model keeps dlib's own descriptor. The serialisation, as dlib writes it:
- integers: one byte holding the length (low nibble) and the sign (0x80), then that
  many little-endian bytes; strings: that integer length, then the bytes; bools: the
  character '1' or '0'; floats and doubles: a mantissa (int64) and a base-2 exponent
  (int16), both as integers;
- tensors: a version (2), num_samples, k, nr, nc, then the data as little-endian
  float32; alias tensors: a version (1) and the four sizes, no data;
- a network: the loss layer (version, its details), then one version integer per
  layer from the output down to the input, the input layer's details, then each
  layer's details and bookkeeping (three bools and its cached tensors, empty in a
  saved model) from the input up. Tag and skip layers have only their version.

The export is made once per weights file (its sha256) into the user's cache folder
beside the CLIP exports, <cache>/onnx/<weights id>/face-resnet.onnx, and checked there
against dlib on deterministic probe chips plus the first real faces it meets; the JSON
note beside it says how it was checked and whether it passed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class NotConvertible(Exception):
    """The weights file is not the network this module knows how to rebuild."""


# -- reading dlib's serialisation --------------------------------------------------


class _Reader:
    """dlib's serialisation, one value at a time (the module docstring has the format)."""

    def __init__(self, data: bytes):
        self.data = data
        self.at = 0

    def _take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise NotConvertible("the file ends early")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def integer(self) -> int:
        head = self._take(1)[0]
        size = head & 0x0F
        if size > 8 or head & 0x70:
            raise NotConvertible(f"a bad integer header at byte {self.at - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if head & 0x80 else value

    def string(self) -> str:
        return self._take(self.integer()).decode("latin-1")

    def flag(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise NotConvertible(f"a bad bool at byte {self.at - 1}")
        return ch == b"1"

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        if exponent >= 32000:  # dlib's markers for inf, -inf, nan
            raise NotConvertible("a non-finite number in the file")
        return float(mantissa) * 2.0**exponent

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            raise NotConvertible("an unknown tensor version")
        shape = tuple(self.integer() for _ in range(4))
        if min(shape) < 0:
            raise NotConvertible("a tensor of negative size")
        count = int(np.prod(shape))
        return np.frombuffer(self._take(4 * count), "<f4").reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, ...]:
        if self.integer() != 1:
            raise NotConvertible("an unknown alias tensor version")
        return tuple(self.integer() for _ in range(4))

    def expect(self, name: str) -> None:
        found = self.string()
        if found != name:
            raise NotConvertible(f"expected dlib layer {name!r}, found {found!r}")


# -- the architecture ----------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, tag, skip, fc
    filters: int = 0
    size: int = 0  # square kernel side (0 with avg_pool: the whole map)
    stride: int = 1
    tag: int = 0  # tag/skip/add_prev: which tag


def _ares(n: int, down: bool) -> list[Layer]:
    """dlib's `ares` / `ares_down` block: two 3x3 convolutions, each followed by an
    affine (batch norm folded), added to the block's input (2x2 average pooled when
    the block halves the size) and rectified."""
    stride = 2 if down else 1
    block = [
        Layer("tag", tag=1),
        Layer("con", n, 3, stride),
        Layer("affine"),
        Layer("relu"),
        Layer("con", n, 3, 1),
        Layer("affine"),
    ]
    if down:
        return block + [
            Layer("tag", tag=2),
            Layer("skip", tag=1),
            Layer("avg_pool", size=2, stride=2),
            Layer("add_prev", tag=2),
            Layer("relu"),
        ]
    return block + [Layer("add_prev", tag=1), Layer("relu")]


def _architecture() -> list[Layer]:
    """anet_type of dlib's dnn_face_recognition_ex.cpp, input to output."""
    layers = [Layer("con", 32, 7, 2), Layer("affine"), Layer("relu"), Layer("max_pool", size=3, stride=2)]
    for n, downs, plain in ((32, 0, 3), (64, 1, 3), (128, 1, 2), (256, 1, 2), (256, 1, 0)):
        for _ in range(downs):
            layers += _ares(n, True)
        for _ in range(plain):
            layers += _ares(n, False)
    return layers + [Layer("avg_pool", size=0, stride=1), Layer("fc", 128)]


ARCHITECTURE = _architecture()
CHIP_SIDE = 150


@dataclass
class DlibNet:
    """The weights of ARCHITECTURE as read from the file, one entry per layer."""

    mean_rgb: tuple[float, float, float]
    params: list[dict] = field(default_factory=list)


def _padding(size: int, stride: int) -> int:
    return 0 if stride != 1 else size // 2  # dlib's default padding for con_ and pools


def _read_details(r: _Reader, layer: Layer, channels: int) -> dict:
    """One layer's details (its dlib `*_` object); returns its weights."""
    if layer.kind == "con":
        r.expect("con_4")
        params = r.tensor().reshape(-1)
        numbers = [r.integer() for _ in range(7)]
        pad = _padding(layer.size, layer.stride)
        want = [layer.filters, layer.size, layer.size, layer.stride, layer.stride, pad, pad]
        if numbers != want:
            raise NotConvertible(f"a convolution is {numbers}, expected {want}")
        filters, biases = r.alias(), r.alias()
        for _ in range(4):
            r.real()  # learning-rate and weight-decay multipliers
        w_shape = (layer.filters, channels, layer.size, layer.size)
        if filters != w_shape or biases != (1, layer.filters, 1, 1):
            raise NotConvertible(f"convolution weights are {filters}, expected {w_shape}")
        n = int(np.prod(w_shape))
        if params.size != n + layer.filters:
            raise NotConvertible("convolution parameters of the wrong size")
        return {"w": params[:n].reshape(w_shape), "b": params[n:]}
    if layer.kind == "affine":
        r.expect("affine_")
        params = r.tensor().reshape(-1)
        gamma, beta = r.alias(), r.alias()
        mode = r.integer()
        if mode != 0 or gamma != (1, channels, 1, 1) or beta != gamma or params.size != 2 * channels:
            raise NotConvertible("an affine layer of an unexpected shape or mode")
        return {"gamma": params[:channels], "beta": params[channels:]}
    if layer.kind == "relu":
        r.expect("relu_")
        return {}
    if layer.kind in ("max_pool", "avg_pool"):
        r.expect(f"{layer.kind}_2")
        numbers = [r.integer() for _ in range(6)]
        pad = 0 if layer.size == 0 else _padding(layer.size, layer.stride)
        want = [layer.size, layer.size, layer.stride, layer.stride, pad, pad]
        if numbers != want:
            raise NotConvertible(f"a pooling layer is {numbers}, expected {want}")
        return {}
    if layer.kind == "add_prev":
        r.expect("add_prev_")
        return {}
    if layer.kind == "fc":
        r.expect("fc_2")
        outputs, inputs = r.integer(), r.integer()
        params = r.tensor().reshape(-1)
        weights, _biases = r.alias(), r.alias()
        bias_mode = r.integer()
        for _ in range(4):
            r.real()
        if (outputs, inputs, bias_mode) != (layer.filters, channels, 1) or weights[:2] != (channels, outputs):
            raise NotConvertible("the last layer is not a 128-output layer without bias")
        if params.size != inputs * outputs:
            raise NotConvertible("fully connected weights of the wrong size")
        return {"w": params.reshape(inputs, outputs)}
    raise AssertionError(layer.kind)


def _skip_bookkeeping(r: _Reader, innermost: bool, version: int) -> None:
    """What add_layer writes after its details: three bools and its cached tensors."""
    for _ in range(3):
        r.flag()
    for _ in range(3):
        r.tensor()
    if innermost and version >= 3:
        r.integer()  # sample expansion factor


def read_dlib_net(path: Path) -> DlibNet:
    """The weights of dlib's face ResNet; NotConvertible when the file is anything
    else."""
    r = _Reader(Path(path).read_bytes())
    if r.integer() != 1:
        raise NotConvertible("not a dlib network file (loss layer version)")
    r.expect("loss_metric_2")
    r.real(), r.real()  # margin and distance threshold: training only
    # One version per layer, output first; the first layer (holding the input) last.
    versions = [r.integer() for _ in ARCHITECTURE]
    input_version = versions.pop()
    want = [1 if layer.kind in ("tag", "skip") else 2 for layer in reversed(ARCHITECTURE[1:])]
    if versions != want or input_version not in (2, 3):
        raise NotConvertible("the layers are not those of dlib's face ResNet")
    r.expect("input_rgb_image_sized")
    mean = (r.real(), r.real(), r.real())
    if (r.integer(), r.integer()) != (CHIP_SIDE, CHIP_SIDE):
        raise NotConvertible("the input is not a 150x150 chip")
    net = DlibNet(mean)
    channels, tagged = 3, {}
    first = True
    for layer in ARCHITECTURE:
        if layer.kind in ("tag", "skip"):
            if layer.kind == "tag":
                tagged[layer.tag] = channels
            else:
                channels = tagged[layer.tag]
            net.params.append({})
            continue
        params = _read_details(r, layer, channels)
        _skip_bookkeeping(r, first, input_version)
        first = False
        net.params.append(params)
        if layer.kind in ("con", "fc"):
            channels = layer.filters
        elif layer.kind == "add_prev":
            channels = max(channels, tagged[layer.tag])
    if r.at != len(r.data):
        raise NotConvertible("bytes left after the last layer")
    return net


# -- the ONNX graph ------------------------------------------------------------------

OPSET = 17


class _Graph:
    """Nodes and constants of the graph being built."""

    def __init__(self):
        self.nodes, self.weights = [], []

    def const(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        from onnx import helper

        out = f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def pad_to(self, x: str, shape: tuple[int, int], out_shape: tuple[int, int]) -> str:
        """x (channels, side) padded with zeros at its end to out_shape."""
        if shape == out_shape:
            return x
        dc, ds = out_shape[0] - shape[0], out_shape[1] - shape[1]
        pads = self.const(f"pads{len(self.nodes)}", np.array([0, 0, 0, 0, 0, dc, ds, ds], np.int64))
        return self.node("Pad", [x, pads])


def build_onnx(net: DlibNet) -> bytes:
    """The network as a serialised ONNX model: input `chips` (N, 150, 150, 3) uint8 RGB
    as get_face_chip makes them, output `vectors` (N, 128) float32. Each affine (dlib's
    frozen batch norm) is folded into the convolution before it; where dlib adds two
    maps of different sizes (a halving block's shortcut) the smaller one is padded
    with zeros at its end, as dlib's tt::add does."""
    from onnx import TensorProto, helper

    g = _Graph()
    x = g.node("Cast", ["chips"], to=TensorProto.FLOAT)
    x = g.node("Transpose", [x], perm=[0, 3, 1, 2])
    x = g.node("Sub", [x, g.const("mean", np.array(net.mean_rgb, np.float32).reshape(1, 3, 1, 1))])
    x = g.node("Mul", [x, g.const("scale", np.full((1, 1, 1, 1), 1 / 256, np.float32))])
    shape = (3, CHIP_SIDE)  # channels, side
    tagged: dict[int, tuple[str, tuple[int, int]]] = {}
    layers = list(zip(ARCHITECTURE, net.params))
    for i, (layer, params) in enumerate(layers):
        if layer.kind == "con":
            w, b = params["w"], params["b"]
            follower, folded = layers[i + 1]
            if follower.kind == "affine":  # folded here, skipped below
                w = w * folded["gamma"][:, None, None, None]
                b = b * folded["gamma"] + folded["beta"]
            pad = _padding(layer.size, layer.stride)
            x = g.node(
                "Conv",
                [x, g.const(f"w{i}", w), g.const(f"b{i}", b)],
                kernel_shape=[layer.size] * 2,
                strides=[layer.stride] * 2,
                pads=[pad] * 4,
            )
            shape = (layer.filters, (shape[1] + 2 * pad - layer.size) // layer.stride + 1)
        elif layer.kind == "affine":
            if layers[i - 1][0].kind != "con":
                raise NotConvertible("an affine layer not after a convolution")
        elif layer.kind == "relu":
            x = g.node("Relu", [x])
        elif layer.kind == "max_pool" or (layer.kind == "avg_pool" and layer.size):
            op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
            x = g.node(op, [x], kernel_shape=[layer.size] * 2, strides=[layer.stride] * 2)
            shape = (shape[0], (shape[1] - layer.size) // layer.stride + 1)
        elif layer.kind == "avg_pool":
            x, shape = g.node("GlobalAveragePool", [x]), (shape[0], 1)
        elif layer.kind == "tag":
            tagged[layer.tag] = (x, shape)
        elif layer.kind == "skip":
            x, shape = tagged[layer.tag]
        elif layer.kind == "add_prev":
            other, other_shape = tagged[layer.tag]
            out_shape = (max(shape[0], other_shape[0]), max(shape[1], other_shape[1]))
            x = g.node("Add", [g.pad_to(x, shape, out_shape), g.pad_to(other, other_shape, out_shape)])
            shape = out_shape
        elif layer.kind == "fc":
            x = g.node("Flatten", [x], axis=1)
            x = g.node("MatMul", [x, g.const(f"w{i}", params["w"])])
    g.nodes[-1].output[0] = "vectors"
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_resnet",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", CHIP_SIDE, CHIP_SIDE, 3])],
        [helper.make_tensor_value_info("vectors", TensorProto.FLOAT, ["n", 128])],
        g.weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model.SerializeToString()


# -- the export, its check, and the descriptor ----------------------------------------

MIN_COSINE = 0.9999  # per chip, ONNX against dlib; measured 0.9999998 on faces-mini
MAX_ABS_DIFF = 1e-4  # per number (a descriptor's numbers are about 0.1; same-person
#                      distance 0.6): far below anything that moves a grouping
PROBES = 8  # deterministic pictures checked at export
REAL_FACES = 8  # and the first real faces the app describes, once per weights file
EXPORT_NAME = "face-resnet.onnx"


def export_path(weights: Path) -> Path:
    from .usercache import file_digest, user_cache

    return user_cache("onnx", file_digest(weights)[:40], EXPORT_NAME)


def read_note(path: Path) -> dict:
    """How the export at `path` was checked ({} when it was never made)."""
    try:
        return json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}


def _write_note(path: Path, note: dict) -> None:
    from ..fileio import atomic_write_text

    atomic_write_text(path.with_suffix(".json"), json.dumps(note, indent=1))


def probe_chips() -> np.ndarray:
    """PROBES deterministic 150x150 pictures: smooth random textures at several
    scales, over the whole 0-255 range (a check of the conversion, not of faces)."""
    from PIL import Image

    rng = np.random.default_rng(150)
    chips = []
    for i in range(PROBES):
        side = 3 + 5 * i
        small = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        chips.append(
            np.asarray(Image.fromarray(small).resize((CHIP_SIDE, CHIP_SIDE), Image.Resampling.BICUBIC))
        )
    return np.stack(chips)


def agreement(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """(smallest cosine, largest absolute difference) between two sets of vectors."""
    cosine = (got * want).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1) + 1e-12)
    return float(cosine.min()), float(np.abs(got - want).max())


def _passes(cosine: float, diff: float) -> bool:
    return cosine >= MIN_COSINE and diff <= MAX_ABS_DIFF


class OnnxDescriptor:
    """dlib's descriptor through onnxruntime. Until REAL_FACES real faces have been
    checked against dlib (the note counts them, across processes), each call also
    runs dlib on its faces and raises NotConvertible on a mismatch."""

    def __init__(self, path: Path, note: dict):
        from .onnxrt import ort_session

        self.path, self.note = path, note
        self._session = ort_session(path, "cpu")

    def __call__(self, chips: np.ndarray, dlib_describe) -> np.ndarray:
        got = self._session.run(None, {"chips": chips})[0]
        unchecked = REAL_FACES - self.note.get("real_faces", 0)
        if unchecked > 0:
            cosine, diff = agreement(got[:unchecked], dlib_describe(chips[:unchecked]))
            self.note["real_faces"] = self.note.get("real_faces", 0) + min(unchecked, len(chips))
            self.note["min_cosine"] = min(self.note["min_cosine"], round(cosine, 7))
            self.note["max_abs_diff"] = max(self.note["max_abs_diff"], diff)
            self.note["ok"] = _passes(self.note["min_cosine"], self.note["max_abs_diff"])
            _write_note(self.path, self.note)
            if not self.note["ok"]:
                raise NotConvertible(_mismatch(self.note))
        return got


def _mismatch(note: dict) -> str:
    return (
        f"its descriptors differ from dlib's (smallest cosine {note['min_cosine']}, largest "
        f"difference {note['max_abs_diff']:.2g}; wanted >= {MIN_COSINE} and <= {MAX_ABS_DIFF})"
    )


def describe(weights: Path) -> str:
    """What computes this weights file's descriptors, with its check's figures, read
    from the note alone (for `photoorg models list`: nothing is exported here)."""
    note = read_note(export_path(weights))
    if not note:
        return "dlib until the first index exports it to onnxruntime and checks it against dlib"
    if not note.get("ok"):
        return f"dlib: the onnxruntime export was refused: {note.get('reason') or _mismatch(note)}"
    return (
        f"onnxruntime, equal to dlib (smallest cosine {note['min_cosine']}, largest difference "
        f"{note['max_abs_diff']:.2g}) on {note['probes']} probes and {note['real_faces']} real faces"
    )


def load_descriptor(weights: Path, dlib_describe) -> OnnxDescriptor:
    """The checked ONNX descriptor of this weights file, exported (and checked on the
    probe chips) now if need be. NotConvertible, with the reason, when it cannot be
    made or failed its check (the note remembers a failure: no new try per start)."""
    path = export_path(weights)
    note = read_note(path)
    if note and not note.get("ok"):
        raise NotConvertible(note.get("reason") or _mismatch(note))
    if not note or not path.is_file():
        note = _export(weights, path, dlib_describe)
    return OnnxDescriptor(path, note)


def _export(weights: Path, path: Path, dlib_describe) -> dict:
    from ..fileio import atomic_write_bytes
    from .onnxrt import ort_session

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        model = build_onnx(read_dlib_net(weights))
    except NotConvertible as e:
        _write_note(path, {"weights": weights.name, "ok": False, "reason": str(e)})
        raise
    chips = probe_chips()
    got = ort_session(model, "cpu").run(None, {"chips": chips})[0]
    cosine, diff = agreement(got, dlib_describe(chips))
    note = {
        "weights": weights.name,
        "ok": _passes(cosine, diff),
        "probes": len(chips),
        "real_faces": 0,
        "min_cosine": round(cosine, 7),
        "max_abs_diff": diff,
    }
    if note["ok"]:
        atomic_write_bytes(path, model)
    _write_note(path, note)
    if not note["ok"]:
        raise NotConvertible(_mismatch(note))
    return note
