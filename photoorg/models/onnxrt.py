"""onnxruntime sessions, one way for every ONNX model (detectors, segmenters, CLIP
exports). onnxruntime is imported here, lazily, so importing the models package
stays cheap."""

from __future__ import annotations

import os
from pathlib import Path


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
