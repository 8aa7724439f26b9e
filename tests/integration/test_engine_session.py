"""The engine on the simulated studio: retries, failures, pause/abort, preflight, consistency, safety."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import capturerig
from capturerig.engine import (
    Event,
    PoseStarted,
    RunState,
    Session,
    StateChanged,
    TakeFailed,
    TakeStarted,
    TakeVerified,
)
from capturerig_sim import VirtualStudio, get_studio
from tests.conftest import with_test_card_images

pytestmark = pytest.mark.usefixtures("fast_sim")


def _session(studio_files: Path, tmp_path: Path, rig_edit: tuple[str, str] | None = None,
             plan_edit: tuple[str, str] | None = None) -> tuple[Session, VirtualStudio]:
    for name, edit in (("rig.yaml", rig_edit), ("plan.yaml", plan_edit)):
        if edit:
            path = studio_files / name
            text = path.read_text()
            assert edit[0] in text
            path.write_text(text.replace(edit[0], edit[1], 1))
    rig = capturerig.load_rig(with_test_card_images(studio_files / "rig.yaml"))
    plan = capturerig.load_plan(studio_files / "plan.yaml", rig)
    session = Session.create(rig, plan, subject="S-test", out=tmp_path / "session")
    return session, get_studio("default", rig.config, rig.path.parent)


def _all_dark(studio: VirtualStudio) -> bool:
    return all(not any(frame) for frame in studio.held_frames().values())


def _record(session: Session) -> list[Event]:
    events: list[Event] = []
    session.subscribe(events.append)
    return events


def test_busy_camera_take_is_retried_and_the_first_attempts_files_are_kept(studio_files: Path,
                                                                           tmp_path: Path) -> None:
    session, studio = _session(studio_files, tmp_path)
    studio.inject_fault("cam03", "busy")
    events = _record(session)
    result = session.run()
    assert result.state == RunState.DONE
    assert result.takes_verified == 8
    failed = [e for e in events if isinstance(e, TakeFailed)]
    assert len(failed) == 1
    assert "cam03" in failed[0].error
    assert failed[0].will_retry
    takes = session.folder.journal.takes()
    assert takes["p00/s00/l00/b0"].verified_attempt == 2
    first_attempt = session.folder.journal.files("p00/s00/l00/b0", 1)
    assert len(first_attempt) == 15  # every camera but the busy one: captured images are never thrown away
    assert all((session.path / f.path).is_file() for f in first_attempt)
    assert (session.path / "images" / "cam03_p00_s00_l00_a2.jpg").is_file()
    assert _all_dark(studio)


def test_corrupt_download_is_caught_by_decoding_and_reshot(studio_files: Path, tmp_path: Path) -> None:
    session, studio = _session(studio_files, tmp_path)
    studio.inject_fault("cam11", "corrupt_download")
    events = _record(session)
    assert session.run().state == RunState.DONE
    (failed,) = [e for e in events if isinstance(e, TakeFailed)]
    assert "does not decode" in failed.error
    assert "cam11" in failed.error


def test_camera_failing_every_retry_fails_the_session_with_lights_safe_and_resume_finishes(
        studio_files: Path, tmp_path: Path) -> None:
    session, studio = _session(studio_files, tmp_path)
    studio.inject_fault("cam05", "busy", count=3)  # retries: 2 -> three attempts, all fail
    result = session.run()
    assert result.state == RunState.FAILED
    assert result.error is not None
    assert "cam05" in result.error
    assert result.takes_verified == 0
    assert _all_dark(studio)
    session.close()

    resumed = Session.open(session.path)
    result = resumed.run()
    assert result.state == RunState.DONE
    assert result.takes_verified == 8


def test_abort_stops_at_a_take_boundary_with_lights_safe_then_resume_shoots_only_the_rest(
        studio_files: Path, tmp_path: Path) -> None:
    session, studio = _session(studio_files, tmp_path)
    verified: list[str] = []

    def abort_after_three(event: Event) -> None:
        if isinstance(event, TakeVerified):
            verified.append(event.take_id)
            if len(verified) == 3:
                session.abort()

    session.subscribe(abort_after_three)
    result = session.run()
    assert result.state == RunState.ABORTED
    # The fourth take was shot while the third was stored: if its shutters had closed before the abort it is
    # kept and verified, and nothing after it was started.
    assert result.takes_verified in (3, 4)
    assert session.folder.journal.event_count("TakeStarted") <= 4
    assert _all_dark(studio)
    session.close()

    resumed = Session.open(session.path)
    started = _record(resumed)
    result_after = resumed.run()
    assert result_after.state == RunState.DONE
    assert result_after.takes_shot_now == 8 - result.takes_verified
    assert not {e.take_id for e in started if isinstance(e, TakeStarted)} & set(verified)


def test_pause_waits_at_a_take_boundary_with_lights_safe_and_resume_continues(studio_files: Path,
                                                                             tmp_path: Path) -> None:
    session, studio = _session(studio_files, tmp_path)
    dark_while_paused: list[bool] = []

    def on_event(event: Event) -> None:
        if isinstance(event, TakeVerified) and event.ordinal == 1:
            session.pause()
        if getattr(event, "state", None) == RunState.PAUSED:
            dark_while_paused.append(_all_dark(studio))
            threading.Timer(0.3, session.resume).start()

    session.subscribe(on_event)
    result = session.run()
    assert result.state == RunState.DONE
    assert dark_while_paused == [True]
    assert session.folder.journal.event_count("StateChanged") >= 5  # preflight, running, paused, running, done


@pytest.mark.parametrize("consistency", ["take", "pose"])
def test_after_pause_and_resume_the_pose_is_confirmed_and_held_again_before_the_next_exposure(
        studio_files: Path, tmp_path: Path, consistency: str) -> None:
    # The person relaxes while the rig is paused: the operator confirms the pose again and the cue says HOLD
    # (PoseStarted) before the rig exposes again, under either consistency.
    session, _ = _session(studio_files, tmp_path, plan_edit=("\nconsistency: take", f"\nconsistency: {consistency}"))
    seen: list[str] = []

    def on_event(event: Event) -> None:
        if isinstance(event, TakeVerified) and event.ordinal == 1 and "paused" not in seen:
            session.pause()
        if isinstance(event, StateChanged):
            seen.append(str(event.state))
            if event.state == RunState.PAUSED:
                threading.Timer(0.2, session.resume).start()
        elif isinstance(event, PoseStarted):
            seen.append(f"hold {event.pose_id}")
        elif isinstance(event, TakeStarted):
            seen.append("exposure")

    session.subscribe(on_event)
    confirmed: list[str] = []
    result = session.run(confirm_pose=lambda pose: confirmed.append(pose.id) is None)
    assert result.state == RunState.DONE, result.error
    after_resume = seen[seen.index("paused") + 1:]
    assert after_resume[:3] == ["running", "hold p00", "exposure"]
    assert confirmed == ["p00", "p00"]
    assert seen.count("hold p00") == 2


def test_preflight_names_a_camera_reporting_the_wrong_serial_and_shoots_nothing(studio_files: Path,
                                                                               tmp_path: Path) -> None:
    session, _ = _session(studio_files, tmp_path, rig_edit=(
        "    params: {studio: default}\n    serial: SIM00002",
        "    params: {studio: default, serial_reported: SIM99999}\n    serial: SIM00002"))
    result = session.run()
    assert result.state == RunState.FAILED
    assert result.error is not None
    assert "cam02: reports serial SIM99999 but the rig says SIM00002" in result.error
    assert session.folder.journal.takes() == {}


def test_preflight_catches_a_setting_the_camera_silently_refuses(studio_files: Path, tmp_path: Path) -> None:
    session, _ = _session(studio_files, tmp_path, rig_edit=(
        "    params: {studio: default}\n    serial: SIM00009",
        "    params: {studio: default, stuck_settings: {iso: '400'}}\n    serial: SIM00009"))
    result = session.run()
    assert result.state == RunState.FAILED
    assert result.error is not None
    assert "cam09: iso set to 100 but reads back 400" in result.error


def test_preflight_refuses_when_storage_has_no_room(studio_files: Path, tmp_path: Path) -> None:
    session, _ = _session(studio_files, tmp_path, rig_edit=("min_free_bytes: 100000000",
                                                            "min_free_bytes: 900000000000000"))
    result = session.run()
    assert result.state == RunState.FAILED
    assert result.error is not None
    assert "storage:" in result.error
    assert "GB free" in result.error


def test_pose_consistency_reshoots_the_whole_pose_when_a_take_fails(studio_files: Path, tmp_path: Path) -> None:
    session, studio = _session(studio_files, tmp_path, plan_edit=("\nconsistency: take", "\nconsistency: pose"))
    events = _record(session)

    def fault_on_fourth_take(event: Event) -> None:
        if isinstance(event, TakeStarted) and event.ordinal == 3 and event.attempt == 1:
            studio.inject_fault("cam00", "busy")

    session.subscribe(fault_on_fourth_take)
    result = session.run()
    assert result.state == RunState.DONE
    starts = [e.take_id for e in events if isinstance(e, TakeStarted)]
    # Takes 0-3 of the pose were shot, take 3 failed, then all 8 takes of the pose were shot together.
    assert len(starts) == 4 + 8
    assert starts[4:] == [e.take_id for e in events if isinstance(e, TakeVerified)][-8:]
    assert all(r.status == "verified" for r in session.folder.journal.takes().values())
    assert len(session.folder.journal.files()) == 4 * 16 - 1 + 8 * 16  # nothing deleted


def test_a_failing_journal_stops_the_run_and_leaves_lights_safe(studio_files: Path, tmp_path: Path) -> None:
    session, studio = _session(studio_files, tmp_path)

    def break_the_journal(event: Event) -> None:
        if isinstance(event, TakeVerified) and event.ordinal == 1:
            session.folder.journal.close()  # every later write fails

    session.subscribe(break_the_journal)
    result = session.run()
    assert result.state == RunState.FAILED
    assert result.takes_shot_now == 2
    assert _all_dark(studio)


def test_a_failing_observer_never_breaks_the_session(studio_files: Path, tmp_path: Path) -> None:
    session, _ = _session(studio_files, tmp_path)

    def broken_panel(event: Event) -> None:
        raise ConnectionResetError("browser went away")

    session.subscribe(broken_panel)
    assert session.run().state == RunState.DONE
    assert session.events.observer_failures > 8


def test_no_session_without_a_valid_subject_id(studio_files: Path, tmp_path: Path) -> None:
    rig = capturerig.load_rig(studio_files / "rig.yaml")
    plan = capturerig.load_plan(studio_files / "plan.yaml", rig)
    with pytest.raises(capturerig.ConsentRefused, match="subject id '' is not valid"):
        Session.create(rig, plan, subject="", out=tmp_path / "never")
    assert not (tmp_path / "never").exists()
