"""``capturerig cameras settings`` on the virtual-camera rig: a read-back table, refusals and exit codes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from capturerig.cli import app
from tests.integration._vusb import vusb_copy

runner = CliRunner()


def test_settings_are_applied_to_every_camera_and_read_back(tmp_path: Path) -> None:
    rig = vusb_copy(tmp_path) / "rig.yaml"
    result = runner.invoke(app, ["cameras", "settings", "--rig", str(rig), "shutter=1/50", "aperture=f/11"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│ vc")]
    assert len(rows) == 8
    assert all("ok" in row for row in rows)
    assert any("shutter" in row and "1/50" in row for row in rows)


def test_an_unsupported_setting_and_bad_input_are_reported(tmp_path: Path) -> None:
    rig = vusb_copy(tmp_path) / "rig.yaml"
    result = runner.invoke(app, ["cameras", "settings", "--rig", str(rig), "--camera", "vc1", "iso=100"])
    assert result.exit_code == 1
    assert "refused: vc1: iso is not supported by this camera (no widget 'iso')" in result.output
    result = runner.invoke(app, ["cameras", "settings", "--rig", str(rig), "iso"])
    assert result.exit_code == 2
    assert "'iso' is not NAME=VALUE" in result.output
    result = runner.invoke(app, ["cameras", "settings", "--rig", str(rig), "--camera", "vc9", "iso=100"])
    assert result.exit_code == 2
    assert "no camera vc9" in result.output
