"""Nothing imports upward, and core code never imports the simulators (the registry finds drivers).

Packages talk through each other's ``__init__`` (explicit ``__all__``), never through private modules, and
plans and lighting stay pure data: they never import a driver.
"""

from __future__ import annotations

import ast
from pathlib import Path, PurePosixPath

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "capturerig"
ROOT = "capturerig"  # the top-level package's own modules: __init__, __main__, _api
# Highest first; a layer may import its own and any lower layer.
LAYERS = [{"cli", "web", "agent", "_api", "__init__", "__main__"}, {"engine", "processing"},
          {"plan", "lighting", "calibration", "packaging", "subjects", "develop", "qc", "masks",
           "provenance"}, {"devices"},
          {"config", "files", "geometry"}]
# Packages that must not import another even where the layers would allow it (plans are pure data).
FORBIDDEN = {"plan": {"devices"}, "lighting": {"devices"}}


def _layer_of(part: str) -> int:
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    raise AssertionError(f"capturerig.{part} is in no layer; add it to LAYERS")


def _imports(path: Path, *, with_names: bool = False) -> list[str]:
    """The modules a file imports; ``with_names`` adds ``a.b`` for ``from a import b`` (b may be a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            if with_names:
                names += [f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"]
    return names


def _package_of(relative: PurePosixPath) -> str:
    """The top-level package a module file belongs to (``ROOT`` for the modules beside ``__init__``)."""
    return relative.parts[0] if len(relative.parts) > 1 else ROOT


def _private_import(relative: PurePosixPath, name: str, package_dirs: set[str]) -> str | None:
    """Why importing ``name`` from the module at ``relative`` reaches into another package, or None."""
    parts = name.split(".")
    if parts[0] != "capturerig" or len(parts) < 2:
        return None
    target, inner = (parts[1], parts[2:]) if parts[1] in package_dirs else (ROOT, parts[1:])
    if target == _package_of(relative):
        return None
    private = [part for part in inner if part.startswith("_") and not part.startswith("__")]
    if not private:
        return None
    owner = "capturerig" if target == ROOT else f"capturerig.{target}"
    return f"{relative} imports {name}, private to {owner}; export it from {owner}'s __init__ (__all__)"


MODULES = sorted(PACKAGE.rglob("*.py"))
PACKAGE_DIRS = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}


def _relative(path: Path) -> PurePosixPath:
    return PurePosixPath(path.relative_to(PACKAGE).as_posix())


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


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_no_other_package_private_module(path: Path) -> None:
    relative = _relative(path)
    problems = [p for name in _imports(path, with_names=True) if (p := _private_import(relative, name, PACKAGE_DIRS))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", [p for p in MODULES if _package_of(_relative(p)) in FORBIDDEN],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_plan_and_lighting_never_import_devices(path: Path) -> None:
    relative = _relative(path)
    banned = FORBIDDEN[_package_of(relative)]
    for name in _imports(path):
        parts = name.split(".")
        assert not (parts[0] == "capturerig" and len(parts) > 1 and parts[1] in banned), (
            f"{relative} imports {name}: {relative.parts[0]} is pure data and must not reach {parts[1]}")


@pytest.mark.parametrize(("module", "name", "refused"), [
    ("cli/_trigger.py", "capturerig.engine._trigger.percentile", True),
    ("calibration/_board.py", "capturerig.config._yaml", True),
    ("calibration/colour/_pipeline.py", "capturerig.config._yaml.load_located_yaml", True),
    ("engine/_verifier.py", "capturerig.files._durable", True),
    ("web/_panel.py", "capturerig._api", True),
    ("calibration/colour/_pipeline.py", "capturerig.calibration._board", False),  # one package
    ("__init__.py", "capturerig._api.load_rig", False),  # the root's own module
    ("cli/_trigger.py", "capturerig.engine.percentile", False),
    ("engine/_runner.py", "capturerig.engine._journal", False),
    ("cli/_app.py", "capturerig.__main__", False),
])
def test_the_private_import_rule_says_what_it_should(module: str, name: str, refused: bool) -> None:
    problem = _private_import(PurePosixPath(module), name, PACKAGE_DIRS)
    assert (problem is not None) == refused, problem
