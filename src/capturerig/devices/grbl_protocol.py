"""GRBL 1.1 line protocol: reply and status-report parsing, error and alarm meanings, move timing.

GRBL answers every line it receives with ``ok`` or ``error:N``; it sends ``<State|MPos:x,y,z|...>`` for the
real-time ``?`` query, ``ALARM:N`` when it halts, ``[MSG:...]``-style feedback in brackets, ``$N=value`` for
``$$`` and ``Grbl 1.1h ['$' for help]`` after every reset. Codes and meanings follow grbl/doc/csv
(error_codes_en_US.csv, alarm_codes_en_US.csv) of GRBL 1.1h. Shared by the driver and the simulator.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "GRBL_ALARMS",
    "GRBL_ERRORS",
    "GRBL_STATES",
    "GrblParseError",
    "GrblReply",
    "GrblStatus",
    "ReplyKind",
    "alarm_message",
    "error_message",
    "move_duration_s",
    "parse_reply",
    "parse_status",
]

GRBL_STATES = ("Idle", "Run", "Hold", "Jog", "Alarm", "Door", "Check", "Home", "Sleep")

GRBL_ERRORS: dict[int, str] = {
    1: "expected command letter (G-code words consist of a letter and a value; the letter was not found)",
    2: "bad number format (a G-code word's value is missing or not a valid number)",
    3: "invalid statement ('$' system command not recognized or supported)",
    4: "negative value received for an expected positive value",
    5: "homing is not enabled in the settings ($22=0)",
    6: "minimum step pulse time must be greater than 3 us",
    7: "EEPROM read failed; affected settings were restored to defaults",
    8: "'$' command refused because GRBL is not idle",
    9: "G-code locked out during alarm or jog state",
    10: "soft limits cannot be enabled without homing also enabled",
    11: "line too long: max characters per line exceeded, the line was not executed",
    12: "'$' setting value would make the step rate exceed the maximum supported",
    13: "safety door detected as opened",
    14: "build info or startup line exceeds the EEPROM line length limit",
    15: "jog target exceeds machine travel; jog ignored",
    16: "jog command has no '=' or contains prohibited G-code",
    17: "laser mode requires PWM output",
    20: "unsupported or invalid G-code command in the block",
    21: "more than one G-code command from the same modal group in the block",
    22: "feed rate has not yet been set or is undefined",
    23: "G or M command value in the block requires an integer value",
    24: "more than one G-code command that requires axis words in the block",
    25: "repeated G-code word in the block",
    26: "no axis words in the block for a command or modal state that requires them",
    27: "line number value is invalid",
    28: "G-code command is missing a required value word",
    29: "G59.x work coordinate systems are not supported",
    30: "G53 only allowed with G0 and G1 motion modes",
    31: "axis words in the block when no command or modal state uses them",
    32: "G2 and G3 arcs require at least one in-plane axis word",
    33: "motion command target is invalid",
    34: "arc radius value is invalid",
    35: "G2 and G3 arcs require at least one in-plane offset word",
    36: "unused value words in the block",
    37: "G43.1 dynamic tool length offset is not assigned to the configured tool length axis",
    38: "tool number greater than the maximum supported value",
}

GRBL_ALARMS: dict[int, str] = {
    1: "hard limit triggered; machine position is likely lost due to the sudden halt, re-homing is recommended",
    2: "soft limit: the motion target exceeds machine travel; machine position retained, may be unlocked",
    3: "reset while in motion; machine position is likely lost, re-homing is recommended",
    4: "probe fail: the probe is not in the expected initial state",
    5: "probe fail: the probe did not contact within the programmed travel",
    6: "homing fail: the active homing cycle was reset",
    7: "homing fail: the safety door was opened during homing",
    8: "homing fail: pull-off travel failed to clear the limit switch (increase $27 or check wiring)",
    9: "homing fail: could not find the limit switch within the search distance (check wiring, $130)",
    10: "homing fail: the second limit switch of a dual axis was not found",
}


def error_message(code: int) -> str:
    """``error:N`` in words, e.g. ``error:9 (G-code locked out during alarm or jog state)``."""
    return f"error:{code} ({GRBL_ERRORS.get(code, 'unknown GRBL error code')})"


def alarm_message(code: int) -> str:
    """``ALARM:N`` in words, e.g. ``ALARM:1 (hard limit triggered; ...)``."""
    return f"ALARM:{code} ({GRBL_ALARMS.get(code, 'unknown GRBL alarm code')})"


class GrblParseError(ValueError):
    """A line that is not valid GRBL 1.1 output (garbage, wrong baud rate, another device)."""


@dataclass(frozen=True)
class GrblStatus:
    """A parsed ``<...>`` real-time status report.

    ``state`` is one of :data:`GRBL_STATES`; ``substate`` the number after a colon (``Hold:0``, ``Door:1``).
    Positions are in machine units for every reported axis; GRBL reports either MPos or WPos (``$10``) and
    the work coordinate offset ``WCO`` only now and then, so ``wco`` is often None.
    """

    state: str
    substate: int | None = None
    mpos: tuple[float, ...] | None = None
    wpos: tuple[float, ...] | None = None
    wco: tuple[float, ...] | None = None
    feed: float | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def work_position(self, wco: tuple[float, ...] | None) -> tuple[float, ...]:
        """Work coordinates: WPos as reported, or MPos minus the offset (this report's or ``wco``).

        Raises
        ------
        GrblParseError
            When the report has neither MPos nor WPos.
        """
        if self.wpos is not None:
            return self.wpos
        if self.mpos is None:
            raise GrblParseError(f"status <{self.state}|...> carries neither MPos nor WPos")
        offset = self.wco or wco or tuple(0.0 for _ in self.mpos)
        return tuple(m - o for m, o in zip(self.mpos, offset, strict=False))


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _number(text: str, what: str) -> float:
    if not _NUMBER.match(text):
        raise GrblParseError(f"{what}: {text!r} is not a number")
    return float(text)


def _axes(text: str, what: str) -> tuple[float, ...]:
    parts = text.split(",")
    if not 1 <= len(parts) <= 6:
        raise GrblParseError(f"{what}: expected 1..6 axis values, got {len(parts)}")
    return tuple(_number(p, what) for p in parts)


def parse_status(line: str) -> GrblStatus:
    """Parse one real-time status report such as ``<Idle|MPos:0.000,0.000,0.000|FS:0,0>``.

    Raises
    ------
    GrblParseError
        For anything that is not a well-formed GRBL 1.1 report (unknown state, malformed numbers).
    """
    text = line.strip()
    if not (text.startswith("<") and text.endswith(">")) or len(text) < 3:
        raise GrblParseError(f"{text[:60]!r} is not a status report <...>")
    parts = text[1:-1].split("|")
    state_text = parts[0]
    state, _, sub = state_text.partition(":")
    if state not in GRBL_STATES:
        raise GrblParseError(f"unknown machine state {state_text[:20]!r} (known: {', '.join(GRBL_STATES)})")
    substate = None
    if sub:
        if not sub.isdigit() or len(sub) > 2:
            raise GrblParseError(f"state {state_text[:20]!r}: substate is not a small number")
        substate = int(sub)
    values: dict[str, str] = {}
    for part in parts[1:]:
        name, colon, value = part.partition(":")
        if not colon or not name.isalpha():
            raise GrblParseError(f"status field {part[:30]!r} is not NAME:VALUE")
        if name in values:
            raise GrblParseError(f"status field {name} appears twice")
        values[name] = value
    mpos = _axes(values["MPos"], "MPos") if "MPos" in values else None
    wpos = _axes(values["WPos"], "WPos") if "WPos" in values else None
    if mpos is not None and wpos is not None:
        raise GrblParseError("status carries both MPos and WPos")
    wco = _axes(values["WCO"], "WCO") if "WCO" in values else None
    feed = None
    if "FS" in values:
        feed = _axes(values["FS"], "FS")[0]
    elif "F" in values:
        feed = _number(values["F"], "F")
    return GrblStatus(state, substate, mpos, wpos, wco, feed, values)


class ReplyKind(StrEnum):
    """What a line from GRBL is."""

    OK = "ok"
    ERROR = "error"
    ALARM = "alarm"
    STATUS = "status"
    BANNER = "banner"
    FEEDBACK = "feedback"  # [MSG:...], [GC:...], [VER:...], [G54:...] ...
    SETTING = "setting"  # $N=value (from $$)
    STARTUP = "startup"  # >G54G17:ok (startup block executed)
    EMPTY = "empty"


@dataclass(frozen=True)
class GrblReply:
    """One classified line; ``code`` for error/alarm, ``status`` for reports, ``text`` otherwise."""

    kind: ReplyKind
    text: str = ""
    code: int | None = None
    status: GrblStatus | None = None
    setting: tuple[int, float] | None = None


_BANNER = re.compile(r"^Grbl \d+\.\d+[a-z]? \[.*\]$")
_SETTING = re.compile(r"^\$(\d{1,3})=(\S+)$")
_CODE = re.compile(r"^(error|ALARM):(\d{1,3})$")


def parse_reply(line: str) -> GrblReply:
    """Classify one line GRBL sent (without its line ending).

    Raises
    ------
    GrblParseError
        For a line GRBL 1.1 never sends: garbage, a wrong baud rate, or another device on the port.
    """
    text = line.strip()
    if not text:
        return GrblReply(ReplyKind.EMPTY)
    if text == "ok":
        return GrblReply(ReplyKind.OK, text)
    match = _CODE.match(text)
    if match:
        kind = ReplyKind.ERROR if match.group(1) == "error" else ReplyKind.ALARM
        return GrblReply(kind, text, code=int(match.group(2)))
    if text.startswith("<"):
        return GrblReply(ReplyKind.STATUS, text, status=parse_status(text))
    if _BANNER.match(text):
        return GrblReply(ReplyKind.BANNER, text)
    if text.startswith("[") and text.endswith("]") and text.isprintable():
        return GrblReply(ReplyKind.FEEDBACK, text[1:-1])
    match = _SETTING.match(text)
    if match:
        return GrblReply(ReplyKind.SETTING, text, setting=(int(match.group(1)),
                                                           _number(match.group(2), f"${match.group(1)}")))
    if text.startswith(">") and text.endswith((":ok", ":error")) and text.isprintable():
        return GrblReply(ReplyKind.STARTUP, text)
    shown = text[:60].encode("ascii", "backslashreplace").decode()
    raise GrblParseError(f"{shown!r} is not a GRBL 1.1 reply")


def move_duration_s(distance: float, speed: float, accel: float) -> float:
    """Time for a point-to-point move from rest to rest with a trapezoidal (or triangular) speed profile.

    ``distance`` in any unit, ``speed`` in that unit per second, ``accel`` per second squared (both > 0).
    """
    if speed <= 0.0 or accel <= 0.0 or not math.isfinite(distance):
        raise ValueError(f"speed ({speed}) and acceleration ({accel}) must be > 0 and distance finite")
    distance = abs(distance)
    ramp = speed * speed / accel  # distance spent accelerating and braking at full speed
    if distance >= ramp:
        return distance / speed + speed / accel
    return 2.0 * math.sqrt(distance / accel)
