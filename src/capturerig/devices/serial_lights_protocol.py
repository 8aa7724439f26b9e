"""The serial light controller protocol (firmware-config/serial-lights/PROTOCOL.md): lines, checksums, replies.

Shared by the driver (:mod:`capturerig.devices.serial_lights`) and the simulator; every parser here raises
:class:`ProtocolError` (a ValueError with the protocol's error code) and nothing else on bad input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "BAUD_RATE",
    "ERR_BAD_CHECKSUM",
    "ERR_BAD_FRAME",
    "ERR_BAD_UNIVERSE",
    "ERR_LINE_TOO_LONG",
    "ERR_TOO_MANY_SLOTS",
    "ERR_UNKNOWN_COMMAND",
    "MAX_LINE",
    "PRODUCT",
    "PROTOCOL_MAJOR",
    "DeviceIdentity",
    "LineSplitter",
    "ProtocolError",
    "checksum",
    "format_line",
    "frame_command",
    "parse_frame_command",
    "parse_identity",
    "parse_line",
    "parse_status",
]

BAUD_RATE = 115_200
MAX_LINE = 1100  # bytes, terminator included
PRODUCT = "capturerig-leds"
PROTOCOL_MAJOR = 1
ERR_UNKNOWN_COMMAND = 1
ERR_BAD_CHECKSUM = 2
ERR_LINE_TOO_LONG = 3
ERR_BAD_FRAME = 4
ERR_BAD_UNIVERSE = 5
ERR_TOO_MANY_SLOTS = 6
_HEX = re.compile(r"[0-9A-Fa-f]*")
_SERIAL = re.compile(r"[A-Za-z0-9_-]{1,32}")


class ProtocolError(ValueError):
    """A line broke the protocol; ``code`` is the protocol's error code (see PROTOCOL.md)."""

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text
        super().__init__(f"ERR {code} {text}")


def checksum(body: bytes) -> str:
    """XOR of every byte of ``body`` as two uppercase hex digits (NMEA style)."""
    value = 0
    for byte in body:
        value ^= byte
    return f"{value:02X}"


def format_line(body: str) -> bytes:
    """``body`` with its checksum and LF: what the driver and the device send."""
    raw = body.encode("ascii")
    return raw + b"*" + checksum(raw).encode("ascii") + b"\n"


def parse_line(raw: bytes, require_checksum: bool = False) -> tuple[str, bool]:
    """The body of one line (terminator and checksum removed) and whether it carried a checksum.

    Raises ProtocolError: code 3 for a line over MAX_LINE, code 2 for a wrong or (when required) missing
    checksum, code 1 for bytes that are not printable ASCII.
    """
    if len(raw) > MAX_LINE:
        raise ProtocolError(ERR_LINE_TOO_LONG, "line too long")
    line = raw.rstrip(b"\n").removesuffix(b"\r")
    star = line.rfind(b"*")
    has_sum = star >= 0 and len(line) - star == 3
    if has_sum:
        body, given = line[:star], line[star + 1 :]
        if given.upper() != checksum(body).encode("ascii"):
            raise ProtocolError(ERR_BAD_CHECKSUM, "bad checksum")
    elif require_checksum:
        raise ProtocolError(ERR_BAD_CHECKSUM, "missing checksum")
    else:
        body = line
    if any(not 0x20 <= byte < 0x7F for byte in body):
        raise ProtocolError(ERR_UNKNOWN_COMMAND, "not printable ASCII")
    return body.decode("ascii"), has_sum


def frame_command(universe: int, slots: bytes) -> bytes:
    """The ``F`` line setting ``universe`` to ``slots`` (checksum and LF included)."""
    return format_line(f"F {universe} {slots.hex().upper()}")


def parse_frame_command(body: str, channels: int) -> tuple[int, bytes]:
    """Universe and slots of an ``F <universe> <hex>`` body; ProtocolError 4, 5 or 6 when bad."""
    parts = body.split(" ")
    if len(parts) != 3 or parts[0] != "F":
        raise ProtocolError(ERR_BAD_FRAME, "expected F <universe> <hex>")
    universe_text, hex_text = parts[1], parts[2]
    if not universe_text.isascii() or not universe_text.isdigit() or len(universe_text) > 5:
        raise ProtocolError(ERR_BAD_UNIVERSE, "universe outside 0..32767")
    universe = int(universe_text)
    if universe > 32767:
        raise ProtocolError(ERR_BAD_UNIVERSE, "universe outside 0..32767")
    if not hex_text or not _HEX.fullmatch(hex_text):
        raise ProtocolError(ERR_BAD_FRAME, "slots are not hex")
    if len(hex_text) % 2:
        raise ProtocolError(ERR_BAD_FRAME, "odd number of hex digits")
    if len(hex_text) // 2 > channels:
        raise ProtocolError(ERR_TOO_MANY_SLOTS, f"more than {channels} slots")
    return universe, bytes.fromhex(hex_text)


@dataclass(frozen=True)
class DeviceIdentity:
    """What ``ID?`` reports."""

    product: str
    version: str
    serial: str
    channels: int

    def reply(self) -> str:
        """The ``ID`` reply body (what a device sends)."""
        return f"ID {self.product} {self.version} {self.serial} {self.channels}"


def parse_identity(body: str) -> DeviceIdentity:
    """Parse an ``ID`` reply body; raises ProtocolError (code 1) naming what is wrong."""
    parts = body.split(" ")
    if len(parts) != 5 or parts[0] != "ID":
        raise ProtocolError(ERR_UNKNOWN_COMMAND, f"expected 'ID {PRODUCT} <version> <serial> <channels>', "
                                                 f"got {body[:80]!r}")
    _, product, version, serial, channels_text = parts
    if product != PRODUCT:
        raise ProtocolError(ERR_UNKNOWN_COMMAND, f"product {product!r} is not {PRODUCT}")
    major, _, minor = version.partition(".")
    if not (major.isascii() and major.isdigit() and minor.isascii() and minor.isdigit()):
        raise ProtocolError(ERR_UNKNOWN_COMMAND, f"version {version!r} is not <major>.<minor>")
    if int(major) != PROTOCOL_MAJOR:
        raise ProtocolError(ERR_UNKNOWN_COMMAND, f"protocol version {version} is not {PROTOCOL_MAJOR}.x")
    if not _SERIAL.fullmatch(serial):
        raise ProtocolError(ERR_UNKNOWN_COMMAND, f"serial {serial[:40]!r} is not 1..32 of [A-Za-z0-9_-]")
    if not channels_text.isascii() or not channels_text.isdigit() or len(channels_text) > 3 \
            or not 1 <= int(channels_text) <= 512:
        raise ProtocolError(ERR_UNKNOWN_COMMAND, f"channel count {channels_text[:10]!r} is not 1..512")
    return DeviceIdentity(product, version, serial, int(channels_text))


def parse_status(body: str) -> tuple[int, int]:
    """Frames and errors from an ``S <frames> <errors>`` body; ProtocolError (code 1) when malformed."""
    parts = body.split(" ")
    if len(parts) != 3 or parts[0] != "S" or not all(p.isascii() and p.isdigit() for p in parts[1:]):
        raise ProtocolError(ERR_UNKNOWN_COMMAND, f"expected 'S <frames> <errors>', got {body[:80]!r}")
    return int(parts[1]), int(parts[2])


class LineSplitter:
    """Cuts a byte stream into lines of at most MAX_LINE bytes; never raises.

    :meth:`feed` returns complete lines (with their LF); a line that grows past MAX_LINE is returned once as
    ``None`` (answer ``ERR 3``) and its remaining bytes are dropped up to the next LF.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._dropping = False

    @property
    def pending(self) -> bytes:
        """Bytes of an unfinished line."""
        return bytes(self._buffer)

    def feed(self, data: bytes) -> list[bytes | None]:
        """Add ``data``; return each finished line, or None for each over-long one."""
        lines: list[bytes | None] = []
        pieces = data.split(b"\n")
        for piece in pieces[:-1]:
            lines.extend(self._take(piece, ended=True))
        lines.extend(self._take(pieces[-1], ended=False))
        return lines

    def _take(self, piece: bytes, ended: bool) -> list[bytes | None]:
        result: list[bytes | None] = []
        if self._dropping:
            if ended:
                self._dropping = False
            return result
        self._buffer += piece
        if len(self._buffer) + (1 if ended else 0) > MAX_LINE:
            self._buffer.clear()
            self._dropping = not ended
            result.append(None)
        elif ended:
            result.append(bytes(self._buffer) + b"\n")
            self._buffer.clear()
        return result
