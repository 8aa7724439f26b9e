"""The GRBL controller model alone (no pty, its own clock): motion timing, real-time bytes, alarms, reset."""

from __future__ import annotations

import math
import re

import pytest

from capturerig_sim.grbl_sim import BANNER, GrblMachine

UNLOCK_HINT = "[MSG:'$H'|'$X' to unlock]\r\n"


def _send(machine: GrblMachine, data: bytes, now: float) -> str:
    """Feed ``data`` at ``now`` and tick at the same instant (a planned block starts on the next tick; the
    simulator ticks every 5 ms); returns what the controller printed."""
    machine.feed(data, now)
    machine.tick(now)
    return "".join(machine.drain())


def _tick_until(machine: GrblMachine, start: float, end: float, step: float = 0.005) -> None:
    """Tick as the simulator does (every 5 ms) from ``start`` to ``end``."""
    for k in range(round((end - start) / step) + 1):
        machine.tick(start + k * step)


def _status(machine: GrblMachine, now: float) -> tuple[str, float]:
    report = _send(machine, b"?", now)
    match = re.fullmatch(r"<([\w:]+)\|MPos:([-\d.]+),0\.000,0\.000\|.*>\r\n", report)
    assert match, report
    return match.group(1), float(match.group(2))


@pytest.fixture
def machine() -> GrblMachine:
    # 60 deg/s top speed, 45 deg/s^2: a 90 deg move takes 90/60 + 60/45 = 2.833 s; 10 deg takes 2*sqrt(10/45).
    machine = GrblMachine(settings={110: 3600.0, 120: 45.0})
    machine.power_up()
    assert machine.drain() == [f"\r\n{BANNER}\r\n"]
    return machine


def test_a_move_reaches_its_target_after_the_trapezoidal_time_and_not_before(machine: GrblMachine) -> None:
    assert _send(machine, b"G90G0X90\n", 10.0) == "ok\r\n"  # accepted into the planner at once
    duration = 90 / 60 + 60 / 45
    state, x = _status(machine, 10.0 + 60 / 45)  # the end of the ramp up to 60 deg/s
    assert state == "Run"
    assert x == pytest.approx(0.5 * 45 * (60 / 45) ** 2, abs=1e-3)
    state, x = _status(machine, 10.0 + duration - 0.01)
    assert state == "Run"
    assert 89.99 < x < 90.0
    assert machine.state(10.0 + duration + 1e-9) == "Idle"
    assert machine.table_deg(11.0 + duration) == 90.0


def test_time_scale_runs_the_same_profile_faster_on_the_wall_clock() -> None:
    machine = GrblMachine(time_scale=0.1, settings={110: 3600.0, 120: 45.0})
    assert _send(machine, b"G0X10\n", 0.0) == "ok\r\n"
    duration = 2 * math.sqrt(10 / 45)  # never reaches 60 deg/s: a triangle
    assert machine.state(0.1 * duration - 1e-4) == "Run"
    assert machine.state(0.1 * duration + 1e-9) == "Idle"
    assert machine.machine_x(0.1 * duration) == 10.0


def test_status_inside_a_half_sent_line_is_answered_at_once(machine: GrblMachine) -> None:
    assert _send(machine, b"G0X4", 0.0) == ""
    assert _status(machine, 0.0) == ("Idle", 0.0)  # '?' does not wait for the line to end
    assert _send(machine, b"5\n", 0.0) == "ok\r\n"
    assert machine.received == ["G0X45"]  # and is not part of the line


def test_feed_hold_stops_on_the_spot_and_resume_finishes_the_move(machine: GrblMachine) -> None:
    _send(machine, b"G0X10\n", 0.0)
    machine.feed(b"!", 0.3)
    held_at = machine.machine_x(0.3)
    assert 0.0 < held_at < 10.0
    state, x = _status(machine, 5.0)  # time passes, no motion
    assert state == "Hold:0"
    assert x == pytest.approx(held_at, abs=1e-3)
    machine.feed(b"~", 5.0)
    assert machine.state(5.0 + 2 * math.sqrt(10 / 45)) == "Idle"
    assert machine.machine_x(10.0) == 10.0


def test_a_hard_limit_locks_until_reset_then_needs_unlock(machine: GrblMachine) -> None:
    _send(machine, b"G0X90\n", 0.0)
    machine.inject_alarm(1, after_deg=20.0, now=0.0)
    _tick_until(machine, 0.0, 2.0)  # 20 deg are reached after sqrt(2 * 20 / 45) = 0.94 s
    assert machine.drain() == ["ALARM:1\r\n[MSG:Reset to continue]\r\n"]
    stopped = machine.machine_x(2.0)
    assert 20.0 <= stopped < 20.3  # where the switch tripped (within one tick at 42 deg/s)
    assert _status(machine, 3.0)[0] == "Alarm"
    assert _send(machine, b"G0X0\n$X\n", 3.0) == ""  # locked: lines wait for a reset, nothing is answered
    assert _send(machine, b"\x18", 3.0) == f"\r\n{BANNER}\r\n{UNLOCK_HINT}"  # the queued lines are gone
    assert _send(machine, b"G0X0\n", 3.0) == "error:9\r\n"  # still in alarm: motion refused
    assert _send(machine, b"$X\n", 3.0) == "[MSG:Caution: Unlocked]\r\nok\r\n"
    assert _send(machine, b"G0X0\n", 3.0) == "ok\r\n"
    assert machine.state(10.0) == "Idle"
    assert machine.machine_x(10.0) == 0.0


def test_a_soft_reset_mid_move_stops_the_table_where_it_is_and_drops_the_plan(machine: GrblMachine) -> None:
    assert _send(machine, b"G0X90\nG0X180\nG4P1\n", 0.0) == "ok\r\nok\r\n"  # the dwell waits for the moves before it
    machine.feed(b"\x18", 1.0)
    assert machine.drain() == [f"ALARM:3\r\n\r\n{BANNER}\r\n{UNLOCK_HINT}"]  # reset while moving: ALARM:3
    stopped = machine.machine_x(1.0)
    assert stopped == pytest.approx(0.5 * 45 * 1.0**2)
    assert machine.machine_x(30.0) == stopped  # no motion left
    assert machine.state(30.0) == "Alarm"
    machine.feed(b"$X\n", 30.0)
    assert machine.state(30.0) == "Idle"
    assert machine.drain() == ["[MSG:Caution: Unlocked]\r\nok\r\n"]  # the dropped dwell never answers


def test_homing_starts_locked_and_ok_comes_when_the_search_reaches_the_switch() -> None:
    machine = GrblMachine(homing=True, home_deg=0.0, origin_deg=90.0)  # the table stands at 90 deg
    machine.power_up()
    assert machine.drain() == [f"\r\n{BANNER}\r\n{UNLOCK_HINT}"]
    assert machine.state(0.0) == "Alarm"
    assert _send(machine, b"G0X10\n", 0.0) == "error:9\r\n"
    assert _send(machine, b"$H\n", 0.0) == ""  # no ok until the cycle is done
    assert machine.state(1.0) == "Home"
    seek, accel = 30.0, 10.0  # $25 = 1800 units/min, $120 = 10: 90 deg back to the switch
    assert machine.state(90 / seek + seek / accel) == "Idle"
    assert machine.drain() == ["ok\r\n"]
    assert machine.table_deg(20.0) == 0.0
    assert machine.machine_x(20.0) == 0.0
