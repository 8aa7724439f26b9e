"""Developing a RAW session on Dask: a local cluster, and a scheduler with workers as a studio runs them
(`dask scheduler`, `dask worker` as separate processes on loopback); the same bytes either way, also when a
worker is killed in the middle."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client
from typer.testing import CliRunner

from capturerig.cli import app
from capturerig.processing import ProcessingError, develop_file, develop_session, open_cluster, raw_files
from tests._raw_sessions import shoot_raw_session
from tests.conftest import EXAMPLES

runner = CliRunner()
DASK = str(Path(sys.executable).with_name("dask"))
RAW_FILES = 4 * 8


@pytest.fixture(scope="module")
def raw_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished session of the simulated studio whose first 4 cameras shoot RAW (4 x 8 takes: 32 DNG files;
    the other 12 JPEG, which development leaves alone)."""
    root = tmp_path_factory.mktemp("raw-session")
    shutil.copytree(EXAMPLES, root / "studio")
    return shoot_raw_session(root / "studio", root / "session", "[raw]", cameras=4)


@pytest.fixture(scope="module")
def in_process(raw_session: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every output's sha256 (relative path) from developing file by file in this process: the reference."""
    out = tmp_path_factory.mktemp("in-process")
    for raw in raw_files(raw_session):
        stem = out / raw.camera_id / raw.path.stem
        develop_file(str(raw.path), raw.sha256, raw.camera_id, f"{stem}.png", f"{stem}.tif")
    return _hashes(out)


@pytest.fixture(scope="module")
def local_client() -> Iterator[Client]:
    """One local cluster of two worker processes for the module's local runs (it takes seconds to start)."""
    with open_cluster(workers=2) as client:
        yield client


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


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
            "--resources", "memory_mb=2000", "--no-dashboard"]) for k in range(2)]

    def _start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

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


@pytest.fixture
def studio_cluster(tmp_path: Path) -> Iterator[StudioCluster]:
    cluster = StudioCluster(tmp_path)
    try:
        cluster.wait_ready()
        yield cluster
    finally:
        cluster.stop()


def test_a_local_cluster_develops_every_raw_file_to_the_same_bytes_as_one_process(
        raw_session: Path, in_process: dict[str, str], local_client: Client, tmp_path: Path) -> None:
    seen: list[int] = []
    assert len(local_client.scheduler_info()["workers"]) == 2
    report = develop_session(raw_session, tmp_path / "out", local_client, linear=True,
                             progress=lambda done, total: seen.append(done))
    assert report.failed == {}
    assert seen[-1] == RAW_FILES
    assert _hashes(tmp_path / "out") == in_process
    assert len(in_process) == 2 * RAW_FILES  # a PNG and a TIFF per RAW file
    assert not list((tmp_path / "out").rglob("*.partial"))


def test_a_scheduler_and_workers_started_as_processes_give_the_same_bytes(
        raw_session: Path, in_process: dict[str, str], studio_cluster: StudioCluster, tmp_path: Path) -> None:
    result = runner.invoke(app, ["develop", str(raw_session), "--out", str(tmp_path / "out"), "--linear",
                                 "--scheduler", studio_cluster.address])
    assert result.exit_code == 0, result.output
    assert f"developed {RAW_FILES} of {RAW_FILES} RAW files" in " ".join(result.output.split())
    assert _hashes(tmp_path / "out") == in_process


def test_a_worker_killed_mid_run_leaves_the_run_complete_and_identical(
        raw_session: Path, in_process: dict[str, str], studio_cluster: StudioCluster, tmp_path: Path) -> None:
    killed = threading.Event()

    def kill_one_worker(done: int, total: int) -> None:
        if done >= 6 and not killed.is_set():  # well into the run, most files still to come
            os.killpg(studio_cluster.workers[0].pid, signal.SIGKILL)
            killed.set()

    with open_cluster(studio_cluster.address) as client:
        report = develop_session(raw_session, tmp_path / "out", client, linear=True, progress=kill_one_worker)
    assert killed.is_set()
    assert studio_cluster.workers[0].wait(timeout=10) == -signal.SIGKILL
    assert report.failed == {}
    assert _hashes(tmp_path / "out") == in_process  # complete, identical, nothing half-written


def test_a_file_changed_since_capture_is_refused_by_name_and_the_rest_developed(
        raw_session: Path, local_client: Client, tmp_path: Path) -> None:
    copy = tmp_path / "session"
    shutil.copytree(raw_session, copy)
    victim = raw_files(copy)[5].path
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    report = develop_session(copy, tmp_path / "out", local_client)
    assert list(report.failed) == [str(victim)]
    assert "sha256 is not the one journalled" in report.failed[str(victim)]
    assert len(report.outputs) == RAW_FILES - 1


def test_an_unreachable_scheduler_is_named() -> None:
    started = time.monotonic()
    with pytest.raises(ProcessingError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"), \
            open_cluster(f"tcp://127.0.0.1:{9}", connect_timeout_s=2.0):
        pass
    assert time.monotonic() - started < 30
