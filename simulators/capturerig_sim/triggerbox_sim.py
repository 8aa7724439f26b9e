"""The capturerig trigger box on a pty: the firmware's command semantics, wired to the virtual studio.

:class:`TriggerBoxLogic` mirrors ``firmware-config/triggerbox/parser.c`` line for line (same commands, replies,
error codes and limits; a conformance test runs one script through both). :class:`TriggerBoxSimulator` serves
it on the master side of ``os.openpty()`` and makes the slave reachable at a path (a symlink, e.g. the rig's
``params.port``), so the real driver talks to it through pyserial. A FIRE fires the simulated cameras wired to
the fired outputs through ``studio.fire`` at t0 + the output's delay (scaled by the studio's time scale), and
each camera that exposed reports a flash-sync edge at delay + its modelled trigger latency
(:func:`capturerig_sim._latency.trigger_latency_ms`: the body's latency plus a per-serial offset).

A rig serves it with ``trigger: {driver: serial-box, params: {port: /tmp/capturerig-sim/trig0,
outputs: {cam00: 0, ...}}}`` and ``simulation: {serve: [trig0]}`` (see :mod:`capturerig_sim.wire`).
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import tty
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from capturerig.config import DeviceConfig, load_body_profile
from capturerig_sim._latency import trigger_latency_ms
from capturerig_sim.studio import VirtualStudio

__all__ = [
    "ERROR_TEXTS",
    "FW_VERSION",
    "LINE_MAX",
    "MAX_OUTPUTS",
    "TriggerBoxLogic",
    "TriggerBoxSimulator",
    "output_map",
    "start_triggerbox",
]

log = logging.getLogger(__name__)

FW_VERSION = "1.0.0"
MAX_OUTPUTS = 16
LINE_MAX = 48
SERIAL_MAX = 16
MAX_DELAY_US = 1_000_000
MIN_PULSE_US, MAX_PULSE_US, DEFAULT_PULSE_US = 1_000, 2_000_000, 100_000
MIN_WATCHDOG_MS, MAX_WATCHDOG_MS, DEFAULT_WATCHDOG_MS = 100, 60_000, 2_000
_U32 = 0xFFFFFFFF
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
    return value if value <= _U32 else None


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
        self.last_host_us = now_us & _U32
        self.watchdog_tripped = False
        self._line = ""
        self._overflow = False

    @property
    def all_outputs(self) -> int:
        """The mask of every output."""
        return (1 << self.outputs) - 1

    def feed(self, byte: int, now_us: int) -> str | None:
        """One received byte; returns a reply line (without newline) when a command line completed."""
        now_us &= _U32
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
        now_us &= _U32
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
        elapsed = (now_us - self.t0_us) & _U32
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
        silent = (now_us - self.last_host_us) & _U32
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
        self.sync_us[output] = (now_us - self.t0_us) & _U32


def output_map(config: DeviceConfig) -> dict[str, int]:
    """The trigger's ``params.outputs`` (camera id -> output number); ValueError when malformed."""
    raw = config.params.get("outputs")
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"{config.id}: params.outputs must map camera ids to output numbers, got {raw!r}")
    result = {}
    for camera_id, output in raw.items():
        if not isinstance(output, int) or isinstance(output, bool) or not 0 <= output < MAX_OUTPUTS:
            raise ValueError(f"{config.id}: params.outputs.{camera_id} must be an output number 0..15, "
                             f"got {output!r}")
        result[str(camera_id)] = output
    return result


class TriggerBoxSimulator:
    """The trigger box on a pty, firing ``studio``'s cameras.

    Parameters
    ----------
    studio
        The virtual studio whose cameras the outputs are wired to.
    outputs
        Camera id -> output number (several cameras may share an output, as with a splitter cable).
    link
        Where to make the pty reachable (a symlink, replaced if it is one; parents are created).
        None: use :attr:`port` (the slave's /dev/pts path) directly.
    serial, n_outputs
        What ``ID?`` reports.
    device_id
        The trigger's id in the rig: a pending ``disconnect`` fault for it swallows the next command (silence).
    """

    def __init__(self, studio: VirtualStudio, outputs: Mapping[str, int], link: str | Path | None = None,
                 serial: str = "SIMTRIG0", n_outputs: int = MAX_OUTPUTS, device_id: str = "trigger") -> None:
        self.studio = studio
        self.device_id = device_id
        self._cameras_by_output: dict[int, list[str]] = {}
        for camera_id, output in outputs.items():
            self._cameras_by_output.setdefault(output, []).append(camera_id)
        self._epoch = time.monotonic()
        self.logic = TriggerBoxLogic(n_outputs, serial, self.now_us())
        self._lock = threading.Lock()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: bytes pass as on a USB serial bridge
        self.port = os.ttyname(self._slave)
        self.link = Path(link) if link is not None else None
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            if self.link.is_symlink():
                self.link.unlink()
            elif self.link.exists():
                self.close()
                raise ValueError(f"{self.link} exists and is not a symlink; the trigger box simulator will not "
                                 "replace it (choose another params.port)")
            self.link.symlink_to(self.port)
        self._stop = threading.Event()
        self._timers: list[threading.Timer] = []
        self._garbage: list[bytes] = []
        self._latencies: dict[tuple[str, str], float] = {}
        self.received: list[str] = []  # every command line, for tests
        self._thread = threading.Thread(target=self._serve, name=f"triggerbox-sim-{device_id}", daemon=True)

    @property
    def path(self) -> str:
        """Where a driver opens the box: the link if one was made, else the pty."""
        return str(self.link) if self.link is not None else self.port

    def now_us(self) -> int:
        """The box clock (microseconds since the simulator started, wrapping at 2^32)."""
        return int((time.monotonic() - self._epoch) * 1e6) & _U32

    def box_to_monotonic(self, t_us: int) -> float:
        """time.monotonic() of box time ``t_us`` (the latest such instant not after now)."""
        elapsed = (self.now_us() - t_us) & _U32
        return time.monotonic() - elapsed / 1e6

    def start(self) -> TriggerBoxSimulator:
        """Start serving (returns self)."""
        self._thread.start()
        return self

    def inject_reply(self, data: bytes) -> None:
        """Send ``data`` instead of the reply to the next command (garbage, truncated lines: tests)."""
        with self._lock:
            self._garbage.append(data)

    def _serve(self) -> None:
        pending = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.02)
                chunk = os.read(self._master, 4096) if ready else b""
            except OSError:
                return  # closed under us
            with self._lock:
                for byte in chunk:
                    if byte == 0x0A:
                        self.received.append(pending.decode("ascii", "replace"))
                        pending = b""
                    else:
                        pending = pending[-256:] + bytes([byte])
                    reply = self.logic.feed(byte, self.now_us())
                    if reply is not None:
                        self._answer(reply)
                notice = self.logic.tick(self.now_us())
                if notice is not None:
                    self._write(notice.encode() + b"\n")

    def _answer(self, reply: str) -> None:
        if self.studio.take_fault(self.device_id, "disconnect"):
            return  # the box stays silent: the driver must time out
        if reply.startswith("FIRED ") and self.studio.take_fault(self.device_id, "trigger_reset"):
            # A brown-out on the pulse resets the board: the FIRE is lost, every output is released, the
            # settings (delays, pulse, watchdog) are back to their defaults; the host sees only the notice.
            self.logic = TriggerBoxLogic(self.logic.outputs, self.logic.serial, self.now_us())
            self._write(f"! BOOT capturerig-trigger {FW_VERSION}\n".encode())
            return
        if reply.startswith("FIRED "):
            self._fire()
        if self._garbage:
            self._write(self._garbage.pop(0))
            return
        self._write(reply.encode() + b"\n")

    def _write(self, data: bytes) -> None:
        try:
            os.write(self._master, data)
        except OSError as exc:
            log.warning("trigger box simulator could not write to its pty: %s", exc)

    def _fire(self) -> None:
        """Fire the cameras of the fired outputs, grouped by delay; delay-0 outputs before the reply goes out."""
        logic = self.logic
        groups: dict[int, list[int]] = {}
        for output in range(logic.outputs):
            if logic.fire_mask >> output & 1 and output in self._cameras_by_output:
                groups.setdefault(logic.fire_delay_us[output], []).append(output)
        t0_monotonic = self.box_to_monotonic(logic.t0_us)
        t0_us = logic.t0_us
        for delay_us, outputs in sorted(groups.items()):
            at = t0_monotonic + self.studio.wall_seconds(delay_us / 1e6)
            wait = at - time.monotonic()
            if wait <= 0.0:
                self._fire_outputs(outputs, t0_us, delay_us, at)
            else:
                timer = threading.Timer(wait, self._fire_outputs_locked, (outputs, t0_us, delay_us, at))
                timer.daemon = True
                self._timers = [t for t in self._timers if t.is_alive()] + [timer]
                timer.start()

    def _fire_outputs_locked(self, outputs: list[int], t0_us: int, delay_us: int, at: float) -> None:
        with self._lock:
            if self.logic.t0_us == t0_us and self.logic.firing:  # not released or superseded meanwhile
                self._fire_outputs(outputs, t0_us, delay_us, at)

    def _latency_ms(self, camera_id: str) -> float:
        camera = self.studio.rig.camera(camera_id)
        key = (camera.serial, camera.body)
        if key not in self._latencies:  # cached: parsing the body profile takes milliseconds
            body = load_body_profile(camera.body, self.studio.base_dir)
            self._latencies[key] = trigger_latency_ms(camera.serial, body.trigger_latency_ms)
        return self._latencies[key]

    def _fire_outputs(self, outputs: list[int], t0_us: int, delay_us: int, at: float) -> None:
        """Pulse ``outputs`` as the box did at ``at`` (time.monotonic(): its timer is exact, this thread may
        be late)."""
        cameras = [camera_id for output in outputs for camera_id in self._cameras_by_output[output]]
        _, exposed = self.studio.fire(cameras, at)
        exposed_set = set(exposed)
        for output in outputs:
            latencies = []
            for camera_id in self._cameras_by_output[output]:
                if camera_id not in exposed_set:
                    continue
                latencies.append(self._latency_ms(camera_id))
            if latencies:  # the first flash on a shared output wins, as on the real input
                self.logic.sync_edge(output, (t0_us + delay_us + round(min(latencies) * 1000)) & _U32)

    def close(self) -> None:
        """Stop serving, remove the link and close the pty; never raises."""
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
            for timer in self._timers:
                timer.cancel()
            if self._thread.is_alive():
                self._thread.join(timeout=2.0)
        if self.link is not None and self.link.is_symlink() and os.readlink(self.link) == self.port:
            self.link.unlink(missing_ok=True)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                log.debug("pty fd %d already closed", fd)

    def __enter__(self) -> TriggerBoxSimulator:
        return self.start() if not self._thread.is_alive() else self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def start_triggerbox(studio: VirtualStudio, config: DeviceConfig) -> TriggerBoxSimulator:
    """Wire-simulator starter (:mod:`capturerig_sim.wire`): serve the rig's trigger box at ``params.port``.

    Raises
    ------
    ValueError
        When ``params.port`` is missing or ``params.outputs`` is malformed.
    """
    port = config.params.get("port")
    if not isinstance(port, str) or not port:
        raise ValueError(f"{config.id}: params.port must name where the simulated box appears, got {port!r}")
    outputs = output_map(config)
    n_outputs = int(config.params.get("sim_outputs", MAX_OUTPUTS))
    return TriggerBoxSimulator(studio, outputs, link=port, serial=str(config.params.get("sim_serial", "SIMTRIG0")),
                               n_outputs=n_outputs, device_id=config.id).start()
