"""Developing a RAW session on Dask: a local cluster, and a scheduler with workers as a studio runs them
(`dask scheduler`, `dask worker` as separate processes on loopback); the same bytes either way, also when a
worker is killed in the middle."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client
from typer.testing import CliRunner

from capturerig.cli import app
from capturerig.processing import ProcessingError, develop_file, develop_session, open_cluster, raw_files
from tests._dask import StudioCluster
from tests._raw_sessions import shoot_raw_session
from tests.conftest import EXAMPLES

runner = CliRunner()
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


def _huge_page_advice() -> bool:
    from numpy._core import multiarray

    return bool(multiarray._get_madvise_hugepage())


def test_local_workers_make_frame_arrays_without_numpys_huge_page_advice(local_client: Client) -> None:
    # Two workers faulting in fresh huge pages at once stall in the kernel (bench/develop: 1.5x against 2.1x).
    assert set(local_client.run(_huge_page_advice).values()) == {False}


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
