"""Fixtures shared by the integration tests: the demo's studio day, run once for every test that reads it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from capturerig.config import LoadedRig, default_rig_path, load_rig
from tests._demo_run import WAIT_S, demo_output
from tests.conftest import child_env


@dataclass(frozen=True)
class Demo:
    """What ``capturerig demo`` printed and made: its folder, the subject's session and the training package."""

    output: str
    out: Path
    session: Path
    package: Path
    rig: LoadedRig


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """``capturerig demo`` as a user runs it, on a fresh folder (without modelled latencies), once per test run
    (tests/_demo_run.py: started by the xdist controller as the run begins, or by the first worker needing it);
    every test reads the same folder and none writes to it."""
    basetemp = tmp_path_factory.getbasetemp()
    shared = basetemp if os.environ.get("PYTEST_XDIST_WORKER") is None else basetemp.parent
    out, output = demo_output(shared)
    (session,) = (out / "sessions").iterdir()
    (package,) = (out / "packages").iterdir()
    return Demo(output, out, session, package, load_rig(default_rig_path()))


# Minutes of work, which ended the run on one worker while the other had nothing left: given out first, to
# one worker (xdist deals the first tests out one by one in turn, so they go every other place), they run beside
# the rest of the suite while the demo they read is still being made. The order is the same on every worker.
LONGEST_FIRST = ("tests/integration/test_package_colmap.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test reading the demo may wait for it beyond the usual per-test timeout (the wait is its setup); the
    longest tests go first."""
    for item in items:
        if "demo" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(WAIT_S + 120))
    longest = [item for item in items if item.nodeid.startswith(LONGEST_FIRST)]
    rest = [item for item in items if not item.nodeid.startswith(LONGEST_FIRST)]
    interleaved = [item for pair in zip(longest, rest, strict=False) for item in pair]
    items[:] = interleaved + longest[len(rest):] + rest[len(longest):]


@contextmanager
def demo_until(args: list[str], wanted: str,
               timeout_s: float = 240) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``capturerig demo ARGS`` (no modelled latencies) read until a line starts with ``wanted``, it ends or the
    time runs out; yields the process and its lines so far, and stops it with Ctrl-C (SIGINT) on leaving."""
    process = subprocess.Popen([sys.executable, "-m", "capturerig", "demo", *args], env=child_env(0.0),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + timeout_s
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith(wanted):
                break
        yield process, lines
    finally:
        # The first Ctrl-C stops at the next take boundary, and a calibration take on a loaded machine can be
        # long: a technician who wants out presses it again (stop at once, lights safe).
        process.send_signal(signal.SIGINT)
        try:  # reading what it still prints: a full pipe would hold the demo in a write, unable to exit
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=50)
            except subprocess.TimeoutExpired:  # seen only on a machine loaded ~10x its cores: say so, do not hang
                warnings.warn(f"capturerig demo {' '.join(args)} was still running 60 s after Ctrl-C twice; killed",
                              stacklevel=1)
        finally:
            process.kill()
            process.wait(10)
