"""Two ONNX files of one model, A against B: the same input, runs alternated (A, B, A,
B, ...) so load on a shared machine falls on both alike.

    python bench/onnx_ab.py A.onnx B.onnx [--rounds 12] [--batch 8] [--threads 1] [--size 256]
    python bench/onnx_ab.py --gelu FP32.onnx [--rounds 16]

--gelu: A and B are the CLIP image tower's int8 export made from FP32 (an
image-fp32.onnx from the user cache, ~/.cache/photoorg/onnx/<weights>/) by
clip_onnx's recipe without and with clip_fuse.py's GELU rewrite, in a temporary
folder.

Prints how far B's outputs are from A's (max abs difference, min cosine per row),
then per image: the median and lowest thread CPU ms of one run (this thread's CPU
time, hardly disturbed by other processes on one intra-op thread) and the median wall
ms, and B against A.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np


def _session(path: str, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def _int8_pair(fp32: Path, folder: Path) -> tuple[str, str]:
    """(without, with) the GELU rewrite: the int8 export made from fp32 both ways."""
    import onnx

    from photoorg.models import clip_fuse, clip_onnx

    plain, fused = folder / "plain" / "image-int8.onnx", folder / "fused" / "image-int8.onnx"
    for path in (plain, fused):
        path.parent.mkdir()
    clip_onnx._quantize(fp32, fused)
    with mock.patch.object(clip_fuse, "fused_graph", lambda path: onnx.load(str(path))):
        clip_onnx._quantize(fp32, plain)
    return str(plain), str(fused)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", nargs="?")
    ap.add_argument("b", nargs="?")
    ap.add_argument(
        "--gelu", type=Path, metavar="FP32", help="A/B the int8 recipe without/with the GELU rewrite"
    )
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=256, help="the input's side in pixels")
    args = ap.parse_args()
    if args.gelu is None and args.b is None:
        ap.error("give two ONNX files, or --gelu FP32")
    with tempfile.TemporaryDirectory() as folder:
        a, b = _int8_pair(args.gelu, Path(folder)) if args.gelu else (args.a, args.b)
        sessions = [_session(a, args.threads), _session(b, args.threads)]
    name = sessions[0].get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32)
    ya, yb = (s.run(None, {name: x})[0] for s in sessions)  # also the warm-up run
    cos = (ya * yb).sum(1) / np.linalg.norm(ya, axis=1) / np.linalg.norm(yb, axis=1)
    print(f"B against A: max abs difference {np.abs(ya - yb).max():.2e}, min cosine {cos.min():.6f}")
    cpu: list[list[float]] = [[], []]
    wall: list[list[float]] = [[], []]
    for _ in range(args.rounds):
        for i, session in enumerate(sessions):
            w, c = time.perf_counter(), time.thread_time()
            session.run(None, {name: x})
            cpu[i].append((time.thread_time() - c) / args.batch * 1000)
            wall[i].append((time.perf_counter() - w) / args.batch * 1000)
    for label, c, w in zip("AB", cpu, wall):
        print(
            f"{label}: thread CPU median {np.median(c):.1f} ms/img (lowest {min(c):.1f}), "
            f"wall median {np.median(w):.1f} ms/img"
        )
    print(
        f"B/A: thread CPU {np.median(cpu[1]) / np.median(cpu[0]):.3f}, "
        f"wall {np.median(wall[1]) / np.median(wall[0]):.3f} ({args.rounds} rounds, "
        f"batch {args.batch}, {args.threads} thread(s))"
    )


if __name__ == "__main__":
    main()
