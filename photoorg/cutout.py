"""Cut a subject out of a photo along a full-size alpha mask."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from .errors import UserError


class CutoutError(UserError, ValueError):
    """An alpha that does not belong to the image (its message is one readable sentence)."""


def default_feather(size: tuple[int, int]) -> float:
    """A soft edge that scales with the photo: about 1.5 px per 1000 px, at least 1 px."""
    return max(1.0, 0.0015 * max(size))


def cut_out(image: Image.Image, alpha: np.ndarray, feather_px: float | None = None) -> Image.Image:
    """RGBA image at the photo's full size: the subject where alpha is 1, fully transparent
    (RGB zeroed too) where the feathered alpha is 0, a smooth ramp along the edge."""
    rgb = image.convert("RGB")
    if alpha.shape != (rgb.height, rgb.width):
        raise CutoutError(
            f"The mask is {alpha.shape[1]}x{alpha.shape[0]} but the photo is "
            f"{rgb.width}x{rgb.height}; they must be the same size."
        )
    feather = default_feather(rgb.size) if feather_px is None else float(feather_px)
    a = Image.fromarray(np.round(np.clip(alpha, 0, 1) * 255).astype(np.uint8))
    if feather > 0:
        a = a.filter(ImageFilter.GaussianBlur(feather / 2))  # radius = sigma; edge ~ 2 sigma
    a_arr = np.asarray(a)
    # Zero the colour under full transparency so hidden pixels leak nothing into the PNG.
    rgb_arr = np.where(a_arr[..., None] == 0, 0, np.asarray(rgb)).astype(np.uint8)
    return Image.fromarray(np.dstack([rgb_arr, a_arr]), "RGBA")


def crop_to_subject(rgba: Image.Image, margin: float = 0.03) -> Image.Image:
    """The cut-out trimmed to its visible subject's bounding box, grown by `margin` x its
    longer side (at least 2 px) and clipped to the photo: what a user pastes elsewhere.
    A cut-out with nothing visible is returned whole."""
    bbox = rgba.getchannel("A").getbbox()
    if bbox is None:
        return rgba
    x0, y0, x1, y1 = bbox
    grow = max(2, round(margin * max(x1 - x0, y1 - y0)))
    return rgba.crop(
        (max(0, x0 - grow), max(0, y0 - grow), min(rgba.width, x1 + grow), min(rgba.height, y1 + grow))
    )
