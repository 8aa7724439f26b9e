"""The command line as a technician uses it: validate, estimate, list devices, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from capturerig.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fast_sim")


def test_plan_validate_accepts_the_example_studio(studio_files: Path) -> None:
    result = runner.invoke(app, ["plan", "validate", str(studio_files / "rig.yaml"), str(studio_files / "plan.yaml")])
    assert result.exit_code == 0, result.output
    assert "ok (16 cameras, 8 fixtures)" in result.output
    assert "ok (8 takes)" in result.output


def test_plan_validate_prints_file_line_and_field_and_exits_2(studio_files: Path) -> None:
    plan = studio_files / "plan.yaml"
    lines = plan.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if "{id: s01, angle_deg: 90}" in line)
    lines[number] = lines[number].replace("90", "400")
    plan.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["plan", "validate", str(studio_files / "rig.yaml"), str(plan)])
    assert result.exit_code == 2
    assert f"plan.yaml:{number + 1} stations[1].angle_deg: 400 degrees is outside the travel 0..360" in result.output


def test_plan_estimate_shows_takes_hold_time_and_disk(studio_files: Path) -> None:
    result = runner.invoke(app, ["plan", "estimate", str(studio_files / "rig.yaml"), str(studio_files / "plan.yaml")])
    assert result.exit_code == 0, result.output
    assert "hold time, pose p00" in result.output
    assert "11.5 MB" in result.output  # 128 images x 90 kB


def test_devices_list_shows_every_camera_answering_with_its_serial(studio_files: Path) -> None:
    result = runner.invoke(app, ["devices", "list", "--rig", str(studio_files / "rig.yaml")], terminal_width=200)
    assert result.exit_code == 0, result.output
    for index in range(16):
        assert f"cam{index:02d} " in result.output
        assert f"SIM{index:05d}" in result.output
    assert result.output.count(" ok ") == 16
    assert "tt0" in result.output


def test_run_refuses_an_unknown_driver_with_its_line(studio_files: Path, tmp_path: Path) -> None:
    rig = studio_files / "rig.yaml"
    text = rig.read_text().replace("  - id: dmx0\n    driver: sim", "  - id: dmx0\n    driver: dmx-teleporter", 1)
    rig.write_text(text)
    result = runner.invoke(app, ["run", "--rig", str(rig), "--plan", str(studio_files / "plan.yaml"),
                                 "--subject", "S1", "--out", str(tmp_path / "s"), "--yes"])
    assert result.exit_code == 2
    assert "light_outputs[0].driver: unknown light driver 'dmx-teleporter'" in result.output
    assert not (tmp_path / "s").exists()


def test_resume_of_a_folder_that_is_no_session_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["resume", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not a capturerig session" in result.output


def test_package_refuses_an_unfinished_session(studio_files: Path, tmp_path: Path) -> None:
    from capturerig import Session, load_plan, load_rig

    rig = load_rig(studio_files / "rig.yaml")
    session = Session.create(rig, load_plan(studio_files / "plan.yaml", rig), "S1", tmp_path / "s")
    session.close()
    result = runner.invoke(app, ["package", str(tmp_path / "s"), "--out", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "8 of 8 takes are not verified" in result.output
    assert "capturerig resume" in result.output
