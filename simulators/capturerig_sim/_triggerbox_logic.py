"""The capturerig trigger box's firmware logic, without I/O: bytes and times in, reply lines out.

:class:`TriggerBoxLogic` mirrors ``firmware-config/triggerbox/parser.c`` line for line (same commands, replies,
error codes and limits; a conformance test runs one script through both). Times are the box's 32-bit
microsecond clock, given by the caller, so a test drives it with its own clock; the simulator on a pty
(:mod:`capturerig_sim.triggerbox_sim`) runs it behind the real driver.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_PULSE_US",
    "DEFAULT_WATCHDOG_MS",
    "ERROR_TEXTS",
    "FW_VERSION",
    "LINE_MAX",
    "MAX_DELAY_US",
    "MAX_OUTPUTS",
    "MAX_PULSE_US",
    "MAX_WATCHDOG_MS",
    "MIN_PULSE_US",
    "MIN_WATCHDOG_MS",
    "SERIAL_MAX",
    "U32",
    "TriggerBoxLogic",
]

FW_VERSION = "1.0.0"
MAX_OUTPUTS = 16
LINE_MAX = 48
SERIAL_MAX = 16
MAX_DELAY_US = 1_000_000
MIN_PULSE_US, MAX_PULSE_US, DEFAULT_PULSE_US = 1_000, 2_000_000, 100_000
MIN_WATCHDOG_MS, MAX_WATCHDOG_MS, DEFAULT_WATCHDOG_MS = 100, 60_000, 2_000
U32 = 0xFFFFFFFF  # the box clock and every number it parses are 32-bit unsigned
ERROR_TEXTS = {1: "unknown command", 2: "bad argument", 3: "no such output", 4: "line too long",
               5: "busy firing", 6: "no FIRE yet"}
_UNKNOWN, _BAD, _NO_OUTPUT, _TOO_LONG, _BUSY, _NOT_FIRED = 1, 2, 3, 4, 5, 6


def _parse_u32(text: str) -> int | None:
    """Decimal or 0x-hex, at most 32 bits; None otherwise (as parse_u32 in parser.c)."""
    digits, base = (text[2:], 16) if text[:2] in ("0x", "0X") else (text, 10)
    allowed = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
    if not digits or any(c not in allowed for c in digits):
        return None
    value = int(digits, base)
    return value if value <= U32 else None


class _Reply(Exception):
    """Internal: ends command handling with an error reply."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class TriggerBoxLogic:
    """The firmware's state machine; times are 32-bit box microseconds, given by the caller.

    Parameters
    ----------
    outputs
        Outputs the box has (clamped to 1..16).
    serial
        The serial number ``ID?`` reports (cut to 16 characters).
    now_us
        The box clock at power-up.
    """

    def __init__(self, outputs: int, serial: str, now_us: int = 0) -> None:
        self.outputs = max(1, min(MAX_OUTPUTS, outputs))
        self.serial = serial[:SERIAL_MAX]
        self.delay_us = [0] * self.outputs
        self.pulse_us = DEFAULT_PULSE_US
        self.watchdog_us = DEFAULT_WATCHDOG_MS * 1000
        self.focus = 0
        self.fired = False
        self.firing = False
        self.fire_mask = 0
        self.t0_us = 0
        self.fire_delay_us = [0] * self.outputs
        self.sync_us: dict[int, int] = {}
        self.last_host_us = now_us & U32
        self.watchdog_tripped = False
        self._line = ""
        self._overflow = False

    @property
    def all_outputs(self) -> int:
        """The mask of every output."""
        return (1 << self.outputs) - 1

    def feed(self, byte: int, now_us: int) -> str | None:
        """One received byte; returns a reply line (without newline) when a command line completed."""
        now_us &= U32
        if byte == 0x0D:
            return None
        if byte == 0x0A:
            line, overflow = self._line, self._overflow
            self._line, self._overflow = "", False
            if overflow:
                self._host_alive(now_us)
                return self._error(_TOO_LONG)
            if not line:
                return None  # a bare newline flushes a half-sent line
            return self.handle_line(line, now_us)
        if len(self._line) >= LINE_MAX:
            self._overflow = True
            return None
        self._line += chr(byte) if 0x20 <= byte <= 0x7E else "?"
        return None

    def _host_alive(self, now_us: int) -> None:
        self.last_host_us = now_us
        self.watchdog_tripped = False

    @staticmethod
    def _error(code: int) -> str:
        return f"ERR {code} {ERROR_TEXTS[code]}"

    def _mask(self, text: str) -> int:
        value = _parse_u32(text)
        if value is None:
            raise _Reply(_BAD)
        if value & ~self.all_outputs:
            raise _Reply(_NO_OUTPUT)
        return value

    def handle_line(self, line: str, now_us: int) -> str:
        """Handle one command line; always returns exactly one reply."""
        now_us &= U32
        self._host_alive(now_us)
        tokens = [t for t in line[:LINE_MAX].split(" ") if t]
        if not tokens:
            return self._error(_UNKNOWN)
        if len(tokens) > 4:
            return self._error(_BAD)
        try:
            return self._command(tokens[0], tokens[1:], now_us)
        except _Reply as reply:
            return self._error(reply.code)

    def _command(self, name: str, args: list[str], now_us: int) -> str:
        fixed_arity = {"ID?": 0, "PING": 0, "CLOCK?": 0, "STATE?": 0, "FOCUS": 1, "RELEASE": 0, "DELAY": 2,
                       "DELAY?": 0, "PULSE": 1, "WDT": 1, "SYNC?": 0}
        if name in fixed_arity and len(args) != fixed_arity[name]:
            raise _Reply(_BAD)
        if name == "ID?":
            return f"ID capturerig-trigger {FW_VERSION} {self.serial} {self.outputs}"
        if name == "PING":
            return "PONG"
        if name == "CLOCK?":
            return f"CLOCK {now_us}"
        if name == "STATE?":
            firing = self.fire_mask if self.firing else 0
            return (f"STATE focus=0x{self.focus:04X} firing=0x{firing:04X} pulse={self.pulse_us} "
                    f"wdt={self.watchdog_us // 1000}")
        if name == "FOCUS":
            self.focus = self._mask(args[0])
            return "OK"
        if name == "RELEASE":
            self.focus, self.firing = 0, False
            return "OK"
        if name == "DELAY":
            output, delay = _parse_u32(args[0]), _parse_u32(args[1])
            if output is None or delay is None:
                raise _Reply(_BAD)
            if output >= self.outputs:
                raise _Reply(_NO_OUTPUT)
            if delay > MAX_DELAY_US:
                raise _Reply(_BAD)
            self.delay_us[output] = delay
            return "OK"
        if name == "DELAY?":
            return "DELAY " + " ".join(f"{i}:{d}" for i, d in enumerate(self.delay_us))
        if name in ("PULSE", "WDT"):
            value = _parse_u32(args[0])
            low, high = (MIN_PULSE_US, MAX_PULSE_US) if name == "PULSE" else (MIN_WATCHDOG_MS, MAX_WATCHDOG_MS)
            if value is None or not low <= value <= high:
                raise _Reply(_BAD)
            if name == "PULSE":
                self.pulse_us = value
            else:
                self.watchdog_us = value * 1000
            return "OK"
        if name == "FIRE":
            if len(args) > 1:
                raise _Reply(_BAD)
            mask = self._mask(args[0]) if args else self.all_outputs
            if mask == 0:
                raise _Reply(_BAD)
            self.shutter_mask(now_us)  # ends a finished pulse before judging "busy"
            if self.firing:
                raise _Reply(_BUSY)
            self.fired, self.firing, self.fire_mask, self.t0_us = True, True, mask, now_us
            self.fire_delay_us = list(self.delay_us)
            self.sync_us = {}
            return f"FIRED {now_us}"
        if name == "SYNC?":
            if not self.fired:
                raise _Reply(_NOT_FIRED)
            return " ".join(["SYNC", *(f"{i}:{self.sync_us[i]}" for i in sorted(self.sync_us))])
        raise _Reply(_UNKNOWN)

    def shutter_mask(self, now_us: int) -> int:
        """Outputs whose shutter line is active at ``now_us``; ends the pulse once every output is done."""
        if not self.firing:
            return 0
        elapsed = (now_us - self.t0_us) & U32
        mask, pending = 0, False
        for i in range(self.outputs):
            if not self.fire_mask >> i & 1:
                continue
            start = self.fire_delay_us[i]
            if elapsed < start:
                pending = True
            elif elapsed - start < self.pulse_us:
                mask |= 1 << i
                pending = True
        if not pending:
            self.firing = False
        return mask

    def focus_mask(self, now_us: int) -> int:
        """Outputs whose focus line is active (held focus, or a shutter pulse in progress)."""
        return self.focus | self.shutter_mask(now_us)

    def tick(self, now_us: int) -> str | None:
        """The watchdog; returns the ``! WATCHDOG`` notice on the pass that released the outputs."""
        silent = (now_us - self.last_host_us) & U32
        if self.watchdog_tripped or silent <= self.watchdog_us:
            return None
        self.shutter_mask(now_us)
        if not self.focus and not self.firing:
            return None
        self.focus, self.firing, self.watchdog_tripped = 0, False, True
        return f"! WATCHDOG released all outputs after {silent // 1000} ms without a command"

    def sync_edge(self, output: int, now_us: int) -> None:
        """A flash-sync edge on ``output``; only the first per fired output after a FIRE counts."""
        if not self.fired or not 0 <= output < self.outputs:
            return
        if not self.fire_mask >> output & 1 or output in self.sync_us:
            return
        self.sync_us[output] = (now_us - self.t0_us) & U32
