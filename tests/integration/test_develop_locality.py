"""Post-capture tasks run on the capture host that already holds their file.

A RAW session shot over two agent processes (hosts agent1 at 127.0.0.11 and agent2 at .12, each keeping the
files the controller acknowledged), then `dask scheduler` and one `dask worker` per host as separate processes,
each worker offering the resource ``host-<name>`` as a studio starts them. Every file's task runs on its host's
worker and reads that host's kept copy; the outputs are byte for byte those of a LocalCluster reading the
session folder; with a host's worker absent its files are developed elsewhere from the session's copy, and a
kept copy altered since is never read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from distributed import Client

import capturerig
from capturerig.engine import Journal, RunState, Session
from capturerig.processing import develop_session, held_copies, open_cluster, raw_files
from capturerig_sim import TIME_SCALE_ENV, reset_studios
from tests._multihost import free_port, multihost_rig
from tests.conftest import EXAMPLES, child_env

HOSTS = {"agent1": "127.0.0.11", "agent2": "127.0.0.12"}
TOKEN = "locality-test-token-0123456789"
RAW_CAMERAS = (0, 8)  # one on each host (multihost_rig puts cam00-07 on agent1, cam08-15 on agent2)
RAW_FILES = len(RAW_CAMERAS) * 8
DASK = str(Path(sys.executable).with_name("dask"))


@dataclass(frozen=True)
class Shot:
    session: Path
    spool: Path
    reference: dict[str, str]  # output (relative path) -> sha256, from a LocalCluster reading the session


SIM_DMX = "  - id: dmx0\n    driver: sim\n    params: {studio: default}\n"
# As examples/multihost: the lights on multicast sACN over loopback, which every process's studio receives.
SACN_DMX = ("  - id: dmx0\n    driver: sacn\n    params: {multicast: true, multicast_interface: 127.0.0.1, "
            "multicast_ttl: 1, port: 5568, priority: 100, rate_hz: 44, keepalive_s: 0.8}\n")


def _for_agent_processes(rig_path: Path, raw_cameras: tuple[int, ...]) -> None:
    """Lights the agents' own studios see, and RAW on ``raw_cameras``."""
    text = rig_path.read_text(encoding="utf-8")
    assert SIM_DMX in text
    text = text.replace(SIM_DMX, SACN_DMX).replace("\nsimulation:\n", "\nsimulation:\n  serve: [dmx0]\n", 1)
    parts = text.split("formats: [jpeg]")
    assert len(parts) == 17
    rig_path.write_text("".join(part + ("" if k == 16 else "formats: [raw]" if k in raw_cameras else
                                        "formats: [jpeg]") for k, part in enumerate(parts)), encoding="utf-8")


def _agents(rig_path: Path, spool: Path) -> list[subprocess.Popen[str]]:
    children = [subprocess.Popen([sys.executable, "-m", "capturerig", "agent", "--rig", str(rig_path), "--host", host,
                                  "--spool", str(spool)], env=child_env(0.0), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for host in HOSTS]
    for child in children:  # each says where it listens once it does
        line = child.stdout.readline() if child.stdout else ""
        if not line.startswith("agent agent"):
            for other in children:
                other.kill()
            pytest.fail(line + (child.stdout.read() if child.stdout else ""))
    return children


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _shoot(root: Path) -> Shot:
    """The RAW session over two agent processes, and the reference: a LocalCluster developing it from the
    session folder."""
    shutil.copytree(EXAMPLES, root / "studio")
    rig_path = multihost_rig(root / "studio", HOSTS, TOKEN)
    _for_agent_processes(rig_path, RAW_CAMERAS)
    spool = root / "spool"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TIME_SCALE_ENV, "0")
        reset_studios()
        children = _agents(rig_path, spool)
        try:
            rig = capturerig.load_rig(rig_path)
            session = Session.create(rig, capturerig.load_plan(root / "studio" / "plan.yaml", rig), subject="S-test",
                                     out=root / "session")
            try:
                result = session.run()
            finally:
                session.close()
            assert result.state == RunState.DONE, result.error
        finally:
            for child in children:  # the agents go; what they keep stays on their disks
                child.send_signal(signal.SIGTERM)
            for child in children:
                child.wait(timeout=15)
            reset_studios()
    with open_cluster(workers=1) as client:
        report = develop_session(root / "session", root / "reference", client)
    assert report.failed == {}
    assert report.read_on_host == 0  # no worker of a LocalCluster is on a capture host
    return Shot(root / "session", spool, _hashes(root / "reference"))


class HostWorkers:
    """`dask scheduler` and a `dask worker` per named capture host, as processes on loopback."""

    def __init__(self, log_dir: Path, hosts: list[str]) -> None:
        port = free_port("127.0.0.1")
        self.address = f"tcp://127.0.0.1:{port}"
        self.log_dir = log_dir
        # Work stealing off: an idle worker would otherwise take a queued task from a busy host and read the
        # session's copy (docs/architecture.md says when a studio wants that; here every file stays on its host).
        env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__WORK_STEALING": "False"}
        self.scheduler = self._start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                                   "--no-dashboard"], env)
        self.workers = {host: self._start(host, [DASK, "worker", self.address, "--nthreads", "1", "--no-nanny",
                                                 "--host", "127.0.0.1", "--name", host, "--no-dashboard",
                                                 "--resources", f"memory_mb=2000,host-{host}=1"], env)
                        for host in hosts}
        self.wait_for(len(hosts))

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_for(self, workers: int, timeout_s: float = 60.0) -> None:
        """Until the scheduler counts exactly ``workers`` workers."""
        with Client(self.address, timeout=timeout_s) as client:
            deadline = time.monotonic() + timeout_s
            while len(client.scheduler_info(n_workers=-1)["workers"]) != workers:
                assert time.monotonic() < deadline, f"the scheduler never had {workers} workers"
                time.sleep(0.1)

    def stop_worker(self, host: str) -> None:
        process = self.workers[host]
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        self.wait_for(len(self.workers) - 1)

    def stop(self) -> None:
        processes = [*self.workers.values(), self.scheduler]
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def shot(tmp_path: Path) -> Shot:
    return _shoot(tmp_path / "shot")


@pytest.fixture
def host_workers(tmp_path: Path) -> Iterator[HostWorkers]:
    cluster = HostWorkers(tmp_path, list(HOSTS))
    try:
        yield cluster
    finally:
        cluster.stop()


# One test, not three: the session and the clusters are most of its time, and under pytest-xdist a module
# fixture would be made once per worker.
def test_each_file_is_developed_on_the_host_that_keeps_it_and_from_the_session_where_that_host_has_no_worker(
        shot: Shot, host_workers: HostWorkers, tmp_path: Path) -> None:
    # Where every file is: the host that spooled it, and its path in that host's spool, holding its bytes.
    held = held_copies(shot.session)
    journal = Journal(shot.session)
    try:
        files = journal.files()
    finally:
        journal.close()
    assert len(files) == 8 * 16
    assert set(held) == {f.path for f in files}
    for record in files:
        copy = held[record.path]
        assert copy.host == ("agent1" if int(str(record.camera_id)[3:]) < 8 else "agent2")
        assert Path(copy.path).parent == (shot.spool / copy.host / "files").resolve()
        assert hashlib.sha256(Path(copy.path).read_bytes()).hexdigest() == record.sha256

    # Both hosts have a worker: every file is developed there, from the host's own copy, to the same bytes.
    raws = raw_files(shot.session)
    assert len(raws) == RAW_FILES
    with open_cluster(host_workers.address) as client:
        report = develop_session(shot.session, tmp_path / "both", client)
    assert report.failed == {}
    for raw in raws:
        developed = report.developed[str(raw.path)]
        assert raw.held is not None
        assert (developed.read, developed.source, developed.worker_host) == ("host", raw.held.path, raw.held.host)
    assert _hashes(tmp_path / "both") == shot.reference

    # agent2's worker is gone and one of agent1's kept copies was altered: agent2's files are developed on
    # agent1 from the session's copies, the altered copy is passed over, and the bytes are the same again.
    host_workers.stop_worker("agent2")
    altered = next(raw for raw in raws if raw.held is not None and raw.held.host == "agent1")
    assert altered.held is not None
    kept = Path(altered.held.path)
    original = kept.read_bytes()
    kept.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    with open_cluster(host_workers.address) as client:
        report = develop_session(shot.session, tmp_path / "one", client)
    assert report.failed == {}
    for raw in raws:
        developed = report.developed[str(raw.path)]
        assert raw.held is not None
        assert developed.worker_host == "agent1"  # the only worker left
        if raw.held.host == "agent2" or raw is altered:
            assert (developed.read, developed.source) == ("session", str(raw.path))
        else:
            assert (developed.read, developed.source) == ("host", raw.held.path)
    assert "sha256 is not the journal's" in report.developed[str(altered.path)].passed_over
    assert report.read_on_host == RAW_FILES // 2 - 1
    assert _hashes(tmp_path / "one") == shot.reference
