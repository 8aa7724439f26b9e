"""A session killed with SIGKILL mid-run is completed by `capturerig resume`: nothing shot twice, nothing lost."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from capturerig.packaging import sha256_file
from tests.conftest import child_env

KILL_AFTER_VERIFIED_TAKES = 3
WAIT_LIMIT_S = 90


def _verified_takes(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(journal, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM takes WHERE status='verified'").fetchone()[0])
    except sqlite3.OperationalError:  # the schema may not be there yet
        return 0


def test_sigkill_mid_session_then_resume_gives_a_complete_session(studio_files: Path, tmp_path: Path) -> None:
    session_dir = tmp_path / "session"
    command = [sys.executable, "-m", "capturerig", "run", "--rig", str(studio_files / "rig.yaml"),
               "--plan", str(studio_files / "plan.yaml"), "--subject", "S-kill", "--out", str(session_dir), "--yes"]
    # Real modelled latencies (time scale 1) so the kill lands mid-session, between or inside takes.
    child = subprocess.Popen(command, env=child_env(1.0), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + WAIT_LIMIT_S
    journal = session_dir / "journal.sqlite"
    while _verified_takes(journal) < KILL_AFTER_VERIFIED_TAKES:
        assert child.poll() is None, child.stdout.read().decode() if child.stdout else "child ended early"
        assert time.monotonic() < deadline, "the session did not verify 3 takes in time"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    with sqlite3.connect(journal) as db:
        verified_before = {row[0] for row in db.execute("SELECT take_id FROM takes WHERE status='verified'")}
    assert KILL_AFTER_VERIFIED_TAKES <= len(verified_before) < 8

    resumed = subprocess.run([sys.executable, "-m", "capturerig", "resume", str(session_dir), "--yes"],
                             env=child_env(0.0), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "8/8 takes verified" in resumed.stdout

    with sqlite3.connect(journal) as db:
        statuses = dict(db.execute("SELECT take_id, status FROM takes").fetchall())
        assert set(statuses.values()) == {"verified"}
        assert len(statuses) == 8
        # No take verified before the kill was started again after it.
        for take_id in verified_before:
            starts = db.execute("SELECT COUNT(*) FROM events WHERE kind='TakeStarted' AND payload LIKE ?",
                                (f'%"take_id": "{take_id}"%',)).fetchone()[0]
            assert starts == 1, f"{take_id} was verified before the kill but shot again"
        journalled = dict(db.execute("SELECT path, sha256 FROM files").fetchall())
        verified_files = db.execute(
            "SELECT COUNT(*) FROM files f JOIN takes t ON f.take_id=t.take_id AND f.attempt=t.verified_attempt"
        ).fetchone()[0]
    assert verified_files == 8 * 16
    # Every file on disk is journalled with its hash: nothing lost, nothing left unhashed.
    on_disk = {str(p.relative_to(session_dir)): p for p in (session_dir / "images").iterdir()}
    assert set(on_disk) == set(journalled)
    for relative, path in on_disk.items():
        assert sha256_file(path) == journalled[relative], relative
