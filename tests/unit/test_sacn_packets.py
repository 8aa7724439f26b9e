"""E1.31 data packets byte for byte against the standard's layout and against the `sacn` package's builder."""

from __future__ import annotations

import struct
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sacn.messages.data_packet import DataPacket, calculate_multicast_addr

from capturerig.devices._sacn_packets import (
    E131Data,
    E131PacketError,
    build_e131_data,
    multicast_address,
    parse_e131,
)

CID = uuid.UUID("5e3bc7c2-6a1e-4d0e-9b5b-0a1b2c3d4e5f").bytes


def _reference(cid: bytes, name: str, universe: int, data: bytes, sequence: int, priority: int = 100,
               sync: int = 0, terminated: bool = False, preview: bool = False) -> bytes:
    """The same packet as built by the `sacn` package (which always sends 512 slots)."""
    packet = DataPacket(cid=tuple(cid), sourceName=name, universe=universe, dmxData=tuple(data), priority=priority,
                        sequence=sequence, streamTerminated=terminated, previewData=preview, sync_universe=sync)
    return bytes(packet.getBytes())


def test_data_packet_layout_matches_the_standard() -> None:
    data = bytes([255, 128, 0, 7])
    packet = build_e131_data(CID, "Studio A", 0x0102, data, sequence=9, priority=150, sync_address=7)
    expected = (
        # Root Layer
        bytes([0x00, 0x10])  # Preamble Size
        + bytes([0x00, 0x00])  # Post-amble Size
        + b"ASC-E1.17\x00\x00\x00"  # ACN Packet Identifier
        + struct.pack(">H", 0x7000 | (130 - 16))  # Flags (0x7) and Length: from here to the end
        + bytes([0x00, 0x00, 0x00, 0x04])  # Vector: VECTOR_ROOT_E131_DATA
        + CID  # CID
        # E1.31 Framing Layer
        + struct.pack(">H", 0x7000 | (130 - 38))  # Flags and Length
        + bytes([0x00, 0x00, 0x00, 0x02])  # Vector: VECTOR_E131_DATA_PACKET
        + b"Studio A".ljust(64, b"\x00")  # Source Name, UTF-8, null-padded
        + bytes([150])  # Priority
        + bytes([0x00, 0x07])  # Synchronization Address
        + bytes([9])  # Sequence Number
        + bytes([0x00])  # Options
        + bytes([0x01, 0x02])  # Universe
        # DMP Layer
        + struct.pack(">H", 0x7000 | (130 - 115))  # Flags and Length
        + bytes([0x02])  # Vector: VECTOR_DMP_SET_PROPERTY
        + bytes([0xA1])  # Address Type & Data Type
        + bytes([0x00, 0x00])  # First Property Address
        + bytes([0x00, 0x01])  # Address Increment
        + bytes([0x00, 0x05])  # Property value count: START code + 4 slots
        + bytes([0x00])  # DMX512-A START Code
        + data  # Property values: the slots
    )
    assert packet == expected


def test_option_bits_are_preview_7_stream_terminated_6_force_sync_5() -> None:
    def options(**flags: bool) -> int:
        return build_e131_data(CID, "x", 1, bytes(1), 0, **flags)[112]

    assert options(preview=True) == 0x80
    assert options(stream_terminated=True) == 0x40
    assert options(force_sync=True) == 0x20
    assert options() == 0


def test_full_universe_matches_the_sacn_package_byte_for_byte() -> None:
    data = bytes(i % 256 for i in range(512))
    ours = build_e131_data(CID, "capturerig dmx0", 1, data, 200, priority=100)
    assert len(ours) == 638
    assert ours == _reference(CID, "capturerig dmx0", 1, data, 200)


@settings(max_examples=150, deadline=None)
@given(universe=st.integers(1, 63999), data=st.binary(min_size=512, max_size=512), sequence=st.integers(0, 255),
       priority=st.integers(0, 200), sync=st.integers(0, 63999), terminated=st.booleans(), preview=st.booleans(),
       name=st.text(max_size=15), cid=st.binary(min_size=16, max_size=16))
def test_any_valid_packet_matches_the_sacn_package(universe: int, data: bytes, sequence: int, priority: int,
                                                   sync: int, terminated: bool, preview: bool, name: str,
                                                   cid: bytes) -> None:
    ours = build_e131_data(cid, name, universe, data, sequence, priority=priority, sync_address=sync,
                           stream_terminated=terminated, preview=preview)
    assert ours == _reference(cid, name, universe, data, sequence, priority, sync, terminated, preview)


def test_packets_the_sacn_package_builds_parse_to_the_same_fields() -> None:
    data = bytes([3] * 512)
    parsed = parse_e131(_reference(CID, "other desk", 77, data, 254, priority=42, terminated=True))
    assert parsed == E131Data(CID, "other desk", 42, 0, 254, 0x40, 77, 0, data)
    assert parsed.stream_terminated
    assert not parsed.preview


def test_multicast_address_is_239_255_hi_lo_like_the_sacn_package() -> None:
    assert multicast_address(1) == "239.255.0.1"
    assert multicast_address(0x1234) == "239.255.18.52"
    for universe in (1, 255, 256, 63999):
        assert multicast_address(universe) == calculate_multicast_addr(universe)
    with pytest.raises(E131PacketError, match=r"universe 0 is outside 1\.\.63999"):
        multicast_address(0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cid": bytes(15)}, "CID has 15 bytes"),
    ({"source_name": "é" * 32}, "64 UTF-8 bytes, at most 63 fit"),
    ({"priority": 201}, r"priority 201 is outside 0\.\.200"),
    ({"universe": 0}, "universe 0"),
    ({"universe": 64000}, "universe 64000"),
    ({"data": b""}, r"1\.\.512 slots, got 0"),
    ({"data": bytes(513)}, r"1\.\.512 slots, got 513"),
    ({"sequence": 256}, "sequence 256"),
])
def test_builder_refuses_fields_out_of_range(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"cid": CID, "source_name": "x", "universe": 1, "data": bytes(8), "sequence": 0}
    arguments.update(kwargs)
    with pytest.raises(E131PacketError, match=message):
        build_e131_data(**arguments)  # type: ignore[arg-type]


def _valid() -> bytearray:
    return bytearray(build_e131_data(CID, "x", 1, bytes(10), 0))


def _with(offset: int, value: bytes) -> bytes:
    packet = _valid()
    packet[offset:offset + len(value)] = value
    return bytes(packet)


@pytest.mark.parametrize(("packet", "message"), [
    (b"", "not E1.31: 0 bytes"),
    (_with(0, b"\x00\x11"), "preamble, postamble or ACN packet identifier"),
    (_with(4, b"ASC-E1.18"), "preamble, postamble or ACN packet identifier"),
    (_with(18, bytes([0, 0, 0, 8])), "synchronization or discovery packet"),
    (_with(18, bytes([0, 0, 0, 5])), "root layer vector 0x00000005"),
    (bytes(_valid()[:120]), "truncated: 120 bytes"),
    (_with(16, b"\x60\x7c"), "root layer flags are 0x6"),
    (_with(16, b"\x70\x7d"), "root layer length is 125, the packet holds 120"),
    (_with(40, bytes([0, 0, 0, 3])), "framing layer vector"),
    (_with(44, b"\xff\xfe"), "source name is not UTF-8"),
    (_with(108, b"\xc9"), "priority 201 is above 200"),
    (_with(113, b"\x00\x00"), "universe 0"),
    (_with(117, b"\x03"), "DMP vector 0x03"),
    (_with(119, b"\x00\x01"), "first address 1"),
    (_with(123, b"\x00\x0a"), "property value count 10 does not match the 11"),
])
def test_parser_rejects_garbage_naming_what_is_wrong(packet: bytes, message: str) -> None:
    with pytest.raises(E131PacketError, match=message):
        parse_e131(packet)


def _parses_or_explains(data: bytes) -> None:
    try:
        outcome: object = parse_e131(data)
    except E131PacketError as exc:
        outcome = exc  # anything else (IndexError, struct.error ...) escapes and fails the test
    assert isinstance(outcome, E131Data) or (isinstance(outcome, E131PacketError) and str(outcome))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=700))
def test_any_bytes_either_parse_or_raise_our_error(data: bytes) -> None:
    _parses_or_explains(data)


@settings(max_examples=400, deadline=None)
@given(offset=st.integers(0, 137), noise=st.binary(min_size=1, max_size=8), cut=st.integers(0, 140))
def test_a_corrupted_or_truncated_packet_parses_or_raises_our_error(offset: int, noise: bytes, cut: int) -> None:
    packet = _with(offset, noise)
    _parses_or_explains(packet[:len(packet) - cut])
