import pytest
from PIL import Image

from photoorg.imaging import DecodeError, load_image, read_meta
from tests.conftest import write_photo


def test_meta_reads_date_camera_gps_and_rotated_size(tmp_path):
    path = write_photo(
        tmp_path / "a.jpg",
        size=(64, 32),
        orientation=6,
        taken="2021:07:14 12:30:00",
        make="Canon",
        model="EOS R6",
        gps=(43.5, -1.25),
    )
    meta = read_meta(path)
    assert (meta.width, meta.height) == (32, 64)  # as the user sees it, rotated
    assert meta.taken_at == "2021-07-14T12:30:00"
    assert (meta.camera_make, meta.camera_model) == ("Canon", "EOS R6")
    assert meta.lat == pytest.approx(43.5) and meta.lon == pytest.approx(-1.25)


def test_load_applies_exif_orientation(tmp_path):
    path = write_photo(tmp_path / "a.jpg", size=(64, 32), orientation=6)
    image = load_image(path)
    assert image.size == (32, 64)
    # The blue block sat top-left; a 90-degree clockwise turn puts it top-right.
    r, g, b = image.getpixel((28, 3))
    assert b > 150 and r < 100


def test_draft_mode_decodes_large_jpeg_small(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (90, 90, 90)).save(path, quality=80)
    image = load_image(path, max_side=500)
    assert max(image.size) == 500
    assert image.size == (500, 375)
    # Without the shrink: the JPEG's own 1/4 scale, the smallest at least 500 px.
    assert load_image(path, max_side=900, shrink=False).size == (1000, 750)
    assert load_image(path, max_side=1001, shrink=False).size == (2000, 1500)


@pytest.mark.parametrize(
    "fmt,ext", [("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tif"), ("BMP", "bmp"), ("GIF", "gif")]
)
def test_common_formats_decode(tmp_path, fmt, ext):
    path = write_photo(tmp_path / f"a.{ext}", size=(40, 30), fmt=fmt)
    assert load_image(path).size == (40, 30)


def test_heic_decodes(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    path = tmp_path / "a.heic"
    Image.new("RGB", (40, 30), (10, 200, 10)).save(path)
    assert load_image(path).size == (40, 30)


def test_bad_inputs_give_readable_reasons(tmp_path):
    good = write_photo(tmp_path / "good.jpg", size=(200, 150))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    bomb = tmp_path / "bomb.png"
    Image.new("1", (30000, 30000)).save(bomb)
    cases = {truncated: "truncated", text: "not an image", empty: "empty", bomb: "megapixel"}
    for path, reason in cases.items():
        with pytest.raises(DecodeError, match=reason):
            load_image(path)
