"""Tests that can fail: no test checks a result with `assert a or b` (either outcome
passes), and no test's only check is that nothing raised. Read from the tests' source
with `ast`, so a new weak test fails here before review."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CHECKS = {"raises", "warns", "fail", "approx"}  # pytest.raises(...) and friends


def parse_tests() -> dict[str, ast.Module]:
    return {p.name: ast.parse(p.read_text(), str(p)) for p in sorted(TESTS.glob("*.py"))}


def called_names(node: ast.AST) -> set[str]:
    """Names of everything called inside `node`: f(...) and x.f(...) both give f."""
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            f = call.func
            names.add(f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")
    return names


def has_assert(node: ast.AST) -> bool:
    """An assert statement, a `raise AssertionError`, or a call of np.testing.assert_*."""
    return any(
        isinstance(n, ast.Assert) or isinstance(n, ast.Raise) and "AssertionError" in ast.unparse(n)
        for n in ast.walk(node)
    ) or any(n.startswith("assert_") for n in called_names(node))


def checking_helpers(modules: dict[str, ast.Module]) -> set[str]:
    """Functions and methods anywhere in tests/ that assert, directly or through another."""
    functions = {
        f.name: f
        for m in modules.values()
        for f in ast.walk(m)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    checking = {name for name, f in functions.items() if has_assert(f)} | CHECKS
    while True:
        more = {name for name, f in functions.items() if called_names(f) & checking} - checking
        if not more:
            return checking
        checking |= more


def test_no_assert_a_or_b_on_a_result():
    found = [
        f"{name}:{node.lineno}"
        for name, module in parse_tests().items()
        for node in ast.walk(module)
        if isinstance(node, ast.Assert)
        and isinstance(node.test, ast.BoolOp)
        and isinstance(node.test.op, ast.Or)
    ]
    assert found == [], "assert a or b passes either way; assert the one expected outcome"


def test_every_test_checks_something():
    modules = parse_tests()
    checking = checking_helpers(modules)
    unchecked = [
        f"{name}::{f.name}"
        for name, module in modules.items()
        for f in module.body
        if isinstance(f, ast.FunctionDef)
        and f.name.startswith("test_")
        and not has_assert(f)
        and not called_names(f) & checking
    ]
    assert unchecked == [], "a test whose only check is 'no exception' cannot fail usefully"


def test_the_checks_catch_weak_tests():
    weak = ast.parse(
        "def test_runs(x):\n    x.search('q')\n\n"
        "def test_prints(x):\n    print(x.assertion)\n\n"
        "def test_either(x):\n    assert x.f() == 1 or x.g()\n"
    )
    strong = ast.parse(
        "def helper(x):\n    assert x\n\n"
        "def test_helper(x):\n    helper(x.f())\n\n"
        "def test_raises(x):\n    with pytest.raises(ValueError):\n        x.f()\n"
    )
    checking = checking_helpers({"weak": weak, "strong": strong})
    tests = [f for m in (weak, strong) for f in m.body if f.name.startswith("test_")]
    assert [f.name for f in tests if not has_assert(f) and not called_names(f) & checking] == [
        "test_runs",
        "test_prints",
    ]
    ors = [n for n in ast.walk(weak) if isinstance(n, ast.Assert) and isinstance(n.test, ast.BoolOp)]
    assert len(ors) == 1 and isinstance(ors[0].test.op, ast.Or)
