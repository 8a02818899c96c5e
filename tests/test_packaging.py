"""The desktop-app packaging (packaging/) agrees with itself and with the package:
one app id everywhere, every icon size present, a desktop entry and AppStream file that
parse and (where the validators are installed) validate. No network, no build."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

import photoorg

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
APP_ID = "io.github.photoorg.PhotoOrg"
DESKTOP = PACKAGING / f"{APP_ID}.desktop"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"
ICONS = PACKAGING / "icons" / "hicolor"
SVG = ICONS / "scalable" / "apps" / f"{APP_ID}.svg"
SPEC = PACKAGING / "photoorg.spec"
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512)


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # desktop keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def semicolon_list(value: str) -> list[str]:
    assert value.endswith(";"), f"desktop list {value!r} must end with ';'"
    return value[:-1].split(";")


@pytest.fixture(scope="module")
def metainfo() -> ET.Element:
    return ET.parse(METAINFO).getroot()


def test_app_id_is_the_same_in_every_file(metainfo: ET.Element) -> None:
    assert desktop_entry()["Icon"] == APP_ID
    assert metainfo.findtext("id") == APP_ID
    assert metainfo.findtext("launchable[@type='desktop-id']") == DESKTOP.name
    spec_ids = re.findall(r'^APP_ID = "([^"]+)"', SPEC.read_text(), re.MULTILINE)
    assert spec_ids == [APP_ID]
    render = (PACKAGING / "render_icons.py").read_text()
    assert f'APP_ID = "{APP_ID}"' in render


def test_desktop_entry_has_required_keys() -> None:
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"]
    assert entry["Comment"]
    assert entry["Exec"].split()[:2] == ["photoorg", "gui"]
    assert entry["Terminal"] == "false"
    assert {"Graphics", "Photography", "Viewer"} <= set(semicolon_list(entry["Categories"]))
    mimes = semicolon_list(entry["MimeType"])
    assert "image/jpeg" in mimes and "image/png" in mimes
    assert all(m.startswith("image/") for m in mimes)


def test_metainfo_licences_release_and_binary(metainfo: ET.Element) -> None:
    assert metainfo.get("type") == "desktop-application"
    assert metainfo.findtext("project_license") == "Apache-2.0"
    assert metainfo.findtext("metadata_license") == "CC0-1.0"
    assert metainfo.findtext("provides/binary") == "photoorg"
    assert metainfo.find("content_rating") is not None
    assert metainfo.find("description/p") is not None
    releases = [r.get("version") for r in metainfo.findall("releases/release")]
    # A version bump must come with a release entry, newest first.
    assert releases and releases[0] == photoorg.__version__


@pytest.mark.parametrize("size", PNG_SIZES)
def test_png_icon_exists_at_size(size: int) -> None:
    path = ICONS / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (size, size)
        alpha = image.convert("RGBA").getchannel("A")
        # Transparent corners (rounded icon), a drawn middle: not a blank render.
        assert alpha.getpixel((0, 0)) == 0
        assert alpha.getpixel((size // 2, size // 2)) == 255


def test_svg_icon_is_square_and_shared_with_the_window() -> None:
    root = ET.parse(SVG).getroot()
    _x, _y, width, height = (float(v) for v in root.get("viewBox").split())
    assert width == height
    assert (ROOT / "ui" / "icon.svg").read_bytes() == SVG.read_bytes()


def test_spec_and_build_script_are_in_place() -> None:
    spec = SPEC.read_text()
    assert '"launcher.py"' in spec
    for suffix in (".onnx", ".pt", ".safetensors"):
        assert f'"{suffix}"' in spec, f"spec must keep {suffix} model weights out of the bundle"
    build = PACKAGING / "build.sh"
    assert build.stat().st_mode & 0o111, "build.sh must be executable"
    assert "packaging/photoorg.spec" in build.read_text()


def run_validator(*argv: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_desktop_file_validate() -> None:
    result = run_validator("desktop-file-validate", str(DESKTOP))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_appstreamcli_validate() -> None:
    result = run_validator("appstreamcli", "validate", "--no-net", str(METAINFO))
    assert result.returncode == 0, result.stdout + result.stderr


def source_packages() -> set[str]:
    """Every importable package in the tree, named as it installs (db/ -> photoorg.db)."""
    roots = {"photoorg": ROOT / "photoorg", "photoorg.db": ROOT / "db", "photoorg.ui": ROOT / "ui"}
    found = set()
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            if "__pycache__" not in relative:
                found.add(".".join((name, *relative)))
    return found


def test_wheel_lists_every_package() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = config.get("packages")
    if not isinstance(listed, list):
        pytest.skip("packages are discovered by setuptools, not listed")
    # A subpackage missing from the list installs nowhere, and `photoorg` breaks only
    # after `pip install .`, never in the editable checkout.
    assert source_packages() <= set(listed), sorted(source_packages() - set(listed))
