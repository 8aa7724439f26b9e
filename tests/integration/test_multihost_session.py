"""examples/multihost as its README runs it: four `capturerig agent` processes, `capturerig run`, then -- the
controller killed mid-session -- `capturerig resume`: every file of the 64 cameras in the session, what the
agents held brought home, their spools empty, no verified take shot again."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import child_env

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multihost"
HOSTS = ("agent1", "agent2", "agent3", "agent4")
KILL_AFTER_VERIFIED_TAKES = 3
WAIT_LIMIT_S = 90


def _verified_takes(journal: Path) -> set[str]:
    if not journal.exists():
        return set()
    try:
        with sqlite3.connect(journal, timeout=5) as db:
            return {row[0] for row in db.execute("SELECT take_id FROM takes WHERE status='verified'")}
    except sqlite3.OperationalError:  # the schema may not be there yet
        return set()


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Path]:
    """The example's four agents, each its own process, spooling under tmp_path/spool."""
    spool = tmp_path / "spool"
    children = [subprocess.Popen([sys.executable, "-m", "capturerig", "agent", "--rig", str(EXAMPLE / "rig.yaml"),
                                  "--host", host, "--spool", str(spool)], env=child_env(1.0),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for host in HOSTS]
    try:
        for child in children:  # each says where it listens once it does
            line = child.stdout.readline() if child.stdout else ""
            assert line.startswith("agent agent"), line + (child.stdout.read() if child.stdout else "")
        yield spool
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(timeout=15)


def test_the_multihost_example_runs_is_killed_and_resumes_to_a_whole_session(agents: Path, tmp_path: Path) -> None:
    session_dir = tmp_path / "session"
    command = [sys.executable, "-m", "capturerig", "run", "--rig", str(EXAMPLE / "rig.yaml"), "--plan",
               str(EXAMPLE / "plan.yaml"), "--subject", "S-kill", "--out", str(session_dir), "--yes"]
    child = subprocess.Popen(command, env=child_env(1.0), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    journal = session_dir / "journal.sqlite"
    deadline = time.monotonic() + WAIT_LIMIT_S
    while len(_verified_takes(journal)) < KILL_AFTER_VERIFIED_TAKES:
        assert child.poll() is None, child.stdout.read().decode() if child.stdout else "the run ended early"
        assert time.monotonic() < deadline, "the session did not verify 3 takes in time"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)  # the controller dies; the agents keep every file not yet acknowledged
    child.wait(timeout=10)
    verified_before = _verified_takes(journal)

    resumed = subprocess.run([sys.executable, "-m", "capturerig", "resume", str(session_dir), "--yes"],
                             env=child_env(1.0), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "8/8 takes verified" in resumed.stdout

    with sqlite3.connect(journal) as db:
        files = db.execute("SELECT path, camera_id FROM files WHERE take_id IS NOT NULL").fetchall()
        verified = db.execute("SELECT take_id, verified_attempt FROM takes WHERE status='verified'").fetchall()
        for take_id in verified_before:
            starts = db.execute("SELECT COUNT(*) FROM events WHERE kind='TakeStarted' AND payload LIKE ?",
                                (f'%"take_id": "{take_id}"%',)).fetchone()[0]
            assert starts == 1, f"{take_id} was verified before the kill but shot again"
    assert len(verified) == 8
    assert len({camera for _, camera in files}) == 64
    assert all((session_dir / path).is_file() for path, _ in files)
    # Every file an agent spooled reached the session and was acknowledged: those the killed controller had not
    # acknowledged yet were brought home by the resume, not left behind or shot again in their place.
    for host in HOSTS:
        ledger = [json.loads(line) for line in (agents / host / "ledger.jsonl").read_text().splitlines()]
        stored = {entry["file"]["file_id"] for entry in ledger if entry["op"] == "stored"}
        acked = {file_id for entry in ledger if entry["op"] == "acked" for file_id in entry["file_ids"]}
        assert stored, host
        assert stored == acked, f"{host} still holds {len(stored - acked)} files"
