"""The demo's studio day that several integration tests read, run once per test run.

Under pytest-xdist the controller starts it in the background as the run begins (when the run includes the
integration tests), so the workers keep running other tests meanwhile instead of one of them running it and
the other waiting on its lock; the first test that reads it waits for the result file. A run without the
controller's head start (one worker, a single file) runs it in the first worker that needs it.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from capturerig_sim import TIME_SCALE_ENV

RESULT = "demo-result.json"  # {"returncode", "output"}: written once the demo ended
HEAD_START = "demo-started"  # the controller started it: wait for RESULT rather than run it again
WAIT_S = 900.0  # the demo takes ~2 min alone, longer beside two busy workers
_started: list[subprocess.Popen[str]] = []


def _command(out: Path) -> list[str]:
    return [sys.executable, "-m", "capturerig", "demo", "--out", str(out), "--no-serve"]


def _environment() -> dict[str, str]:
    # Without the modelled latencies: what the tests read (images, calibration, package) does not depend on them,
    # they cost about two minutes of a worker here, and the tests that time devices run them with latencies on.
    return {**os.environ, TIME_SCALE_ENV: "0"}


def _write_result(shared: Path, returncode: int, output: str) -> None:
    partial = shared / f"{RESULT}.partial"
    partial.write_text(json.dumps({"returncode": returncode, "output": output}), encoding="utf-8")
    partial.replace(shared / RESULT)


def _run_in_background(process: subprocess.Popen[str], shared: Path) -> None:
    output, _ = process.communicate()
    _write_result(shared, process.returncode, output)


def start_in_controller(config: pytest.Config) -> None:
    """Start the demo as the run begins, in the xdist controller, when the run includes the integration tests."""
    if os.environ.get("PYTEST_XDIST_WORKER") is not None or not getattr(config.option, "numprocesses", None):
        return
    if config.option.keyword or config.option.markexpr or not _includes_integration(config):
        return
    shared: Path = config._tmp_path_factory.getbasetemp()  # xdist gives each worker a folder inside this one
    (shared / HEAD_START).touch()
    process = subprocess.Popen(_command(shared / "demo"), env=_environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    _started.append(process)
    threading.Thread(target=_run_in_background, args=(process, shared), name="demo", daemon=True).start()


def stop_in_controller() -> None:
    """An interrupted run does not leave the demo running."""
    for process in _started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _includes_integration(config: pytest.Config) -> bool:
    integration = (Path(str(config.rootpath)) / "tests" / "integration").resolve()
    paths = [Path(arg.split("::")[0]).resolve() for arg in config.args] or [integration.parent]
    return any(path == integration or path in integration.parents or integration in path.parents
               for path in paths)


def demo_output(shared: Path) -> tuple[Path, str]:
    """The demo's folder and what it printed, from the controller's run or one run here (once per test run)."""
    out, result = shared / "demo", shared / RESULT
    if (shared / HEAD_START).exists():
        deadline = time.monotonic() + WAIT_S
        while not result.exists():
            if time.monotonic() > deadline:
                pytest.fail(f"the demo started for this run did not end within {WAIT_S:.0f} s")
            time.sleep(0.5)
    else:
        with (shared / "demo.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not result.exists():
                done = subprocess.run(_command(out), env=_environment(), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, timeout=WAIT_S)
                _write_result(shared, done.returncode, done.stdout)
    document = json.loads(result.read_text(encoding="utf-8"))
    assert document["returncode"] == 0, document["output"]
    return out, str(document["output"])
