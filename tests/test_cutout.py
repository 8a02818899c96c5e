"""Cut-out: full-size RGBA, transparent outside, feathered edge."""

import numpy as np
import pytest
from PIL import Image

from photoorg.cutout import CutoutError, cut_out


def square_alpha(w=300, h=200):
    alpha = np.zeros((h, w), np.float32)
    alpha[50:150, 100:200] = 1.0
    return alpha


def photo(w=300, h=200):
    return Image.new("RGB", (w, h), (200, 40, 90))


def ramp_pixels(out: Image.Image) -> int:
    a = np.asarray(out)[..., 3]
    return int(((a > 0) & (a < 255)).sum())


def test_cut_out_is_rgba_at_full_size_and_transparent_outside():
    out = cut_out(photo(), square_alpha(), feather_px=4)
    arr = np.asarray(out)
    assert out.mode == "RGBA" and out.size == (300, 200)
    assert (arr[:20, :, 3] == 0).all() and (arr[:20, :, :3] == 0).all()  # colour hidden too
    assert (arr[80:120, 130:170] == [200, 40, 90, 255]).all()


def test_feathering_makes_a_ramp_that_widens_with_feather_px():
    hard = cut_out(photo(), square_alpha(), feather_px=0)
    assert ramp_pixels(hard) == 0
    soft, softer = (cut_out(photo(), square_alpha(), feather_px=f) for f in (2, 8))
    assert 0 < ramp_pixels(soft) < ramp_pixels(softer)
    row = np.asarray(softer)[100, 80:120, 3].astype(int)
    assert (np.diff(row) >= 0).all()  # monotone across the left edge


def test_default_feather_is_soft():
    assert ramp_pixels(cut_out(photo(), square_alpha())) > 0


def test_alpha_of_another_size_is_refused():
    with pytest.raises(CutoutError, match="same size"):
        cut_out(photo(), np.zeros((300, 200), np.float32))
