"""Fixtures shared by the integration tests: the demo's studio day, run once for every test that reads it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from capturerig.config import LoadedRig, default_rig_path, load_rig
from tests.conftest import child_env


@dataclass(frozen=True)
class Demo:
    """What ``capturerig demo`` printed and made: its folder, the subject's session and the training package."""

    output: str
    out: Path
    session: Path
    package: Path
    rig: LoadedRig


# Every module that uses it says `pytestmark = DEMO_GROUP`: under pytest-xdist (--dist loadgroup) they then share
# one worker, so the studio day runs once per test run.
DEMO_GROUP = pytest.mark.xdist_group("demo")


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """``capturerig demo`` as a user runs it, on a fresh folder (modelled hardware latencies on)."""
    out = tmp_path_factory.mktemp("demo")
    result = subprocess.run([sys.executable, "-m", "capturerig", "demo", "--out", str(out), "--no-serve"],
                            env=child_env(1.0), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (session,) = (out / "sessions").iterdir()
    (package,) = (out / "packages").iterdir()
    return Demo(result.stdout, out, session, package, load_rig(default_rig_path()))

