"""The core must stay free of Qt and torch: importing it never loads them."""

import subprocess
import sys

HEAVY = ("PySide6", "torch", "torchvision", "open_clip", "onnxruntime")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_imports_no_qt_and_no_torch():
    assert (
        _loaded_after(
            "import photoorg, photoorg.db, photoorg.library, photoorg.scan, photoorg.index, "
            "photoorg.imaging, photoorg.thumbs"
        )
        == set()
    )


def test_cli_parser_imports_no_heavy_library():
    assert _loaded_after("from photoorg.cli import build_parser; build_parser()") == set()


def test_db_never_imports_photoorg_engine_or_qt():
    loaded = _loaded_after("import photoorg.db")
    assert loaded == set()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import photoorg.db, sys; print('photoorg.library' in sys.modules, "
            "'photoorg.scan' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["False", "False"]
