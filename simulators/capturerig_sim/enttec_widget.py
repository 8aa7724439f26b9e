"""An ENTTEC DMX USB Pro on a pty: parses the API byte by byte, answers labels 3 and 10, records label 6.

Faults for tests (``fault``): ``"silent"`` (never answers), ``"garbage"`` (answers noise without a valid
message), ``"truncated"`` (answers only the first bytes of the reply), ``"bad_end"`` (a reply whose end byte
is wrong). ``queries`` records every label 3/10 request with the number of DMX frames seen before it, so a
test can prove no query came while frames streamed.
"""

from __future__ import annotations

from pathlib import Path

from capturerig.config import LightOutputConfig
from capturerig.devices.enttec_protocol import (
    LABEL_GET_PARAMETERS,
    LABEL_GET_SERIAL,
    LABEL_SEND_DMX,
    LABEL_SET_PARAMETERS,
    MIN_DMX_SLOTS,
    EnttecMessage,
    MessageReader,
    WidgetParameters,
    encode_message,
    encode_serial_number,
)
from capturerig_sim._serial_pty import FrameSink, PtySimulator, port_param

__all__ = ["ENTTEC_FAULTS", "EnttecWidgetSim", "serve_enttec"]

ENTTEC_FAULTS = ("silent", "garbage", "truncated", "bad_end")


class EnttecWidgetSim(PtySimulator):
    """A simulated DMX USB Pro carrying ``universe`` of ``output_id`` (see the module docstring).

    Parameters
    ----------
    output_id, sink, link
        As for :class:`~capturerig_sim._serial_pty.PtySimulator`.
    universe
        The universe the widget's DMX port carries (what frames are recorded and rendered as).
    serial
        Its 8-digit serial number.
    parameters
        What label 3 reports until a label 4 changes it.
    fault
        One of :data:`ENTTEC_FAULTS`, or None for a healthy widget.
    """

    def __init__(self, output_id: str, universe: int = 0, sink: FrameSink | None = None,
                 link: str | Path | None = None, serial: str = "01234567",
                 parameters: WidgetParameters | None = None, fault: str | None = None) -> None:
        super().__init__(output_id, sink, link)
        if fault is not None and fault not in ENTTEC_FAULTS:
            raise ValueError(f"unknown ENTTEC widget fault {fault!r} (known: {', '.join(ENTTEC_FAULTS)})")
        self.universe = universe
        self.serial = serial
        self.parameters = parameters or WidgetParameters(firmware=0x0144, break_units=9, mab_units=1, rate=40)
        self.fault = fault
        self.reply_override: bytes | None = None  # when set, every query is answered with exactly these bytes
        self.queries: list[tuple[int, int]] = []  # (label, DMX frames received before it)
        self.start_codes: set[int] = set()
        self._reader = MessageReader()

    def _answer(self, label: int, data: bytes) -> None:
        message = encode_message(label, data)
        if self.reply_override is not None:
            self.reply(self.reply_override)
            return
        if self.fault == "silent":
            return
        if self.fault == "garbage":
            message = bytes(range(0x20, 0x60))  # no 0x7E: nothing a parser could take for a message
        elif self.fault == "truncated":
            message = message[:4]
        elif self.fault == "bad_end":
            message = message[:-1] + b"\x00"
        self.reply(message)

    def _on_bytes(self, data: bytes, received_at: float) -> None:
        for message in self._reader.feed(data):
            self._handle(message, received_at)
        while self._reader.rejections:
            self.errors.append(self._reader.rejections.popleft())

    def _handle(self, message: EnttecMessage, received_at: float) -> None:
        if message.label == LABEL_SEND_DMX:
            if not message.data:
                self.errors.append("label 6 without a start code")
                return
            self.start_codes.add(message.data[0])
            slots = message.data[1:]
            if len(slots) < MIN_DMX_SLOTS:
                self.errors.append(f"label 6 with {len(slots)} slots (the widget needs at least {MIN_DMX_SLOTS})")
            if message.data[0] != 0:
                self.errors.append(f"label 6 with start code {message.data[0]} (dimmer data needs 0)")
                return
            self._deliver(self.universe, slots, received_at)
        elif message.label == LABEL_GET_PARAMETERS:
            self.queries.append((message.label, len(self.frames)))
            self._answer(LABEL_GET_PARAMETERS, self.parameters.reply_data())
        elif message.label == LABEL_SET_PARAMETERS:
            data = message.data
            if len(data) < 5:
                self.errors.append(f"label 4 with {len(data)} bytes (needs at least 5)")
                return
            self.parameters = WidgetParameters(self.parameters.firmware, data[2], data[3], data[4],
                                               bytes(data[5:]))
        elif message.label == LABEL_GET_SERIAL:
            self.queries.append((message.label, len(self.frames)))
            self._answer(LABEL_GET_SERIAL, encode_serial_number(self.serial))
        else:
            self.errors.append(f"label {message.label} is not one this widget handles")


def serve_enttec(studio: FrameSink, output: LightOutputConfig) -> EnttecWidgetSim:
    """Start a widget for ``output`` feeding ``studio``, reachable at the output's ``params.port``.

    The widget reports the serial the rig expects (``params.serial``) when one is given.
    """
    serial = str(output.params.get("serial", "01234567")).zfill(8)
    return EnttecWidgetSim(output.id, output.universes[0], sink=studio, link=port_param(output),
                           serial=serial).start()
