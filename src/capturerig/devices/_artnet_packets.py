"""Art-Net 4 wire formats as pure functions: ArtDmx, ArtPoll, ArtPollReply and ArtSync.

Layouts follow the Art-Net 4 specification (Artistic Licence): every packet starts with the 8-byte ID
``"Art-Net\\0"`` and a little-endian OpCode; the protocol version (14) is big-endian; ArtDmx's Length is
big-endian while its Port-Address is split into SubUni (low byte) and Net (high 7 bits). Parsers raise
:class:`ArtNetPacketError` naming the field for anything that is not a well-formed packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "ARTNET_ID",
    "ARTNET_PORT",
    "OP_DMX",
    "OP_POLL",
    "OP_POLL_REPLY",
    "OP_SYNC",
    "POLL_REPLY_SIZE",
    "PORT_TYPE_OUTPUT",
    "PROTOCOL_VERSION",
    "ArtDmx",
    "ArtNetPacketError",
    "ArtPoll",
    "ArtPollReply",
    "ArtSync",
    "build_artdmx",
    "build_artpoll",
    "build_artpollreply",
    "build_artsync",
    "next_sequence",
    "parse_artnet",
]

ARTNET_ID = b"Art-Net\x00"
ARTNET_PORT = 6454  # 0x1936
PROTOCOL_VERSION = 14
OP_POLL = 0x2000
OP_POLL_REPLY = 0x2100
OP_DMX = 0x5000
OP_SYNC = 0x5200
PORT_TYPE_OUTPUT = 0x80  # PortTypes bit 7: the port outputs data from the Art-Net network (protocol bits 0 = DMX512)
POLL_REPLY_SIZE = 239
_MAX_PORT_ADDRESS = 0x7FFF  # 15 bits: Net (7) + Sub-Net (4) + Universe (4)
_HEADER = struct.Struct("<8sH")  # ID, OpCode (little-endian)
# ID, OpCode (already checked, read here big-endian and ignored), ProtVer, Sequence, Physical, SubUni, Net, Length
_DMX_HEADER = struct.Struct(">8sHHBBBBH")
_SHORT_NAME = 18
_LONG_NAME = 64
_NODE_REPORT = 64


class ArtNetPacketError(ValueError):
    """Bytes that are not a well-formed Art-Net packet; the message names the field."""


@dataclass(frozen=True)
class ArtDmx:
    """One universe of DMX512 levels (OpCode 0x5000)."""

    sequence: int  # 1..255 in order, 0 = the sender does not sequence
    physical: int  # the sender's physical input port (informational)
    port_address: int  # 15-bit Port-Address (Net << 8 | SubUni)
    data: bytes  # Length levels, slot 1 first
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class ArtPoll:
    """A controller asking every node to answer with ArtPollReply (OpCode 0x2000)."""

    flags: int = 0
    diag_priority: int = 0
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class ArtSync:
    """Output the ArtDmx frames buffered since the last ArtSync now, together (OpCode 0x5200)."""

    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class ArtPollReply:
    """A node describing itself (OpCode 0x2100); only the fields a controller needs are modelled."""

    ip: str
    port: int = ARTNET_PORT
    version_info: int = 0
    net_switch: int = 0  # Port-Address bits 14-8
    sub_switch: int = 0  # Port-Address bits 7-4
    oem: int = 0xFFFF
    esta_manufacturer: int = 0
    short_name: str = ""
    long_name: str = ""
    node_report: str = ""
    port_types: tuple[int, ...] = ()  # one byte per port, at most 4
    sw_in: tuple[int, ...] = ()  # Port-Address bits 3-0 of each input port
    sw_out: tuple[int, ...] = ()  # Port-Address bits 3-0 of each output port
    style: int = 0  # 0 = StNode
    mac: bytes = bytes(6)
    bind_index: int = 1
    status1: int = 0
    status2: int = 0x08  # bit 3: supports 15-bit Port-Addresses (Art-Net 3 and later)
    good_output: tuple[int, ...] = field(default=())

    @property
    def output_universes(self) -> tuple[int, ...]:
        """The 15-bit Port-Addresses of this node's DMX output ports."""
        base = (self.net_switch & 0x7F) << 8 | (self.sub_switch & 0x0F) << 4
        return tuple(base | (sw & 0x0F) for kind, sw in zip(self.port_types, self.sw_out, strict=False)
                     if kind & PORT_TYPE_OUTPUT)


def next_sequence(sequence: int) -> int:
    """The ArtDmx sequence after ``sequence``: 1..255 then back to 1 (0 means 'not sequenced')."""
    return sequence % 255 + 1


def _check_byte(name: str, value: int) -> None:
    if not 0 <= value <= 255:
        raise ArtNetPacketError(f"{name} {value} is outside 0..255")


def build_artdmx(port_address: int, data: bytes, sequence: int, physical: int = 0) -> bytes:
    """An ArtDmx packet carrying ``data`` to ``port_address``.

    Art-Net wants an even Length of 2..512, so an odd-length frame is padded with one zero level.

    Raises
    ------
    ArtNetPacketError
        For a Port-Address outside 0..32767, an empty or longer than 512 frame, or a byte field out of range.
    """
    if not 0 <= port_address <= _MAX_PORT_ADDRESS:
        raise ArtNetPacketError(f"Port-Address {port_address} is outside 0..{_MAX_PORT_ADDRESS}")
    if not 1 <= len(data) <= 512:
        raise ArtNetPacketError(f"ArtDmx carries 1..512 levels, got {len(data)}")
    _check_byte("Sequence", sequence)
    _check_byte("Physical", physical)
    payload = bytes(data) + (b"\x00" if len(data) % 2 else b"")
    header = ARTNET_ID + struct.pack("<H", OP_DMX) + struct.pack(
        ">HBBBBH", PROTOCOL_VERSION, sequence, physical, port_address & 0xFF, port_address >> 8, len(payload))
    return header + payload


def build_artpoll(flags: int = 0, diag_priority: int = 0) -> bytes:
    """An ArtPoll packet (14 bytes: ID, OpCode, ProtVer, Flags, DiagPriority)."""
    _check_byte("Flags", flags)
    _check_byte("DiagPriority", diag_priority)
    return ARTNET_ID + struct.pack("<H", OP_POLL) + struct.pack(">HBB", PROTOCOL_VERSION, flags, diag_priority)


def build_artsync() -> bytes:
    """An ArtSync packet (14 bytes: ID, OpCode, ProtVer, Aux1 = 0, Aux2 = 0)."""
    return ARTNET_ID + struct.pack("<H", OP_SYNC) + struct.pack(">HBB", PROTOCOL_VERSION, 0, 0)


def _fixed_text(name: str, text: str, size: int) -> bytes:
    encoded = text.encode("ascii", errors="replace")
    if len(encoded) > size - 1:
        raise ArtNetPacketError(f"{name} {text!r} is longer than {size - 1} characters")
    return encoded.ljust(size, b"\x00")


def _four(name: str, values: tuple[int, ...]) -> bytes:
    if len(values) > 4:
        raise ArtNetPacketError(f"{name} has {len(values)} ports; an ArtPollReply describes at most 4")
    for value in values:
        _check_byte(name, value)
    return bytes(values).ljust(4, b"\x00")


def _ip_bytes(ip: str) -> bytes:
    parts = ip.split(".")
    try:
        octets = [int(part) for part in parts]
    except ValueError:
        octets = []
    if len(octets) != 4 or not all(0 <= o <= 255 for o in octets):
        raise ArtNetPacketError(f"IP address {ip!r} is not a dotted IPv4 address")
    return bytes(octets)


def build_artpollreply(reply: ArtPollReply) -> bytes:
    """An ArtPollReply packet (239 bytes, Art-Net 4 layout).

    Raises
    ------
    ArtNetPacketError
        For a bad IP, a name too long for its field, more than 4 ports or a byte field out of range.
    """
    if len(reply.mac) != 6:
        raise ArtNetPacketError(f"MAC has {len(reply.mac)} bytes, needs 6")
    ports = len(reply.port_types)
    parts = [
        ARTNET_ID, struct.pack("<H", OP_POLL_REPLY), _ip_bytes(reply.ip), struct.pack("<H", reply.port),
        struct.pack(">H", reply.version_info), bytes([reply.net_switch & 0x7F, reply.sub_switch & 0x0F]),
        struct.pack(">H", reply.oem), bytes([0, reply.status1]),  # UbeaVersion, Status1
        struct.pack("<H", reply.esta_manufacturer),  # EstaManLo first
        _fixed_text("ShortName", reply.short_name, _SHORT_NAME), _fixed_text("LongName", reply.long_name, _LONG_NAME),
        _fixed_text("NodeReport", reply.node_report, _NODE_REPORT), struct.pack(">H", ports),
        _four("PortTypes", reply.port_types), bytes(4),  # GoodInput
        _four("GoodOutput", reply.good_output or tuple(0x80 for _ in range(ports))),
        _four("SwIn", reply.sw_in), _four("SwOut", reply.sw_out),
        bytes([0, 0, 0]), bytes(3),  # AcnPriority, SwMacro, SwRemote, Spare x3
        bytes([reply.style]), reply.mac, _ip_bytes(reply.ip), bytes([reply.bind_index, reply.status2]),
    ]
    packet = b"".join(parts)
    return packet.ljust(POLL_REPLY_SIZE, b"\x00")  # GoodOutputB, Status3, DefaultRespUID, User, RefreshRate, filler


def _text(raw: bytes, name: str) -> str:
    text = raw.split(b"\x00", 1)[0]
    try:
        return text.decode("ascii")
    except UnicodeDecodeError:
        raise ArtNetPacketError(f"{name} is not ASCII text") from None


def _parse_dmx(packet: bytes) -> ArtDmx:
    if len(packet) < 18:
        raise ArtNetPacketError(f"ArtDmx is truncated: {len(packet)} bytes, the header alone is 18")
    _, _, version, sequence, physical, sub_uni, net, length = _DMX_HEADER.unpack_from(packet)
    if net & 0x80:
        raise ArtNetPacketError(f"Net {net} has bit 7 set; a Port-Address is 15 bits")
    if not 1 <= length <= 512:
        raise ArtNetPacketError(f"ArtDmx Length {length} is outside 1..512")
    if len(packet) - 18 < length:
        raise ArtNetPacketError(f"ArtDmx is truncated: Length says {length} levels, {len(packet) - 18} present")
    return ArtDmx(sequence, physical, net << 8 | sub_uni, bytes(packet[18:18 + length]), version)


def _parse_poll_reply(packet: bytes) -> ArtPollReply:
    if len(packet) < 207:  # Art-Net 1 replies stop after the MAC; later fields are optional
        raise ArtNetPacketError(f"ArtPollReply is truncated: {len(packet)} bytes, at least 207 needed")
    ports = struct.unpack_from(">H", packet, 172)[0]
    if ports > 4:
        raise ArtNetPacketError(f"ArtPollReply NumPorts {ports} is above 4")
    extended = len(packet) >= 213
    return ArtPollReply(
        ip=".".join(str(b) for b in packet[10:14]), port=struct.unpack_from("<H", packet, 14)[0],
        version_info=struct.unpack_from(">H", packet, 16)[0], net_switch=packet[18], sub_switch=packet[19],
        oem=struct.unpack_from(">H", packet, 20)[0], status1=packet[23],
        esta_manufacturer=struct.unpack_from("<H", packet, 24)[0],
        short_name=_text(packet[26:44], "ShortName"), long_name=_text(packet[44:108], "LongName"),
        node_report=_text(packet[108:172], "NodeReport"), port_types=tuple(packet[174:174 + ports]),
        good_output=tuple(packet[182:182 + ports]), sw_in=tuple(packet[186:186 + ports]),
        sw_out=tuple(packet[190:190 + ports]), style=packet[200], mac=bytes(packet[201:207]),
        bind_index=packet[211] if extended else 1, status2=packet[212] if extended else 0)


def parse_artnet(packet: bytes) -> ArtDmx | ArtPoll | ArtPollReply | ArtSync:
    """Decode one Art-Net packet of the four kinds capturerig speaks.

    Raises
    ------
    ArtNetPacketError
        When the bytes are not Art-Net, are truncated, carry another OpCode or a field is out of range.
    """
    if len(packet) < 10:
        raise ArtNetPacketError(f"not Art-Net: {len(packet)} bytes, shorter than ID + OpCode")
    ident, opcode = _HEADER.unpack_from(packet)
    if ident != ARTNET_ID:
        raise ArtNetPacketError(f"not Art-Net: ID is {ident!r}, expected {ARTNET_ID!r}")
    if opcode == OP_POLL_REPLY:  # the only one of the four without ProtVer
        return _parse_poll_reply(packet)
    if opcode not in (OP_DMX, OP_POLL, OP_SYNC):
        raise ArtNetPacketError(f"unsupported Art-Net OpCode 0x{opcode:04x}")
    if len(packet) < 12:
        raise ArtNetPacketError("Art-Net packet is truncated before ProtVer")
    version = struct.unpack_from(">H", packet, 10)[0]
    if version < PROTOCOL_VERSION:
        raise ArtNetPacketError(f"Art-Net ProtVer {version} is below {PROTOCOL_VERSION}")
    if opcode == OP_DMX:
        return _parse_dmx(packet)
    if opcode == OP_SYNC:
        return ArtSync(version)
    # Older controllers send a 12- or 13-byte ArtPoll; the missing fields read as 0.
    flags = packet[12] if len(packet) > 12 else 0
    priority = packet[13] if len(packet) > 13 else 0
    return ArtPoll(flags, priority, version)
