"""The GPU path, checked where one exists: CLIP in fp16 on CUDA against fp32 on the CPU.

    python bench/gpu.py [--photos DIR] [--limit 64] [--clip NAME]

CUDA keeps torch in fp16 (models/clip.py) while the CPU runs fp32 or a checked ONNX
export; nothing on a CPU-only machine can show that the fp16 embeddings still mean
what the fp32 ones do. This prints, for the same random weights (seed 0) on the same
photos: the cosine between each photo's CUDA fp16 and CPU fp32 embedding (mean and
worst), the same for a set of tag prompts, the top-5 agreement of prompts per photo,
images/s of each path, and Mask R-CNN's time per subject on CUDA (the GPU segmenter;
random weights, so only its speed means anything). Exits 1 without CUDA.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
COCO = ROOT.parent / "shared" / "photos" / "coco-train-mini" / "images"
PROMPTS = [f"a photo of a {w}" for w in ("dog", "cat", "person", "beach", "car", "pizza", "tree", "boat")]


def embed_timed(clip, images, batch: int) -> tuple:
    import numpy as np
    import torch

    clip.embed_images(images[:batch])  # warm-up: kernels, allocator
    if clip.device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    rows = [clip.embed_images(images[i : i + batch]) for i in range(0, len(images), batch)]
    if clip.device == "cuda":
        torch.cuda.synchronize()
    return np.concatenate(rows), len(images) / (time.perf_counter() - start)


def main() -> int:
    import numpy as np
    import torch
    from PIL import Image

    from photoorg.models import DEFAULTS
    from photoorg.models.clip import load_clip
    from photoorg.models.registry import spec_for
    from photoorg.models.segment import load_segmenter

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=COCO)
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--clip", default=DEFAULTS["clip"])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device here")
        return 1
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CLIP {args.clip} (random, seed 0)")
    paths = sorted(args.photos.glob("*.jpg"))[: args.limit]
    images = [Image.open(p).convert("RGB") for p in paths]
    spec = spec_for(args.clip)
    embeddings, texts, rates = {}, {}, {}
    for device, batch in (("cpu", 16), ("cuda", 64)):
        torch.manual_seed(0)
        clip = load_clip(spec, None, device)
        print(f"{device}: {clip.image_path}")
        embeddings[device], rates[device] = embed_timed(clip, images, batch)
        texts[device] = clip.embed_texts(PROMPTS)
    image_cos = (embeddings["cpu"] * embeddings["cuda"]).sum(1)
    text_cos = (texts["cpu"] * texts["cuda"]).sum(1)
    top = {d: np.argsort(-(embeddings[d] @ texts[d].T), axis=1)[:, :5] for d in embeddings}
    agree = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top["cpu"], top["cuda"])])
    print(
        f"{len(images)} photos: image cosine fp16 cuda vs fp32 cpu mean {image_cos.mean():.5f} "
        f"worst {image_cos.min():.5f}; text cosine mean {text_cos.mean():.5f} worst {text_cos.min():.5f}; "
        f"top-5 prompt agreement {agree:.3f}"
    )
    print(f"images/s: cpu fp32 {rates['cpu']:.1f}  cuda fp16 {rates['cuda']:.1f}")

    segmenter = load_segmenter(spec_for("maskrcnn-resnet50-v2"), None, "cuda")
    segmenter.mask(images[0], None)  # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    for image in images[:16]:
        segmenter.mask(image, (0.2, 0.2, 0.8, 0.8))  # a normalised box
    torch.cuda.synchronize()
    print(f"Mask R-CNN on cuda: {(time.perf_counter() - start) / 16 * 1000:.0f} ms per subject")
    return 0


if __name__ == "__main__":
    sys.exit(main())
