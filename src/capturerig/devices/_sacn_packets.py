"""sACN (ANSI E1.31-2018) data packets as pure functions.

A data packet is three nested PDUs, all big-endian: the ACN Root Layer (preamble 0x0010, postamble 0, the
12-byte ACN packet identifier, flags+length, VECTOR_ROOT_E131_DATA, the 16-byte CID), the E1.31 Framing
Layer (flags+length, VECTOR_E131_DATA_PACKET, 64-byte source name, priority, synchronization address,
sequence number, options, universe) and the DMP Layer (flags+length, VECTOR_DMP_SET_PROPERTY, address and
data type 0xa1, first property address 0, address increment 1, property value count, START code, slots).
Each flags+length is 0x7 in the top 4 bits and the PDU's length from that field to the packet's end.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "ACN_PACKET_IDENTIFIER",
    "OPTION_FORCE_SYNC",
    "OPTION_PREVIEW",
    "OPTION_STREAM_TERMINATED",
    "SACN_PORT",
    "VECTOR_E131_DATA_PACKET",
    "VECTOR_ROOT_E131_DATA",
    "VECTOR_ROOT_E131_EXTENDED",
    "E131Data",
    "E131PacketError",
    "build_e131_data",
    "multicast_address",
    "parse_e131",
]

SACN_PORT = 5568
ACN_PACKET_IDENTIFIER = b"ASC-E1.17\x00\x00\x00"
VECTOR_ROOT_E131_DATA = 0x00000004
VECTOR_ROOT_E131_EXTENDED = 0x00000008  # synchronization and universe discovery packets
VECTOR_E131_DATA_PACKET = 0x00000002
VECTOR_DMP_SET_PROPERTY = 0x02
ADDRESS_DATA_TYPE = 0xA1
OPTION_PREVIEW = 0x80  # bit 7: Preview_Data (for visualisers, not for fixtures)
OPTION_STREAM_TERMINATED = 0x40  # bit 6: the source stops sending this universe
OPTION_FORCE_SYNC = 0x20  # bit 5: Force_Synchronization
MAX_PRIORITY = 200
_MAX_UNIVERSE = 63999
_HEADER_SIZE = 126  # everything before slot 1
_ROOT = struct.Struct(">HH12sHI16s")  # preamble, postamble, identifier, flags+length, vector, CID
# flags+length, vector, source name, priority, sync address, sequence, options, universe
_FRAMING = struct.Struct(">HI64sBHBBH")
_DMP = struct.Struct(">HBBHHHB")  # flags+length, vector, address & data type, first address, increment, count, START


class E131PacketError(ValueError):
    """Bytes that are not a well-formed E1.31 data packet; the message names the field."""


@dataclass(frozen=True)
class E131Data:
    """A decoded E1.31 data packet."""

    cid: bytes  # the source's 16-byte component identifier (a UUID)
    source_name: str
    priority: int  # 0..200, higher wins
    sync_address: int  # 0 = not synchronized
    sequence: int  # 0..255, per source and universe
    options: int
    universe: int  # 1..63999
    start_code: int  # 0 = dimmer levels
    data: bytes  # the slots after the START code

    @property
    def stream_terminated(self) -> bool:
        """True when the source says it stops sending this universe."""
        return bool(self.options & OPTION_STREAM_TERMINATED)

    @property
    def preview(self) -> bool:
        """True for preview data, which fixtures must ignore."""
        return bool(self.options & OPTION_PREVIEW)


def multicast_address(universe: int) -> str:
    """The multicast group of ``universe``: 239.255.<high byte>.<low byte>."""
    _check_universe(universe)
    return f"239.255.{universe >> 8}.{universe & 0xFF}"


def _check_universe(universe: int) -> None:
    if not 1 <= universe <= _MAX_UNIVERSE:
        raise E131PacketError(f"universe {universe} is outside 1..{_MAX_UNIVERSE}")


def _flags_length(length: int) -> int:
    return 0x7000 | length


def build_e131_data(cid: bytes, source_name: str, universe: int, data: bytes, sequence: int, *,
                    priority: int = 100, sync_address: int = 0, stream_terminated: bool = False,
                    preview: bool = False, force_sync: bool = False, start_code: int = 0) -> bytes:
    """An E1.31 data packet carrying ``data`` (1..512 slots) to ``universe``.

    Raises
    ------
    E131PacketError
        For a CID that is not 16 bytes, a source name over 63 UTF-8 bytes, a priority above 200, a universe
        outside 1..63999, a sequence or START code outside 0..255, or an empty or over-long frame.
    """
    if len(cid) != 16:
        raise E131PacketError(f"CID has {len(cid)} bytes, needs 16")
    name = source_name.encode("utf-8")
    if len(name) > 63:  # 64 bytes including the terminating null
        raise E131PacketError(f"source name {source_name!r} is {len(name)} UTF-8 bytes, at most 63 fit")
    if not 0 <= priority <= MAX_PRIORITY:
        raise E131PacketError(f"priority {priority} is outside 0..{MAX_PRIORITY}")
    _check_universe(universe)
    if not 0 <= sync_address <= _MAX_UNIVERSE:
        raise E131PacketError(f"synchronization address {sync_address} is outside 0..{_MAX_UNIVERSE}")
    if not 0 <= sequence <= 255 or not 0 <= start_code <= 255:
        raise E131PacketError(f"sequence {sequence} / START code {start_code} must be bytes (0..255)")
    if not 1 <= len(data) <= 512:
        raise E131PacketError(f"an E1.31 data packet carries 1..512 slots, got {len(data)}")
    total = _HEADER_SIZE + len(data)
    options = ((OPTION_PREVIEW if preview else 0) | (OPTION_STREAM_TERMINATED if stream_terminated else 0)
               | (OPTION_FORCE_SYNC if force_sync else 0))
    return (_ROOT.pack(0x0010, 0x0000, ACN_PACKET_IDENTIFIER, _flags_length(total - 16), VECTOR_ROOT_E131_DATA,
                       bytes(cid))
            + _FRAMING.pack(_flags_length(total - 38), VECTOR_E131_DATA_PACKET, name.ljust(64, b"\x00"), priority,
                            sync_address, sequence, options, universe)
            + _DMP.pack(_flags_length(total - 115), VECTOR_DMP_SET_PROPERTY, ADDRESS_DATA_TYPE, 0x0000, 0x0001,
                        len(data) + 1, start_code)
            + bytes(data))


def _check_flags_length(layer: str, value: int, expected: int) -> None:
    if value >> 12 != 0x7:
        raise E131PacketError(f"{layer} flags are 0x{value >> 12:x}, expected 0x7")
    if value & 0x0FFF != expected:
        raise E131PacketError(f"{layer} length is {value & 0x0FFF}, the packet holds {expected}")


def parse_e131(packet: bytes) -> E131Data:
    """Decode one E1.31 data packet.

    Raises
    ------
    E131PacketError
        When the bytes are not an E1.31 data packet (synchronization and discovery packets included), are
        truncated, or a field is out of range.
    """
    if len(packet) < _ROOT.size:
        raise E131PacketError(f"not E1.31: {len(packet)} bytes, shorter than the root layer")
    preamble, postamble, identifier, root_fl, root_vector, cid = _ROOT.unpack_from(packet)
    if preamble != 0x0010 or postamble != 0 or identifier != ACN_PACKET_IDENTIFIER:
        raise E131PacketError("not E1.31: preamble, postamble or ACN packet identifier is wrong")
    if root_vector == VECTOR_ROOT_E131_EXTENDED:
        raise E131PacketError("an E1.31 synchronization or discovery packet, not a data packet")
    if root_vector != VECTOR_ROOT_E131_DATA:
        raise E131PacketError(f"root layer vector 0x{root_vector:08x} is not VECTOR_ROOT_E131_DATA")
    if len(packet) < _HEADER_SIZE:
        raise E131PacketError(f"E1.31 data packet is truncated: {len(packet)} bytes, the header is {_HEADER_SIZE}")
    if len(packet) > _HEADER_SIZE + 512:
        raise E131PacketError(f"E1.31 data packet of {len(packet)} bytes is longer than 512 slots")
    _check_flags_length("root layer", root_fl, len(packet) - 16)
    framing_fl, vector, raw_name, priority, sync, sequence, options, universe = _FRAMING.unpack_from(packet, 38)
    _check_flags_length("framing layer", framing_fl, len(packet) - 38)
    if vector != VECTOR_E131_DATA_PACKET:
        raise E131PacketError(f"framing layer vector 0x{vector:08x} is not VECTOR_E131_DATA_PACKET")
    try:
        name = raw_name.split(b"\x00", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise E131PacketError("source name is not UTF-8") from None
    if priority > MAX_PRIORITY:
        raise E131PacketError(f"priority {priority} is above {MAX_PRIORITY}")
    if not 1 <= universe <= _MAX_UNIVERSE:
        raise E131PacketError(f"universe {universe} is outside 1..{_MAX_UNIVERSE}")
    dmp_fl, dmp_vector, address_type, first, increment, count, start_code = _DMP.unpack_from(packet, 115)
    _check_flags_length("DMP layer", dmp_fl, len(packet) - 115)
    if dmp_vector != VECTOR_DMP_SET_PROPERTY or address_type != ADDRESS_DATA_TYPE:
        raise E131PacketError(f"DMP vector 0x{dmp_vector:02x} / address type 0x{address_type:02x} "
                              "is not 0x02 / 0xa1")
    if first != 0 or increment != 1:
        raise E131PacketError(f"DMP first address {first} / increment {increment} is not 0 / 1")
    if count != len(packet) - 125:
        raise E131PacketError(f"DMP property value count {count} does not match the {len(packet) - 125} values sent")
    return E131Data(bytes(cid), name, priority, sync, sequence, options, universe, start_code, bytes(packet[126:]))
