"""Shared fixtures: the simulated studio is the default setup of every test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from capturerig.config import LoadedRig, default_rig_path, load_rig
from capturerig.devices import DriverContext
from capturerig_sim import TIME_SCALE_ENV, VirtualStudio, get_studio, reset_studios

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples" / "sim-studio"


@pytest.fixture
def studio_files(tmp_path: Path) -> Path:
    """A copy of the example studio (rig.yaml, plan.yaml) a test may edit."""
    target = tmp_path / "studio"
    shutil.copytree(EXAMPLES, target)
    return target


@pytest.fixture
def fast_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Simulated devices without modelled latencies, and a fresh virtual studio."""
    monkeypatch.setenv(TIME_SCALE_ENV, "0")
    reset_studios()
    yield
    reset_studios()


def child_env(time_scale: float) -> dict[str, str]:
    env = dict(os.environ)
    env[TIME_SCALE_ENV] = str(time_scale)
    return env


@pytest.fixture(scope="module")
def loaded() -> LoadedRig:
    """The embedded simulated studio rig."""
    return load_rig(default_rig_path())


@pytest.fixture
def context(loaded: LoadedRig) -> DriverContext:
    return DriverContext(loaded.config, loaded.path.parent)


@pytest.fixture
def studio(loaded: LoadedRig, fast_sim: None) -> VirtualStudio:
    """The virtual studio the sim drivers of this test share (fresh, no modelled latencies)."""
    return get_studio("default", loaded.config, loaded.path.parent)
