"""`capturerig devices check` and `capturerig turntable home|goto` on the GRBL studio, as an operator sees them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capturerig.cli import app
from capturerig_sim.wire import stop_wire_simulators

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "grbl"
runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fast_sim")


@pytest.fixture
def grbl_rig(tmp_path: Path) -> Iterator[Path]:
    """The GRBL example rig with its pty in tmp_path and the table's motion at 1/50 of real time."""
    shutil.copytree(EXAMPLE, tmp_path / "grbl")
    rig = tmp_path / "grbl" / "rig.yaml"
    rig.write_text(rig.read_text().replace("port: /tmp/capturerig-sim/tt0", f"port: {tmp_path / 'tt0'}", 1)
                   .replace("time_scale: 1.0 ", "time_scale: 0.02 ", 1))
    yield rig
    stop_wire_simulators()


def test_devices_check_prints_every_device_ok_and_exits_0(grbl_rig: Path) -> None:
    result = runner.invoke(app, ["devices", "check", "--rig", str(grbl_rig), "--plan",
                                 str(grbl_rig.parent / "plan.yaml"), "--out", str(grbl_rig.parent)],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "preflight of rig sim-studio-grbl for plan grbl-stations" in result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.startswith("│")}
    rows.pop("", None)  # continuation lines of a wrapped cell
    assert set(rows) == {"dmx0", "trig0", "tt0", "storage", "sync", "signing", *(f"cam{i:02d}" for i in range(16))}
    assert "identity" in rows["signing"]  # the one packages are signed with, or a warning that there is none
    assert "not measured yet" in rows["sync"]
    assert rows["sync"].split("│")[2].strip() == "not measured"  # information, but never read as a pass
    assert "ok" in rows["tt0"]
    assert "homed" in rows["tt0"]
    assert "SIM00003" in rows["cam03"]
    assert "all 22 checks passed" in result.output


def test_devices_check_reports_the_failing_device_and_exits_1(grbl_rig: Path, tmp_path: Path) -> None:
    rig = grbl_rig.read_text().replace("serve: [tt0]", "serve: []", 1)  # nobody serves the table's port
    grbl_rig.write_text(rig)
    result = runner.invoke(app, ["devices", "check", "--rig", str(grbl_rig)], terminal_width=300)
    assert result.exit_code == 1, result.output
    (row,) = [line for line in result.output.splitlines() if line.startswith("│ tt0")]
    assert "FAILED" in row
    assert f"failed: tt0: cannot open {tmp_path / 'tt0'}" in result.output  # in full below the table
    assert "1 of 22 checks failed" in result.output
    assert "cam00" in result.output  # the other devices were still checked


def test_devices_check_names_a_bad_rig_file_and_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["devices", "check", "--rig", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "missing.yaml" in result.output


def test_turntable_goto_prints_the_confirmed_angle(grbl_rig: Path) -> None:
    result = runner.invoke(app, ["turntable", "goto", "--rig", str(grbl_rig), "--home", "135"])
    assert result.exit_code == 0, result.output
    assert "tt0: at 135.000 deg (confirmed idle" in result.output


def test_turntable_goto_without_homing_says_to_home_first(grbl_rig: Path) -> None:
    result = runner.invoke(app, ["turntable", "goto", "--rig", str(grbl_rig), "90"], terminal_width=300)
    assert result.exit_code == 1
    assert "not homed since power-up" in result.output
    assert "capturerig turntable home --rig RIG" in result.output


def test_turntable_goto_outside_the_travel_is_refused(grbl_rig: Path) -> None:
    result = runner.invoke(app, ["turntable", "goto", "--rig", str(grbl_rig), "--home", "400"], terminal_width=300)
    assert result.exit_code == 1
    assert "tt0: 400 deg is outside the travel 0..360 deg" in result.output


def test_turntable_home_reports_zero(grbl_rig: Path) -> None:
    result = runner.invoke(app, ["turntable", "home", "--rig", str(grbl_rig)])
    assert result.exit_code == 0, result.output
    assert "tt0: homed, at 0 deg" in result.output
