"""Choosing where the models run: CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import os

from ..errors import UserError

_KNOWN = ("auto", "cuda", "mps", "cpu")


class DeviceUnavailable(UserError):
    """The user asked for a device this machine does not have."""


def pick_device(override: str | None = None) -> str:
    """Return "cuda", "mps" or "cpu"; `override` (e.g. from --device) wins when usable.

    On the CPU torch gets one thread per core: its default can be lower than the
    core count inside containers, and inference is the indexer's bottleneck.
    """
    import torch

    wanted = (override or "auto").lower()
    if wanted.startswith("cuda:"):
        wanted_kind = "cuda"
    else:
        wanted_kind = wanted
    if wanted_kind not in _KNOWN:
        raise DeviceUnavailable(f"Unknown device {override!r}; use one of auto, cuda, mps or cpu.")
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
    if wanted == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    return wanted


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
