"""The command line as a technician uses it: validate, estimate, list devices, and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capturerig.cli import app
from capturerig.engine import RunState
from capturerig.subjects import REGISTRY_ENV
from tests.conftest import REPO_ROOT, child_env

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


def _without_a_terminal(*args: str) -> subprocess.CompletedProcess[str]:
    """``capturerig ARGS`` as a script or a service runs it: stdin is no terminal (here /dev/null)."""
    return subprocess.run([sys.executable, "-m", "capturerig", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=child_env(0.0), timeout=120)


def test_run_without_a_terminal_asks_for_yes_in_one_line_before_any_device_is_touched(
        studio_files: Path, tmp_path: Path) -> None:
    done = _without_a_terminal("run", "--rig", str(studio_files / "rig.yaml"), "--plan",
                               str(studio_files / "plan.yaml"), "--subject", "S1", "--out", str(tmp_path / "s"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        "error: pose p00 needs the operator's confirmation, but there is no terminal to ask on; --yes skips it"]
    assert "preflight" not in done.stdout
    assert not (tmp_path / "s").exists()  # no session was begun, so no preflight opened a device


def test_resume_without_a_terminal_asks_for_yes_and_leaves_the_session_as_it_was(
        studio_files: Path, tmp_path: Path) -> None:
    from capturerig import Session, load_plan, load_rig

    rig = load_rig(studio_files / "rig.yaml")
    Session.create(rig, load_plan(studio_files / "plan.yaml", rig), "S1", tmp_path / "s").close()
    done = _without_a_terminal("resume", str(tmp_path / "s"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error: pose p00 needs the operator's confirmation, but there is no terminal to ask on; --yes skips it" \
        in done.stderr
    assert "Traceback" not in done.stderr
    session = Session.open(tmp_path / "s")
    try:
        assert session.state == RunState.IDLE  # never reached the preflight
    finally:
        session.close()


def test_purge_without_a_terminal_deletes_nothing_and_asks_for_yes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["purge", "S1", "--registry", str(tmp_path / "subjects.sqlite")])
    assert result.exit_code == 2
    assert "deleting every capture of S1 needs the operator's confirmation" in result.output
    assert "--yes skips it" in result.output


def _unplugged_light_rig(tmp_path: Path) -> Path:
    """The ENTTEC example studio with its widget unplugged: the serial port it names does not exist."""
    text = (REPO_ROOT / "examples" / "enttec" / "rig.yaml").read_text()
    text = text.replace("/tmp/capturerig-sim/enttec0", str(tmp_path / "no-such-port")).split("\nsimulation:")[0]
    path = tmp_path / "rig.yaml"
    path.write_text(text + "\n")
    return path


def test_exit_codes_say_failed_device_1_and_bad_input_2_in_every_command(studio_files: Path, tmp_path: Path) -> None:
    unplugged = str(_unplugged_light_rig(tmp_path))
    for args, code, says in [
        (["lights", "blackout", "--rig", unplugged], 1, "dmx0: cannot open serial port"),
        (["lights", "scene", "--rig", unplugged, "disco"], 2, "no scene 'disco'"),
        (["devices", "check", "--rig", unplugged], 1, "1 of 22 checks failed"),
        (["cameras", "settings", "--rig", str(tmp_path / "missing.yaml"), "iso=100"], 2, "cannot read file"),
        (["run", "--rig", unplugged, "--plan", str(studio_files / "plan.yaml"), "--subject", "S1", "--out",
          str(tmp_path / "s"), "--yes"], 1, "session failed"),
        (["calibrate", "board-image", "--board", "no-such-board", "--out", str(tmp_path / "b.png")], 2,
         "no-such-board"),
        (["plan", "validate", str(studio_files / "rig.yaml"), str(tmp_path / "missing.yaml")], 2, "cannot read file"),
    ]:
        result = runner.invoke(app, args, terminal_width=400)
        assert (result.exit_code, says in result.output) == (code, True), (args, result.output)


def test_commands_say_when_they_fall_back_to_the_simulated_studio(
        studio_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    note = "rig: the simulated studio (sim-studio; default, --rig RIG to choose)"
    assumed = runner.invoke(app, ["lights", "blackout"])
    assert assumed.exit_code == 0, assumed.output
    assert note in assumed.output
    chosen = runner.invoke(app, ["lights", "blackout", "--rig", str(studio_files / "rig.yaml")])
    assert chosen.exit_code == 0, chosen.output
    assert "rig: the simulated studio" not in chosen.output
    # The subject registry is found through the rig's storage root: the studio's, unless told otherwise.
    monkeypatch.delenv(REGISTRY_ENV)
    monkeypatch.chdir(tmp_path)
    added = runner.invoke(app, ["subjects", "add", "S-77", "--age-band", "25-34"])
    assert added.exit_code == 0, added.output
    assert ("registry: sessions/subjects.sqlite (the simulated studio's storage root; default, --registry FILE or "
            "--rig RIG to choose)") in added.output
