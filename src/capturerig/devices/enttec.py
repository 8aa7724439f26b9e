"""ENTTEC DMX USB Pro driver (``driver: enttec-pro``): label 6 DMX packets refreshed on every clock tick.

Rig params: :class:`EnttecProParams` (``port`` is required). When any of ``break_us``, ``mab_us`` and
``output_rate`` is given, open() writes the widget's DMX timing (label 4) and reads it back (label 3).

The widget is queried (label 3 parameters, label 10 serial number) in :meth:`EnttecProOutput.open` only:
once frames stream, a query is refused with DeviceError, because its reply would interleave with the DMX
stream and a widget that stalls on it would stall the light of a running capture.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import serial
from pydantic import Field

from capturerig.config import LightOutputConfig
from capturerig.devices._registry import DriverContext
from capturerig.devices._serial_output import SerialLightOutput, SerialLightParams, describe_bytes
from capturerig.devices.enttec_protocol import (
    BREAK_UNIT_US,
    LABEL_GET_PARAMETERS,
    LABEL_GET_SERIAL,
    MAX_DMX_SLOTS,
    MIN_DMX_SLOTS,
    MessageReader,
    WidgetParameters,
    decode_serial_number,
    dmx_packet,
    get_parameters_request,
    serial_number_request,
    set_parameters_request,
)
from capturerig.devices.protocols import DeviceError, DeviceTimeout

__all__ = ["EnttecProOutput", "EnttecProParams"]

_READ_SLICE_S = 0.02  # port read timeout while waiting for a reply: short, so the deadline is kept
_NAMES = {LABEL_GET_PARAMETERS: "Get Widget Parameters (label 3)", LABEL_GET_SERIAL: "Get Serial Number (label 10)"}


class EnttecProParams(SerialLightParams):
    """An ENTTEC DMX USB Pro's rig params (``driver: enttec-pro``)."""

    slots: int = Field(MAX_DMX_SLOTS, ge=MIN_DMX_SLOTS, le=MAX_DMX_SLOTS,
                       description="slots per packet; fewer make a shorter DMX frame on the cable")
    serial: str | None = Field(None, description="the widget's 8-digit serial number, in quotes; open() refuses "
                                                 "another widget")
    break_us: Annotated[float, Field(ge=9 * BREAK_UNIT_US, le=127 * BREAK_UNIT_US)] | None = Field(
        None, description="DMX break the widget makes, microseconds (written to the widget at open)")
    mab_us: Annotated[float, Field(ge=BREAK_UNIT_US, le=127 * BREAK_UNIT_US)] | None = Field(
        None, description="mark-after-break the widget makes, microseconds (written to the widget at open)")
    output_rate: Annotated[int, Field(ge=0, le=40)] | None = Field(
        None, description="the widget's own packet rate, per second (0: as fast as it can; written at open)")
    reply_timeout_s: float = Field(1.0, ge=0.01, le=30.0, description="how long a query waits for its reply "
                                                                      "(never longer than open's timeout)")


class EnttecProOutput(SerialLightOutput):
    """One DMX universe through an ENTTEC DMX USB Pro (see the module docstring for params).

    After :meth:`open`, ``widget_parameters`` and ``serial_number`` hold what the widget reported.
    """

    _what = "ENTTEC DMX USB Pro"
    Params = EnttecProParams

    def __init__(self, config: LightOutputConfig, context: DriverContext) -> None:
        params = EnttecProParams.of(config, context.rig)
        super().__init__(config, context, params)
        if len(config.universes) != 1:
            raise DeviceError(config.id, f"an ENTTEC DMX USB Pro drives one universe, the rig gives "
                                         f"{len(config.universes)}", "list one universe per widget")
        self.slots = params.slots
        self.reply_timeout_s = params.reply_timeout_s
        self.expected_serial = None if params.serial is None else params.serial.zfill(8)
        timing = {"break_us": params.break_us, "mab_us": params.mab_us, "output_rate": params.output_rate}
        self._timing: dict[str, float] = {name: value for name, value in timing.items() if value is not None}
        self.widget_parameters: WidgetParameters | None = None
        self.serial_number: str | None = None

    def _port_settings(self) -> dict[str, Any]:
        # The widget is a USB virtual COM port: the baud rate is not used on the wire, 115200 is conventional.
        return {"baudrate": 115200, "timeout": _READ_SLICE_S, "write_timeout": 1.0}

    # -- queries (open only) ---------------------------------------------------------------------------
    def _query(self, port: serial.SerialBase, request: bytes, label: int, timeout_s: float) -> bytes:
        """Send ``request`` and return the data of the first well-formed reply with ``label``."""
        what = _NAMES[label]
        reader = MessageReader()
        received = bytearray()
        other_labels: list[int] = []
        deadline = time.monotonic() + min(timeout_s, self.reply_timeout_s)
        with self._io_lock:
            port.write(request)
            while time.monotonic() < deadline:
                chunk = port.read(max(1, port.in_waiting))
                if not chunk:
                    continue
                received += chunk
                for message in reader.feed(chunk):
                    if message.label == label:
                        return message.data
                    other_labels.append(message.label)  # e.g. received-DMX messages: not our answer
        waited = min(timeout_s, self.reply_timeout_s)
        if not received:
            raise DeviceTimeout(self.id, f"no reply to {what} from {self.port_url} within {waited:g} s",
                                "check that an ENTTEC DMX USB Pro is plugged in at that port and powered")
        problems = list(reader.rejections)
        if other_labels:
            problems.append(f"messages with labels {sorted(set(other_labels))} but none with label {label}")
        if reader.pending:
            problems.append(f"an unfinished message ({len(reader.pending)} bytes, truncated?)")
        raise DeviceError(self.id, f"garbled reply to {what} from {self.port_url} within {waited:g} s: got "
                                   f"{describe_bytes(bytes(received))}; " + "; ".join(problems),
                          "check that the device at this port is an ENTTEC DMX USB Pro (not an Open DMX or "
                          "another serial device) and replug it")

    def get_widget_parameters(self, timeout_s: float) -> WidgetParameters:
        """Ask the widget for its DMX timing (label 3). Refused (DeviceError) while frames stream."""
        port = self._query_port("read the widget parameters")
        return self._read_parameters(port, timeout_s)

    def get_serial_number(self, timeout_s: float) -> str:
        """Ask the widget for its serial number (label 10). Refused (DeviceError) while frames stream."""
        port = self._query_port("read the widget serial number")
        return self._read_serial(port, timeout_s)

    def _query_port(self, query: str) -> serial.SerialBase:
        self.require_not_streaming(query)
        if self._port is None:
            raise DeviceError(self.id, f"cannot {query}: the widget is not open", "open it first")
        return self._port

    def _read_parameters(self, port: serial.SerialBase, timeout_s: float) -> WidgetParameters:
        data = self._query(port, get_parameters_request(0), LABEL_GET_PARAMETERS, timeout_s)
        try:
            return WidgetParameters.from_reply(data)
        except ValueError as exc:
            raise DeviceError(self.id, f"bad Get Widget Parameters reply from {self.port_url}: {exc} "
                                       f"(data {describe_bytes(data)})", "replug the widget") from exc

    def _read_serial(self, port: serial.SerialBase, timeout_s: float) -> str:
        data = self._query(port, serial_number_request(), LABEL_GET_SERIAL, timeout_s)
        try:
            return decode_serial_number(data)
        except ValueError as exc:
            raise DeviceError(self.id, f"bad serial-number reply from {self.port_url}: {exc}",
                              "replug the widget") from exc

    def _handshake(self, port: serial.SerialBase, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        port.reset_input_buffer()  # stale bytes from before we opened are no answer of ours
        parameters = self._read_parameters(port, timeout_s)
        if self._timing:
            wanted = WidgetParameters(
                parameters.firmware,
                round(self._timing.get("break_us", parameters.break_us) / BREAK_UNIT_US),
                round(self._timing.get("mab_us", parameters.mab_us) / BREAK_UNIT_US),
                round(self._timing.get("output_rate", parameters.rate)))
            with self._io_lock:
                port.write(set_parameters_request(wanted))
            parameters = self._read_parameters(port, max(0.01, deadline - time.monotonic()))
            got = (parameters.break_units, parameters.mab_units, parameters.rate)
            if got != (wanted.break_units, wanted.mab_units, wanted.rate):
                raise DeviceError(self.id, f"the widget at {self.port_url} kept break/MAB/rate {got} after being "
                                           f"set to {(wanted.break_units, wanted.mab_units, wanted.rate)}",
                                  "check the widget firmware, or drop break_us/mab_us/output_rate from the rig")
        serial_number = self._read_serial(port, max(0.01, deadline - time.monotonic()))
        if self.expected_serial is not None and serial_number != self.expected_serial:
            raise DeviceError(self.id, f"the widget at {self.port_url} has serial {serial_number}, the rig "
                                       f"expects {self.expected_serial}",
                              "widgets swapped between ports? fix the port or the serial in the rig file")
        self.widget_parameters, self.serial_number = parameters, serial_number

    # -- streaming -------------------------------------------------------------------------------------
    def _transmit(self, port: serial.SerialBase, universe: int, frame: bytes) -> None:
        port.write(dmx_packet(frame[: self.slots]))
