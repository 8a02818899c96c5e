"""XMP sidecars: written beside the photo (never into it), merged with what other
apps wrote, read back (ours and Lightroom's), and read by exiftool where installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from photoorg import xmp
from photoorg.cli import main
from photoorg.models.detect import Detection
from photoorg.modelset import ModelSet
from photoorg.progress import drive

from .conftest import write_photo

OTHER_APP = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
     xmlns:darktable="http://darktable.sf.net/" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
     xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
     xmp:Rating="5" darktable:xmp_version="5">
   <darktable:history><rdf:Seq><rdf:li darktable:operation="exposure"/></rdf:Seq></darktable:history>
   <dc:subject><rdf:Bag><rdf:li>old keyword</rdf:li></rdf:Bag></dc:subject>
   <mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>
    <rdf:li><rdf:Description mwg-rs:Name="Bob" mwg-rs:Type="Face">
     <mwg-rs:Area stArea:x="0.2" stArea:y="0.3" stArea:w="0.1" stArea:h="0.2" stArea:unit="normalized"/>
    </rdf:Description></rdf:li>
   </rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""

LIGHTROOM = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
   xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
   xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#">
  <dc:subject><rdf:Bag><rdf:li>Paris</rdf:li><rdf:li>sunset</rdf:li></rdf:Bag></dc:subject>
  <lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|France|Paris</rdf:li></rdf:Bag></lr:hierarchicalSubject>
  <mwg-rs:Regions rdf:parseType="Resource">
   <mwg-rs:AppliedToDimensions stDim:w="64" stDim:h="48" stDim:unit="pixel"/>
   <mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description mwg-rs:Name="Carla" mwg-rs:Type="Face">
    <mwg-rs:Area stArea:x="0.5" stArea:y="0.5" stArea:w="0.2" stArea:h="0.4" stArea:unit="normalized"/>
   </rdf:Description></rdf:li></rdf:Bag></mwg-rs:RegionList>
  </mwg-rs:Regions>
 </rdf:Description></rdf:RDF></x:xmpmeta>
"""


@pytest.fixture
def lib(library, tmp_path):
    folder = tmp_path / "photos"
    write_photo(folder / "upright.jpg", size=(64, 48))
    write_photo(folder / "rotated.jpg", size=(64, 32), orientation=6)
    library.add_roots([folder])
    drive(library.scan())
    drive(library.index(models=ModelSet()))
    return library


def _name(lib, path, name, box, kind="person", label="person"):
    photo = lib.photo(path)
    [det] = lib.store.replace_detections(photo.id, "test-detector", [Detection(label, 0.9, box)])
    lib.store.name_detection(det, lib.store.subject(name, kind).id)
    return photo


def _values(root, name):
    node = root.find(f".//{xmp.q(name)}")
    return [li.text for li in node.iter(xmp.q("rdf:li"))]


def test_write_then_read_round_trip_keeps_three_keyword_fields_in_sync(lib, tmp_path):
    path = tmp_path / "photos" / "upright.jpg"
    original = path.read_bytes()
    lib.tag(path, add=["beach", "Places/Rome"])
    lib.store.set_auto_tags(lib.photo(path).id, [("sky", 0.9, "clip")])
    _name(lib, path, "Ana", (0.1, 0.2, 0.3, 0.6))
    photo = lib.photo(path)
    dog = lib.store.replace_detections(
        photo.id, "test-detector", [Detection("dog", 0.8, (0.5, 0.5, 0.9, 0.9))]
    )[0]
    lib.store.name_detection(dog, lib.store.subject("Rex", "pet").id)
    report = xmp.write(lib.store, [photo])
    sidecar = Path(str(path) + ".xmp")
    assert report.written == [str(sidecar)]
    assert path.read_bytes() == original
    root = ET.fromstring(sidecar.read_bytes())
    assert _values(root, "dc:subject") == ["Ana", "beach", "Rex", "Rome"]
    assert _values(root, "lr:hierarchicalSubject") == [
        "beach",
        "Places|Rome",
        "People|Ana",
        "People|Rex",
    ]
    assert _values(root, "digiKam:TagsList") == [
        "beach",
        "Places/Rome",
        "People/Ana",
        "People/Rex",
    ]
    assert _values(root, "Iptc4xmpExt:PersonInImage") == ["Ana"]
    data = xmp.parse(sidecar.read_bytes())
    assert data.keywords == {
        "beach",
        "Places/Rome",
    }  # "sky" is automatic: only with --auto
    assert data.dimensions == (64, 48)
    assert [(r.name, r.kind, tuple(round(v, 6) for v in r.box)) for r in data.regions] == [
        ("Ana", "Face", (0.1, 0.2, 0.3, 0.6)),
        ("Rex", "Pet", (0.5, 0.5, 0.9, 0.9)),
    ]
    assert xmp.write(lib.store, [photo]).written == []  # unchanged: not rewritten


def test_regions_are_on_the_stored_unrotated_image(lib, tmp_path):
    path = tmp_path / "photos" / "rotated.jpg"  # stored 64x32, shown 32x64 (orientation 6)
    photo = _name(lib, path, "Ana", (0.0, 0.0, 0.5, 0.25))  # top-left of the shown photo
    xmp.write(lib.store, [photo])
    data = xmp.parse(Path(str(path) + ".xmp").read_bytes())
    assert data.dimensions == (64, 32)
    # Shown top-left is stored bottom-left: x 0..0.25, y 0.5..1.
    assert [tuple(round(v, 6) for v in r.box) for r in data.regions] == [(0.0, 0.5, 0.25, 1.0)]


def test_merge_keeps_everything_other_apps_wrote(lib, tmp_path):
    path = tmp_path / "photos" / "upright.jpg"
    sidecar = Path(str(path) + ".xmp")
    sidecar.write_text(OTHER_APP)
    lib.tag(path, add=["beach"])
    photo = _name(lib, path, "Ana", (0.1, 0.2, 0.3, 0.6))
    xmp.write(lib.store, [photo])
    text = sidecar.read_text()
    root = ET.fromstring(text)
    desc = root.find(f".//{xmp.q('rdf:Description')}")
    assert desc.get("{http://ns.adobe.com/xap/1.0/}Rating") == "5"
    assert root.find(".//{http://darktable.sf.net/}history") is not None
    assert _values(root, "dc:subject") == ["Ana", "beach", "Bob", "old keyword"]
    data = xmp.parse(text)
    assert sorted(r.name for r in data.regions) == ["Ana", "Bob"]
    bob = next(r for r in data.regions if r.name == "Bob")
    assert tuple(round(v, 6) for v in bob.box) == (0.15, 0.2, 0.25, 0.4)


def test_read_imports_lightroom_keywords_and_regions(lib, tmp_path, capsys):
    path = tmp_path / "photos" / "upright.jpg"
    (tmp_path / "photos" / "upright.xmp").write_text(LIGHTROOM)
    lib.close()
    assert main(["--library", str(lib.folder), "xmp", "read"]) == 0
    assert "1 photos: 2 new tags, 1 named people and pets" in capsys.readouterr().out
    from photoorg.library import Library

    with Library(lib.folder) as again:
        photo = again.photo(path)
        assert sorted(t.tag for t in again.tags_of(photo)) == [
            "Places/France/Paris",
            "sunset",
        ]
        [box] = again.detections(photo)
        assert (box.subject_name, box.model, tuple(round(v, 6) for v in box.box)) == (
            "Carla",
            "xmp-sidecar",
            (0.4, 0.3, 0.6, 0.7),
        )
        assert [h.photo.path for h in again.search("person:Carla")] == [str(path)]


def test_cli_auto_writes_automatic_tags_only_when_asked(lib, tmp_path, capsys):
    path = tmp_path / "photos" / "upright.jpg"
    lib.store.set_auto_tags(lib.photo(path).id, [("sky", 0.9, "clip")])
    lib.close()
    assert main(["--library", str(lib.folder), "xmp", "write"]) == 0
    assert not Path(str(path) + ".xmp").exists()
    assert main(["--library", str(lib.folder), "xmp", "write", "--auto"]) == 0
    assert xmp.parse(Path(str(path) + ".xmp").read_bytes()).keywords == {"sky"}


@pytest.mark.skipif(
    shutil.which("exiftool") is None,
    reason="exiftool (libimage-exiftool-perl) not installed",
)
def test_exiftool_reads_our_keywords_and_regions(lib, tmp_path):
    path = tmp_path / "photos" / "upright.jpg"
    lib.tag(path, add=["beach", "Places/Rome"])
    photo = _name(lib, path, "Ana", (0.1, 0.2, 0.3, 0.6))
    xmp.write(lib.store, [photo])
    out = subprocess.run(
        ["exiftool", "-j", "-struct", "-XMP:all", str(path) + ".xmp"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    [tags] = json.loads(out)
    assert tags["Subject"] == ["Ana", "beach", "Rome"]
    assert tags["HierarchicalSubject"] == ["beach", "Places|Rome", "People|Ana"]
    assert tags["TagsList"] == ["beach", "Places/Rome", "People/Ana"]
    assert tags["PersonInImage"] == ["Ana"]
    region = tags["RegionInfo"]
    assert region["AppliedToDimensions"] == {"W": 64, "H": 48, "Unit": "pixel"}
    assert region["RegionList"] == [
        {
            "Area": {"X": 0.2, "Y": 0.4, "W": 0.2, "H": 0.4, "Unit": "normalized"},
            "Name": "Ana",
            "Type": "Face",
        }
    ]
    assert tags["RegionInfoMP"]["Regions"] == [
        {"Rectangle": "0.1, 0.2, 0.2, 0.4", "PersonDisplayName": "Ana"}
    ]


def test_unwritable_and_unreadable_sidecars_are_reported_and_the_rest_go_on(lib, tmp_path, capsys):
    folder = tmp_path / "photos"
    lib.tag(folder / "upright.jpg", add=["beach"])
    lib.tag(folder / "rotated.jpg", add=["snow"])
    (folder / "upright.jpg.xmp").mkdir()  # a folder where the sidecar would go
    (folder / "rotated.xmp").write_text("<x:xmpmeta not closed")
    lib.close()
    assert main(["--library", str(lib.folder), "xmp", "write"]) == 1
    captured = capsys.readouterr()
    assert "Wrote 1 sidecars" in captured.out
    assert f"{folder / 'upright.jpg.xmp'}: {folder / 'upright.jpg.xmp'} is not a regular file" in captured.err
    assert xmp.parse((folder / "rotated.jpg.xmp").read_bytes()).keywords == {"snow"}
    assert main(["--library", str(lib.folder), "xmp", "read"]) == 1
    assert f"{folder / 'rotated.jpg'}: {folder / 'rotated.xmp'}: not valid XMP" in capsys.readouterr().err
