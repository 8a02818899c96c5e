"""Choosing where the models run: CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import os
import sys

from ..errors import UserError

_KNOWN = ("auto", "cuda", "mps", "cpu")


class DeviceUnavailable(UserError):
    """The user asked for a device this machine does not have."""


def pick_device(override: str | None = None) -> str:
    """Return "cuda", "mps" or "cpu"; `override` (e.g. from --device) wins when usable.

    "cpu" is answered without importing torch (2-3 s and 650 MiB here): the ONNX
    models and CLIP's exported CPU path never need it.
    """
    wanted = (override or "auto").lower()
    if wanted.startswith("cuda:"):
        wanted_kind = "cuda"
    else:
        wanted_kind = wanted
    if wanted_kind not in _KNOWN:
        raise DeviceUnavailable(f"Unknown device {override!r}; use one of auto, cuda, mps or cpu.")
    if wanted == "cpu":
        return wanted
    import torch

    available = {
        "cuda": torch.cuda.is_available(),
        "mps": _mps_available(torch),
        "cpu": True,
    }
    if wanted_kind == "auto":
        wanted = next(kind for kind in ("cuda", "mps", "cpu") if available[kind])
    elif not available[wanted_kind]:
        raise DeviceUnavailable(
            f"The device {override!r} is not available on this machine; use --device auto or cpu."
        )
    return wanted


def only_cpu() -> bool:
    """Whether "auto" can only mean the CPU here, known without importing torch: Linux
    with neither an NVIDIA driver nor a ROCm device loaded."""
    return sys.platform.startswith("linux") and not any(
        os.path.exists(p) for p in ("/proc/driver/nvidia", "/dev/kfd")
    )


def use_all_cores(torch) -> None:
    """One torch thread per core: its default can be lower than the core count inside
    containers, and inference is the indexer's bottleneck."""
    torch.set_num_threads(os.cpu_count() or 1)


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
