"""Turntable driver for GRBL 1.1 stepper controllers over a serial port (``driver: grbl``).

Rig file parameters (``turntable.params``): :class:`GrblParams`. For example::

    port: /dev/ttyUSB0          # any pyserial URL (required); 115200 baud unless ``baudrate`` says otherwise
    homing: true                # the table has a home switch and GRBL $22=1: home() runs $H
    on_alarm: fail              # fail | unlock | home: what a move does when GRBL is in alarm
    person_on_platform: true    # caps speed at 30 deg/s and acceleration at 20 deg/s^2

Speed and acceleration are applied as GRBL settings ``$110`` (X max rate, units/min) and ``$120`` (X
acceleration, units/s^2), with the homing seek rate ``$25`` lowered to ``$110`` when it is faster, and moves are
``G90 G0`` rapids, which run at ``$110``: the caps then hold for any
move the controller makes, including those of another sender, and rapids need no feed-rate bookkeeping. The
settings are written only when they differ (they live in the controller's EEPROM).

A move counts as done only when the ``?`` status report says Idle with the position at the target. Every
wait is bounded: command replies by a fixed timeout, moves by the trapezoidal move time at the configured
speed and acceleration plus a margin (and never more than the caller's timeout). Garbage, silence and alarms
raise :class:`DeviceError` / :class:`DeviceTimeout` naming the port.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import serial
from pydantic import Field, ValidationInfo, field_validator

from capturerig.config import TurntableConfig
from capturerig.devices._params import DriverParams, SerialPortUrl
from capturerig.devices._registry import DriverContext
from capturerig.devices.grbl_protocol import (
    GrblParseError,
    GrblReply,
    GrblStatus,
    ReplyKind,
    alarm_message,
    error_message,
    move_duration_s,
    parse_reply,
)
from capturerig.devices.protocols import DeviceError, DeviceTimeout

__all__ = ["PERSON_MAX_ACCEL_DEG_PER_S2", "PERSON_MAX_SPEED_DEG_PER_S", "GrblParams", "GrblTurntable", "MotionLimits",
           "motion_limits"]

log = logging.getLogger(__name__)

PERSON_MAX_SPEED_DEG_PER_S = 30.0
PERSON_MAX_ACCEL_DEG_PER_S2 = 20.0
DEFAULT_ACCEL_DEG_PER_S2 = 45.0
BAUDRATE = 115200
COMMAND_TIMEOUT_S = 2.0  # GRBL answers a line within milliseconds once its planner has room
BOOT_TIMEOUT_S = 3.0  # an Arduino-based GRBL may reboot when the port opens (~1-2 s)
MOVE_MARGIN_S = 2.0
MOVE_FACTOR = 1.5
POLL_S = 0.03
MAX_LINE = 256  # GRBL lines are short; a longer run without a newline is garbage
SOFT_RESET = b"\x18"
FEED_HOLD = b"!"
STATUS_QUERY = b"?"


@dataclass(frozen=True)
class MotionLimits:
    """What the table may do, after the person caps: degrees per second and per second squared."""

    speed_deg_per_s: float
    accel_deg_per_s2: float


class GrblParams(DriverParams):
    """A GRBL turntable's rig params (``driver: grbl``); the speed is the turntable's ``speed_deg_per_s``."""

    port: SerialPortUrl = Field(description="the controller's serial device (/dev/ttyUSB0 ...) or a pyserial URL")
    baudrate: int = Field(BAUDRATE, ge=1_200, le=4_000_000, description="the line's baud rate (GRBL's is 115200)")
    units_per_degree: float = Field(1.0, gt=0.0, description="GRBL X units per table degree (1 when GRBL's X is "
                                                             "set up in degrees)")
    homing: bool = Field(False, description="the table has a home switch and GRBL $22=1: home() runs $H")
    on_alarm: Literal["fail", "unlock", "home"] = Field(
        "fail", description="what a move does when GRBL is in alarm: fail, unlock ($X) or home ($H, needs homing)")
    tolerance_deg: float = Field(0.05, gt=0.0, description="a station counts as reached when idle within this "
                                                           "many degrees of it")
    max_accel_deg_per_s2: float = Field(DEFAULT_ACCEL_DEG_PER_S2, gt=0.0, description="acceleration, deg/s^2")
    person_on_platform: bool = Field(False, description="a person stands on the table: speed and acceleration are "
                                                        "capped (30 deg/s, 20 deg/s^2 unless lowered)")
    person_caps_override: str | None = Field(None, description="a written reason; the only way to raise the person "
                                                               "caps above 30 deg/s and 20 deg/s^2")
    person_max_speed_deg_per_s: float = Field(PERSON_MAX_SPEED_DEG_PER_S, gt=0.0,
                                              description="speed cap with a person on the table, deg/s")
    person_max_accel_deg_per_s2: float = Field(PERSON_MAX_ACCEL_DEG_PER_S2, gt=0.0,
                                               description="acceleration cap with a person on the table, deg/s^2")

    @field_validator("on_alarm")
    @classmethod
    def _home_needs_homing(cls, value: str, info: ValidationInfo) -> str:
        if value == "home" and info.data.get("homing") is False:
            raise ValueError("'home' needs homing: true (a table with a home switch)")
        return value

    @field_validator("person_max_speed_deg_per_s", "person_max_accel_deg_per_s2")
    @classmethod
    def _person_caps(cls, cap: float, info: ValidationInfo) -> float:
        speed = info.field_name == "person_max_speed_deg_per_s"
        limit, unit = ((PERSON_MAX_SPEED_DEG_PER_S, "deg/s") if speed else (PERSON_MAX_ACCEL_DEG_PER_S2, "deg/s^2"))
        override = (info.data.get("person_caps_override") or "").strip()
        if info.data.get("person_on_platform") and cap > limit and not override:
            raise ValueError(f"{cap:g} {unit} is above the safe limit for a person on the platform ({limit:g} {unit}); "
                             "lower it, or give person_caps_override: <reason>")
        return cap


def motion_limits(config: TurntableConfig) -> MotionLimits:
    """Speed and acceleration from the config, capped when ``person_on_platform`` is true.

    Raises
    ------
    DeviceError
        For a bad param, e.g. a person cap set above 30 deg/s or 20 deg/s^2 without ``person_caps_override``
        (a reason).
    """
    return _motion_limits(config.speed_deg_per_s, GrblParams.of(config))


def _motion_limits(speed_deg_per_s: float, params: GrblParams) -> MotionLimits:
    accel = params.max_accel_deg_per_s2
    if not params.person_on_platform:
        return MotionLimits(speed_deg_per_s, accel)
    return MotionLimits(min(speed_deg_per_s, params.person_max_speed_deg_per_s),
                        min(accel, params.person_max_accel_deg_per_s2))


class GrblTurntable:
    """A turntable run by a GRBL 1.1 controller; angles in degrees (params: :class:`GrblParams`)."""

    Params = GrblParams

    def __init__(self, config: TurntableConfig, context: DriverContext) -> None:
        self._config = config
        params = GrblParams.of(config)  # nothing in them refers to the rest of the rig
        self.port = params.port
        self._baudrate = params.baudrate
        self._units_per_degree = params.units_per_degree
        self._homing = params.homing
        self._tolerance_deg = params.tolerance_deg
        self._on_alarm = params.on_alarm
        self.limits = _motion_limits(config.speed_deg_per_s, params)
        self._serial: Any = None
        self._buffer = bytearray()
        self._wco: tuple[float, ...] | None = None
        self._last_alarm: int | None = None
        self.settings: dict[int, float] = {}

    @property
    def id(self) -> str:
        """The device id from the rig file."""
        return self._config.id

    # -- wire ----------------------------------------------------------------------------------------------

    def _fail(self, message: str, hint: str = "") -> DeviceError:
        return DeviceError(self.id, f"GRBL on {self.port}: {message}", hint)

    def _write(self, data: bytes) -> None:
        if self._serial is None:
            raise self._fail("the port is not open", "open the turntable first")
        try:
            self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise self._fail(f"write failed: {exc}", "check the USB cable and the controller's power") from exc

    def _read_line(self, deadline: float) -> str | None:
        """The next line (without its ending), or None at the deadline."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 or len(self._buffer) > MAX_LINE:
                cut = end if end >= 0 else len(self._buffer)
                raw = bytes(self._buffer[:cut])
                del self._buffer[:cut + 1]
                return raw.decode("ascii", "backslashreplace").strip("\r")
            left = deadline - time.monotonic()
            if left <= 0.0:
                return None
            try:
                self._serial.timeout = min(left, 0.05)
                chunk = self._serial.read(max(1, self._serial.in_waiting))
            except (serial.SerialException, OSError) as exc:
                raise self._fail(f"read failed: {exc}", "check the USB cable and the controller's power") from exc
            self._buffer += chunk

    def _reply(self, deadline: float, what: str, timeout_s: float) -> GrblReply:
        """The next meaningful reply; alarms and garbage raise, silence raises DeviceTimeout."""
        while True:
            line = self._read_line(deadline)
            if line is None:
                raise DeviceTimeout(self.id, f"GRBL on {self.port}: no answer within {timeout_s:.3g} s while {what}",
                                    "check the port, its power and cable, and that it runs GRBL at "
                                    f"{self._baudrate} baud")
            try:
                reply = parse_reply(line)
            except GrblParseError as exc:
                raise self._fail(f"garbage while {what}: {exc}",
                                 f"check that {self.port} is the turntable's GRBL controller at "
                                 f"{self._baudrate} baud") from exc
            if reply.kind == ReplyKind.ALARM:
                self._last_alarm = reply.code
                raise self._alarm_error(what)
            if reply.kind == ReplyKind.STATUS and reply.status is not None and reply.status.wco is not None:
                self._wco = reply.status.wco
            if reply.kind == ReplyKind.BANNER:
                raise self._fail(f"the controller reset itself while {what}",
                                 "check its power supply and for electrical noise; then home the table")
            if reply.kind != ReplyKind.EMPTY:
                return reply

    def _alarm_error(self, what: str) -> DeviceError:
        alarm = (alarm_message(self._last_alarm) if self._last_alarm is not None else
                 "locked in alarm (not homed since power-up or a reset, or after an earlier alarm)")
        if self._homing:
            clear = ("re-home it: `capturerig turntable home --rig RIG` (runs $H); or set turntable "
                     "params.on_alarm: home to let capturerig re-home by itself")
        else:
            clear = ("unlock it and set zero: `capturerig turntable home --unlock --rig RIG` (sends $X); or set "
                     "turntable params.on_alarm: unlock to let capturerig unlock by itself")
        return self._fail(f"{alarm} while {what}",
                          f"clear the cause (limit switch, obstruction, person on the edge), then {clear}")

    def _command(self, line: str, timeout_s: float = COMMAND_TIMEOUT_S) -> list[GrblReply]:
        """Send one line; return what came before its ``ok``. ``error:N`` raises with the code's meaning."""
        self._write(line.encode("ascii") + b"\n")
        deadline = time.monotonic() + timeout_s
        replies: list[GrblReply] = []
        while True:
            reply = self._reply(deadline, f"waiting for the answer to {line!r}", timeout_s)
            if reply.kind == ReplyKind.OK:
                return replies
            if reply.kind == ReplyKind.ERROR:
                hint = ("the controller is in alarm: " + self._alarm_error(line).hint if reply.code == 9
                        else "check the controller's GRBL settings ($$)")
                raise self._fail(f"refused {line!r}: {error_message(reply.code or 0)}", hint)
            replies.append(reply)

    def status(self, timeout_s: float = COMMAND_TIMEOUT_S, what: str = "waiting for a status report") -> GrblStatus:
        """Ask for a real-time status report (``?``) and return it parsed."""
        self._require_open("ask for its status")
        self._write(STATUS_QUERY)
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._reply(deadline, what, timeout_s)
            if reply.kind == ReplyKind.STATUS and reply.status is not None:
                return reply.status

    def _angle(self, status: GrblStatus) -> float:
        try:
            return status.work_position(self._wco)[0] / self._units_per_degree
        except GrblParseError as exc:
            raise self._fail(f"unusable status report: {exc}", "check the GRBL version (1.1 needed)") from exc

    def _soft_reset(self, timeout_s: float) -> None:
        """Ctrl-X; wait for the banner (lines before it are the tail of what came before the reset)."""
        self._write(SOFT_RESET)
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while True:
            line = self._read_line(deadline)
            if line is None:
                if any(s.strip() for s in seen):
                    shown = " | ".join(s for s in seen if s.strip())[-120:]
                    raise self._fail(f"no GRBL banner after a reset, got garbage: {shown!r}",
                                     f"check that {self.port} is a GRBL controller and the baud rate "
                                     f"({self._baudrate})")
                raise DeviceTimeout(self.id, f"GRBL on {self.port}: silent for {timeout_s:.3g} s after a reset "
                                             "(no 'Grbl 1.1' banner)",
                                    "check the port, the cable and the controller's power")
            try:
                kind = parse_reply(line).kind
            except GrblParseError:
                seen.append(line)
                continue
            if kind == ReplyKind.BANNER:
                break
            seen.append(line)
        self._wco = None
        self._drain(0.1)

    def _drain(self, quiet_s: float) -> None:
        """Consume what follows a banner ([MSG:...] lines, a second banner after an Arduino reboot)."""
        while True:
            line = self._read_line(time.monotonic() + quiet_s)
            if line is None:
                return
            try:
                parse_reply(line)
            except GrblParseError as exc:
                raise self._fail(f"garbage after the reset banner: {exc}",
                                 f"check that {self.port} is the turntable's GRBL controller") from exc

    # -- setup ---------------------------------------------------------------------------------------------

    def _read_settings(self) -> dict[int, float]:
        replies = self._command("$$")
        return {r.setting[0]: r.setting[1] for r in replies if r.setting is not None}

    def _learn_offsets(self) -> None:
        """Work offset = G54 + G92 from ``$#`` (status reports carry WCO only now and then)."""
        offsets: dict[str, tuple[float, ...]] = {}
        for reply in self._command("$#"):
            name, _, values = reply.text.partition(":")
            if reply.kind == ReplyKind.FEEDBACK and name in ("G54", "G92"):
                try:
                    offsets[name] = tuple(float(v) for v in values.split(","))
                except ValueError as exc:
                    raise self._fail(f"garbage in the $# offsets: {reply.text!r}") from exc
        if "G54" in offsets and "G92" in offsets:
            self._wco = tuple(a + b for a, b in zip(offsets["G54"], offsets["G92"], strict=False))

    def _apply_limits(self) -> None:
        """Write $110/$120 (and $25, the homing seek rate, when faster) where they differ; read them back."""
        wanted = {110: self.limits.speed_deg_per_s * self._units_per_degree * 60.0,
                  120: self.limits.accel_deg_per_s2 * self._units_per_degree}
        if self.settings.get(25, 0.0) > wanted[110]:
            wanted[25] = wanted[110]  # the homing seek rate ignores $110: cap it too, or $H outruns the caps
        changed = False
        for number, value in wanted.items():
            current = self.settings.get(number)
            if current is None or abs(current - value) > 1e-3 * value:
                self._command(f"${number}={value:.3f}")
                changed = True
        if changed:
            self.settings = self._read_settings()
            for number, value in wanted.items():
                got = self.settings.get(number)
                if got is None or abs(got - value) > 1e-3 * value:
                    raise self._fail(f"${number} reads back {got} after writing {value:.3f}",
                                     "check the controller's EEPROM / GRBL version")

    def open(self, timeout_s: float) -> None:
        """Open the port, reset GRBL, read its settings, apply the speed/acceleration limits, check for alarm.

        A table in alarm after the reset is fine when it has homing (``home`` clears it) or may be unlocked
        (``on_alarm: unlock``); otherwise DeviceError says how to clear it.
        """
        self.close()
        deadline = time.monotonic() + timeout_s
        try:
            # pyserial tolerates the DTR/RTS ioctls failing with ENOTTY (errno 25) on a pty.
            self._serial = serial.serial_for_url(self.port, baudrate=self._baudrate, timeout=0.05,
                                                 write_timeout=COMMAND_TIMEOUT_S)
            self._serial.reset_input_buffer()
        except (serial.SerialException, OSError, ValueError) as exc:
            self._serial = None
            raise DeviceError(self.id, f"cannot open {self.port}: {exc}",
                              "check the port name in the rig file, the USB cable, and that no other "
                              "program (a G-code sender) holds the port") from exc
        self._buffer.clear()
        try:
            self._soft_reset(max(0.1, min(BOOT_TIMEOUT_S, deadline - time.monotonic())))
            self.settings = self._read_settings()
            if self._homing and self.settings.get(22, 0.0) != 1.0:
                raise self._fail("params.homing is true but GRBL has homing disabled ($22=0)",
                                 "enable it with $22=1 once the home switch is wired, or set homing: false")
            self._apply_limits()
            status = self.status()
            if status.state == "Alarm" and not self._homing:
                self._clear_alarm("opening the port", timeout_s)
            self._learn_offsets()
        except DeviceError:
            self.close()
            raise

    def _clear_alarm(self, what: str, timeout_s: float) -> None:
        """Apply ``on_alarm``: fail with instructions, or reset + ``$X``, or reset + ``$H``."""
        if self._on_alarm == "fail":
            raise self._alarm_error(what)
        self._soft_reset(BOOT_TIMEOUT_S)  # a hard-limit alarm ignores every line until a reset
        if self._on_alarm == "unlock":
            log.warning("%s: unlocking GRBL on %s after %s (position may be off)", self.id, self.port,
                        alarm_message(self._last_alarm) if self._last_alarm else "an alarm")
            self._command("$X")
        else:
            self._run_homing(timeout_s)
        self._last_alarm = None

    def unlock(self, timeout_s: float) -> None:
        """Leave an alarm with a reset and ``$X`` (the operator's choice: the position may be off)."""
        self._require_open("unlock")
        self._soft_reset(min(timeout_s, BOOT_TIMEOUT_S))
        if self.status().state == "Alarm":
            self._command("$X")
        self._learn_offsets()
        self._last_alarm = None

    def _homing_timeout(self) -> float:
        """One search over the travel ($130) at the seek rate ($25), plus the locate and pull-off, plus margin."""
        seek = max(self.settings.get(25, 500.0), 1.0) / 60.0
        feed = max(self.settings.get(24, 25.0), 1.0) / 60.0
        travel = max(self.settings.get(130, 360.0 * self._units_per_degree), 1.0)
        pull_off = self.settings.get(27, 1.0)
        return MOVE_FACTOR * (1.5 * travel / seek + 2 * pull_off / feed) + MOVE_MARGIN_S

    def _run_homing(self, timeout_s: float) -> None:
        self._command("$H", min(timeout_s, self._homing_timeout()))

    # -- motion --------------------------------------------------------------------------------------------

    def _require_open(self, action: str) -> None:
        if self._serial is None:
            raise DeviceError(self.id, f"cannot {action}: the turntable is not open", "open it first")

    def home(self, timeout_s: float) -> None:
        """Run ``$H`` (with ``homing: true``), then make the position 0 with ``G92 X0``."""
        self._require_open("home")
        if self._homing:
            self._soft_reset(BOOT_TIMEOUT_S)  # ends any hold and a critical alarm's lock
            self._run_homing(timeout_s)
        else:
            status = self._ready(timeout_s, "homing")
            log.info("%s: setting zero at machine X %s without a home switch", self.id, status.mpos)
        self._command("G92 X0")
        self._learn_offsets()
        self._last_alarm = None

    def _ready(self, timeout_s: float, what: str) -> GrblStatus:
        """The status once the table can take a move: alarms handled, a leftover hold cancelled."""
        status = self.status()
        if status.state == "Alarm":
            self._clear_alarm(what, timeout_s)
            status = self.status()
        if status.state == "Hold":
            self._soft_reset(BOOT_TIMEOUT_S)  # a completed hold resets without losing position
            self._learn_offsets()
            status = self.status()
        if status.state not in ("Idle", "Run", "Jog"):
            raise self._fail(f"cannot start {what} in state {status.state}",
                             "see the controller (door open? sleeping?) and reset it")
        return status

    def move_to(self, angle_deg: float, timeout_s: float) -> float:
        """Turn to ``angle_deg`` and return the angle GRBL reports once Idle there (within ``tolerance_deg``).

        Raises DeviceError outside min..max, on an alarm (with its meaning and how to clear it) or when the
        table stops off target; DeviceTimeout past the move's bound (the table is then put in feed hold).
        """
        self._require_open("move")
        config = self._config
        if not (config.min_deg <= angle_deg <= config.max_deg) or not math.isfinite(angle_deg):
            raise DeviceError(self.id, f"{angle_deg:g} deg is outside the travel {config.min_deg:g}.."
                                       f"{config.max_deg:g} deg", "fix the station angle in the plan")
        status = self._ready(timeout_s, f"the move to {angle_deg:g} deg")
        start = self._angle(status)
        # A leftover move (after a timeout) may still run: allow for the full travel from anywhere.
        distance = abs(angle_deg - start) if status.state == "Idle" else config.max_deg - config.min_deg
        bound = MOVE_FACTOR * move_duration_s(distance, self.limits.speed_deg_per_s,
                                              self.limits.accel_deg_per_s2) + MOVE_MARGIN_S
        bound = min(bound, timeout_s)
        deadline = time.monotonic() + bound
        self._command(f"G90 G0 X{angle_deg * self._units_per_degree:.3f}")
        idle_off_target_since: float | None = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0.0:
                self._write(FEED_HOLD)  # stop a table that overran its time rather than let it roam
                raise DeviceTimeout(self.id, f"GRBL on {self.port}: the move from {start:.2f} to {angle_deg:g} deg "
                                             f"did not finish within {bound:.3g} s (last: {status.state} at "
                                             f"{self._angle(status):.2f} deg)",
                                    "check that the table turns freely and $110/$120/$100 suit it; "
                                    "the table was put in feed hold")
            status = self.status(min(COMMAND_TIMEOUT_S, max(left, 0.2)), f"moving to {angle_deg:g} deg")
            if status.state == "Alarm":
                raise self._alarm_error(f"moving to {angle_deg:g} deg")
            angle = self._angle(status)
            if status.state == "Idle":
                if abs(angle - angle_deg) <= self._tolerance_deg:
                    return angle
                now = time.monotonic()
                idle_off_target_since = idle_off_target_since or now
                if now - idle_off_target_since > 1.0:
                    raise self._fail(f"stopped at {angle:.3f} deg, not at the target {angle_deg:g} deg",
                                     "check units_per_degree against GRBL's $100 steps/unit, and for "
                                     "another program sending to the controller")
            else:
                idle_off_target_since = None
            time.sleep(POLL_S)

    def close(self) -> None:
        """Release the port (a move under way still finishes on the controller); never raises."""
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                log.warning("%s: closing %s: %s", self.id, self.port, exc)
