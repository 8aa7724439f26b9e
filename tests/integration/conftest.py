"""Fixtures shared by the integration tests: the demo's studio day, run once for every test that reads it."""

from __future__ import annotations

import fcntl
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
from tests.conftest import child_env


@dataclass(frozen=True)
class Demo:
    """What ``capturerig demo`` printed and made: its folder, the subject's session and the training package."""

    output: str
    out: Path
    session: Path
    package: Path
    rig: LoadedRig


def _run_demo(out: Path) -> str:
    # Without the modelled latencies: what the tests read (images, calibration, package) does not depend on them,
    # they cost about two minutes of a worker here, and the tests that time devices run them with latencies on.
    result = subprocess.run([sys.executable, "-m", "capturerig", "demo", "--out", str(out), "--no-serve"],
                            env=child_env(0.0), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """``capturerig demo`` as a user runs it, on a fresh folder (without modelled latencies: see _run_demo).

    Run once per test run: under pytest-xdist the first worker that needs it runs it into the run's shared
    temporary folder while the others wait on a lock, then all read the same folder (none writes to it).
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        out = tmp_path_factory.mktemp("demo")
        output = _run_demo(out)
    else:
        shared = tmp_path_factory.getbasetemp().parent  # this run's folder, the parent of every worker's
        out, printed = shared / "demo", shared / "demo-output.txt"
        with (shared / "demo.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not printed.exists():
                printed.write_text(_run_demo(out), encoding="utf-8")
        output = printed.read_text(encoding="utf-8")
    (session,) = (out / "sessions").iterdir()
    (package,) = (out / "packages").iterdir()
    return Demo(output, out, session, package, load_rig(default_rig_path()))



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
