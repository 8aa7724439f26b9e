"""A Dask cluster as a studio starts one: `dask scheduler` and two `dask worker` processes on loopback (the
development and packaging tests kill one of them in the middle of a run)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from capturerig.processing import WORKER_ENVIRONMENT

DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StudioCluster:
    """`dask scheduler` and two `dask worker` processes on loopback, as a studio starts them."""

    def __init__(self, log_dir: Path) -> None:
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        port = self.address.rsplit(":", 1)[1]
        self.log_dir = log_dir
        self.scheduler = self._start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", port,
                                                   "--no-dashboard"])
        self.workers = [self._start(f"worker{k}", [
            DASK, "worker", self.address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
            "--resources", "memory_mb=2000", "--no-dashboard"], WORKER_ENVIRONMENT) for k in range(2)]

    def _start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout_s) as client:
            client.wait_for_workers(2, timeout=timeout_s)

    def stop(self) -> None:
        for process in (*self.workers, self.scheduler):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in (*self.workers, self.scheduler):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

