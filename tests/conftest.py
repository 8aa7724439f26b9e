"""Shared fixtures: the simulated studio is the default setup of every test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    from capturerig_sim import reset_studios

    monkeypatch.setenv("CAPTURERIG_SIM_TIME_SCALE", "0")
    reset_studios()
    yield
    reset_studios()


def child_env(time_scale: float) -> dict[str, str]:
    env = dict(os.environ)
    env["CAPTURERIG_SIM_TIME_SCALE"] = str(time_scale)
    return env
