"""A detector's per-class score cuts, in a module without numpy: the model registry
lists them for every detector, and the window reads the registry at start (which
models are installed) long before any box is decoded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassThresholds:
    """Score cuts of one class: a box is drawn (and nameable) from `draw`, counted in
    "2 people" from `count`, and makes the photo a "dog" photo (the label tag that
    `has:dog` finds) from `tag`."""

    draw: float
    count: float
    tag: float
