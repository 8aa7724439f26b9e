"""Acceptance: 4 virtual gphoto2 cameras, each in its own worker process, through 40-take sessions.

The virtual camera fails after ~26 captures per process, so every camera's worker restarts during the
session; the engine re-shoots that take and no file is lost: every take is verified with one file per
camera, each on disk with the sha256 the journal holds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import capturerig
from capturerig.engine import Event, Journal, RunState, Session, TakeFailed, TakeStarted
from tests.conftest import child_env
from tests.integration._run import run_to_end
from tests.integration._vusb import vusb_copy

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fast_sim")]


def _check_every_file_hashed_and_journalled(session_dir: Path, journal: Journal) -> None:
    takes = journal.takes()
    assert len(takes) == 40
    assert all(t.status == "verified" for t in takes.values())
    verified = journal.verified_files()
    assert len(verified) == 40 * 4
    assert {f.camera_id for f in verified} == {"vc0", "vc1", "vc2", "vc3"}
    for record in verified:
        data = (session_dir / record.path).read_bytes()
        assert len(data) == record.size
        assert hashlib.sha256(data).hexdigest() == record.sha256


def test_four_virtual_cameras_shoot_40_takes_across_worker_restarts(tmp_path: Path) -> None:
    folder = vusb_copy(tmp_path)
    rig = capturerig.load_rig(folder / "rig.yaml")
    plan = capturerig.load_plan(folder / "plan.yaml", rig)
    session = Session.create(rig, plan, subject="S-vusb", out=tmp_path / "session")
    result, events = run_to_end(session)
    assert result.state == RunState.DONE, result.error
    assert result.takes_verified == 40
    failures = [e for e in events if isinstance(e, TakeFailed)]
    assert failures, "the virtual camera's out-of-memory after ~26 captures should have cost one attempt"
    assert all("libgphoto2 ran out of memory" in e.error and e.will_retry for e in failures)
    journal = Journal(session.path)
    try:
        _check_every_file_hashed_and_journalled(session.path, journal)
    finally:
        journal.close()


def test_capturerig_run_completes_the_vusb_example(tmp_path: Path) -> None:
    folder = vusb_copy(tmp_path)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "capturerig", "run", "--rig", str(folder / "rig.yaml"), "--plan",
               str(folder / "plan.yaml"), "--subject", "S", "--out", str(out), "--yes"]
    done = subprocess.run(command, env=child_env(0), capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "40/40 takes verified" in done.stdout
    journal = Journal(out)
    try:
        _check_every_file_hashed_and_journalled(out, journal)
    finally:
        journal.close()


def test_preflight_catches_a_virtual_camera_given_another_cameras_folder(tmp_path: Path) -> None:
    folder = vusb_copy(tmp_path)
    rig_path = folder / "rig.yaml"
    text = rig_path.read_text()
    assert "vcam/vcam1," in text
    rig_path.write_text(text.replace("vcam/vcam1,", "vcam/vcam3,", 1))  # vc1 now runs on vc3's images
    rig = capturerig.load_rig(rig_path)
    session = Session.create(rig, capturerig.load_plan(folder / "plan.yaml", rig), subject="S", out=tmp_path / "s")
    try:
        result = session.run()
    finally:
        session.close()
    assert result.state == RunState.FAILED
    assert result.error is not None
    assert "vc1: reports serial vcam3 but the rig says vcam1" in result.error


def _worker_pid(vcameradir: Path) -> int:
    """The pid of this process's camera worker running on ``vcameradir`` (from /proc: no driver internals)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        if ppid == os.getpid() and str(vcameradir).encode() in argv:
            found.append(int(entry.name))
    assert len(found) == 1, found
    return found[0]


def test_a_killed_and_a_hung_worker_cost_a_retry_at_most_and_the_session_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = vusb_copy(tmp_path)
    plan_path = folder / "plan.yaml"
    lines = [line for line in plan_path.read_text().splitlines()
             if not any(f"id: s0{i}," in line for i in range(2, 8))]
    plan_path.write_text("\n".join(lines) + "\n")  # 2 stations x 5 lighting states
    rig = capturerig.load_rig(folder / "rig.yaml")
    session = Session.create(rig, capturerig.load_plan(plan_path, rig), subject="S", out=tmp_path / "s")
    events: list[Event] = []
    sabotage = {3: ("vc2", signal.SIGKILL), 6: ("vc1", signal.SIGSTOP)}

    def on_event(event: Event) -> None:
        events.append(event)
        if isinstance(event, TakeStarted) and event.attempt == 1 and event.ordinal in sabotage:
            camera_id, sig = sabotage[event.ordinal]
            os.kill(_worker_pid(folder / "vcam" / f"vcam{camera_id[-1]}"), sig)

    session.subscribe(on_event)
    caplog.set_level(logging.WARNING, logger="capturerig.devices.gphoto2")
    try:
        result = session.run()
    finally:
        session.close()
    assert result.state == RunState.DONE, result.error
    assert result.takes_verified == 10
    hung = [e for e in events if isinstance(e, TakeFailed) and "hung and was killed" in e.error]
    assert len(hung) == 1
    assert "vc1: arm got no answer within 10 s" in hung[0].error
    assert hung[0].will_retry
    assert "vc2: restarting its camera worker (restart 1)" in caplog.text  # the dead one, before its next take
    assert "vc1: restarting its camera worker (restart 1)" in caplog.text
    journal = Journal(session.path)
    try:
        verified = journal.verified_files()
        assert len(verified) == 10 * 4
        for record in verified:
            assert hashlib.sha256((session.path / record.path).read_bytes()).hexdigest() == record.sha256
    finally:
        journal.close()
