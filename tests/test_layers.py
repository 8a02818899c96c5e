"""The layers hold by tooling: lint-imports (the contracts in pyproject.toml, run by
.ci/lint-imports.sh in CI) passes on this tree and fails when the core reaches Qt, when
a lower layer imports a higher one, or when a cycle hides in a function."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / ".ci" / "lint-imports.sh"


def lint_imports(tree: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    # The thin test venv may lack the lint-imports script; this Python has the package.
    program = tmp_path / "lint-imports"
    program.write_text(
        f"#!{sys.executable}\nimport sys\n"
        "from importlinter.cli import lint_imports_command\n"
        "sys.exit(lint_imports_command())\n"
    )
    program.chmod(0o755)
    return subprocess.run(
        ["bash", str(SCRIPT), str(tree)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "LINT_IMPORTS": str(program)},
        timeout=120,
    )


def copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for name in ("photoorg", "db", "ui"):
        shutil.copytree(REPO / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tree)
    return tree


def test_this_tree_keeps_every_contract(tmp_path):
    done = lint_imports(REPO, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 3 kept, 0 broken." in done.stdout


def test_qt_imported_by_the_core_breaks_the_build(tmp_path):
    tree = copy_tree(tmp_path)
    with open(tree / "photoorg" / "scan.py", "a") as f:
        f.write("\nimport PySide6\n")
    done = lint_imports(tree, tmp_path)
    assert done.returncode == 1
    assert "photoorg.scan is not allowed to import PySide6" in done.stdout
    assert "Contracts: 2 kept, 1 broken." in done.stdout


def test_a_cycle_hidden_in_a_function_breaks_the_layers(tmp_path):
    tree = copy_tree(tmp_path)
    with open(tree / "photoorg" / "watch.py", "a") as f:
        f.write("\n\ndef _library():\n    from .library import Library\n\n    return Library\n")
    done = lint_imports(tree, tmp_path)
    assert done.returncode == 1
    assert "photoorg.watch is not allowed to import photoorg.library" in done.stdout
    assert "- .watch -> .library (1 import)" in done.stdout
    assert "Contracts: 1 kept, 2 broken." in done.stdout
