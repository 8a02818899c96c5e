"""Milliseconds per photo of each detector candidate on this machine.

    python bench/detect_speed.py [FOLDER] [--photos 6] [--models a,b] [--device cpu]

YOLOX-Nano runs the real file from ../shared/models (or --yolox PATH); the torchvision
detectors are randomly initialised, which costs exactly what trained weights cost (the
score cut is the trained default, so post-processing work is comparable). Photos are
decoded as the indexer decodes them (draft mode to the model's input size), outside the
timing; each figure is the median of single-photo detect() calls after one warm-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
DEFAULT_FOLDER = HERE.parent.parent / "shared" / "photos" / "coco-train-mini" / "images"
DEFAULT_YOLOX = HERE.parent.parent / "shared" / "models" / "yolox_nano.onnx"
CANDIDATES = ("yolox-nano", "fasterrcnn-mobilenet-v3", "retinanet-resnet50-v2", "fasterrcnn-resnet50-v2")


def time_detector(name: str, photos: list[Path], device: str, yolox: Path) -> tuple[float, int]:
    from photoorg.imaging import load_image
    from photoorg.models.detect import load_detector
    from photoorg.models.registry import MODELS

    spec = MODELS[name]
    weights = yolox if spec.backend == "onnx" else None
    # The trained models' own default cut (torchvision 0.05); real weights are needed
    # for meaningful boxes, so only the timing is reported for random ones.
    detector = load_detector(spec, weights, device, score_threshold=0.05)
    images = [load_image(p, max_side=detector.input_size) for p in photos]
    detector.detect(images[:1])  # warm-up: allocation and kernel selection
    times = []
    for image in images:
        t0 = time.perf_counter()
        detector.detect([image])
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), detector.input_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    ap.add_argument("--photos", type=int, default=6)
    ap.add_argument("--models", default=",".join(CANDIDATES))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--yolox", type=Path, default=DEFAULT_YOLOX)
    args = ap.parse_args(argv)
    photos = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    photos = photos[: args.photos]
    if not photos:
        print(f"No JPEG photos in {args.folder}.", file=sys.stderr)
        return 1
    import torch

    from photoorg.models.registry import MODELS

    print(
        f"{len(photos)} photos from {args.folder}, device {args.device}, "
        f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    )
    print(f"{'model':26} {'input':>6} {'ms/photo':>9}  published accuracy")
    for name in args.models.split(","):
        ms, side = time_detector(name, photos, args.device, args.yolox)
        print(f"{name:26} {side:>6} {ms:>9.1f}  {MODELS[name].summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
