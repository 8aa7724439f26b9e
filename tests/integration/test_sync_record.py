"""Sync is measured, kept beside the rig for preflight, and stored in every session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import capturerig
from capturerig.cli import app
from capturerig.engine import PreflightResult, RunState, Session, rig_sync_path
from tests.conftest import with_test_card_images

pytestmark = pytest.mark.usefixtures("fast_sim")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "triggerbox"
runner = CliRunner()


@pytest.fixture
def box_rig(tmp_path: Path) -> Path:
    target = tmp_path / "triggerbox"
    shutil.copytree(EXAMPLE, target)
    rig = target / "rig.yaml"
    rig.write_text(rig.read_text().replace("port: /tmp/capturerig-sim/trig0", f"port: {tmp_path / 'pty' / 'trig0'}"))
    plan = target / "plan.yaml"
    plan.write_text(plan.read_text().replace("  - {id: s01, angle_deg: 90}\n", ""))
    return with_test_card_images(rig)  # sync is timed from the pulses and the cameras' clocks, not from pixels


def test_trigger_test_saves_the_measurement_beside_the_rig_and_preflight_shows_it(box_rig: Path) -> None:
    result = runner.invoke(app, ["trigger", "test", "--rig", str(box_rig), "--fires", "3", "--interval", "0"])
    assert result.exit_code == 0, result.output
    saved = rig_sync_path(box_rig)
    assert f"saved for preflight: {saved}" in " ".join(result.output.split())
    data = json.loads(saved.read_text())
    assert data["fires"] == 3
    assert data["mode"] == "trigger box"
    assert set(data["suggested_delays_us"]) == {f"cam{i:02d}" for i in range(16)}

    check = runner.invoke(app, ["devices", "check", "--rig", str(box_rig)], terminal_width=200)
    assert check.exit_code == 0, check.output
    assert "sync" in check.output
    assert "exposure spread" in check.output  # the table may wrap the rest of the line
    assert "rig.sync.json" in check.output


def test_a_session_stores_the_spread_its_takes_had_and_preflight_says_when_sync_was_never_measured(
        box_rig: Path, tmp_path: Path) -> None:
    rig = capturerig.load_rig(box_rig)
    session = Session.create(rig, capturerig.load_plan(box_rig.parent / "plan.yaml", rig), "S-sync",
                             tmp_path / "session")
    preflight: list[PreflightResult] = []
    session.subscribe(lambda e: preflight.append(e) if isinstance(e, PreflightResult) else None)
    assert session.run().state == RunState.DONE
    (sync,) = [p for p in preflight if p.device_id == "sync"]
    assert "not measured yet: run `capturerig trigger test" in sync.detail
    stored = session.folder.journal.meta("sync")
    assert stored["fires"] == 2  # the example plan, cut to one station: two takes
    assert stored["spread_p99_s"] > 0  # the simulated bodies' latencies differ by a few ms
    assert set(stored["mean_latency_s"]) == {f"cam{i:02d}" for i in range(16)}
