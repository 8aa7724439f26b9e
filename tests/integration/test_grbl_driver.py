"""The GRBL turntable driver against the GRBL simulator on a pty: homing, stations, caps, alarms, silence, garbage."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

from capturerig.config import TurntableConfig
from capturerig.devices import DeviceError, DeviceTimeout
from capturerig.devices.grbl_turntable import GrblTurntable
from capturerig_sim import VirtualStudio
from capturerig_sim.grbl_sim import GrblSimulator

STATIONS = [0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0]


@pytest.fixture
def sim() -> Iterator[GrblSimulator]:
    simulator = GrblSimulator(time_scale=0.02).start()
    yield simulator
    simulator.close()


def _table(sim: GrblSimulator, speed: float = 60.0, **params: Any) -> GrblTurntable:
    config = TurntableConfig(id="tt0", driver="grbl", speed_deg_per_s=speed, params={"port": sim.path, **params})
    return GrblTurntable(config, None)  # type: ignore[arg-type]  # the driver needs no context


def test_each_station_is_confirmed_idle_at_its_target(sim: GrblSimulator) -> None:
    table = _table(sim)
    table.open(5.0)
    try:
        table.home(10.0)
        for angle in STATIONS:
            confirmed = table.move_to(angle, 10.0)
            assert confirmed == pytest.approx(angle, abs=0.05)
            # Done means done: when move_to returns, the controller is idle there, not on its way.
            assert sim.state() == "Idle"
            assert sim.table_deg() == pytest.approx(angle, abs=1e-6)
    finally:
        table.close()
    moves = [line for line in sim.received if line.startswith("G90G0")]
    assert moves[1:] == [f"G90G0X{angle:.3f}" for angle in STATIONS[1:]]


def test_homing_runs_the_cycle_and_makes_the_switch_zero() -> None:
    with GrblSimulator(homing=True, home_deg=0.0, time_scale=0.02) as sim:
        table = _table(sim, homing=True)
        table.open(5.0)
        try:
            assert sim.state() == "Alarm"  # GRBL with homing enabled starts locked until $H
            with pytest.raises(DeviceError, match=r"not homed since power-up.*capturerig turntable home"):
                table.move_to(45.0, 10.0)
            table.home(20.0)
            assert sim.state() == "Idle"
            assert "$H" in sim.received
            assert table.move_to(90.0, 10.0) == pytest.approx(90.0, abs=0.05)
            assert sim.table_deg() == pytest.approx(90.0)
            table.home(20.0)  # the search turns back down to the switch
            assert sim.table_deg() == pytest.approx(0.0)
        finally:
            table.close()


def test_axis_is_scaled_from_degrees_to_machine_units() -> None:
    with GrblSimulator(units_per_degree=10.0, time_scale=0.02) as sim:
        table = _table(sim, units_per_degree=10.0)
        table.open(5.0)
        try:
            table.home(10.0)
            assert table.move_to(45.0, 10.0) == pytest.approx(45.0)
        finally:
            table.close()
        assert "G90G0X450.000" in sim.received
        assert sim.settings[110] == pytest.approx(60.0 * 10 * 60)  # 60 deg/s in units/min
        assert sim.table_deg() == pytest.approx(45.0)


def test_a_person_on_the_platform_caps_the_controllers_rate_and_acceleration(sim: GrblSimulator) -> None:
    sim.settings[25] = 3000.0  # a homing seek of 50 deg/s
    table = _table(sim, 60.0, max_accel_deg_per_s2=90, person_on_platform=True)
    table.open(5.0)
    table.close()
    assert sim.settings[110] == pytest.approx(30.0 * 60)  # $110 X max rate, deg/min
    assert sim.settings[120] == pytest.approx(20.0)  # $120 X acceleration, deg/s^2
    assert sim.settings[25] == pytest.approx(30.0 * 60)  # homing ignores $110, so its seek rate is capped too
    assert table.settings[110] == pytest.approx(1800.0)  # read back after writing
    # Settings live in EEPROM: an open that finds them right does not write them again.
    written = len([line for line in sim.received if line.startswith("$1")])
    table.open(5.0)
    table.close()
    assert len([line for line in sim.received if line.startswith("$1")]) == written


def test_a_person_cap_above_the_safe_limit_is_refused_before_the_port_opens(sim: GrblSimulator) -> None:
    with pytest.raises(DeviceError, match=r"person_max_speed_deg_per_s: 50 deg/s is above the safe limit"):
        _table(sim, person_on_platform=True, person_max_speed_deg_per_s=50)
    assert sim.received == []


def test_hard_limit_mid_move_is_a_clear_error_and_stays_until_cleared(sim: GrblSimulator) -> None:
    table = _table(sim)
    table.open(5.0)
    try:
        table.home(10.0)
        sim.inject_alarm(1, after_deg=20.0)
        with pytest.raises(DeviceError, match="ALARM:1") as caught:
            table.move_to(90.0, 10.0)
        message = str(caught.value)
        assert "ALARM:1 (hard limit triggered" in message
        assert sim.path in message
        assert "capturerig turntable home --unlock" in message
        assert 19.0 <= sim.table_deg() < 90.0  # stopped where the switch tripped
        # on_alarm: fail (the default) never unlocks by itself.
        with pytest.raises(DeviceError, match=r"ALARM:1 .* while the move to 90 deg"):
            table.move_to(90.0, 10.0)
        assert "$X" not in sim.received
        table.unlock(5.0)  # the operator's choice (capturerig turntable home --unlock)
        table.home(10.0)
        assert table.move_to(90.0, 10.0) == pytest.approx(90.0, abs=0.05)
    finally:
        table.close()


def test_on_alarm_unlock_lets_the_next_move_go_on(sim: GrblSimulator) -> None:
    table = _table(sim, on_alarm="unlock")
    table.open(5.0)
    try:
        table.home(10.0)
        sim.inject_alarm(1, after_deg=10.0)
        with pytest.raises(DeviceError, match="ALARM:1"):
            table.move_to(45.0, 10.0)
        assert table.move_to(45.0, 10.0) == pytest.approx(45.0, abs=0.05)
        assert "$X" in sim.received
    finally:
        table.close()


def test_silence_times_out_within_the_command_bound_naming_the_port(sim: GrblSimulator) -> None:
    table = _table(sim)
    table.open(5.0)
    try:
        sim.silent = True
        started = time.monotonic()
        with pytest.raises(DeviceTimeout, match=re.escape(f"GRBL on {sim.path}: no answer within 2 s")):
            table.move_to(45.0, 10.0)
        assert time.monotonic() - started < 2.0 + 2.0  # the 2 s command bound, plus slack for a loaded machine
    finally:
        table.close()


def test_silent_port_at_open_is_a_timeout_not_a_hang(sim: GrblSimulator) -> None:
    sim.silent = True
    table = _table(sim)
    with pytest.raises(DeviceTimeout, match=r"silent for .* after a reset \(no 'Grbl 1.1' banner\)"):
        table.open(1.0)


def test_a_move_that_stops_short_times_out_at_its_computed_bound_and_holds(sim: GrblSimulator) -> None:
    table = _table(sim)
    table.open(5.0)
    try:
        table.home(10.0)
        sim.time_scale = 1.0
        # 10 deg at 60 deg/s and 45 deg/s^2 takes 2 * sqrt(10 / 45) = 0.94 s; the bound is 1.5x + 2 s = 3.41 s.
        sim.inject_feed_hold(after_deg=2.0)  # someone presses feed hold on the controller mid-move
        started = time.monotonic()
        with pytest.raises(DeviceTimeout, match=r"did not finish within 3\.41 s \(last: Hold at 2"):
            table.move_to(10.0, 60.0)
        elapsed = time.monotonic() - started
        assert 3.3 <= elapsed < 3.4 + 2.5
        sim.time_scale = 0.02
        assert table.move_to(10.0, 10.0) == pytest.approx(10.0, abs=0.05)  # a held move is reset and redone
    finally:
        table.close()


def test_garbage_instead_of_a_banner_is_a_clear_error(sim: GrblSimulator) -> None:
    sim.garble(b"\xf8\x80\x00\xfe~~\r\n")
    table = _table(sim)
    with pytest.raises(DeviceError, match=re.escape(f"GRBL on {sim.path}: no GRBL banner after a reset, got garbage")):
        table.open(1.0)


def test_garbage_mid_session_is_a_clear_error(sim: GrblSimulator) -> None:
    table = _table(sim)
    table.open(5.0)
    try:
        sim.garble(b"<Idle|MPos:4x5>\r\n")
        with pytest.raises(DeviceError,
                           match=r"garbage while waiting for a status report: MPos: '4x5' is not a number"):
            table.move_to(45.0, 10.0)
    finally:
        table.close()


def test_missing_port_and_homing_mismatch_are_named(tmp_path: Path, sim: GrblSimulator) -> None:
    config = TurntableConfig(id="tt0", driver="grbl", params={"port": str(tmp_path / "nothing")})
    with pytest.raises(DeviceError, match=r"tt0: cannot open .*nothing.*check the port name"):
        GrblTurntable(config, None).open(1.0)  # type: ignore[arg-type]
    with pytest.raises(DeviceError, match=r"params.homing is true but GRBL has homing disabled \(\$22=0\)"):
        _table(sim, homing=True).open(5.0)


def test_out_of_travel_angle_is_refused_before_moving(sim: GrblSimulator) -> None:
    table = _table(sim)
    table.open(5.0)
    try:
        with pytest.raises(DeviceError, match=r"400 deg is outside the travel 0..360 deg"):
            table.move_to(400.0, 10.0)
    finally:
        table.close()
    assert not any(line.startswith("G90G0") for line in sim.received)


@pytest.mark.parametrize(("line", "reply"), [
    (b"G1X10\n", b"error:22"),  # no feed rate yet
    (b"$H\n", b"error:5"),  # homing disabled
    (b"$999=1\n", b"error:3"),
    (b"$110=-5\n", b"error:4"),
    (b"G5X1\n", b"error:20"),
    (b"X\n", b"error:2"),
    (b"G0" + b"0" * 90 + b"\n", b"error:11"),
    (b"G90G0X1.5\n", b"ok"),
])
def test_simulator_answers_like_grbl(sim: GrblSimulator, line: bytes, reply: bytes) -> None:
    port = serial.serial_for_url(sim.path, baudrate=115200, timeout=2.0)
    try:
        port.write(b"\x18")
        assert b"Grbl 1.1h ['$' for help]" in port.read_until(b"help]\r\n")
        port.write(line)
        assert port.read_until(b"\r\n").strip() == reply
    finally:
        port.close()


def test_simulator_reports_run_then_idle_with_a_trapezoidal_profile_and_turns_the_studio(
        studio: VirtualStudio) -> None:
    studio.turntable_deg = 0.0
    sim = GrblSimulator(studio, time_scale=0.2).start()
    port = serial.serial_for_url(sim.path, baudrate=115200, timeout=2.0)
    studio_angles = []
    try:
        port.write(b"\x18")
        port.read_until(b"help]\r\n")
        port.write(b"$110=3600\n$120=45\nG90G0X90\n")  # 60 deg/s, 45 deg/s^2: 90/60 + 60/45 = 2.83 s
        assert [port.read_until(b"\r\n").strip() for _ in range(3)] == [b"ok", b"ok", b"ok"]
        positions = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            port.write(b"?")
            report = port.read_until(b">\r\n").decode()
            match = re.match(r"<(\w+)\|MPos:([-\d.]+),", report)
            assert match, report
            positions.append((match.group(1), float(match.group(2))))
            studio_angles.append(studio.turntable_deg)
            if match.group(1) == "Idle":
                break
            time.sleep(0.02)
    finally:
        port.close()
        sim.close()
    assert positions[-1] == ("Idle", 90.0)
    assert studio.turntable_deg == 90.0  # the sim cameras render the table where it stopped
    assert any(0.0 < angle < 90.0 for angle in studio_angles)  # and mid-way while it turns
    assert positions[0][0] == "Run"
    travelled = [x for state, x in positions]
    assert travelled == sorted(travelled)  # never backwards
