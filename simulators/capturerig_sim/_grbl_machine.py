"""A GRBL 1.1 controller with one rotary X axis, as a model without I/O: bytes in, reply texts out.

:class:`GrblMachine` is what the GRBL simulator runs behind its pty (:mod:`capturerig_sim.grbl_sim`), and what a
test drives alone with its own clock: the line parser (``ok`` / ``error:N`` for every line, 80-byte lines,
comments), the settings (``$$``, ``$N=value``), ``$#``, ``$G``, ``$I``, ``$H`` homing, ``$X`` unlock,
``G90``/``G91``/``G0``/``G1``/``G4``/``G92``, the real-time bytes ``?`` (status), ``!`` (feed hold), ``~``
(resume) and ctrl-x (reset), which act as they arrive, even inside a line; a 15-block planner whose moves follow
a trapezoidal profile (:class:`~capturerig_sim._grbl_motion.Move`) at ``$110`` (G0) or the feed rate (G1) with
``$120`` acceleration; and alarms (a critical one, hard or soft limit, ignores everything but reset and ``?``).

Every method takes ``now`` (wall seconds, any monotonic clock); what the controller prints goes to an outbox,
one text per write as GRBL would send it, taken with :meth:`GrblMachine.drain`.
"""

from __future__ import annotations

import math
import re
from collections import deque

from capturerig_sim._grbl_motion import Move

__all__ = ["BANNER", "DEFAULT_SETTINGS", "GrblMachine"]

BANNER = "Grbl 1.1h ['$' for help]"
DEFAULT_SETTINGS: dict[int, float] = {
    0: 10, 1: 25, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 10: 1, 11: 0.010, 12: 0.002, 13: 0, 20: 0, 21: 0, 22: 0, 23: 0,
    24: 25.0, 25: 500.0, 26: 250, 27: 1.0, 30: 1000, 31: 0, 32: 0,
    100: 250.0, 101: 250.0, 102: 250.0, 110: 500.0, 111: 500.0, 112: 500.0,
    120: 10.0, 121: 10.0, 122: 10.0, 130: 200.0, 131: 200.0, 132: 200.0,
}
_FLOAT_SETTINGS = {11, 12, 24, 25, 27, 100, 101, 102, 110, 111, 112, 120, 121, 122, 130, 131, 132}
_LINE_MAX = 80  # GRBL's LINE_BUFFER_SIZE
_PLANNER_BLOCKS = 15
_CRITICAL_ALARMS = {1, 2}  # hard and soft limit: everything but reset and '?' is ignored until a reset
_WORD = re.compile(r"([A-Z])([-+]?(?:\d+\.?\d*|\.\d+))")
_UNLOCK_HINT = "[MSG:'$H'|'$X' to unlock]\r\n"


class GrblMachine:
    """The controller's parser, state, motion and alarms (see the module docstring).

    Parameters
    ----------
    units_per_degree
        Machine X units per table degree (as the driver's param of the same name).
    homing
        The table has a home switch: ``$22=1``, and the controller starts in alarm until ``$H`` or ``$X``.
    home_deg
        The table angle where the home switch sits.
    time_scale
        Wall seconds per machine second of motion (0: moves finish at once; tests use e.g. 0.05).
    settings
        Overrides of :data:`DEFAULT_SETTINGS` (``$N`` -> value).
    origin_deg
        The table angle at machine X 0 at power-up (where the table happens to stand).
    """

    def __init__(self, *, units_per_degree: float = 1.0, homing: bool = False, home_deg: float = 0.0,
                 time_scale: float = 1.0, settings: dict[int, float] | None = None, origin_deg: float = 0.0) -> None:
        if not time_scale >= 0.0 or not math.isfinite(time_scale):
            raise ValueError(f"GRBL simulator time_scale must be a finite number >= 0, got {time_scale!r}")
        self.units_per_degree = units_per_degree
        self.home_deg = home_deg
        self.time_scale = time_scale
        self.settings = dict(DEFAULT_SETTINGS)
        self.settings[22] = 1.0 if homing else 0.0
        self.settings[25] = 1800.0 * units_per_degree  # homing seek: 30 deg/s
        self.settings[130] = 360.0 * units_per_degree  # one turn of travel for the homing search
        self.settings.update(settings or {})
        self.received: list[str] = []  # every line received, in order (tests assert on them)
        self._out: list[str] = []
        self._line = bytearray()
        self._overflow = False
        self._lines: deque[str] = deque()
        self._moves: deque[Move] = deque()
        self._position = 0.0  # machine X where the table rests (or where the active move began)
        self._g92 = 0.0
        self._absolute = True
        self._motion = 0  # modal G0 / G1
        self._feed = 0.0
        self._alarm: int | None = None
        self._locked = False  # a critical alarm: lines wait for a reset
        self._hold = False
        self._reports = 0
        self._wco_due = True
        self._pending_alarm: tuple[int, float] | None = None  # (code, after degrees of the next move)
        self._pending_hold: float | None = None  # feed hold after degrees of the next move
        self._origin_deg = origin_deg  # table angle at machine X 0
        if homing:
            self._alarm = 0  # power-up homing lock: Alarm with no ALARM:N line

    # -- output and clock ----------------------------------------------------------------------------------

    def power_up(self) -> None:
        """Print the power-up banner (and the unlock hint when homing locks the controller)."""
        self._emit(f"\r\n{BANNER}\r\n" + (_UNLOCK_HINT if self._alarm is not None else ""))

    def drain(self) -> list[str]:
        """What the controller printed since the last call, one text per write, in order."""
        out, self._out = self._out, []
        return out

    def _emit(self, text: str) -> None:
        self._out.append(text)

    def tick(self, now: float) -> None:
        """Let time pass to ``now``: finish moves, start the next, trip injected faults, run queued lines."""
        self._advance(now)

    # -- faults --------------------------------------------------------------------------------------------

    def inject_alarm(self, code: int, after_deg: float | None, now: float) -> None:
        """Raise ``ALARM:code`` now (``after_deg`` None) or once a G0/G1 move has turned ``after_deg`` degrees
        (at the end of the first move that turns at all, if it is shorter).

        Code 1 (hard limit) and 2 (soft limit) lock the controller until a reset, as GRBL does.
        """
        if after_deg is None:
            self._raise_alarm(code, now)
        else:
            self._pending_alarm = (code, after_deg)

    def inject_feed_hold(self, after_deg: float) -> None:
        """Press feed hold (``!``) once the next G0/G1 move has turned ``after_deg`` degrees."""
        self._pending_hold = after_deg

    # -- state ---------------------------------------------------------------------------------------------

    def machine_x(self, now: float) -> float:
        """Machine X at ``now`` (units)."""
        if self._moves and self._moves[0].began is not None and self._moves[0].kind != "dwell":
            return self._moves[0].position(now)[0]
        return self._position

    def table_deg(self, now: float) -> float:
        """The table's physical angle at ``now`` (degrees)."""
        return self._origin_deg + self.machine_x(now) / self.units_per_degree

    def state(self, now: float) -> str:
        """GRBL's machine state as the status report names it (``Idle``, ``Run``, ``Hold:0``, ``Alarm``...)."""
        self._advance(now)
        if self._alarm is not None:
            return "Alarm"
        if self._hold:
            return "Hold:0"
        if self._moves:
            return "Home" if self._moves[0].kind == "home" else "Run"
        return "Idle"

    def _advance(self, now: float) -> None:
        """Finish moves that are done, start the next, check an injected alarm, run queued lines."""
        while self._moves and not self._hold and self._alarm is None:
            move = self._moves[0]
            if move.began is None:
                if move.kind != "dwell":
                    move.start = self._position
                move.began, move.wall_scale = now, self.time_scale
            if self._pending_alarm is not None and move.kind == "run":
                code, after = self._pending_alarm
                travelled = abs(move.position(now)[0] - move.start) / self.units_per_degree
                if travelled >= after or (move.done(now) and abs(move.target - move.start) > 0):
                    self._pending_alarm = None
                    self._raise_alarm(code, now)
                    return
            if (self._pending_hold is not None and move.kind == "run" and not move.done(now)
                    and abs(move.position(now)[0] - move.start) / self.units_per_degree >= self._pending_hold):
                self._pending_hold = None
                self._feed_hold(now)
                break
            if not move.done(now):
                break
            self._moves.popleft()
            if move.kind != "dwell":
                self._position = move.target
            if move.kind == "home":
                self._origin_deg, self._position = self.home_deg, 0.0
                self._wco_due = True
                self._emit("ok\r\n")
            elif move.kind == "dwell":
                self._emit("ok\r\n")
        while self._lines and not self._locked:
            line = self._lines[0]
            if self._needs_sync(line) and (self._moves or self._hold):
                break
            if not line.startswith("$") and len(self._moves) >= _PLANNER_BLOCKS:
                break
            self._lines.popleft()
            self._execute(line, now)

    def _raise_alarm(self, code: int, now: float) -> None:
        if self._moves and self._moves[0].began is not None and self._moves[0].kind != "dwell":
            self._position = self._moves[0].position(now)[0]
        self._moves.clear()
        self._lines.clear()
        self._hold = False
        self._alarm = code
        self._locked = code in _CRITICAL_ALARMS
        self._emit(f"ALARM:{code}\r\n" + ("[MSG:Reset to continue]\r\n" if self._locked else ""))

    # -- input ---------------------------------------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> None:
        """Handle bytes the driver wrote: real-time bytes at once, line bytes until their line ends."""
        for byte in data:
            if byte == 0x18:
                self._reset(now)
            elif byte == ord("?"):
                self._emit(self._status(now))
            elif byte == ord("!"):
                self._feed_hold(now)
            elif byte == ord("~"):
                self._cycle_start(now)
            elif byte >= 0x80:
                continue  # extended real-time overrides: accepted and ignored
            elif byte in (0x0A, 0x0D):
                self._end_line()
            elif len(self._line) >= _LINE_MAX - 1:
                self._overflow = True
            else:
                self._line.append(byte)
        self._advance(now)

    def _end_line(self) -> None:
        raw, overflow = bytes(self._line), self._overflow
        self._line.clear()
        self._overflow = False
        if overflow:
            self._emit("error:11\r\n")
            return
        text = raw.decode("ascii", "replace")
        text = re.sub(r"\(.*?\)", "", text).split(";")[0]  # comments
        line = "".join(text.split())
        if not line:
            return
        self.received.append(line)
        if line.startswith("$"):
            self._lines.append(line)
        else:
            self._lines.append(line.upper())

    def _reset(self, now: float) -> None:
        moving = bool(self._moves) and not self._hold and self._alarm is None
        homing = moving and self._moves[0].kind == "home"
        if moving:
            self._position = self.machine_x(now)
        self._moves.clear()
        self._lines.clear()
        self._line.clear()
        self._hold = False
        self._locked = False
        self._g92 = 0.0  # GRBL clears G92 offsets on reset (gc_init)
        self._absolute, self._motion, self._feed = True, 0, 0.0
        self._wco_due = True
        text = ""
        if moving:
            self._alarm = 6 if homing else 3
            text += f"ALARM:{self._alarm}\r\n"
        text += f"\r\n{BANNER}\r\n"
        if self._alarm is not None:
            text += _UNLOCK_HINT
        self._emit(text)

    def _feed_hold(self, now: float) -> None:
        if self._moves and not self._hold and self._alarm is None and self._moves[0].kind == "run":
            self._position = self.machine_x(now)  # stops on the spot (GRBL decelerates; close enough here)
            self._moves[0].start, self._moves[0].began = self._position, None
            self._hold = True

    def _cycle_start(self, now: float) -> None:
        if self._hold:
            self._hold = False
            self._advance(now)

    def _status(self, now: float) -> str:
        self._advance(now)
        state = self.state(now)
        x = self.machine_x(now)
        speed = 0.0
        if self._moves and self._moves[0].began is not None and not self._hold:
            speed = self._moves[0].position(now)[1]
        position = (f"MPos:{x:.3f},0.000,0.000" if int(self.settings[10]) & 1
                    else f"WPos:{x - self._g92:.3f},0.000,0.000")
        fields = [state, position, f"FS:{speed * 60:.0f},0"]
        if self._alarm in _CRITICAL_ALARMS:
            fields.append("Pn:X")
        self._reports += 1
        if self._wco_due or self._reports % 10 == 0:
            fields.append(f"WCO:{self._g92:.3f},0.000,0.000")
            self._wco_due = False
        elif self._reports % 10 == 5:
            fields.append("Ov:100,100,100")
        return "<" + "|".join(fields) + ">\r\n"

    # -- lines ---------------------------------------------------------------------------------------------

    @staticmethod
    def _needs_sync(line: str) -> bool:
        return "G92" in line or "G4P" in line

    def _execute(self, line: str, now: float) -> None:
        if line.startswith("$"):
            self._emit(self._system(line))
            return
        if self._alarm is not None:
            self._emit("error:9\r\n")
            return
        self._emit(self._gcode(line))

    def _system(self, line: str) -> str:
        idle_or_alarm = not self._moves and not self._hold
        if line == "$":
            return "[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]\r\nok\r\n"
        if line in ("$$", "$#", "$G", "$I", "$X", "$H") and not idle_or_alarm:
            return "error:8\r\n"
        if line == "$$":
            return "".join(f"${n}={v:.3f}\r\n" if n in _FLOAT_SETTINGS else f"${n}={int(v)}\r\n"
                           for n, v in sorted(self.settings.items())) + "ok\r\n"
        if line == "$#":
            zero = "0.000,0.000,0.000"
            return "".join(f"[{name}:{zero}]\r\n" for name in ("G54", "G55", "G56", "G57", "G58", "G59", "G28",
                                                                 "G30")) + \
                f"[G92:{self._g92:.3f},0.000,0.000]\r\n[TLO:0.000]\r\n[PRB:{zero}:0]\r\nok\r\n"
        if line == "$G":
            mode = "G90" if self._absolute else "G91"
            return f"[GC:G{self._motion} G54 G17 G21 {mode} G94 M5 M9 T0 F{self._feed:.0f} S0]\r\nok\r\n"
        if line == "$I":
            return "[VER:1.1h.20190830:]\r\n[OPT:V,15,128]\r\nok\r\n"
        if line == "$X":
            if self._alarm is None:
                return "ok\r\n"
            self._alarm = None
            return "[MSG:Caution: Unlocked]\r\nok\r\n"
        if line == "$H":
            return self._start_homing()
        match = re.fullmatch(r"\$(\d+)=(.*)", line)
        if match:
            number, text = int(match.group(1)), match.group(2)
            if number not in self.settings:
                return "error:3\r\n"
            try:
                value = float(text)
            except ValueError:
                return "error:2\r\n"
            if value < 0:
                return "error:4\r\n"
            if not idle_or_alarm:
                return "error:8\r\n"
            self.settings[number] = value
            return "ok\r\n"
        return "error:3\r\n"

    def _start_homing(self) -> str:
        if int(self.settings[22]) != 1:
            return "error:5\r\n"
        # The cycle seeks in the negative direction until the switch: from the table's angle down to home.
        here = self._origin_deg + self._position / self.units_per_degree
        search_deg = (here - self.home_deg) % 360.0
        self._alarm = None
        self._origin_deg = here  # machine X 0 = here during the search, then the switch after it
        self._position = 0.0
        move = Move(0.0, -search_deg * self.units_per_degree, self.settings[25] / 60.0, self.settings[120], "home")
        self._moves.append(move)
        return ""  # ok comes when the cycle completes

    def _gcode(self, line: str) -> str:
        words = _WORD.findall(line)
        if "".join(letter + number for letter, number in words) != line:
            rest = _WORD.sub("", line)
            return "error:2\r\n" if rest[:1].isalpha() else "error:1\r\n"  # letter without value / no letter
        codes = [float(number) for letter, number in words if letter == "G"]
        values = {letter: float(number) for letter, number in words if letter not in "GMN"}
        if len(values) != sum(1 for letter, _ in words if letter not in "GMN"):
            return "error:25\r\n"
        motion = [c for c in codes if c in (0.0, 1.0)]
        if len(motion) > 1:
            return "error:21\r\n"
        for code in codes:
            if code not in (0.0, 1.0, 4.0, 17.0, 21.0, 54.0, 90.0, 91.0, 92.0, 92.1, 94.0):
                return "error:20\r\n"
        if "F" in values:
            self._feed = values["F"]
        if 90.0 in codes:
            self._absolute = True
        if 91.0 in codes:
            self._absolute = False
        if 92.1 in codes:
            self._g92, self._wco_due = 0.0, True
        if 4.0 in codes:
            if "P" not in values:
                return "error:28\r\n"
            self._moves.append(Move(self._position, self._position, 1.0, 1.0, "dwell", values["P"]))
            return ""
        if 92.0 in codes:
            if "X" not in values:
                return "error:26\r\n"
            self._g92, self._wco_due = self._position - values["X"], True
            return "ok\r\n"
        if motion:
            self._motion = int(motion[0])
        if "X" in values:
            planned = self._moves[-1].target if self._moves else self._position
            target = values["X"] + self._g92 if self._absolute else planned + values["X"]
            speed = self.settings[110] / 60.0
            if self._motion == 1:
                if self._feed <= 0.0:
                    return "error:22\r\n"
                speed = min(speed, self._feed / 60.0)
            self._moves.append(Move(planned, target, speed, self.settings[120]))
        return "ok\r\n"
