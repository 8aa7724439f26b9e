"""Serial light controller driver (``driver: serial-lights``): our ASCII protocol for microcontroller LED rigs.

The protocol is in firmware-config/serial-lights/PROTOCOL.md. open() identifies the controller (``ID?``)
and reads its counters (``S?``); then every universe's frame goes out as an ``F`` line on every clock
tick. The controller answers each frame with ``OK`` (or ``ERR``), so ``wait_sent`` returns once the controller
took the frame, and a refused frame is reported by ``wait_sent`` with the controller's error.

Rig params: :class:`SerialLightsParams` (``port`` is required).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import serial
from pydantic import Field

from capturerig.config import LightOutputConfig
from capturerig.devices._registry import DriverContext
from capturerig.devices._serial_output import SerialLightOutput, SerialLightParams, describe_bytes
from capturerig.devices.protocols import DeviceError, DeviceTimeout
from capturerig.devices.serial_lights_protocol import (
    BAUD_RATE,
    DeviceIdentity,
    LineSplitter,
    ProtocolError,
    format_line,
    frame_command,
    parse_identity,
    parse_line,
    parse_status,
)

__all__ = ["SerialLightsOutput", "SerialLightsParams"]

log = logging.getLogger(__name__)
_READ_SLICE_S = 0.02


class SerialLightsParams(SerialLightParams):
    """A serial light controller's rig params (``driver: serial-lights``)."""

    baudrate: int = Field(BAUD_RATE, ge=1200, le=4_000_000, description="the line's baud rate (the protocol's is "
                                                                        "115200; change it only with the firmware)")
    channels: int = Field(512, ge=1, le=512, description="send at most this many slots (fewer if the controller "
                                                         "reports fewer)")
    serial: str | None = Field(None, description="the controller's serial, in quotes; open() refuses another")
    reply_timeout_s: float = Field(1.0, ge=0.01, le=30.0, description="how long a query waits for its reply")
    ack_timeout_s: float = Field(0.25, ge=0.005, le=5.0, description="how long a frame waits for its OK (a missed "
                                                                     "one is retried on the next tick)")


class SerialLightsOutput(SerialLightOutput):
    """A capturerig-leds controller on a serial port (see the module docstring for params).

    After :meth:`open`, ``identity`` holds what ``ID?`` reported, ``status_at_open`` the ``S?`` counters
    (frames, errors) and ``slots`` how many slots each frame line carries.
    """

    _what = "serial light controller"
    Params = SerialLightsParams

    def __init__(self, config: LightOutputConfig, context: DriverContext) -> None:
        params = SerialLightsParams.of(config, context.rig)
        super().__init__(config, context, params)
        self.baudrate = params.baudrate
        self.max_channels = params.channels
        self.reply_timeout_s = params.reply_timeout_s
        self.ack_timeout_s = params.ack_timeout_s
        self.expected_serial = params.serial
        self.identity: DeviceIdentity | None = None
        self.status_at_open: tuple[int, int] | None = None
        self.slots = 0
        self._splitter = LineSplitter()

    def _port_settings(self) -> dict[str, Any]:
        return {"baudrate": self.baudrate, "timeout": _READ_SLICE_S, "write_timeout": 1.0}

    # -- queries (open only) ---------------------------------------------------------------------------
    def _request(self, port: serial.SerialBase, command: str, reply: str, timeout_s: float) -> str:
        """Send ``command``; return the body of the first valid reply line starting with ``reply``."""
        splitter = LineSplitter()
        received = bytearray()
        problems: list[str] = []
        waited = min(timeout_s, self.reply_timeout_s)
        deadline = time.monotonic() + waited
        with self._io_lock:
            port.write(format_line(command))
            while time.monotonic() < deadline:
                chunk = port.read(max(1, port.in_waiting))
                received += chunk
                for raw in splitter.feed(chunk):
                    if raw is None:
                        problems.append("a line longer than the protocol allows")
                        continue
                    try:
                        body, _ = parse_line(raw, require_checksum=True)  # a controller always sends one
                    except ProtocolError as exc:
                        problems.append(f"line {raw[:40]!r}: {exc.text}")
                        continue
                    if body.startswith("ERR"):
                        raise DeviceError(self.id, f"the controller at {self.port_url} refused {command!r}: {body}",
                                          "check the controller firmware speaks capturerig-leds protocol 1")
                    if body.split(" ", 1)[0] == reply:
                        return body
                    problems.append(f"unexpected line {body[:40]!r}")
        if not received:
            raise DeviceTimeout(self.id, f"no reply to {command!r} from {self.port_url} within {waited:g} s",
                                "check that the controller is plugged in, powered and running its firmware")
        if splitter.pending:
            problems.append(f"an unfinished line ({len(splitter.pending)} bytes, truncated?)")
        raise DeviceError(self.id, f"no valid reply to {command!r} from {self.port_url} within {waited:g} s: got "
                                   f"{describe_bytes(bytes(received))}; " + "; ".join(problems or ["no reply line"]),
                          "check the baud rate and that the device is a capturerig-leds controller")

    def _parse(self, what: str, body: str, parse: Any) -> Any:
        try:
            return parse(body)
        except ProtocolError as exc:
            raise DeviceError(self.id, f"bad {what} reply from {self.port_url}: {exc.text}",
                              "update the controller firmware to capturerig-leds protocol 1") from exc

    def read_identity(self, timeout_s: float) -> DeviceIdentity:
        """Ask ``ID?``. Refused (DeviceError) while frames stream."""
        return self._identity(self._query_port("identify the controller"), timeout_s)

    def read_status(self, timeout_s: float) -> tuple[int, int]:
        """Ask ``S?`` for (frames, errors). Refused (DeviceError) while frames stream."""
        return self._status(self._query_port("read the controller status"), timeout_s)

    def _query_port(self, query: str) -> serial.SerialBase:
        self.require_not_streaming(query)
        if self._port is None:
            raise DeviceError(self.id, f"cannot {query}: the controller is not open", "open it first")
        return self._port

    def _identity(self, port: serial.SerialBase, timeout_s: float) -> DeviceIdentity:
        identity: DeviceIdentity = self._parse("ID", self._request(port, "ID?", "ID", timeout_s), parse_identity)
        return identity

    def _status(self, port: serial.SerialBase, timeout_s: float) -> tuple[int, int]:
        status: tuple[int, int] = self._parse("S", self._request(port, "S?", "S", timeout_s), parse_status)
        return status

    def _handshake(self, port: serial.SerialBase, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        port.reset_input_buffer()
        identity = self._identity(port, timeout_s)
        if self.expected_serial is not None and identity.serial != self.expected_serial:
            raise DeviceError(self.id, f"the controller at {self.port_url} has serial {identity.serial}, the rig "
                                       f"expects {self.expected_serial}", "controllers swapped between ports?")
        slots = min(identity.channels, self.max_channels)
        line_bytes = sum(len(frame_command(u, bytes(slots))) for u in self.universes)
        wire_s = line_bytes * 10 / self.baudrate  # 8N1: ten bits per byte
        if wire_s > 1.0 / self.rate_hz:
            raise DeviceError(self.id, f"{len(self.universes)} x {slots} slots take {wire_s * 1000:.1f} ms at "
                                       f"{self.baudrate} baud, longer than one frame period at {self.rate_hz:g} Hz",
                              "lower rate_hz or params.channels, or raise the controller's baud rate")
        self.status_at_open = self._status(port, max(0.01, deadline - time.monotonic()))
        self.identity, self.slots = identity, slots
        self._splitter = LineSplitter()

    # -- streaming -------------------------------------------------------------------------------------
    def _transmit(self, port: serial.SerialBase, universe: int, frame: bytes) -> None:
        """Write one ``F`` line and wait for its ``OK``: a frame counts as sent once the controller took it."""
        stale = port.in_waiting
        if stale:  # an answer that came after its frame timed out: not this frame's answer
            for raw in self._splitter.feed(port.read(stale)):
                log.log(logging.DEBUG if raw and raw.startswith(b"OK") else logging.WARNING,
                        "%s: late or unexpected line from the controller: %r", self.id, raw)
        port.write(frame_command(universe, frame[: self.slots]))
        deadline = time.monotonic() + self.ack_timeout_s
        received = bytearray()
        last_look = False
        while not last_look:
            # One more non-blocking look after the deadline: the answer may have come while this thread
            # waited for the CPU.
            last_look = time.monotonic() >= deadline
            chunk = port.read(port.in_waiting) if last_look else port.read(max(1, port.in_waiting))
            received += chunk
            for raw in self._splitter.feed(chunk):
                try:
                    body = ("a line longer than the protocol allows" if raw is None
                            else parse_line(raw, require_checksum=True)[0])
                except ProtocolError as exc:
                    body = f"a garbled line ({exc.text})"
                if body == "OK":
                    return
                if body.startswith("ERR"):
                    raise DeviceError(self.id, f"the controller at {self.port_url} refused the frame of universe "
                                               f"{universe}: {body}",
                                      "check the rig's channel count against the controller (ID?)")
                log.warning("%s: unexpected line from the controller: %s", self.id, body[:80])
        raise DeviceError(self.id, f"no OK from the controller at {self.port_url} for the frame of universe "
                                   f"{universe} within {self.ack_timeout_s * 1000:g} ms (got "
                                   f"{describe_bytes(bytes(received))})", "check the cable and the controller")
