"""The package's public API loads on first use: a process that needs one part does not pay for the rest."""

from __future__ import annotations

import subprocess
import sys

import pytest

import capturerig


def test_every_public_name_resolves_to_what_its_module_defines() -> None:
    import capturerig.engine
    import capturerig.packaging

    assert capturerig.Session is capturerig.engine.Session
    assert capturerig.verify_package is capturerig.packaging.verify_package
    for name in capturerig.__all__:
        assert getattr(capturerig, name) is not None
    assert set(capturerig.__all__) <= set(dir(capturerig))


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        capturerig.no_such_thing  # type: ignore[attr-defined]  # noqa: B018


def test_the_checks_child_process_loads_neither_the_engine_nor_matplotlib() -> None:
    # Every session starts one: importing the engine, calibration and matplotlib there cost ~2 s of CPU each time.
    heavy = ("capturerig.engine", "matplotlib", "capturerig.packaging")
    probe = f"import sys, capturerig.qc._serve; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
