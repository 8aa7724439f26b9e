"""Sessions fired by the serial trigger box (through its pty simulator) and by the software trigger."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import capturerig
from capturerig.cli import app
from capturerig.engine import Event, RunState, Session, TakeStarted, TriggerDispatched
from capturerig_sim import get_studio
from capturerig_sim._latency import trigger_latency_ms
from tests.conftest import with_test_card_images

pytestmark = pytest.mark.usefixtures("fast_sim")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "triggerbox"
ONE_TAKE_PLAN = """\
name: one-take
consistency: take
retries: 1
poses:
  - {id: p00, description: standing, operator_confirmed: true}
stations:
  - {id: s00, angle_deg: 0}
lighting:
  - id: l00
    name: all white
    levels:
      "*": {intensity: 1.0, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}
brackets:
  - {id: b0, ev: 0}
camera_groups: [ring-low, ring-high]
settle: {lights_s: 0.0, turntable_s: 0.0}
"""


@pytest.fixture
def box_studio(tmp_path: Path) -> Path:
    """The trigger-box example, its box served at a pty link inside the test's folder; its cameras deliver test
    cards (these tests check pulses, latencies and file counts, not pixels)."""
    target = tmp_path / "triggerbox"
    shutil.copytree(EXAMPLE, target)
    rig = target / "rig.yaml"
    text = rig.read_text()
    assert "port: /tmp/capturerig-sim/trig0" in text
    rig.write_text(text.replace("port: /tmp/capturerig-sim/trig0", f"port: {tmp_path / 'pty' / 'trig0'}"))
    with_test_card_images(rig)
    plan = target / "plan.yaml"
    text = plan.read_text()
    assert "  - {id: s01, angle_deg: 90}\n" in text
    plan.write_text(text.replace("  - {id: s01, angle_deg: 90}\n", ""))  # one station: two takes
    return target


def _run(rig_path: Path, plan_path: Path, out: Path) -> tuple[Session, list[Event]]:
    rig = capturerig.load_rig(rig_path)
    plan = capturerig.load_plan(plan_path, rig)
    session = Session.create(rig, plan, subject="S-trigger", out=out)
    events: list[Event] = []
    session.subscribe(events.append)
    result = session.run()
    assert result.state == RunState.DONE, result
    return session, events


def test_every_camera_exposes_when_the_box_fires(box_studio: Path, tmp_path: Path) -> None:
    session, events = _run(box_studio / "rig.yaml", box_studio / "plan.yaml", tmp_path / "session")
    rig = capturerig.load_rig(box_studio / "rig.yaml")
    studio = get_studio("default", rig.config, rig.path.parent)
    started = [e for e in events if isinstance(e, TakeStarted)]
    fired = [e for e in events if isinstance(e, TriggerDispatched)]
    assert len(started) == len(fired) == 2
    assert all(e.mode == "box" for e in fired)
    log = studio.exposure_log()
    cameras = sorted(c.id for c in rig.config.cameras)
    for take_started, dispatched in zip(started, fired, strict=True):
        # the exposures of this take: between its start and the moment the driver got FIRED back
        exposures = [r for r in log if take_started.at <= r.fired_at <= dispatched.at]
        assert sorted(r.camera_id for r in exposures) == cameras
        assert len({r.fired_at for r in exposures}) == 1  # one pulse, every camera at once
        assert take_started.at <= dispatched.fired_at <= dispatched.at  # the box's t0, mapped to our clock
        # each body's latency, as its flash-sync input timed it, is journalled with the take
        assert dispatched.latency_s == pytest.approx(
            {c.id: round(trigger_latency_ms(c.serial, 40.0) * 1000) / 1e6 for c in rig.config.cameras}, abs=1e-9)
    assert session.folder.journal.event_count("TriggerDispatched") == 2
    assert len(session.folder.journal.verified_files()) == 32


def test_trigger_test_prints_box_sync_statistics(box_studio: Path) -> None:
    result = CliRunner().invoke(app, ["trigger", "test", "--rig", str(box_studio / "rig.yaml"), "-n", "2",
                                      "--interval", "0"])
    assert result.exit_code == 0, result.output
    rig = capturerig.load_rig(box_studio / "rig.yaml")
    latency = {c.id: round(trigger_latency_ms(c.serial, 40.0) * 1000) for c in rig.config.cameras}
    latest = max(latency.values())
    assert "trigger sync over 2 fires (trigger box)" in result.output
    row = next(line for line in result.output.splitlines() if "cam02" in line and "│" in line)
    assert f"{latency['cam02'] / 1000:.3f}" in row  # mean latency in ms, from the flash-sync input
    assert f"cam02: {latest - latency['cam02']}" in result.output  # suggested delay equalises it
    spread_ms = (latest - min(latency.values())) / 1000
    assert f"p50 {spread_ms:.3f} ms, p99 {spread_ms:.3f} ms" in result.output


def test_software_trigger_session_records_the_dispatch_spread(studio_files: Path, tmp_path: Path) -> None:
    rig_path = studio_files / "rig.yaml"
    text = rig_path.read_text()
    trigger_block = "trigger:\n  id: trig0\n  driver: sim\n  params: {studio: default}\n"
    assert trigger_block in text
    rig_path.write_text(text.replace(trigger_block, ""))  # no box: the engine triggers by software
    with_test_card_images(rig_path)  # the dispatch spread is checked, not the pixels
    plan_path = studio_files / "one-take.yaml"
    plan_path.write_text(ONE_TAKE_PLAN)
    session, events = _run(rig_path, plan_path, tmp_path / "session")
    dispatched = [e for e in events if isinstance(e, TriggerDispatched)]
    assert len(dispatched) == 1
    event = dispatched[0]
    assert event.mode == "software"
    assert len(event.per_camera) == 16
    assert min(event.per_camera.values()) == 0.0
    assert event.spread_s == max(event.per_camera.values())
    # latencies from the capture times the cameras reported (no modelled latency at time scale 0)
    assert set(event.latency_s) == set(event.per_camera)
    assert all(-0.5 < latency < 0.5 for latency in event.latency_s.values())
    assert session.folder.journal.event_count("TriggerDispatched") == 1
    assert len(session.folder.journal.verified_files()) == 16
