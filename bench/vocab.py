"""Vocabulary time: the text embeddings a first index with a new CLIP model needs
before its first tag, cold (nothing cached) and warm (a second library, same weights).

    .venv/bin/python bench/vocab.py [--model clip-vit-b-32-256-datacomp] [--untrimmed]

Random weights of the real architecture (no CLIP weights exist here; a forward pass
costs the same whatever the values). The cache goes to a fresh temporary folder.
--untrimmed also times the old way (every prompt padded to 77 tokens) for comparison.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from photoorg.models.usercache import CACHE_ENV


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="clip-vit-b-32-256-datacomp")
    parser.add_argument("--untrimmed", action="store_true")
    args = parser.parse_args()
    os.environ[CACHE_ENV] = tempfile.mkdtemp(prefix="photoorg-vocab-bench-")
    import torch

    from photoorg import models
    from photoorg.models.vocabulary import builtin
    from photoorg.modelset import load_tagger

    torch.manual_seed(0)
    store = models.WeightStore(tempfile.mkdtemp())
    clip = models.load("clip", args.model, store=store, device="cpu", allow_random=True)
    prompts = {p for tag in builtin() for p in tag.prompts()}
    print(
        f"{args.model} (random weights), {len(prompts):,} vocabulary prompts, "
        f"{torch.get_num_threads()} torch threads"
    )
    started = time.perf_counter()
    load_tagger(clip)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    load_tagger(clip)
    warm = time.perf_counter() - started
    print(
        f"vocabulary cold {cold:.1f} s ({len(prompts) / cold:.0f} prompts/s), "
        f"warm {warm * 1000:.0f} ms (cached per model weights)"
    )
    if args.untrimmed:
        clip.trims_text = False
        sample = sorted(prompts)[:256]
        started = time.perf_counter()
        for i in range(0, len(sample), 64):
            clip.embed_texts(sample[i : i + 64])
        per = (time.perf_counter() - started) / len(sample)
        print(
            f"untrimmed (77 tokens) {len(sample)} prompts: {per * 1000:.1f} ms each, "
            f"so {per * len(prompts):.0f} s for the vocabulary"
        )


if __name__ == "__main__":
    main()
