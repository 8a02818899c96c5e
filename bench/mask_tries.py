"""Model-side tries for U2-Netp cut-outs (issue 12: median IoU >= 0.80 at <= 0.3 s per
subject), each scored exactly as bench/quality.py scores the app's masks: all people and
animals of >= 15,000 px in coco-train-mini, given the COCO box, with the app's refinement.

    PHOTOORG_SHARED=/work/shared python bench/mask_tries.py [--tries app,side192,...] [--masks N]

Every try changes only what the model is given or how its runs are combined; the model's
cost grows with its input's pixel count, so a flip at 160 px costs what one 224 px run
costs. Quiet-ish figures (loaded 2 cores, the segmenter's own dev loop) are in
photoorg/models/u2net.py; none beat the app's single 224 px run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402  (the bench next door: dataset, subjects, scoring)


class FlipMean:
    """A session that runs its input and the input's mirror image and averages the masks."""

    def __init__(self, session):
        self.session = session

    def get_inputs(self):
        return self.session.get_inputs()

    def run(self, names, feed):
        ((name, x),) = feed.items()
        plain = self.session.run(names, {name: x})[0]
        mirrored = self.session.run(names, {name: np.ascontiguousarray(x[..., ::-1])})[0][..., ::-1]
        return [(plain + mirrored) / 2]


class SidesMean:
    """A session that runs its input at several sides and averages the masks (at the first
    session's side, which is the side the segmenter prepares its input at)."""

    def __init__(self, sessions):
        self.sessions = sessions

    def get_inputs(self):
        return self.sessions[0].get_inputs()

    def run(self, names, feed):
        ((name, x),) = feed.items()
        side = x.shape[-1]
        masks = [self.sessions[0].run(names, {name: x})[0][0, 0]]
        for session in self.sessions[1:]:
            other = session.get_inputs()[0].shape[-1]
            masks.append(_resize(session.run(names, {name: _resize_input(x, other)})[0][0, 0], side))
        return [np.mean(masks, axis=0)[None, None]]


def _resize(plane: np.ndarray, side: int) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
    return np.asarray(img.resize((side, side), Image.Resampling.BILINEAR), np.float32)


def _resize_input(x: np.ndarray, side: int) -> np.ndarray:
    return np.ascontiguousarray(np.stack([_resize(c, side) for c in x[0]])[None])


def segmenter_for(try_name: str, weights: Path):
    """The app's U2-Netp segmenter changed as try_name says."""
    from photoorg.models.registry import MODELS
    from photoorg.models.u2net import load_u2net

    spec = MODELS["u2netp"]
    kind, _, value = try_name.partition("=")
    if kind == "app":
        return load_u2net(spec, weights, "cpu")
    if kind == "side":  # side=192
        return load_u2net(spec, weights, "cpu", int(value))
    if kind == "margin":  # margin=0.1, at the app's side
        segmenter = load_u2net(spec, weights, "cpu")
        segmenter.margin = float(value)
        return segmenter
    if kind == "flip":  # flip=160: the crop and its mirror image at that side
        segmenter = load_u2net(spec, weights, "cpu", int(value))
        segmenter.session = FlipMean(segmenter.session)
        return segmenter
    if kind == "sides":  # sides=224+192
        parts = [load_u2net(spec, weights, "cpu", int(v)) for v in value.split("+")]
        parts[0].session = SidesMean([p.session for p in parts])
        return parts[0]
    raise SystemExit(f"unknown try {try_name!r}")


DEFAULT_TRIES = "app,side=192,side=256,margin=0.0,margin=0.1,flip=160,flip=224,sides=224+192"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, default=quality.DEFAULT_FOLDER)
    ap.add_argument("--tries", default=DEFAULT_TRIES, help=f"comma list (default {DEFAULT_TRIES})")
    ap.add_argument("--masks", type=int, default=1000, help="most subjects to segment")
    args = ap.parse_args(argv)
    weights = quality.SHARED_WEIGHTS["u2netp"]
    ds = quality.load_dataset(args.folder)
    if ds.coco is None or not weights.exists():
        print(f"Needs COCO masks in {args.folder} and {weights}.", file=sys.stderr)
        return 1
    subjects = quality.mask_subjects(ds, quality.MASK_MIN_AREA, args.masks)
    load = os.getloadavg()[0]
    print(f"U2-Netp tries, {len(subjects.anns)} people/animals, given the COCO box (load {load:.1f}):")
    for try_name in args.tries.split(","):
        quality.score_masks(ds, segmenter_for(try_name, weights), try_name, subjects)
    return 0


if __name__ == "__main__":
    sys.exit(main())
