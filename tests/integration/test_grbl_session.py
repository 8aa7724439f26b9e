"""A plan of 8 turntable stations on the simulated studio through the GRBL driver and simulator on a pty."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import capturerig
from capturerig.engine import RunState, Session, StationReached, TakeFailed
from capturerig_sim import get_studio
from capturerig_sim.grbl_sim import GrblSimulator
from capturerig_sim.wire import served, stop_wire_simulators
from tests.integration._run import run_to_end

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "grbl"
ANGLES = [0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0]

pytestmark = pytest.mark.usefixtures("fast_sim")


@pytest.fixture
def grbl_files(tmp_path: Path) -> Iterator[Path]:
    """The GRBL example with its pty in tmp_path, the table's motion at 1/50 of real time, and 8 cameras."""
    target = tmp_path / "grbl"
    shutil.copytree(EXAMPLE, target)
    rig = target / "rig.yaml"
    text = rig.read_text()
    for old, new in (("port: /tmp/capturerig-sim/tt0", f"port: {tmp_path / 'tt0'}"),
                     ("time_scale: 1.0 ", "time_scale: 0.02 ")):
        assert old in text
        text = text.replace(old, new, 1)
    rig.write_text(text)
    plan = target / "plan.yaml"
    text = plan.read_text()
    # One ring and one lighting state keep the 8 stations well inside the test's time budget.
    for old, new in (("camera_groups: [ring-low, ring-high]", "camera_groups: [ring-low]"),
                     ("min_cameras: 16", "min_cameras: 8")):
        assert old in text
        text = text.replace(old, new, 1)
    text = text[:text.index("  - id: l01")] + text[text.index("brackets:"):]
    plan.write_text(text)
    yield target
    stop_wire_simulators()


def _session(files: Path, tmp_path: Path, rig_edit: tuple[str, str] | None = None, stations: int = 8) -> Session:
    if rig_edit:
        rig_path = files / "rig.yaml"
        text = rig_path.read_text()
        assert rig_edit[0] in text
        rig_path.write_text(text.replace(*rig_edit, 1))
    plan_path = files / "plan.yaml"
    text = plan_path.read_text()
    if stations < 8:  # the fault tests need only the first stations
        text = text[:text.index(f"  - {{id: s{stations:02d}")] + text[text.index("lighting:"):]
        plan_path.write_text(text)
    rig = capturerig.load_rig(files / "rig.yaml")
    plan = capturerig.load_plan(files / "plan.yaml", rig)
    return Session.create(rig, plan, subject="S-grbl", out=tmp_path / "session")


def _simulator(session: Session) -> GrblSimulator:
    get_studio("default", session.folder.rig.config, session.folder.rig.path.parent)  # serves tt0
    simulator = served("tt0")
    assert isinstance(simulator, GrblSimulator)
    return simulator


def test_eight_stations_are_journalled_with_their_confirmed_angle_and_time(grbl_files: Path,
                                                                           tmp_path: Path) -> None:
    session = _session(grbl_files, tmp_path)
    simulator = _simulator(session)
    try:
        result = session.run()
        reached = session.folder.journal.events("StationReached")
        stored = session.folder.journal.events("FileStored")
    finally:
        session.close()
    assert result.state == RunState.DONE, result.error
    assert result.takes_verified == 8
    assert [r["station_id"] for r in reached] == [f"s{i:02d}" for i in range(8)]
    assert [r["angle_deg"] for r in reached] == pytest.approx(ANGLES, abs=0.05)
    times = [r["reached_at"] for r in reached]
    assert times == sorted(times)
    # Each station was reached after the take before it had every exposure (the table turns ahead, as that
    # take's files download) and before any of its own cameras exposed.
    last_exposed = 0.0
    for record in reached:
        take_id = f"p00/{record['station_id']}/l00/b0"
        exposed = [f["exposed_at"] for f in stored if f["take_id"] == take_id]
        assert len(exposed) == 8
        assert last_exposed <= record["reached_at"] <= min(exposed)
        last_exposed = max(exposed)
    # The images show where the table really was: every exposure saw the table at its station.
    exposures = get_studio("default", session.folder.rig.config, session.folder.rig.path.parent).exposure_log()
    assert sorted({round(e.turntable_deg, 3) for e in exposures}) == ANGLES
    assert "$H" in simulator.received  # preflight homed the table
    assert [line for line in simulator.received if line.startswith("G90G0")] == [
        f"G90G0X{angle:.3f}" for angle in ANGLES]


def test_alarm_mid_move_fails_the_take_and_the_retry_rehomes_and_goes_on(grbl_files: Path, tmp_path: Path) -> None:
    session = _session(grbl_files, tmp_path, ("on_alarm: fail", "on_alarm: home"), stations=3)
    simulator = _simulator(session)
    simulator.inject_alarm(1, after_deg=10.0)  # the first real move (s00 -> s01) trips a limit switch
    result, events = run_to_end(session)
    assert result.state == RunState.DONE, result.error
    (failed,) = [e for e in events if isinstance(e, TakeFailed)]
    assert failed.take_id == "p00/s01/l00/b0"
    assert "tt0" in failed.error
    assert "ALARM:1 (hard limit triggered" in failed.error
    assert failed.will_retry
    assert [e.station_id for e in events if isinstance(e, StationReached)] == ["s00", "s01", "s02"]
    assert simulator.received.count("$H") == 2  # preflight, then the retry after the alarm


def test_alarm_with_on_alarm_fail_stops_the_session_until_homed_and_resume_finishes(grbl_files: Path,
                                                                                    tmp_path: Path) -> None:
    session = _session(grbl_files, tmp_path, stations=3)
    simulator = _simulator(session)
    simulator.inject_alarm(1, after_deg=10.0)
    try:
        result = session.run()
    finally:
        session.close()
    assert result.state == RunState.FAILED
    assert result.error is not None
    assert "ALARM:1" in result.error
    assert "capturerig turntable home --rig RIG" in result.error
    assert "$X" not in simulator.received  # never unlocked behind the operator's back
    resumed = Session.open(tmp_path / "session")
    try:
        again = resumed.run()  # preflight homes the table again, which clears the alarm
        reached = resumed.folder.journal.events("StationReached")
    finally:
        resumed.close()
    assert again.state == RunState.DONE, again.error
    assert again.takes_verified == 3
    assert {r["station_id"] for r in reached} == {"s00", "s01", "s02"}


def test_a_take_that_lost_a_camera_is_shot_again_without_the_table_leaving_its_station(grbl_files: Path,
                                                                                        tmp_path: Path) -> None:
    session = _session(grbl_files, tmp_path, stations=3)
    simulator = _simulator(session)
    # cam00's first exposure fails: take s00 is shot again before the table may start for s01.
    get_studio("default", session.folder.rig.config, session.folder.rig.path.parent).inject_fault("cam00", "card_full")
    result, events = run_to_end(session)
    assert result.state == RunState.DONE, result.error
    (failed,) = [e for e in events if isinstance(e, TakeFailed)]
    assert failed.take_id == "p00/s00/l00/b0"
    assert "cam00" in failed.error
    # Every station once, in order: no trip to s01 and back for the retry.
    assert [line for line in simulator.received if line.startswith("G90G0")] == [
        f"G90G0X{angle:.3f}" for angle in ANGLES[:3]]
