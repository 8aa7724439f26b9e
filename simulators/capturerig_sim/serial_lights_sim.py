"""A capturerig-leds serial light controller on a pty (protocol: firmware-config/serial-lights/PROTOCOL.md).

:class:`SerialLightsDevice` is the controller's logic (line in, reply lines out, frames kept per universe),
with no I/O so it can be fuzzed; :class:`SerialLightsSim` runs it on a pty and records received frames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from capturerig.config import LightOutputConfig
from capturerig.devices.serial_lights_protocol import (
    ERR_LINE_TOO_LONG,
    ERR_UNKNOWN_COMMAND,
    PRODUCT,
    DeviceIdentity,
    LineSplitter,
    ProtocolError,
    format_line,
    parse_frame_command,
    parse_line,
)
from capturerig_sim._serial_pty import FrameSink, PtySimulator, port_param

__all__ = ["SERIAL_LIGHTS_FAULTS", "SerialLightsDevice", "SerialLightsSim", "serve_serial_lights"]

SERIAL_LIGHTS_FAULTS = ("silent", "garbage", "truncated")


class SerialLightsDevice:
    """The controller's command handling: feed bytes, get reply bytes; frames go to ``on_frame``.

    Never raises on any input: bad lines are answered with ``ERR`` (and counted in ``error_count``).
    """

    def __init__(self, serial: str = "LED0001", channels: int = 64, version: str = "1.0",
                 on_frame: Callable[[int, bytes], None] | None = None) -> None:
        self.identity = DeviceIdentity(PRODUCT, version, serial, channels)
        self.frames: dict[int, bytes] = {}
        self.frame_count = 0
        self.error_count = 0
        self.errors: list[str] = []
        self.commands: list[str] = []  # every accepted non-frame command, in order
        self._on_frame = on_frame
        self._splitter = LineSplitter()

    def feed(self, data: bytes) -> bytes:
        """Handle every complete line in ``data``; return the reply bytes."""
        out = bytearray()
        for raw in self._splitter.feed(data):
            if raw is None:
                out += self._error(ProtocolError(ERR_LINE_TOO_LONG, "line too long"))
                continue
            out += self._handle(raw)
        return bytes(out)

    def _error(self, exc: ProtocolError) -> bytes:
        self.error_count += 1
        self.errors.append(exc.text)
        return format_line(f"ERR {exc.code} {exc.text}")

    def _handle(self, raw: bytes) -> bytes:
        try:
            is_frame = raw.startswith(b"F ")
            body, _ = parse_line(raw, require_checksum=is_frame)
            if not body:
                return b""  # an empty line (e.g. a person pressing enter) is ignored
            if is_frame:
                universe, slots = parse_frame_command(body, self.identity.channels)
                self.frames[universe] = slots + bytes(self.identity.channels - len(slots))
                self.frame_count += 1
                if self._on_frame is not None:
                    self._on_frame(universe, self.frames[universe])
                return format_line("OK")
            self.commands.append(body)
            if body == "ID?":
                return format_line(self.identity.reply())
            if body == "S?":
                return format_line(f"S {self.frame_count} {self.error_count}")
            if body == "B":
                for universe in self.frames:
                    self.frames[universe] = bytes(self.identity.channels)
                    if self._on_frame is not None:
                        self._on_frame(universe, self.frames[universe])
                return format_line("OK")
            raise ProtocolError(ERR_UNKNOWN_COMMAND, "unknown command")
        except ProtocolError as exc:
            return self._error(exc)


class SerialLightsSim(PtySimulator):
    """A simulated controller on a pty (``fault``: one of :data:`SERIAL_LIGHTS_FAULTS` or None).

    ``queries`` records (command, frames received before it) for every non-frame command.
    """

    def __init__(self, output_id: str, sink: FrameSink | None = None, link: str | Path | None = None,
                 serial: str = "LED0001", channels: int = 64, version: str = "1.0",
                 fault: str | None = None) -> None:
        super().__init__(output_id, sink, link)
        if fault is not None and fault not in SERIAL_LIGHTS_FAULTS:
            raise ValueError(f"unknown serial-lights fault {fault!r} (known: {', '.join(SERIAL_LIGHTS_FAULTS)})")
        self.fault = fault
        self.reply_override: bytes | None = None  # when set, every answer is replaced by exactly these bytes
        self.queries: list[tuple[str, int]] = []
        self._now = 0.0
        self.device = SerialLightsDevice(serial, channels, version, on_frame=self._frame)

    def _frame(self, universe: int, slots: bytes) -> None:
        self._deliver(universe, slots, self._now)

    def _on_bytes(self, data: bytes, received_at: float) -> None:
        self._now = received_at
        seen = len(self.device.commands)
        reply = self.device.feed(data)
        self.queries.extend((command, len(self.frames)) for command in self.device.commands[seen:])
        self.errors[:] = self.device.errors
        if not reply or self.fault == "silent":
            return
        if self.reply_override is not None:
            reply = self.reply_override
        elif self.fault == "garbage":
            reply = b"\x00\xff~~ #?@\r\nnot a reply\n"
        elif self.fault == "truncated":
            reply = reply[:5]
        self.reply(reply)


def serve_serial_lights(studio: FrameSink, output: LightOutputConfig) -> SerialLightsSim:
    """Start a 64-channel controller for ``output`` feeding ``studio`` at the output's ``params.port``.

    It reports the serial the rig expects (``params.serial``) when one is given.
    """
    return SerialLightsSim(output.id, sink=studio, link=port_param(output),
                           serial=str(output.params.get("serial", "LED0001"))).start()
