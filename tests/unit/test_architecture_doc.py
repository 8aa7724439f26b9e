"""docs/architecture.md stays true: every file and every `file:function` it names still exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
# `src/capturerig/engine/_runner.py:Runner.run`, or a bare `tests/unit/test_layers.py`
NAMED = re.compile(r"`((?:src|simulators|tests|bench|docs)/[\w./-]+?)(?::([\w.]+))?`")


def _defined_names(path: Path) -> set[str]:
    """Every function, class and method a module defines, as ``name`` and ``Class.name``, and its module-level
    constants (``NAME = ...``)."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for statement in tree.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else (
            [statement.target] if isinstance(statement, ast.AnnAssign) else [])
        names.update(target.id for target in targets if isinstance(target, ast.Name))

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(prefix + child.name)
                if isinstance(child, ast.ClassDef):
                    walk(child, f"{prefix}{child.name}.")

    walk(tree, "")
    return names


def _references() -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in NAMED.finditer(DOC.read_text(encoding="utf-8"))]


def test_the_architecture_page_names_functions_at_all() -> None:
    named = [name for _, name in _references() if name]
    assert len(named) >= 30, "docs/architecture.md should walk a take function by function"


@pytest.mark.parametrize(("file", "name"), sorted(set(_references()), key=str))
def test_every_file_and_function_the_architecture_page_names_exists(file: str, name: str | None) -> None:
    path = ROOT / file
    assert path.exists(), f"docs/architecture.md names {file}, which no longer exists"
    if name is not None:
        assert name in _defined_names(path), f"docs/architecture.md names {file}:{name}, not defined there"


def test_the_readme_points_at_the_architecture_page() -> None:
    assert "docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")
