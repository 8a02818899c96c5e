"""Checks that the frozen bundle can do real work on the CPU: torch and torchvision ops
(with CUDA libraries pruned), onnxruntime, open_clip's tokenizer data, and QtSvg
drawing the app icon. Prints one line per check; exit status 0 when all pass."""

from __future__ import annotations

import traceback
from collections.abc import Callable


def check_torch() -> str:
    import torch

    conv = torch.nn.Conv2d(3, 4, 3)
    out = conv(torch.rand(1, 3, 16, 16))
    return (
        f"torch {torch.__version__}, conv out {tuple(out.shape)}, cuda available={torch.cuda.is_available()}"
    )


def check_torchvision() -> str:
    import torch
    import torchvision
    from torchvision.ops import nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
    if keep.tolist() != [0, 2]:
        raise AssertionError(f"nms kept {keep.tolist()}, expected [0, 2]")
    return f"torchvision {torchvision.__version__}, nms ok"


def check_onnxruntime() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}, providers {onnxruntime.get_available_providers()}"


def check_open_clip() -> str:
    import open_clip

    tokens = open_clip.get_tokenizer("ViT-B-32")(["a photo of a dog"])
    return f"open_clip {open_clip.__version__}, tokenizer shape {tuple(tokens.shape)}"


def check_qt_icon() -> str:
    import os
    from importlib.resources import files

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(["photoorg"])
    renderer = QSvgRenderer(str(files("photoorg.ui") / "icon.svg"))
    if not renderer.isValid():
        raise AssertionError("QtSvg could not read photoorg/ui/icon.svg")
    image = QImage(32, 32, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    del app
    return "PySide6 QtSvg renders the app icon"


CHECKS: dict[str, Callable[[], str]] = {
    "torch": check_torch,
    "torchvision": check_torchvision,
    "onnxruntime": check_onnxruntime,
    "open_clip": check_open_clip,
    "qt": check_qt_icon,
}


def run() -> int:
    failed = 0
    for name, check in CHECKS.items():
        try:
            print(f"ok   {name}: {check()}")
        except Exception:
            failed += 1
            print(f"FAIL {name}:\n{traceback.format_exc()}")
    # Worded so no CI log reader mistakes it for a test runner's summary line.
    print(
        f"self-check: {failed} of {len(CHECKS)} checks failed"
        if failed
        else f"self-check: all {len(CHECKS)} checks ok"
    )
    return 1 if failed else 0
