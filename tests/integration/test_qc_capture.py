"""Per-image checks while the subject is in the rig: every verified take of a simulated session gets a
``TakeChecked`` in the journal; a defocused camera's take is only reported (on_fail: report), shot again at once
and passing the second time (reshoot), or left to the operator, whose re-shoot request reaches the running
engine (ask); a package of a session with a failed check carries qc.json and `capturerig verify` says so; a bad
``qc:`` section is named at its file:line field."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import capturerig
from capturerig.cli import app
from capturerig.config import ConfigError
from capturerig.engine import (
    Event,
    Journal,
    RunState,
    Session,
    SessionMessage,
    StateChanged,
    TakeChecked,
    TakeRecord,
    package_session,
)
from capturerig.subjects import DEMO_PURPOSE, enrol_demo_subject
from capturerig_sim import get_studio, reset_studios

PLAN = """\
name: qc-capture
consistency: take
retries: 1
subject: {kind: object}
poses:
  - {id: p00, description: first hold}
  - {id: p01, description: second hold}
stations:
  - {id: s00, angle_deg: 0}
lighting:
  - {id: l00, levels: {"*": {intensity: 1.0, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
  - {id: l01, levels: {"*": {intensity: 0.5, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
camera_groups: [ring-low]
settle: {lights_s: 0.0, turntable_s: 0.0}
"""
SOFT_TAKE = "p01/s00/l00/b0"  # cam01's third exposure: the first two gave it a baseline of l00 at s00
TAKES = ["p00/s00/l00/b0", "p00/s00/l01/b0", SOFT_TAKE, "p01/s00/l01/b0"]


@pytest.fixture(autouse=True)
def _fresh_studios() -> Iterator[None]:
    reset_studios()
    yield
    reset_studios()


def session_for(tmp_path: Path, on_fail: str, defocus_at: int | None = 2) -> Session:
    """A 4 takes x 4 cameras session with ``qc.on_fail``; cam01's exposure ``defocus_at`` is out of focus."""
    base = capturerig.load_rig()
    document = base.config.model_dump(mode="json", exclude_defaults=True)
    document["cameras"] = document["cameras"][:4]
    (tmp_path / "rig.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    (tmp_path / "plan.yaml").write_text(PLAN + f"qc: {{on_fail: {on_fail}}}\n")
    rig = capturerig.load_rig(tmp_path / "rig.yaml")
    plan = capturerig.load_plan(tmp_path / "plan.yaml", rig)
    assert plan.config.qc.on_fail == on_fail
    studio = get_studio("default", rig.config, rig.path.parent)
    studio.time_scale = 0.0
    if defocus_at is not None:
        studio.faults.schedule("cam01", "defocus", defocus_at)  # one-shot: that exposure only
    registry = enrol_demo_subject(tmp_path / "subjects.sqlite", "qc").registry_path
    return capturerig.Session.create(rig, plan, subject="qc", out=tmp_path / "session", purpose=DEMO_PURPOSE,
                                     registry=registry)


def checked(session_dir: Path) -> list[dict[str, Any]]:
    journal = Journal(session_dir)
    try:
        return journal.events("TakeChecked")
    finally:
        journal.close()


def takes(session_dir: Path) -> dict[str, TakeRecord]:
    journal = Journal(session_dir)
    try:
        return journal.takes()
    finally:
        journal.close()


def soft_file(event: dict[str, Any]) -> dict[str, Any]:
    return next(f for f in event["files"] if f["camera"] == "cam01")


def test_report_journals_a_verdict_for_every_take_and_reshoots_nothing(tmp_path: Path) -> None:
    session = session_for(tmp_path, "report")
    seen: list[Event] = []
    session.subscribe(seen.append)
    result = session.run()
    session.close()
    assert result.state == capturerig.RunState.DONE, result.error
    events = checked(session.path)
    assert sorted(e["take_id"] for e in events) == sorted(TAKES)  # one verdict per verified take, no more
    by_take = {e["take_id"]: e for e in events}
    soft = by_take[SOFT_TAKE]
    assert soft["verdict"] == "fail"
    assert soft["action"] == "reported"
    assert soft_file(soft)["verdict"] == "fail"
    assert any("softer than its own takes: check focus" in r for r in soft_file(soft)["reasons"])
    assert soft_file(soft)["path"].startswith("images/cam01_p01_s00_l00")
    assert all(by_take[t]["verdict"] != "fail" for t in TAKES if t != SOFT_TAKE)
    assert all(record.attempts == 1 for record in takes(session.path).values())
    # Subscribers (the panel) get the same events, after the take was verified.
    kinds = [e.kind for e in seen]
    published = [e for e in seen if isinstance(e, TakeChecked)]
    assert len(published) == 4
    assert kinds.index("TakeChecked") > kinds.index("TakeVerified")
    done = next(i for i, e in enumerate(seen) if isinstance(e, StateChanged) and e.state == RunState.DONE)
    assert max(i for i, e in enumerate(seen) if isinstance(e, TakeChecked)) < done  # every check before "done"

    # A package of it carries every frame's verdict; verify warns (exit 0), --strict fails.
    out = tmp_path / "package"
    package_session(session.path, out, undistort=False)
    qc = json.loads((out / "data" / "qc.json").read_text())
    assert qc["summary"]["fail"] == 1
    frames = json.loads((out / "data" / "package.json").read_text())["frames"]
    verdicts = {f["name"]: f["qc"]["verdict"] for f in frames}
    assert verdicts["cam01_p01_s00_l00.jpg"] == "fail"
    assert sum(v == "ok" for v in verdicts.values()) >= 14
    result_verify = CliRunner().invoke(app, ["verify", str(out)])
    assert result_verify.exit_code == 0, result_verify.output
    assert "cam01_p01_s00_l00.jpg" in result_verify.output
    assert "failed a check" in result_verify.output
    strict = CliRunner().invoke(app, ["verify", "--strict", str(out)])
    assert strict.exit_code == 1, strict.output


def test_reshoot_shoots_the_soft_take_again_at_once_and_the_second_attempt_passes(tmp_path: Path) -> None:
    session = session_for(tmp_path, "reshoot")
    result = session.run()
    session.close()
    assert result.state == capturerig.RunState.DONE, result.error
    events = [e for e in checked(session.path) if e["take_id"] == SOFT_TAKE]
    assert [(e["attempt"], e["verdict"], e["action"]) for e in events] == [(1, "fail", "reshoot"), (2, "ok", "none")]
    record = takes(session.path)[SOFT_TAKE]
    assert (record.status, record.verified_attempt) == ("verified", 2)
    assert sorted({e["take_id"] for e in checked(session.path)}) == sorted(TAKES)
    # In the hold of p01 (before anything else), and the package takes the second attempt.
    out = tmp_path / "package"
    package_session(session.path, out, undistort=False)
    frames = json.loads((out / "data" / "package.json").read_text())["frames"]
    soft = next(f for f in frames if f["name"] == "cam01_p01_s00_l00.jpg")
    assert soft["qc"]["verdict"] == "ok"
    assert soft["source"] == "cam01_p01_s00_l00_a2.jpg"  # attempt 2's file
    assert CliRunner().invoke(app, ["verify", "--strict", str(out)]).exit_code == 0


def test_ask_leaves_the_take_to_the_operator_whose_request_reaches_the_running_engine(tmp_path: Path) -> None:
    session = session_for(tmp_path, "ask")
    asked: list[bool] = []

    def operator(event: Event) -> None:  # the panel's re-shoot button, pressed as the warning shows
        if isinstance(event, TakeChecked) and event.action == "awaiting_operator":
            asked.append(session.reshoot_take(event.take_id, "soft on cam01"))

    session.subscribe(operator)
    result = session.run()
    assert result.state == capturerig.RunState.DONE, result.error
    assert asked == [True]  # queued into the run, not left for later
    events = [e for e in checked(session.path) if e["take_id"] == SOFT_TAKE]
    assert [(e["attempt"], e["verdict"], e["action"]) for e in events] == [
        (1, "fail", "awaiting_operator"), (2, "ok", "none")]
    assert takes(session.path)[SOFT_TAKE].verified_attempt == 2

    # After the run a request marks the take for the next run (the panel's re-shoot), which re-checks nothing
    # already checked: only the new attempt gets a verdict.
    assert session.reshoot_take(TAKES[0], "operator") is False
    session.close()
    assert takes(session.path)[TAKES[0]].status == "superseded"
    before = len(checked(session.path))
    again = Session.open(session.path)
    resumed = again.run()
    again.close()
    assert resumed.state == capturerig.RunState.DONE, resumed.error
    after = checked(session.path)
    assert len(after) == before + 1
    assert (after[-1]["take_id"], after[-1]["attempt"]) == (TAKES[0], 2)
    with pytest.raises(ValueError, match="p09"):
        Session.open(session.path).reshoot_take("p09/s00/l00/b0")


def test_a_bad_qc_section_is_named_at_its_file_line_and_field(tmp_path: Path) -> None:
    rig = capturerig.load_rig()
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN + "qc:\n  on_fail: explode\n  thresholds: {sharpness_warn: 0.5, sharpness_fail: 0.7}\n")
    with pytest.raises(ConfigError) as excinfo:
        capturerig.load_plan(path, rig)
    text = str(excinfo.value)
    line = PLAN.count("\n") + 2
    assert f"plan.yaml:{line} qc.on_fail: 'explode' is not allowed; use 'ask', 'reshoot' or 'report'" in text, text
    assert (f"plan.yaml:{line + 1} qc.thresholds: sharpness_fail must not be stricter than sharpness_warn "
            "(0.7 vs 0.5)") in text, text


def _checks_children() -> list[int]:
    """The checks' child processes this test process started."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if ppid == os.getpid() and b"_serve_main.py" in cmdline:
            found.append(int(proc.name))
    return found


def test_a_checks_process_that_dies_leaves_the_capture_going_and_says_so(tmp_path: Path) -> None:
    session = session_for(tmp_path, "ask", defocus_at=None)
    killed: list[int] = []
    messages: list[str] = []

    def crash_it(event: Event) -> None:  # a decoder crash in the child, after the first take's verdict
        if isinstance(event, TakeChecked) and not killed:
            for pid in _checks_children():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        if isinstance(event, SessionMessage):
            messages.append(event.text)

    session.subscribe(crash_it)
    result = session.run()
    session.close()
    assert killed
    assert result.state == RunState.DONE, result.error
    assert all(record.status == "verified" for record in takes(session.path).values())
    assert 1 <= len(checked(session.path)) < len(TAKES)
    assert any(m.startswith("per-image checks stopped: the checks' process ended") for m in messages), messages
    assert any("takes were not checked" in m and "capturerig qc" in m for m in messages), messages
    assert not _checks_children()  # nothing left behind
