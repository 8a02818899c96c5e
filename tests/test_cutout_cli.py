"""`photoorg cutout`, `models` and `vocab` end to end through the CLI's main(), on
photos the tests make, with the segmenter's random stand-in (PHOTOORG_RANDOM_WEIGHTS)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from photoorg.cli import main
from photoorg.library import Library
from photoorg.models.detect import Detection
from photoorg.progress import drive

from .conftest import write_photo


@pytest.fixture
def lib_with_boxes(tmp_path, monkeypatch):
    """A library with a landscape photo and an EXIF-rotated one, each with a dog box
    and a person box stored as the indexer would."""
    monkeypatch.setenv("PHOTOORG_RANDOM_WEIGHTS", "1")
    folder = tmp_path / "photos"
    wide = write_photo(folder / "wide.jpg", size=(300, 200))
    rotated = write_photo(folder / "rotated.jpg", size=(240, 160), orientation=6)
    lib = Library(tmp_path / "lib")
    lib.add_roots([folder])
    drive(lib.scan())
    for path in (wide, rotated):
        photo = lib.photo(path)
        lib.store.replace_detections(
            photo.id,
            "onnx:yolox-nano",
            [
                Detection("dog", 0.9, (0.1, 0.2, 0.5, 0.8)),
                Detection("person", 0.8, (0.55, 0.1, 0.95, 0.9)),
            ],
        )
    yield lib, wide, rotated
    lib.close()


def _run(lib: Library, *args: str) -> int:
    return main(["--library", str(lib.folder), *args])


def test_cutout_writes_full_size_rgba_png(lib_with_boxes, tmp_path, capsys):
    lib, wide, rotated = lib_with_boxes
    out = tmp_path / "dog.png"
    assert _run(lib, "cutout", str(wide), "--label", "dog", "-o", str(out)) == 0
    image = Image.open(out)
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (300, 200)
    alpha = np.asarray(image)[..., 3]
    assert alpha[:, :10].max() == 0 and alpha.max() > 0  # transparent outside the box
    assert "dog" in capsys.readouterr().out

    upright = tmp_path / "rotated.png"
    assert _run(lib, "cutout", str(rotated), "-o", str(upright)) == 0
    assert Image.open(upright).size == (160, 240)  # as the user sees it, after EXIF rotation
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dog.png", "lib", "photos", "rotated.png"]


def test_cutout_refuses_to_overwrite_without_force(lib_with_boxes, tmp_path, capsys):
    lib, wide, _ = lib_with_boxes
    out = tmp_path / "existing.png"
    out.write_bytes(b"precious")
    assert _run(lib, "cutout", str(wide), "--label", "dog", "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"precious"
    assert _run(lib, "cutout", str(wide), "--label", "dog", "-o", str(out), "--force") == 0
    assert Image.open(out).size == (300, 200)


def test_cutout_never_writes_over_a_photo(lib_with_boxes, tmp_path, capsys):
    lib, wide, _ = lib_with_boxes
    photo_as_png = wide.with_name("also.png")
    Image.new("RGB", (50, 40)).save(photo_as_png)
    drive(lib.scan())
    before = photo_as_png.read_bytes()
    assert _run(lib, "cutout", str(wide), "-o", str(photo_as_png), "--force") == 2
    assert "never overwrites photos" in capsys.readouterr().err
    assert photo_as_png.read_bytes() == before


@pytest.mark.parametrize(
    "args, words",
    [
        (["--label", "cat"], "no cat box (its boxes: #"),
        (["--subject", "999"], "no box #999"),
        (["--subject", "Rex"], "no box named 'Rex'"),
    ],
)
def test_cutout_unknown_box_lists_the_boxes(lib_with_boxes, tmp_path, capsys, args, words):
    lib, wide, _ = lib_with_boxes
    out = tmp_path / "x.png"
    assert _run(lib, "cutout", str(wide), *args, "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert words in err and "dog" in err and "person" in err
    assert not out.exists()


def test_cutout_by_box_id_and_by_name(lib_with_boxes, tmp_path, capsys):
    lib, wide, _ = lib_with_boxes
    photo = lib.photo(wide)
    person = next(d for d in lib.store.detections_of(photo.id) if d.label == "person")
    assert _run(lib, "cutout", str(wide), "--subject", str(person.id), "-o", str(tmp_path / "a.png")) == 0
    assert f"#{person.id}" in capsys.readouterr().out
    lib.name_box(person.id, "Ana")
    assert _run(lib, "cutout", str(wide), "--subject", "ana", "-o", str(tmp_path / "b.png")) == 0
    assert "Ana" in capsys.readouterr().out
    alpha = np.asarray(Image.open(tmp_path / "b.png"))[..., 3]
    assert alpha[:, :140].max() == 0  # only the person's side of the photo


@pytest.mark.parametrize(
    "name, words", [("out.jpg", "ending in .png"), ("missing/out.png", "no such folder")]
)
def test_cutout_bad_output_paths(lib_with_boxes, tmp_path, capsys, name, words):
    lib, wide, _ = lib_with_boxes
    assert _run(lib, "cutout", str(wide), "-o", str(tmp_path / name)) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / name).exists()


def test_cutout_without_weights_names_the_model(lib_with_boxes, tmp_path, capsys, monkeypatch):
    lib, wide, _ = lib_with_boxes
    monkeypatch.delenv("PHOTOORG_RANDOM_WEIGHTS")
    out = tmp_path / "none.png"
    assert _run(lib, "cutout", str(wide), "-o", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert "u2netp" in err and "photoorg models download u2netp" in err
    assert "photoorg models import u2netp" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_models_import_list_and_use(tmp_path, capsys):
    lib = Library(tmp_path / "lib")
    lib.close()
    weights = tmp_path / "u2netp-other-export.onnx"
    weights.write_bytes(b"not the published file")
    assert _run(lib, "models", "import", "u2netp", str(weights)) == 2
    assert "--allow" in capsys.readouterr().err
    assert _run(lib, "models", "import", "u2netp", str(weights), "--allow-checksum-mismatch") == 0
    assert "does not match the published checksum" in capsys.readouterr().err
    assert _run(lib, "models", "list", "--json") == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["u2netp"]["installed"] and rows["u2netp"]["verified"] is False
    assert rows["u2netp"]["chosen"] and not rows["maskrcnn-resnet50-v2"]["chosen"]
    assert _run(lib, "models", "use", "maskrcnn-resnet50-v2") == 0
    assert "not installed yet" in capsys.readouterr().out
    assert _run(lib, "models", "list") == 0
    listing = capsys.readouterr().out
    assert "* maskrcnn-resnet50-v2" in listing and "  u2netp" in listing
    assert _run(lib, "models", "use", "no-such-model") == 2
    assert "no model called" in capsys.readouterr().err


def test_vocab_without_clip_weights_fails_fast_and_adds_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PHOTOORG_RANDOM_WEIGHTS", raising=False)
    lib = Library(tmp_path / "lib")
    lib.close()
    assert _run(lib, "vocab", "add", "red", "bicycle") == 2
    err = capsys.readouterr().err
    assert "photoorg models download" in err and len(err.strip().splitlines()) == 1
    assert _run(lib, "vocab", "list") == 0
    assert "No words of your own yet" in capsys.readouterr().out


def test_models_download_shows_progress_and_installs(tmp_path, capsys, monkeypatch):
    import dataclasses
    import functools
    import hashlib
    import http.server
    import threading

    from photoorg.models import registry

    served = tmp_path / "served"
    served.mkdir()
    payload = bytes(range(256)) * 5000
    (served / "u2netp.onnx").write_bytes(payload)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = dataclasses.replace(
        registry.MODELS["u2netp"],
        url=f"http://127.0.0.1:{server.server_port}/u2netp.onnx",
        sha256=hashlib.sha256(payload).hexdigest(),
        size_bytes=len(payload),
    )
    monkeypatch.setitem(registry.MODELS, "u2netp", spec)
    lib = Library(tmp_path / "lib")
    lib.close()
    try:
        assert _run(lib, "models", "download", "u2netp") == 0
    finally:
        server.shutdown()
    out, err = capsys.readouterr()
    assert "Installed" in out and "u2netp" in err and "MiB" in err
    assert (lib.folder / "models" / "u2netp.onnx").read_bytes() == payload


def test_cutout_of_a_photo_whose_file_is_gone_names_it(lib_with_boxes, tmp_path, capsys):
    lib, wide, _ = lib_with_boxes
    wide.unlink()  # deleted, or its drive unplugged, since the last scan
    out = tmp_path / "gone.png"
    assert _run(lib, "cutout", str(wide), "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert str(wide) in err and "scan" in err and err.count("\n") == 1
    assert not out.exists()


def test_cutout_crop_keeps_the_subject_and_a_small_margin(lib_with_boxes, tmp_path, capsys):
    lib, wide, _ = lib_with_boxes
    out = tmp_path / "dog-crop.png"
    assert _run(lib, "cutout", str(wide), "--label", "dog", "--crop", "-o", str(out)) == 0
    image = Image.open(out)
    # The dog box is x 30..150, y 40..160 of 300x200: the crop is that, grown on each side
    # by the mask's box tolerance (4 px), the feathered edge (2 px) and the margin (4 px).
    assert image.mode == "RGBA" and image.width <= 120 + 2 * 12 and image.height <= 120 + 2 * 12
    alpha = np.asarray(image)[..., 3]
    assert alpha.max() > 0 and alpha[0].max() == 0 and alpha[:, 0].max() == 0  # the margin
    assert f"{image.width}x{image.height}" in capsys.readouterr().out


@pytest.fixture
def tagged(lib_with_boxes):
    """Both photos tagged "dog" as the indexer tags a box over the dog tag cut."""
    lib, wide, rotated = lib_with_boxes
    for path in (wide, rotated):
        lib.store.set_auto_tags(lib.photo(path).id, [("dog", 0.9, "onnx:yolox-nano")])
    return lib_with_boxes


def test_cutout_query_cuts_every_matching_subject_and_never_overwrites(tagged, tmp_path, capsys):
    lib = tagged[0]
    folder = tmp_path / "dogs"
    folder.mkdir()
    assert _run(lib, "cutout", "--query", "has:dog", "-o", str(folder)) == 0
    first = sorted(p.name for p in folder.iterdir())
    # One per dog box (not the people beside them): "<stem>-<photo id>-dog-<box id>.png".
    assert len(first) == 2 and all("-dog-" in n for n in first)
    assert {n.split("-")[0] for n in first} == {"wide", "rotated"}
    assert "Wrote 2 cut-outs" in capsys.readouterr().out
    kept = {n: (folder / n).read_bytes() for n in first}

    assert _run(lib, "cutout", "--query", "has:dog", "--crop", "-o", str(folder)) == 0
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 4 and set(first) < set(names)
    assert all((folder / n).read_bytes() == data for n, data in kept.items())  # untouched
    assert {n for n in names if n not in first} == {n.replace(".png", "-2.png") for n in first}
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left


def test_cutout_query_reports_one_line_per_failure(tagged, tmp_path, capsys):
    lib, _, rotated = tagged
    rotated.unlink()
    folder = tmp_path / "out"
    folder.mkdir()
    assert _run(lib, "cutout", "--query", "has:dog", "-o", str(folder)) == 1
    captured = capsys.readouterr()
    failures = [line for line in captured.err.splitlines() if line.startswith("failed:")]
    assert len(failures) == 1 and str(rotated) in failures[0] and "not there now" in failures[0]
    assert [p.name.split("-")[0] for p in folder.iterdir()] == ["wide"]
    assert "Wrote 1 cut-outs" in captured.out and "1 failed" in captured.out


@pytest.mark.parametrize(
    "args, words",
    [
        (["PHOTO", "--query", "has:dog"], "either a PHOTO or --query"),
        (["--query", "has:dog", "--force"], "never overwrites"),
        ([], "Name the PHOTO"),
        (["--query", "has:dog", "--limit", "0"], "--limit 0"),
    ],
)
def test_cutout_query_misuse_is_one_sentence(tagged, tmp_path, capsys, args, words):
    lib, wide, _ = tagged
    args = [str(wide) if a == "PHOTO" else a for a in args]
    assert _run(lib, "cutout", *args, "-o", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_cutout_query_makes_a_new_folder_but_not_a_missing_parent(tagged, tmp_path, capsys):
    lib = tagged[0]
    assert _run(lib, "cutout", "--query", "has:dog", "-o", str(tmp_path / "new")) == 0
    assert len(list((tmp_path / "new").iterdir())) == 2
    capsys.readouterr()
    assert _run(lib, "cutout", "--query", "has:dog", "-o", str(tmp_path / "typo" / "dogs")) == 2
    assert (
        capsys.readouterr().err.strip() == f"photoorg: {tmp_path / 'typo'}: no such folder; create it first."
    )
    assert not (tmp_path / "typo").exists()
    (tmp_path / "a-file").write_text("x")
    assert _run(lib, "cutout", "--query", "has:dog", "-o", str(tmp_path / "a-file")) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"photoorg: {tmp_path / 'a-file'} is a file; give a folder for the cut-outs."
    )
