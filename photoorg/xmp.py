"""Tags and names in XMP sidecars, where Lightroom, digiKam and darktable read them.

Written next to the photo as `photo.jpg.xmp` (the photo itself is never touched);
`photo.xmp` (Lightroom's name) is read too. Keywords go to the three fields readers
use, kept in sync: dc:subject (the leaf), lr:hierarchicalSubject (`A|B`) and
digiKam:TagsList (`A/B`). Named people and pets go as MWG regions (mwg-rs:Regions,
AppliedToDimensions plus each Area as a normalised centre x, y, w, h on the stored,
un-rotated image, Type Face or Pet), the Microsoft MP:RegionInfo form, and
Iptc4xmpExt:PersonInImage. A named face (found or drawn by hand) is its own region, the
face's box; a named person or pet box goes out only for a name no face of the photo
carries (one region per name, the tightest box: what a reader's face tags expect).

An existing sidecar is merged, never replaced: every property another app wrote
stays as it was, keywords are the union, and regions of names photoorg does not know
are kept. No XMP library fits: python-xmp-toolkit needs the exempi C library and
pyexiv2 a bundled C++ build; the format photoorg writes is small, so this is
xml.etree with a round-trip test (and exiftool reads it, where installed).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .db import Photo, Store
from .db import faces as facedb
from .db.organize import OrganizeStore
from .errors import UserError
from .fileio import atomic_write_bytes
from .models.detect import box_iou

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    "MP": "http://ns.microsoft.com/photo/1.2/",
    "MPRI": "http://ns.microsoft.com/photo/1.2/t/RegionInfo#",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

XMP_MODEL = "xmp-sidecar"  # the "model" of a box read from another app's regions
PEOPLE = "People"  # digiKam's and Lightroom's parent keyword for names


def q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


OURS = (
    "dc:subject",
    "lr:hierarchicalSubject",
    "digiKam:TagsList",
    "mwg-rs:Regions",
    "MP:RegionInfo",
    "Iptc4xmpExt:PersonInImage",
)


class XmpError(UserError):
    """A sidecar that cannot be read or written; the photo is untouched."""


@dataclass(frozen=True)
class Region:
    name: str
    kind: str  # Face | Pet
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 normalised, stored image


@dataclass
class XmpData:
    keywords: set[str] = field(default_factory=set)  # hierarchies as "A/B"
    regions: list[Region] = field(default_factory=list)
    dimensions: tuple[int, int] | None = None  # stored (un-rotated) pixels


# -- orientation: boxes are stored on the displayed photo, MWG areas on the stored one --


def to_stored(box, orientation: int):
    return _map_box(box, orientation, inverse=True)


def to_displayed(box, orientation: int):
    return _map_box(box, orientation, inverse=False)


def _map_point(x: float, y: float, orientation: int, inverse: bool) -> tuple[float, float]:
    forward = {
        1: lambda x, y: (x, y),
        2: lambda x, y: (1 - x, y),
        3: lambda x, y: (1 - x, 1 - y),
        4: lambda x, y: (x, 1 - y),
        5: lambda x, y: (y, x),
        6: lambda x, y: (1 - y, x),
        7: lambda x, y: (1 - y, 1 - x),
        8: lambda x, y: (y, 1 - x),
    }
    backward = {6: lambda x, y: (y, 1 - x), 8: lambda x, y: (1 - y, x)}
    table = backward if inverse and orientation in backward else forward
    return table.get(orientation, forward[1])(x, y)


def _map_box(box, orientation: int, inverse: bool):
    x0, y0 = _map_point(box[0], box[1], orientation, inverse)
    x1, y1 = _map_point(box[2], box[3], orientation, inverse)
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def orientation_of(path: str) -> int:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return int(image.getexif().get(0x0112, 1) or 1)
    except (OSError, ValueError, SyntaxError):
        return 1


# -- reading ------------------------------------------------------------------------


def _items(node: ET.Element | None) -> list[str]:
    if node is None:
        return []
    return [(li.text or "").strip() for li in node.iter(q("rdf:li")) if (li.text or "").strip()]


def _props(node: ET.Element) -> dict:
    """A struct's fields by qualified name, whether written as attributes or elements."""
    found: dict = {k: v for k, v in node.attrib.items() if not k.startswith(f"{{{NS['rdf']}}}")}
    for child in node:
        if child.tag == q("rdf:Description"):
            found.update(_props(child))
        elif (
            len(child)
            or child.attrib.get(q("rdf:parseType")) == "Resource"
            or any(not k.startswith(f"{{{NS['rdf']}}}") for k in child.attrib)
        ):
            found[child.tag] = _props(child)
        else:
            found[child.tag] = (child.text or "").strip()
    return found


def _float(value, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def parse(text: bytes | str) -> XmpData:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise XmpError(f"not valid XMP ({e})") from None
    data = XmpData()
    leaves = set(_items(root.find(f".//{q('dc:subject')}")))
    paths = {p.replace("|", "/") for p in _items(root.find(f".//{q('lr:hierarchicalSubject')}"))}
    paths |= set(_items(root.find(f".//{q('digiKam:TagsList')}")))
    covered = {p.rsplit("/", 1)[-1] for p in paths} | {p.split("/")[0] for p in paths if "/" in p}
    data.keywords = {p for p in paths if not p.startswith(PEOPLE + "/") and p != PEOPLE}
    data.keywords |= {k for k in leaves if k not in covered}
    regions = root.find(f".//{q('mwg-rs:Regions')}")
    if regions is not None:
        props = _props(regions)
        dims = props.get(q("mwg-rs:AppliedToDimensions"))
        if isinstance(dims, dict) and dims.get(q("stDim:w")):
            data.dimensions = (
                int(_float(dims.get(q("stDim:w")))),
                int(_float(dims.get(q("stDim:h")))),
            )
        for li in (
            regions.find(q("mwg-rs:RegionList")).iter(q("rdf:li"))
            if regions.find(q("mwg-rs:RegionList")) is not None
            else ()
        ):
            region = _region(_props(li))
            if region:
                data.regions.append(region)
    return data


def _region(props: dict) -> Region | None:
    name, area = props.get(q("mwg-rs:Name")), props.get(q("mwg-rs:Area"))
    if not name or not isinstance(area, dict):
        return None
    x, y = _float(area.get(q("stArea:x"))), _float(area.get(q("stArea:y")))
    w, h = _float(area.get(q("stArea:w"))), _float(area.get(q("stArea:h")))
    box = (
        max(0.0, x - w / 2),
        max(0.0, y - h / 2),
        min(1.0, x + w / 2),
        min(1.0, y + h / 2),
    )
    return Region(name, props.get(q("mwg-rs:Type")) or "Face", box)


def sidecar_paths(photo_path: str) -> list[Path]:
    """photo.jpg.xmp (digiKam, darktable, photoorg), then photo.xmp (Lightroom)."""
    own = Path(photo_path + ".xmp")
    lightroom = Path(os.path.splitext(photo_path)[0] + ".xmp")
    return [p for p in (own, lightroom) if p.is_file()]


def read_sidecars(photo_path: str) -> XmpData:
    merged = XmpData()
    for path in sidecar_paths(photo_path):
        try:
            data = parse(path.read_bytes())
        except XmpError as e:
            raise XmpError(f"{path}: {e}") from None
        merged.keywords |= data.keywords
        known = {r.name for r in merged.regions}
        merged.regions += [r for r in data.regions if r.name not in known]
        merged.dimensions = merged.dimensions or data.dimensions
    return merged


# -- writing -------------------------------------------------------------------------


def _sub(parent: ET.Element, name: str, text: str | None = None, **attrs) -> ET.Element:
    node = ET.SubElement(
        parent,
        q(name),
        {q(k.replace("__", ":")) if "__" in k else k: v for k, v in attrs.items()},
    )
    if text is not None:
        node.text = text
    return node


def _array(parent: ET.Element, name: str, kind: str, values) -> None:
    container = _sub(_sub(parent, name), f"rdf:{kind}")
    for value in values:
        _sub(container, "rdf:li", value)


def _resource(parent: ET.Element, name: str) -> ET.Element:
    return _sub(parent, name, rdf__parseType="Resource")


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def _take(descriptions: list[ET.Element], name: str) -> list[ET.Element]:
    """Remove a property from every rdf:Description, returning what was there."""
    found = []
    for desc in descriptions:
        for child in list(desc):
            if child.tag == q(name):
                desc.remove(child)
                found.append(child)
        desc.attrib.pop(q(name), None)
    return found


def _other_regions(old: list[ET.Element], list_path: str, name_of, ours: set[str]) -> list[ET.Element]:
    """Region entries another app wrote, for names photoorg does not write."""
    kept = []
    for node in old:
        container = node.find(list_path)
        for li in container.findall(q("rdf:li")) if container is not None else ():
            name = name_of(_props(li))
            if name not in ours:
                kept.append(li)
    return kept


def merge(existing: bytes | None, data: XmpData) -> bytes:
    """The sidecar text: `existing` with photoorg's fields merged in."""
    if existing:
        try:
            root = ET.fromstring(existing)
        except ET.ParseError as e:
            raise XmpError(f"the sidecar is not valid XMP ({e}); it was left as it was") from None
    else:
        root = ET.Element(q("x:xmpmeta"))
    rdf = root if root.tag == q("rdf:RDF") else root.find(q("rdf:RDF"))
    if rdf is None:
        rdf = _sub(root, "rdf:RDF")
    descriptions = rdf.findall(q("rdf:Description")) or [_sub(rdf, "rdf:Description", rdf__about="")]
    old = {name: _take(descriptions, name) for name in OURS}
    before = parse(existing) if existing else XmpData()
    desc = descriptions[0]
    keywords = sorted(before.keywords | data.keywords, key=str.lower)
    names = sorted({r.name for r in data.regions}, key=str.lower)
    people = [f"{PEOPLE}/{n}" for n in names]
    previous_people = {r.name for r in before.regions}
    people += [f"{PEOPLE}/{n}" for n in sorted(previous_people - set(names), key=str.lower)]
    paths = keywords + people
    if paths:
        _array(
            desc,
            "dc:subject",
            "Bag",
            sorted({p.rsplit("/", 1)[-1] for p in paths}, key=str.lower),
        )
        _array(desc, "lr:hierarchicalSubject", "Bag", [p.replace("/", "|") for p in paths])
        _array(desc, "digiKam:TagsList", "Seq", paths)
    _write_regions(desc, data, old, set(names))
    persons = sorted(
        {r.name for r in data.regions if r.kind == "Face"} | set(_items_of(old["Iptc4xmpExt:PersonInImage"])),
        key=str.lower,
    )
    if persons:
        _array(desc, "Iptc4xmpExt:PersonInImage", "Bag", persons)
    ET.indent(root, "  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def _items_of(nodes: list[ET.Element]) -> list[str]:
    return [item for node in nodes for item in _items(node)]


def _write_regions(desc: ET.Element, data: XmpData, old: dict, ours: set[str]) -> None:
    mwg_kept = _other_regions(
        old["mwg-rs:Regions"],
        f"{q('mwg-rs:RegionList')}/{q('rdf:Bag')}",
        lambda p: p.get(q("mwg-rs:Name")),
        ours,
    )
    mp_kept = _other_regions(
        old["MP:RegionInfo"],
        f"{q('MPRI:Regions')}/{q('rdf:Bag')}",
        lambda p: p.get(q("MPReg:PersonDisplayName")),
        ours,
    )
    if data.regions or mwg_kept:
        regions = _resource(desc, "mwg-rs:Regions")
        if data.dimensions:
            dims = _resource(regions, "mwg-rs:AppliedToDimensions")
            _sub(dims, "stDim:w", str(data.dimensions[0]))
            _sub(dims, "stDim:h", str(data.dimensions[1]))
            _sub(dims, "stDim:unit", "pixel")
        bag = _sub(_sub(regions, "mwg-rs:RegionList"), "rdf:Bag")
        bag.extend(mwg_kept)
        for r in data.regions:
            li = _sub(bag, "rdf:li", rdf__parseType="Resource")
            area = _resource(li, "mwg-rs:Area")
            x0, y0, x1, y1 = r.box
            for key, value in (
                ("x", (x0 + x1) / 2),
                ("y", (y0 + y1) / 2),
                ("w", x1 - x0),
                ("h", y1 - y0),
            ):
                _sub(area, f"stArea:{key}", _number(value))
            _sub(area, "stArea:unit", "normalized")
            _sub(li, "mwg-rs:Name", r.name)
            _sub(li, "mwg-rs:Type", r.kind)
    if data.regions or mp_kept:
        bag = _sub(_sub(_resource(desc, "MP:RegionInfo"), "MPRI:Regions"), "rdf:Bag")
        bag.extend(mp_kept)
        for r in data.regions:
            li = _sub(bag, "rdf:li", rdf__parseType="Resource")
            x0, y0, x1, y1 = r.box
            _sub(
                li,
                "MPReg:Rectangle",
                ", ".join(_number(v) for v in (x0, y0, x1 - x0, y1 - y0)),
            )
            _sub(li, "MPReg:PersonDisplayName", r.name)


# -- the library side ---------------------------------------------------------------------


@dataclass(frozen=True)
class XmpReport:
    written: list[str]
    skipped: int  # photos with nothing to write
    failed: list[tuple[str, str]] = field(default_factory=list)  # (sidecar, why)


def photo_data(store: Store, photo: Photo, auto: bool, kinds: dict[str, str]) -> XmpData:
    tags = [t.tag for t in store.tags_of(photo.id) if t.source == "user" or (auto and t.source == "auto")]
    orientation = orientation_of(photo.path)
    dims = None
    if photo.width and photo.height:
        dims = (photo.height, photo.width) if orientation in (5, 6, 7, 8) else (photo.width, photo.height)
    faces = [f for f in facedb.faces_of(store, photo.id) if f.subject_name]
    on_faces = {f.subject_name for f in faces}
    named = faces + [
        d for d in store.detections_of(photo.id) if d.subject_name and d.subject_name not in on_faces
    ]
    regions = [
        Region(
            d.subject_name,
            "Pet" if kinds.get(d.subject_name) == "pet" else "Face",
            to_stored(d.box, orientation),
        )
        for d in named
    ]
    return XmpData({t.replace("|", "/") for t in tags}, regions, dims)


def write(store: Store, photos: list[Photo], auto: bool = False) -> XmpReport:
    kinds = {s.name: s.kind for s in store.subjects()}
    written, skipped, failed = [], 0, []
    for photo in photos:
        data = photo_data(store, photo, auto, kinds)
        target = Path(photo.path + ".xmp")
        try:
            existing = target.read_bytes() if target.is_file() else None
            if not data.keywords and not data.regions and existing is None:
                skipped += 1
                continue
            text = merge(existing, data)
            if text != existing:
                atomic_write_bytes(target, text)
                written.append(str(target))
        except UserError as e:  # not XMP, or not a file we may replace
            failed.append((str(target), str(e)))
        except OSError as e:  # a read-only or offline folder: the others go on
            failed.append((str(target), e.strerror or str(e)))
    return XmpReport(written, skipped, failed)


@dataclass(frozen=True)
class ImportReport:
    photos: int
    keywords: int
    names: int
    failed: list[tuple[str, str]] = field(default_factory=list)  # (photo, why)


def read(store: Store, photos: list[Photo]) -> ImportReport:
    """Keywords become user tags; named regions name the matching box (or a new one)."""
    org = OrganizeStore(store)
    touched = keywords = names = 0
    failed = []
    for photo in photos:
        try:
            data = read_sidecars(photo.path)
        except XmpError as e:
            failed.append((photo.path, str(e)))
            continue
        if not data.keywords and not data.regions:
            continue
        touched += 1
        orientation = orientation_of(photo.path)
        with store.transaction():
            for word in sorted(data.keywords):
                if word not in {t.tag for t in store.tags_of(photo.id)}:
                    keywords += 1
                store.add_user_tag(photo.id, word)
            boxes = store.detections_of(photo.id)
            # A name a box or a face of the photo carries is there already (our own
            # sidecar read back writes face regions).
            known = {d.subject_name for d in boxes} | {
                f.subject_name for f in facedb.faces_of(store, photo.id)
            }
            for region in data.regions:
                if region.name in known:
                    continue
                subject = store.subject(region.name, "pet" if region.kind == "Pet" else "person")
                box = to_displayed(region.box, orientation)
                match = max(
                    (d for d in boxes if d.subject_id is None),
                    key=lambda d: box_iou(d.box, box),
                    default=None,
                )
                if match is not None and box_iou(match.box, box) >= 0.5:
                    store.name_detection(match.id, subject.id)
                else:
                    org.add_named_box(
                        photo.id,
                        "dog" if region.kind == "Pet" else "person",
                        box,
                        subject.id,
                        XMP_MODEL,
                    )
                names += 1
    return ImportReport(touched, keywords, names, failed)
