"""ENTTEC DMX USB Pro API messages: framing, the requests we send and the replies we parse.

Every message, in both directions, is::

    0x7E  label  length LSB  length MSB  data[length]  0xE7

Labels used here (ENTTEC "DMX USB Pro Widget API Specification"):

- 3  Get Widget Parameters. Request data: user-configuration size LSB, MSB (we ask for 0 bytes).
     Reply data: firmware version LSB, MSB, DMX break time (10.67 us units, 9..127), mark-after-break time
     (10.67 us units, 1..127), output rate (packets/s, 0..40, 0 = as fast as possible), user config bytes.
- 4  Set Widget Parameters. Data: user-configuration size LSB, MSB, break, MAB, rate, user config. No reply.
- 6  Output Only Send DMX Packet. Data: DMX start code (0) then 24..512 slots. No reply.
- 10 Get Widget Serial Number. Request data: none. Reply data: 4 bytes, BCD, least significant byte first.

:class:`MessageReader` parses a byte stream that may hold garbage: it resynchronises on 0x7E, rejects a
length over :data:`MAX_DATA` or a wrong end byte (and then rescans from the byte after the rejected start),
and never raises, so the driver decides (at its deadline) what a garbled reply means.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = [
    "BREAK_UNIT_US",
    "EOM",
    "LABEL_GET_PARAMETERS",
    "LABEL_GET_SERIAL",
    "LABEL_SEND_DMX",
    "LABEL_SET_PARAMETERS",
    "MAX_DATA",
    "MAX_DMX_SLOTS",
    "MIN_DMX_SLOTS",
    "SOM",
    "EnttecMessage",
    "MessageReader",
    "WidgetParameters",
    "decode_serial_number",
    "dmx_packet",
    "encode_message",
    "encode_serial_number",
    "get_parameters_request",
    "serial_number_request",
    "set_parameters_request",
]

SOM = 0x7E  # start of message
EOM = 0xE7  # end of message
LABEL_GET_PARAMETERS = 3
LABEL_SET_PARAMETERS = 4
LABEL_SEND_DMX = 6
LABEL_GET_SERIAL = 10
MAX_DATA = 600  # the widget's largest message body (a DMX packet is at most 513 bytes)
MIN_DMX_SLOTS = 24  # the widget wants at least 24 slots after the start code
MAX_DMX_SLOTS = 512
BREAK_UNIT_US = 10.67  # break and mark-after-break are counted in 10.67 us ticks
_REJECTIONS_KEPT = 8


@dataclass(frozen=True)
class EnttecMessage:
    """One well-formed message: its label and data."""

    label: int
    data: bytes


def encode_message(label: int, data: bytes = b"") -> bytes:
    """Frame ``data`` under ``label``; raises ValueError for a label over 255 or data over MAX_DATA."""
    if not 0 <= label <= 255:
        raise ValueError(f"ENTTEC label {label} is outside 0..255")
    if len(data) > MAX_DATA:
        raise ValueError(f"ENTTEC message data of {len(data)} bytes exceeds {MAX_DATA}")
    return bytes([SOM, label, len(data) & 0xFF, len(data) >> 8]) + bytes(data) + bytes([EOM])


def dmx_packet(slots: bytes) -> bytes:
    """Label 6 with start code 0 and ``slots`` padded with zeros to at least 24; over 512 raises ValueError."""
    if len(slots) > MAX_DMX_SLOTS:
        raise ValueError(f"a DMX packet carries at most {MAX_DMX_SLOTS} slots, got {len(slots)}")
    padded = bytes(slots) + bytes(max(0, MIN_DMX_SLOTS - len(slots)))
    return encode_message(LABEL_SEND_DMX, b"\x00" + padded)


def get_parameters_request(user_config_size: int = 0) -> bytes:
    """Label 3 request asking for ``user_config_size`` bytes of user configuration (0..508)."""
    if not 0 <= user_config_size <= 508:
        raise ValueError(f"user configuration size {user_config_size} is outside 0..508")
    return encode_message(LABEL_GET_PARAMETERS, user_config_size.to_bytes(2, "little"))


def serial_number_request() -> bytes:
    """Label 10 request (no data)."""
    return encode_message(LABEL_GET_SERIAL)


@dataclass(frozen=True)
class WidgetParameters:
    """The widget's DMX output timing, as label 3 reports it and label 4 sets it.

    ``break_units`` and ``mab_units`` count 10.67 us ticks; ``rate`` is packets per second (0 = fastest).
    """

    firmware: int
    break_units: int
    mab_units: int
    rate: int
    user_config: bytes = b""

    @property
    def firmware_version(self) -> str:
        """Firmware as ``MSB.LSB``."""
        return f"{self.firmware >> 8}.{self.firmware & 0xFF}"

    @property
    def break_us(self) -> float:
        """Break length in microseconds."""
        return self.break_units * BREAK_UNIT_US

    @property
    def mab_us(self) -> float:
        """Mark-after-break length in microseconds."""
        return self.mab_units * BREAK_UNIT_US

    @classmethod
    def from_reply(cls, data: bytes) -> WidgetParameters:
        """Parse a label 3 reply; fewer than 5 bytes raises ValueError."""
        if len(data) < 5:
            raise ValueError(f"a Get Widget Parameters reply has at least 5 data bytes, got {len(data)}")
        return cls(firmware=data[0] | data[1] << 8, break_units=data[2], mab_units=data[3], rate=data[4],
                   user_config=bytes(data[5:]))

    def reply_data(self) -> bytes:
        """The label 3 reply data describing these parameters (what a widget sends)."""
        return bytes([self.firmware & 0xFF, self.firmware >> 8 & 0xFF, self.break_units, self.mab_units,
                      self.rate]) + self.user_config

    def check(self) -> None:
        """Raise ValueError when a field is outside the range the API allows."""
        if not 9 <= self.break_units <= 127:
            raise ValueError(f"break time {self.break_units} x 10.67 us is outside 9..127 units (96..1355 us)")
        if not 1 <= self.mab_units <= 127:
            raise ValueError(f"mark-after-break {self.mab_units} x 10.67 us is outside 1..127 units")
        if not 0 <= self.rate <= 40:
            raise ValueError(f"output rate {self.rate} packets/s is outside 0..40")


def set_parameters_request(parameters: WidgetParameters) -> bytes:
    """Label 4: user-config size, break, MAB, rate, user config (raises ValueError out of range)."""
    parameters.check()
    size = len(parameters.user_config).to_bytes(2, "little")
    return encode_message(LABEL_SET_PARAMETERS, size + bytes([parameters.break_units, parameters.mab_units,
                                                              parameters.rate]) + parameters.user_config)


def decode_serial_number(data: bytes) -> str:
    """A label 10 reply (4 BCD bytes, least significant first) as 8 decimal digits; ValueError otherwise."""
    if len(data) != 4:
        raise ValueError(f"a serial-number reply has 4 data bytes, got {len(data)}")
    digits = "".join(f"{byte:02x}" for byte in reversed(data))
    if not digits.isdigit():
        raise ValueError(f"serial number bytes {data.hex(' ')} are not BCD")
    return digits


def encode_serial_number(serial: str) -> bytes:
    """The 4 reply bytes of an 8-digit serial number (what a widget sends)."""
    if len(serial) != 8 or not serial.isdigit():
        raise ValueError(f"an ENTTEC serial number has 8 digits, got {serial!r}")
    return bytes.fromhex(serial)[::-1]


@dataclass
class MessageReader:
    """Incremental parser of a byte stream into :class:`EnttecMessage`; never raises.

    ``rejections`` keeps the newest reasons why bytes were discarded (garbage before a start byte, a bad
    length, a bad end byte), for error messages. ``pending`` holds an incomplete message (at most
    ``MAX_DATA`` + 5 bytes).
    """

    max_data: int = MAX_DATA
    rejections: deque[str] = field(default_factory=lambda: deque(maxlen=_REJECTIONS_KEPT))
    discarded: int = 0
    _buffer: bytearray = field(default_factory=bytearray)

    @property
    def pending(self) -> bytes:
        """Bytes of a message that has started but not finished."""
        return bytes(self._buffer)

    def _discard(self, count: int, reason: str) -> None:
        self.discarded += count
        self.rejections.append(reason)
        del self._buffer[:count]

    def feed(self, data: bytes) -> list[EnttecMessage]:
        """Add ``data`` and return every message it completes, in order."""
        self._buffer += data
        messages: list[EnttecMessage] = []
        buffer = self._buffer
        while buffer:
            start = buffer.find(SOM)
            if start < 0:
                self._discard(len(buffer), f"{len(buffer)} bytes without a start byte 0x7E")
                break
            if start > 0:
                self._discard(start, f"{start} bytes before the start byte 0x7E")
            if len(buffer) < 4:
                break
            length = buffer[2] | buffer[3] << 8
            if length > self.max_data:
                self._discard(1, f"a length of {length} bytes (over {self.max_data}) after 0x7E")
                continue
            end = 4 + length
            if len(buffer) <= end:
                break
            if buffer[end] != EOM:
                self._discard(1, f"end byte 0x{buffer[end]:02x} instead of 0xe7 after {length} data bytes")
                continue
            messages.append(EnttecMessage(buffer[1], bytes(buffer[4:end])))
            del buffer[: end + 1]
        return messages
