"""The capturerig trigger box over a serial port (driver ``trigger.serial-box``).

Speaks the ASCII protocol of ``firmware-config/triggerbox/PROTOCOL.md``: one command line, one reply line;
``!`` lines are notices. Rig params: :class:`SerialTriggerBoxParams` (``port`` is required).

Garbage, truncated lines, silence and ``ERR`` replies raise :class:`DeviceError` / :class:`DeviceTimeout`
naming the port and the command.
"""

from __future__ import annotations

import errno
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated

import serial
from pydantic import Field, ValidationInfo, field_validator

from capturerig.config import DeviceConfig, RigConfig
from capturerig.devices._params import DriverParams, SerialPortUrl
from capturerig.devices._registry import DriverContext
from capturerig.devices.protocols import DeviceError, DeviceTimeout

__all__ = [
    "BOX_MODEL",
    "BoxIdentity",
    "Reply",
    "ReplyError",
    "SerialTriggerBox",
    "SerialTriggerBoxParams",
    "parse_reply",
]

log = logging.getLogger(__name__)

BOX_MODEL = "capturerig-trigger"
SUPPORTED_MAJOR = "1"
MAX_LINE = 256  # longer than any reply (SYNC? with 16 outputs is < 200 characters)
_U32 = 1 << 32
_POLL_S = 0.005
_ERROR_HINTS = {
    1: "the box runs other firmware; flash firmware-config/triggerbox",
    2: "a value is out of range; see firmware-config/triggerbox/PROTOCOL.md",
    3: "params.outputs names an output the box does not have",
    5: "the previous shutter pulse is still held; shorten params.pulse_us",
    6: "fire before reading sync timestamps",
}
_NUMBER = re.compile(r"(0|[1-9][0-9]{0,9})")
_PAIR = re.compile(r"(0|[1-9][0-9]?):(0|[1-9][0-9]{0,9})")


class ReplyError(ValueError):
    """A reply line that is not valid protocol."""


@dataclass(frozen=True)
class BoxIdentity:
    """What ``ID?`` reports."""

    firmware: str
    serial: str
    outputs: int


@dataclass(frozen=True)
class Reply:
    """One parsed reply line: ``kind`` is its first word (``OK``, ``FIRED``, ``SYNC``, ``ERR`` ...)."""

    kind: str
    value: int | None = None  # CLOCK, FIRED: box microseconds; ERR: the code
    table: Mapping[int, int] = field(default_factory=dict)  # SYNC, DELAY: output -> microseconds
    identity: BoxIdentity | None = None
    text: str = ""  # ERR: the message; STATE: the rest of the line


def _number(word: str, line: str) -> int:
    if not _NUMBER.fullmatch(word) or int(word) >= _U32:
        raise ReplyError(f"{word!r} is not a 32-bit number in reply {line!r}")
    return int(word)


def parse_reply(line: str) -> Reply:
    """Parse one reply line (without its newline).

    Raises
    ------
    ReplyError
        For anything that is not exactly one of the protocol's replies.
    """
    if not line or not line.isascii() or not line.isprintable():
        raise ReplyError(f"not a printable ASCII line: {line!r}")
    words = line.split(" ")
    kind, rest = words[0], words[1:]
    if kind in ("OK", "PONG") and not rest:
        return Reply(kind)
    if kind in ("CLOCK", "FIRED") and len(rest) == 1:
        return Reply(kind, value=_number(rest[0], line))
    if kind in ("SYNC", "DELAY"):
        table: dict[int, int] = {}
        for word in rest:
            match = _PAIR.fullmatch(word)
            if match is None or int(match[2]) >= _U32 or int(match[1]) in table:
                raise ReplyError(f"{word!r} is not an 'output:microseconds' pair in reply {line!r}")
            table[int(match[1])] = int(match[2])
        return Reply(kind, table=table)
    if kind == "ID" and len(rest) == 4 and rest[0] == BOX_MODEL and all(rest):
        outputs = _number(rest[3], line)
        if not 1 <= outputs <= 32:
            raise ReplyError(f"the box reports {outputs} outputs in {line!r}")
        return Reply(kind, identity=BoxIdentity(rest[1], rest[2], outputs))
    if kind == "STATE" and rest:
        return Reply(kind, text=" ".join(rest))
    if kind == "ERR" and len(rest) >= 2 and all(rest):
        return Reply(kind, value=_number(rest[0], line), text=" ".join(rest[1:]))
    raise ReplyError(f"unexpected reply {line!r}")


class SerialTriggerBoxParams(DriverParams):
    """The capturerig trigger box's rig params (``driver: serial-box``)."""

    port: SerialPortUrl = Field(description="the box's serial device (/dev/ttyACM0, /dev/serial/by-id/...) or a "
                                            "pyserial URL")
    outputs: dict[str, Annotated[int, Field(ge=0, le=31)]] | None = Field(
        None, description="camera id -> output number (default: the rig's cameras in order on outputs 0, 1, ...)")
    delays_us: dict[str, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(
        default_factory=dict, description="camera id -> delay after the common pulse, microseconds (e.g. what "
                                          "`capturerig trigger test` suggests to equalise the bodies' latencies)")
    pulse_us: int = Field(100_000, ge=1_000, le=2_000_000, description="how long the shutter line is held, "
                                                                       "microseconds")
    watchdog_ms: int = Field(2_000, ge=100, le=60_000, description="the box releases every output after this long "
                                                                   "without a command, milliseconds")
    baudrate: int = Field(115_200, ge=1_200, le=4_000_000, description="the line's baud rate (the firmware's is "
                                                                       "115200)")

    @field_validator("outputs", "delays_us")
    @classmethod
    def _cameras_of_the_rig(cls, table: dict[str, int] | None, info: ValidationInfo) -> dict[str, int] | None:
        rig = (info.context or {}).get("rig")
        if table is None or not isinstance(rig, RigConfig):
            return table
        known = [camera.id for camera in rig.cameras]
        unknown = [camera_id for camera_id in table if camera_id not in known]
        if unknown:
            raise ValueError(f"names camera {', '.join(repr(c) for c in unknown)}, which the rig does not have "
                             f"(cameras: {', '.join(known)})")
        return table


class SerialTriggerBox:
    """Host driver of the capturerig trigger box (params: :class:`SerialTriggerBoxParams`)."""

    Params = SerialTriggerBoxParams

    def __init__(self, config: DeviceConfig, context: DriverContext) -> None:
        self._config = config
        params = SerialTriggerBoxParams.of(config, context.rig)
        self.port = params.port
        cameras = [c.id for c in context.rig.cameras]
        self._outputs = (dict(params.outputs) if params.outputs is not None
                         else {camera_id: i for i, camera_id in enumerate(cameras)})
        self._delays = dict(params.delays_us)
        self._pulse_us = params.pulse_us
        self._watchdog_ms = params.watchdog_ms
        self._baudrate = params.baudrate
        self._serial: serial.SerialBase | None = None
        self._lock = threading.Lock()
        # Set when the box announces a reboot after open(): its delays, pulse, watchdog and clock are back at
        # their defaults, so they are sent again before the next command (a FIRE would otherwise be skewed).
        self._rebooted = False
        self._configured = False
        self._restore_lock = threading.Lock()  # the keepalive thread may notice first
        self._rx = bytearray()  # received bytes not yet consumed as lines
        self._last_command = 0.0
        self._stop = threading.Event()
        self._keepalive: threading.Thread | None = None
        self._clock_ref: tuple[int, float] = (0, 0.0)  # (box us, time.time()) of one instant
        self.identity: BoxIdentity | None = None
        self.notices: list[str] = []  # ``!`` lines the box sent (boot, watchdog), newest last
        self.last_fire: tuple[int, int] | None = None  # (t0 box us, mask) of the last FIRE

    @property
    def id(self) -> str:
        """The trigger's id from the rig file."""
        return self._config.id

    @property
    def outputs(self) -> dict[str, int]:
        """Camera id -> output number."""
        return dict(self._outputs)

    def _error(self, message: str, hint: str = "", timeout: bool = False) -> DeviceError:
        kind = DeviceTimeout if timeout else DeviceError
        return kind(self.id, f"trigger box on {self.port}: {message}", hint)

    # -- link --------------------------------------------------------------------------------------------

    def open(self, timeout_s: float) -> None:
        """Open the port, identify the box, check its outputs and send delays, pulse and watchdog.

        Raises DeviceError when the port cannot be opened, the box is not a capturerig trigger box, or
        ``params.outputs`` needs more outputs than it has; DeviceTimeout when it does not answer.
        """
        deadline = time.monotonic() + timeout_s
        if self._serial is not None:  # opened before (a second preflight): start from a clean link
            self.close()
        try:
            self._serial = serial.serial_for_url(self.port, baudrate=self._baudrate, bytesize=8, parity="N",
                                                 stopbits=1, timeout=_POLL_S, write_timeout=max(0.1, timeout_s))
        except (serial.SerialException, OSError, ValueError) as exc:
            raise self._error(f"cannot open the port: {exc}", "check the USB cable, the port path in the rig "
                              "file and that no other program holds it") from exc
        try:
            self._serial.reset_input_buffer()
        except (OSError, serial.SerialException) as exc:
            if getattr(exc, "errno", None) not in (errno.ENOTTY, errno.EINVAL):
                raise self._error(f"cannot flush the port: {exc}") from exc
        self._write(b"\n")  # ends any half-sent line a crashed host left behind
        self.identity = self._identify(deadline)
        if self.identity.firmware.split(".")[0] != SUPPORTED_MAJOR:
            raise self._error(f"firmware {self.identity.firmware} speaks another protocol version "
                              f"(this driver speaks {SUPPORTED_MAJOR}.x)", "flash firmware-config/triggerbox")
        too_high = {c: o for c, o in self._outputs.items() if o >= self.identity.outputs}
        if too_high:
            listed = ", ".join(f"{c} -> {o}" for c, o in sorted(too_high.items()))
            raise self._error(f"the box (serial {self.identity.serial}) has {self.identity.outputs} outputs, "
                              f"but params.outputs maps {listed}", "fix params.outputs in the rig file")
        self.sync_clock(max(0.1, deadline - time.monotonic()))
        self._configure(deadline)
        self._stop.clear()
        self._keepalive = threading.Thread(target=self._keep_alive, name=f"{self.id}-keepalive", daemon=True)
        self._keepalive.start()

    def _configure(self, deadline: float) -> None:
        """Send watchdog, pulse length and every delay (at open, and again after the box rebooted)."""
        self._configured = False
        self.command(f"WDT {self._watchdog_ms}", "OK", self._left(deadline))
        self.command(f"PULSE {self._pulse_us}", "OK", self._left(deadline))
        self.set_delays({camera_id: self._delays.get(camera_id, 0) for camera_id in self._outputs},
                        self._left(deadline))
        self._rebooted = False
        self._configured = True

    def _restore_after_reboot(self, timeout_s: float) -> None:
        log.warning("%s: the box rebooted; sending its clock, watchdog, pulse and delays again", self.id)
        deadline = time.monotonic() + timeout_s
        self._configured = False  # no recursion: commands sent from here do not restore again
        self.sync_clock(max(0.1, deadline - time.monotonic()))
        self._configure(deadline)

    @staticmethod
    def _left(deadline: float) -> float:
        return max(0.05, deadline - time.monotonic())

    def _identify(self, deadline: float) -> BoxIdentity:
        # An Arduino-style board resets when the port opens and boots for ~1-2 s: ask again until the deadline.
        while True:
            try:
                reply = self.command("ID?", "ID", min(0.5, self._left(deadline)))
            except DeviceTimeout:
                if time.monotonic() >= deadline:
                    raise
                continue
            assert reply.identity is not None
            return reply.identity

    def _write(self, data: bytes) -> None:
        if self._serial is None:
            raise self._error("not open", "open it first")
        try:
            self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise self._error(f"write failed: {exc}", "check the USB cable") from exc

    def _read_line(self, deadline: float, command: str) -> str:
        assert self._serial is not None
        while True:
            newline = self._rx.find(b"\n")
            if newline >= 0:
                raw = bytes(self._rx[:newline]).rstrip(b"\r")
                del self._rx[:newline + 1]
                try:
                    return raw.decode("ascii")
                except UnicodeDecodeError:
                    raise self._error(f"sent garbage in reply to {command!r}: {raw[:60]!r}",
                                      "check the baud rate (115200) and that the port is the trigger box"
                                      ) from None
            if len(self._rx) > MAX_LINE:
                raise self._error(f"sent {len(self._rx)} bytes without a newline in reply to {command!r}: "
                                  f"{bytes(self._rx[:60])!r}...", "check the baud rate (115200) and the port")
            if time.monotonic() >= deadline:
                if self._rx:
                    raise self._error(f"reply to {command!r} was cut off: got {bytes(self._rx)!r} and no newline",
                                      "check the cable; the box may have reset", timeout=True)
                raise self._error(f"no reply to {command!r}", "check the USB cable and that the box is powered",
                                  timeout=True)
            try:
                chunk = self._serial.read(1)
                if chunk and self._serial.in_waiting:
                    chunk += self._serial.read(min(self._serial.in_waiting, MAX_LINE))
            except (serial.SerialException, OSError) as exc:
                raise self._error(f"read failed while waiting for the reply to {command!r}: {exc}",
                                  "check the USB cable") from exc
            self._rx += chunk

    def command(self, line: str, expect: str, timeout_s: float) -> Reply:
        """Send one command line and return its reply, which must be of kind ``expect``.

        Raises DeviceError for an ``ERR`` reply, garbage or an unexpected reply; DeviceTimeout when no whole
        line arrives within ``timeout_s``.
        """
        if self._rebooted and self._configured:
            with self._restore_lock:
                if self._rebooted and self._configured:
                    self._restore_after_reboot(timeout_s)
        with self._lock:
            try:
                return self._command_locked(line, expect, timeout_s)
            except DeviceError:
                self._discard_input()  # a late or partial reply must not be read as the next one's
                raise

    def _command_locked(self, line: str, expect: str, timeout_s: float) -> Reply:
        deadline = time.monotonic() + timeout_s
        self._write(line.encode("ascii") + b"\n")
        self._last_command = time.monotonic()
        while True:
            text = self._read_line(deadline, line)
            if text.startswith("!"):
                if text.startswith("! BOOT") and self._configured:
                    self._rebooted = True
                self.notices.append(text)
                del self.notices[:-20]
                (log.warning if "WATCHDOG" in text else log.info)("%s: %s", self.id, text)
                continue
            try:
                reply = parse_reply(text)
            except ReplyError as exc:
                self._discard_input()
                raise self._error(f"sent garbage in reply to {line!r}: {exc}",
                                  "check the baud rate (115200) and that the port is the trigger box") from None
            if reply.kind == "ERR":
                code = reply.value or 0
                raise self._error(f"refused {line!r}: ERR {code} {reply.text}", _ERROR_HINTS.get(code, ""))
            if reply.kind != expect:
                self._discard_input()
                raise self._error(f"answered {text!r} to {line!r} (expected {expect})",
                                  "another program may share the port")
            return reply

    def _discard_input(self) -> None:
        self._rx.clear()
        if self._serial is not None:
            try:
                self._serial.reset_input_buffer()
            except (serial.SerialException, OSError):
                log.debug("%s: could not flush input after a bad reply", self.id)

    def _keep_alive(self) -> None:
        interval = self._watchdog_ms / 3000.0
        while not self._stop.wait(interval / 2):
            if time.monotonic() - self._last_command < interval:
                continue
            try:
                self.command("PING", "PONG", interval)
            except DeviceError as exc:
                log.warning("%s: keepalive failed (%s); the box will release its outputs", self.id, exc)
                return

    # -- clock -------------------------------------------------------------------------------------------

    def sync_clock(self, timeout_s: float, rounds: int = 3) -> float:
        """Map the box clock to ``time.time()`` from the quickest of ``rounds`` CLOCK? round trips.

        Returns that round trip in seconds (the mapping is good to about half of it).
        """
        best: tuple[float, int, float] | None = None
        deadline = time.monotonic() + timeout_s
        for _ in range(rounds):
            sent = time.time()
            reply = self.command("CLOCK?", "CLOCK", self._left(deadline))
            received = time.time()
            assert reply.value is not None
            if best is None or received - sent < best[0]:
                best = (received - sent, reply.value, (sent + received) / 2)
        assert best is not None
        self._clock_ref = (best[1], best[2])
        return best[0]

    def box_time(self, t_us: int) -> float:
        """``time.time()`` of box time ``t_us`` (within 35 minutes of the last clock sync or fire)."""
        ref_us, ref_time = self._clock_ref
        delta = (t_us - ref_us) % _U32
        if delta >= _U32 // 2:
            delta -= _U32
        return ref_time + delta / 1e6

    # -- outputs -----------------------------------------------------------------------------------------

    def mask(self, camera_ids: Sequence[str]) -> int:
        """The output mask of ``camera_ids``; DeviceError names a camera without an output."""
        unknown = [c for c in camera_ids if c not in self._outputs]
        if unknown:
            raise self._error(f"no output is mapped to {', '.join(unknown)} (params.outputs maps "
                              f"{', '.join(sorted(self._outputs))})", "add the cameras to params.outputs")
        mask = 0
        for camera_id in camera_ids:
            mask |= 1 << self._outputs[camera_id]
        return mask

    def focus(self, camera_ids: Sequence[str], timeout_s: float) -> None:
        """Hold the focus (half-press) line of exactly these cameras' outputs (the keepalive keeps it held)."""
        self.command(f"FOCUS 0x{self.mask(camera_ids):X}", "OK", timeout_s)

    def release(self, timeout_s: float) -> None:
        """Release every focus and shutter line."""
        self.command("RELEASE", "OK", timeout_s)

    def set_delays(self, delays_us: Mapping[str, int], timeout_s: float) -> None:
        """Set per-camera delays after the common pulse (microseconds, 0..1000000) for the next fires.

        Cameras sharing an output must share a delay (DeviceError otherwise).
        """
        deadline = time.monotonic() + timeout_s
        by_output: dict[int, tuple[str, int]] = {}
        for camera_id, delay in delays_us.items():
            output = self._outputs.get(camera_id)
            if output is None:
                raise self._error(f"no output is mapped to {camera_id}", "add it to params.outputs")
            previous = by_output.get(output)
            if previous is not None and previous[1] != delay:
                raise self._error(f"{previous[0]} and {camera_id} share output {output} but ask for delays "
                                  f"{previous[1]} and {delay} us", "give cameras on one output one delay")
            by_output[output] = (camera_id, int(delay))
        for output, (_, delay) in sorted(by_output.items()):
            self.command(f"DELAY {output} {delay}", "OK", self._left(deadline))
            for camera_id, mapped in self._outputs.items():
                if mapped == output:
                    self._delays[camera_id] = delay

    @property
    def delays_us(self) -> dict[str, int]:
        """The per-camera delays the box holds (as this driver last set them)."""
        return {camera_id: self._delays.get(camera_id, 0) for camera_id in self._outputs}

    def fire(self, camera_ids: Sequence[str], timeout_s: float) -> float:
        """Fire the cameras' outputs together (each after its delay); returns ``time.time()`` of t0.

        A FIRE refused because the previous pulse is still held is retried until ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        if not camera_ids:
            return time.time()
        mask = self.mask(camera_ids)
        while True:
            sent = time.time()
            try:
                reply = self.command(f"FIRE 0x{mask:X}", "FIRED", self._left(deadline))
            except DeviceError as exc:
                if "ERR 5 " in str(exc) and time.monotonic() < deadline:
                    time.sleep(_POLL_S)
                    continue
                raise
            received = time.time()
            assert reply.value is not None
            self.last_fire = (reply.value, mask)
            t0 = self.box_time(reply.value)
            if not sent <= t0 <= received:  # the clocks drifted apart: the round trip bounds the pulse
                t0 = min(max(t0, sent), received)
                self._clock_ref = (reply.value, t0)
            return t0

    def read_sync(self, timeout_s: float, wait_for_all: bool = True) -> dict[str, float]:
        """Flash-sync times of the last fire: camera id -> seconds after t0.

        Polls until every fired output reported or ``timeout_s`` ran out (``wait_for_all=False``: asks once);
        cameras whose flash-sync never fired (no hot-shoe cable, camera not armed) are absent. A camera
        sharing an output reports that output's first flash.
        """
        if self.last_fire is None:
            raise self._error("no fire to read sync timestamps of", "fire first")
        _, mask = self.last_fire
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self.command("SYNC?", "SYNC", self._left(deadline))
            seen = sum(1 << output for output in reply.table)
            if not wait_for_all or seen & mask == mask or time.monotonic() >= deadline:
                break
            time.sleep(_POLL_S)
        return {camera_id: reply.table[output] / 1e6 for camera_id, output in self._outputs.items()
                if output in reply.table and mask >> output & 1}

    def ping(self, timeout_s: float) -> float:
        """Round trip of one PING, seconds."""
        started = time.monotonic()
        self.command("PING", "PONG", timeout_s)
        return time.monotonic() - started

    def close(self) -> None:
        """Release every output, stop the keepalive and close the port; never raises."""
        self._configured = False  # closing: a reboot notice now needs no restore
        self._stop.set()
        if self._keepalive is not None and self._keepalive is not threading.current_thread():
            self._keepalive.join(timeout=2.0)
        if self._serial is not None:
            try:
                self.release(0.5)
            except DeviceError as exc:
                log.warning("%s: could not release the outputs on close: %s", self.id, exc)
            try:
                self._serial.close()
            except (serial.SerialException, OSError) as exc:
                log.warning("%s: closing %s failed: %s", self.id, self.port, exc)
            self._serial = None
