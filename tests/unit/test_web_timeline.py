"""A session's timeline and whether it was interrupted, read back from real journals (sessions run by the panel's
RunManager on the simulated studio): every take with its time in order, the operator's answers, retries, pauses,
the server stopping mid-run, and a resume that shoots only what is missing."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capturerig.engine import Journal
from capturerig.web._problems import PanelProblem
from capturerig_sim import get_studio
from tests.conftest import child_env
from tests.unit._web_runs import RUN_TIMEOUT_S, SUBJECT, run_manager, verified, wait_for

pytestmark = pytest.mark.usefixtures("fast_sim")
PLAN_ORDER = [f"p00/{s}/{light}/b0" for s in ("s00", "s01") for light in ("l00", "l01", "l02", "l03")]


def test_a_finished_sessions_timeline_lists_each_take_with_its_time_in_order(studio_files: Path,
                                                                             tmp_path: Path) -> None:
    runs, views = run_manager(studio_files, tmp_path / "sessions")
    rig = runs.catalog.default_rig.loaded
    get_studio("default", rig.config, rig.path.parent).inject_fault("cam03", "busy")  # one take shot again
    name = runs.start(None, "sim-demo", SUBJECT, confirm_poses=True)
    wait_for(lambda: views.run.awaiting_pose is not None, "the pose question")
    runs.confirm_pose(True)
    assert runs.wait(RUN_TIMEOUT_S)
    assert views.run.state == "done"

    timeline = runs.timeline(name)
    entries = timeline["entries"]
    assert timeline["session"] == name
    assert all(set(e) == {"t", "kind", "text", "take_id", "level"} for e in entries)
    assert all(e["level"] in ("info", "warning", "error") and e["text"].endswith(".") for e in entries)
    assert [e["t"] for e in entries] == sorted(e["t"] for e in entries)
    kinds = [e["kind"] for e in entries]
    assert kinds[0] == "preflight"
    assert kinds[-1] == "finish"
    assert kinds.index("preflight-check") < kinds.index("running") < kinds.index("confirmation") < kinds.index("pose")
    assert "The operator confirmed pose p00" in entries[kinds.index("confirmation")]["text"]

    started = [e for e in entries if e["kind"] == "take-started"]
    done = {e["take_id"]: e for e in entries if e["kind"] == "take-verified"}
    assert list(dict.fromkeys(e["take_id"] for e in started)) == PLAN_ORDER
    assert list(done) == PLAN_ORDER, "each take verified once, in the plan's order"
    for take_id, entry in done.items():
        first = next(e for e in started if e["take_id"] == take_id)
        assert first["t"] <= entry["t"]
        assert entry["text"] == f"Take {take_id} verified: 16 files ({PLAN_ORDER.index(take_id) + 1}/8)."
    retried = [e for e in entries if e["kind"] == "take-retried"]
    assert len(retried) == 1
    assert retried[0]["level"] == "warning"
    assert "cam03" in retried[0]["text"]
    assert retried[0]["text"].endswith("shooting it again.")


def test_the_server_stopping_mid_run_leaves_an_interrupted_session_that_resumes_to_the_end(
        studio_files: Path, tmp_path: Path) -> None:
    runs, views = run_manager(studio_files, tmp_path / "sessions")
    name = runs.start(None, "sim-demo", SUBJECT, confirm_poses=False)
    wait_for(lambda: verified(runs) >= 2, "two takes verified")
    runs.stop_for_server()
    assert runs.wait(RUN_TIMEOUT_S)
    assert views.run.state == "aborted"

    [row] = runs.interrupted()
    assert runs.describe(tmp_path / "sessions" / name)["interrupted"]["text"] == row["text"]  # the sessions list too
    assert row["name"] == name
    assert row["cause"] == "stopped"
    done_before = row["takes_verified"]
    assert 2 <= done_before < 8
    assert row["text"] == (f"session {name} was interrupted at take {done_before + 1}/8 when the panel's server "
                           f"stopped ({done_before} of 8 takes verified); resume it")
    kinds = [e["kind"] for e in runs.timeline(name)["entries"]]
    # The take in flight may fail as the lights go safe; the session stops at its boundary. (The checks of the
    # last verified take run on their own thread and may be journalled after the abort: test cards repeat one
    # image, so they find it stale.)
    assert [k for k in kinds if not k.startswith("check-")][-2:] == ["abort", "interrupted"]
    assert kinds.index("server-stopped") < kinds.index("abort")
    assert "aborted" not in kinds, "the operator did not abort it"

    runs.reshoot(name, confirm_poses=False)  # the engine's resume: what the journal cannot prove done
    assert runs.wait(RUN_TIMEOUT_S)
    assert views.run.state == "done"
    assert runs.interrupted() == []
    journal = Journal(tmp_path / "sessions" / name)
    try:
        resumed_at = [e["at"] for e in journal.events("StateChanged") if e["state"] == "preflight"][-1]
        shot_again = {e["take_id"] for e in journal.events("TakeStarted") if e["at"] > resumed_at}
        skipped = {e["take_id"] for e in journal.events("TakeSkipped")}
        assert len(skipped) == done_before
        assert not skipped & shot_again, "no verified take is shot again"
        assert skipped | shot_again == set(PLAN_ORDER)
        assert all(t.status == "verified" for t in journal.takes().values())
        assert len(journal.takes()) == 8
    finally:
        journal.close()
    kinds = [e["kind"] for e in runs.timeline(name)["entries"]]
    assert kinds.count("preflight") == 2
    assert kinds.count("take-skipped") == done_before
    assert kinds[-1] == "finish"


def test_a_session_whose_process_was_killed_mid_run_is_interrupted(studio_files: Path, tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    runs, _ = run_manager(studio_files, sessions)
    folder = sessions / "killed-session"
    # Real modelled latencies (time scale 1) so the kill lands mid-session; SIGKILL leaves the journal "running".
    child = subprocess.Popen([sys.executable, "-m", "capturerig", "run", "--rig", str(studio_files / "rig.yaml"),
                              "--plan", str(studio_files / "plan.yaml"), "--subject", "S-kill", "--out", str(folder),
                              "--yes"], env=child_env(1.0), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _verified_in(folder) >= 2 or child.poll() is not None, "two takes verified", 90.0)
        assert child.poll() is None, "the session ended before it could be killed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    [row] = runs.interrupted()
    done = row["takes_verified"]
    assert (row["name"], row["cause"], row["journal_state"]) == ("killed-session", "killed", "running")
    assert row["text"] == (f"session killed-session was interrupted at take {done + 1}/8 when the program running it "
                           f"stopped without finishing (killed, crashed or the power went) ({done} of 8 takes "
                           "verified); resume it")


def _verified_in(folder: Path) -> int:
    if not (folder / "journal.sqlite").is_file():
        return 0
    time.sleep(0.05)
    journal = Journal(folder)
    try:
        return sum(1 for t in journal.takes().values() if t.status == "verified")
    finally:
        journal.close()


def test_a_session_the_operator_aborted_is_not_called_interrupted(studio_files: Path, tmp_path: Path) -> None:
    runs, views = run_manager(studio_files, tmp_path / "sessions")
    name = runs.start(None, "sim-demo", SUBJECT, confirm_poses=False)
    wait_for(lambda: verified(runs) >= 1, "a take verified")
    runs.abort()
    assert runs.wait(RUN_TIMEOUT_S)
    assert views.run.state == "aborted"
    assert runs.interrupted() == []
    last = runs.timeline(name)["entries"][-1]
    assert (last["kind"], last["level"]) == ("aborted", "warning")
    assert re.fullmatch(r"Stopped before the end \(aborted by the operator\)\.", last["text"])


def test_a_journal_that_cannot_be_read_is_a_problem_naming_it(studio_files: Path, tmp_path: Path) -> None:
    runs, _ = run_manager(studio_files, tmp_path / "sessions")
    name = runs.start(None, "sim-demo", SUBJECT, confirm_poses=False)
    assert runs.wait(RUN_TIMEOUT_S)
    journal = tmp_path / "sessions" / name / "journal.sqlite"
    journal.write_bytes(b"not a database" * 100)
    with pytest.raises(PanelProblem) as raised:
        runs.timeline(name)
    assert raised.value.where == str(journal)
    assert raised.value.what.startswith(f"session {name} cannot be read: its journal is damaged")
    assert "copy the session folder" in raised.value.todo
