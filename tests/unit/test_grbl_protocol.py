"""GRBL 1.1 replies and status reports as the turntable driver reads them; error and alarm meanings; caps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capturerig.config import TurntableConfig
from capturerig.devices import DeviceError
from capturerig.devices.grbl_protocol import (
    GRBL_ALARMS,
    GRBL_ERRORS,
    GrblParseError,
    ReplyKind,
    alarm_message,
    error_message,
    move_duration_s,
    parse_reply,
    parse_status,
)
from capturerig.devices.grbl_turntable import MotionLimits, motion_limits


def test_idle_report_with_machine_position_and_work_offset() -> None:
    status = parse_status("<Idle|MPos:95.000,0.000,0.000|FS:0,0|WCO:5.000,0.000,0.000>")
    assert status.state == "Idle"
    assert status.substate is None
    assert status.mpos == (95.0, 0.0, 0.0)
    assert status.wco == (5.0, 0.0, 0.0)
    assert status.feed == 0.0
    assert status.work_position(None) == (90.0, 0.0, 0.0)


def test_run_report_without_wco_uses_the_last_known_offset() -> None:
    status = parse_status("<Run|MPos:12.500,0.000,0.000|FS:1800,0>")
    assert (status.state, status.feed, status.wco) == ("Run", 1800.0, None)
    assert status.work_position((2.5, 0.0, 0.0)) == (10.0, 0.0, 0.0)
    assert status.work_position(None) == (12.5, 0.0, 0.0)


def test_hold_alarm_and_door_reports_carry_their_substate_and_pins() -> None:
    hold = parse_status("<Hold:0|MPos:-3.250,0.000,0.000|FS:0,0>")
    assert (hold.state, hold.substate, hold.mpos) == ("Hold", 0, (-3.25, 0.0, 0.0))
    alarm = parse_status("<Alarm|MPos:10.000,0.000,0.000|FS:0,0|Pn:X>")
    assert (alarm.state, alarm.fields["Pn"]) == ("Alarm", "X")
    door = parse_status("<Door:1|WPos:1.000,2.000,3.000|F:500|Ov:100,100,100>")
    assert (door.state, door.substate, door.wpos, door.feed) == ("Door", 1, (1.0, 2.0, 3.0), 500.0)
    assert door.work_position((9.0, 9.0, 9.0)) == (1.0, 2.0, 3.0)  # WPos is already in work coordinates


@pytest.mark.parametrize(("line", "problem"), [
    ("<Spinning|MPos:0.000,0.000,0.000>", "unknown machine state 'Spinning'"),
    ("<Idle|MPos:0.0x0,0.000,0.000>", "MPos: '0.0x0' is not a number"),
    ("<Idle|MPos:1,2,3|WPos:1,2,3>", "both MPos and WPos"),
    ("<Idle|FS:0,0|FS:0,0>", "FS appears twice"),
    ("<Idle|MPos>", "'MPos' is not NAME:VALUE"),
    ("<Idle|MPos:0.000,0.000,0.000", "is not a status report"),
    ("<Hold:x|MPos:0,0,0>", "substate is not a small number"),
])
def test_malformed_reports_are_refused_saying_what_is_wrong(line: str, problem: str) -> None:
    with pytest.raises(GrblParseError, match=re.escape(problem)):
        parse_status(line)


def test_report_without_position_cannot_give_an_angle() -> None:
    with pytest.raises(GrblParseError, match="neither MPos nor WPos"):
        parse_status("<Idle|FS:0,0>").work_position(None)


@pytest.mark.parametrize(("line", "kind", "code"), [
    ("ok", ReplyKind.OK, None),
    ("ok\r", ReplyKind.OK, None),
    ("error:9", ReplyKind.ERROR, 9),
    ("error:22", ReplyKind.ERROR, 22),
    ("ALARM:1", ReplyKind.ALARM, 1),
    ("Grbl 1.1h ['$' for help]", ReplyKind.BANNER, None),
    ("[MSG:'$H'|'$X' to unlock]", ReplyKind.FEEDBACK, None),
    ("[MSG:Reset to continue]", ReplyKind.FEEDBACK, None),
    ("[G92:5.000,0.000,0.000]", ReplyKind.FEEDBACK, None),
    ("$110=1800.000", ReplyKind.SETTING, None),
    (">G54G17:ok", ReplyKind.STARTUP, None),
    ("", ReplyKind.EMPTY, None),
    ("<Idle|MPos:0.000,0.000,0.000|FS:0,0>", ReplyKind.STATUS, None),
])
def test_every_kind_of_grbl_line_is_classified(line: str, kind: ReplyKind, code: int | None) -> None:
    reply = parse_reply(line)
    assert reply.kind == kind
    assert reply.code == code


def test_settings_and_feedback_carry_their_values() -> None:
    assert parse_reply("$110=1800.000").setting == (110, 1800.0)
    assert parse_reply("$22=1").setting == (22, 1.0)
    assert parse_reply("[MSG:Caution: Unlocked]").text == "MSG:Caution: Unlocked"


@pytest.mark.parametrize("line", ["\x00\xff\xfe", "okay", "error:x", "ALARM:", "Grbl", "hello world", "$110=fast",
                                  "<Idle|MPos:a,b,c>", "\x1b[2J", "[MSG:\x07]"])
def test_garbage_is_refused_with_the_line_shown(line: str) -> None:
    with pytest.raises(GrblParseError, match="is not"):
        parse_reply(line)


def test_error_and_alarm_codes_read_as_their_meaning() -> None:
    assert error_message(9) == "error:9 (G-code locked out during alarm or jog state)"
    assert error_message(22) == "error:22 (feed rate has not yet been set or is undefined)"
    assert error_message(5) == "error:5 (homing is not enabled in the settings ($22=0))"
    assert alarm_message(1).startswith("ALARM:1 (hard limit triggered; machine position is likely lost")
    assert "re-homing is recommended" in alarm_message(3)
    assert "could not find the limit switch" in alarm_message(9)
    assert error_message(99) == "error:99 (unknown GRBL error code)"
    assert alarm_message(42) == "ALARM:42 (unknown GRBL alarm code)"
    assert set(range(1, 18)) <= set(GRBL_ERRORS)
    assert set(range(20, 39)) <= set(GRBL_ERRORS)
    assert set(range(1, 11)) == set(GRBL_ALARMS)


def test_move_duration_follows_a_trapezoid_or_a_triangle() -> None:
    assert move_duration_s(90.0, 30.0, 20.0) == pytest.approx(90 / 30 + 30 / 20)  # reaches 30 deg/s
    assert move_duration_s(45.0, 60.0, 45.0) == pytest.approx(2.0)  # triangle: 2 * sqrt(45 / 45)
    assert move_duration_s(-45.0, 60.0, 45.0) == pytest.approx(2.0)
    assert move_duration_s(0.0, 60.0, 45.0) == 0.0
    with pytest.raises(ValueError, match="must be > 0"):
        move_duration_s(10.0, 0.0, 1.0)


# -- fuzz ----------------------------------------------------------------------------------------------------

_numbers = st.floats(min_value=-99999, max_value=99999, allow_nan=False).map(lambda v: round(v, 3))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_any_text_is_classified_or_refused_as_garbage_never_crashes(line: str) -> None:
    try:
        reply = parse_reply(line)
    except GrblParseError:
        return
    assert reply.kind in set(ReplyKind)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_any_bytes_decoded_as_the_driver_does_never_crash_the_parser(data: bytes) -> None:
    try:
        parse_reply(data.decode("ascii", "backslashreplace"))
    except GrblParseError:
        pass  # refused as garbage: that is the contract for bytes that are not GRBL
    else:
        assert data.isascii()


@settings(max_examples=200, deadline=None)
@given(state=st.sampled_from(["Idle", "Run", "Hold:0", "Hold:1", "Jog", "Alarm", "Door:2", "Home", "Check"]),
       mpos=st.tuples(_numbers, _numbers, _numbers), wco=st.one_of(st.none(), st.tuples(_numbers, _numbers, _numbers)),
       feed=st.integers(min_value=0, max_value=100000))
def test_generated_reports_parse_back_to_their_values(state: str, mpos: tuple[float, float, float],
                                                      wco: tuple[float, float, float] | None, feed: int) -> None:
    fields = [state, "MPos:" + ",".join(f"{v:.3f}" for v in mpos), f"FS:{feed},0"]
    if wco is not None:
        fields.append("WCO:" + ",".join(f"{v:.3f}" for v in wco))
    status = parse_reply("<" + "|".join(fields) + ">").status
    assert status is not None
    assert status.state == state.partition(":")[0]
    assert status.mpos == pytest.approx(mpos)
    assert status.wco == (None if wco is None else pytest.approx(wco))
    assert status.feed == feed


# -- a person on the platform caps speed and acceleration ---------------------------------------------------------

def _table(speed: float = 60.0, **params: object) -> TurntableConfig:
    return TurntableConfig(id="tt0", driver="grbl", speed_deg_per_s=speed, params={"port": "/dev/null", **params})


def test_without_a_person_the_configured_speed_and_acceleration_apply() -> None:
    assert motion_limits(_table(60.0, max_accel_deg_per_s2=90)) == MotionLimits(60.0, 90.0)
    assert motion_limits(_table(60.0)) == MotionLimits(60.0, 45.0)


def test_a_person_on_the_platform_caps_speed_at_30_and_acceleration_at_20() -> None:
    assert motion_limits(_table(60.0, max_accel_deg_per_s2=90, person_on_platform=True)) == MotionLimits(30.0, 20.0)
    assert motion_limits(_table(12.0, max_accel_deg_per_s2=8, person_on_platform=True)) == MotionLimits(12.0, 8.0)
    lower = _table(60.0, person_on_platform=True, person_max_speed_deg_per_s=10, person_max_accel_deg_per_s2=5)
    assert motion_limits(lower) == MotionLimits(10.0, 5.0)


def test_raising_the_person_caps_needs_a_written_override() -> None:
    with pytest.raises(DeviceError, match=r"params.person_max_speed_deg_per_s: 45 deg/s is above the safe limit"):
        motion_limits(_table(60.0, person_on_platform=True, person_max_speed_deg_per_s=45))
    with pytest.raises(DeviceError, match=r"person_max_accel_deg_per_s2: 40 deg/s\^2 is above the safe limit"):
        motion_limits(_table(60.0, person_on_platform=True, person_max_accel_deg_per_s2=40))
    override = _table(60.0, person_on_platform=True, person_max_speed_deg_per_s=45,
                      person_caps_override="seated subject, belted, tested 2026-11-20")
    assert motion_limits(override) == MotionLimits(45.0, 20.0)


@pytest.mark.parametrize(("params", "message"), [
    ({"person_on_platform": "yes"}, "params.person_on_platform: should be true or false, got 'yes'"),
    ({"max_accel_deg_per_s2": 0}, "params.max_accel_deg_per_s2: input should be greater than 0 (got 0)"),
    ({"max_accel_deg_per_s2": "fast"}, "params.max_accel_deg_per_s2: should be a number, got 'fast'"),
    ({"on_alarm": "home"}, "params.on_alarm: 'home' needs homing: true"),
    ({"baudrate": 115200.0}, "params.baudrate: should be a whole number, got 115200.0"),
])
def test_bad_params_name_the_param(params: dict[str, object], message: str) -> None:
    with pytest.raises(DeviceError, match="^tt0: " + re.escape(message)):
        motion_limits(_table(**params))  # type: ignore[arg-type]
