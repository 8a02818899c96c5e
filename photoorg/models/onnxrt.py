"""onnxruntime sessions, one way for every ONNX model (detectors, segmenters, CLIP
exports). onnxruntime is imported here, lazily, so importing the models package
stays cheap."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def ort_session(
    path: Path | bytes, device: str, prepack: bool = True, spin: bool = False, threads: int | None = None
):
    """An onnxruntime session using `threads` cores (default every core; and CUDA when
    asked and available), from a file or a serialised model. prepack False keeps weights
    as stored (memory-mapped external data stays mapped): for a session that runs once,
    as a search's text encoder does.

    spin False (the default): the pool's threads sleep as soon as a run ends. Every
    session here runs between other work (decoding, another model, SQLite), and a
    spinning pool holds the cores that work needs: spinning doubled the process CPU time
    of the face descriptor (42 against 22 ms for three faces, 2 cores), and with CLIP
    and PicoDet-S both spinning one after the other a photo cost 237 CPU ms against 150
    with neither (32 COCO photos, 2 cores, loaded machine; CLIP int8 alone 143 -> 123)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if not prepack:
        opts.add_session_config_entry("session.disable_prepacking", "1")
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.intra_op_num_threads = threads or os.cpu_count() or 1
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, opts, providers=providers)


def normalized_planes(image, mean, std) -> np.ndarray:
    """(3, H, W) float32 (pixel / 255 - mean) / std of an RGB PIL image: the planar input
    ImageNet-style models take, made as one multiply and one subtract per channel
    (PicoDet-S's 416 px input with its resize: 4.5 against 7.8 ms with whole-array steps
    and a transposed copy; the same values to within 1e-6)."""
    std = np.asarray(std, np.float32)
    scale, shift = 1 / (np.float32(255) * std), np.asarray(mean, np.float32) / std
    planes = np.asarray(image).transpose(2, 0, 1)
    out = np.empty(planes.shape, np.float32)
    for channel, plane in enumerate(planes):
        np.multiply(plane, scale[channel], out=out[channel], dtype=np.float32)
        out[channel] -= shift[channel]
    return out


class SplitSession:
    """One CPU model as `parts` sessions that each run a share of a batch at the same
    time, on cores // parts threads each: a session's `run` with the batch split along
    its first axis and the outputs joined in order.

    Why: inside one run a transformer's many small operators (LayerNorm, Softmax, the
    GEMMs of one batch) leave a pool's threads waiting on each other; whole runs side by
    side do not. CLIP ViT-B-32-256 int8, batches of 8, quiet 2-core machine: one session
    on two threads 12.8-14.7 images/s, two sessions on one thread each 15.3-16.8. Each
    session holds its own copy of the weights (int8 image tower: 96 MB)."""

    def __init__(self, path: Path, parts: int = 2):
        from concurrent.futures import ThreadPoolExecutor

        cores = os.cpu_count() or 1
        parts = max(1, min(parts, cores))
        self._pool = ThreadPoolExecutor(parts, thread_name_prefix="onnx-part") if parts > 1 else None

        def make(_) -> object:
            return ort_session(path, "cpu", threads=cores // parts)

        # Made side by side too: each one's graph optimisation is 0.2 s of one core.
        self._sessions = list((self._pool.map if self._pool else map)(make, range(parts)))

    def run(self, names, feeds: dict) -> list:
        rows = len(next(iter(feeds.values())))
        parts = min(len(self._sessions), rows)
        if self._pool is None or parts < 2:
            return self._sessions[0].run(names, feeds)
        shares = [
            {k: v for k, v in zip(feeds, vs)}
            for vs in zip(*(np.array_split(v, parts) for v in feeds.values()))
        ]
        outs = list(self._pool.map(lambda s, f: s.run(names, f), self._sessions, shares))
        return [np.concatenate(o) for o in zip(*outs)]
