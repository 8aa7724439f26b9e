"""Nothing imports upward, and core code never imports the simulators (the registry finds drivers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "capturerig"
# Highest first; a layer may import its own and any lower layer.
LAYERS = [{"cli", "web", "_api", "__init__", "__main__"}, {"engine"},
          {"plan", "lighting", "calibration", "packaging", "subjects"}, {"devices"}, {"config"}]


def _layer_of(part: str) -> int:
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    raise AssertionError(f"capturerig.{part} is in no layer; add it to LAYERS")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_its_own_or_lower_layers(path: Path) -> None:
    relative = path.relative_to(PACKAGE)
    own = _layer_of(relative.parts[0].removesuffix(".py"))
    for name in _imports(path):
        assert not name.startswith("capturerig_sim"), f"{relative} imports the simulators ({name})"
        parts = name.split(".")
        if parts[0] == "capturerig" and len(parts) > 1:
            target = _layer_of(parts[1])
            assert target >= own, f"{relative} (layer {own}) imports {name} (higher layer {target})"
