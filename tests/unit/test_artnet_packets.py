"""Art-Net 4 packets byte for byte against the specification's layouts, and parsers that reject garbage."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capturerig.devices._artnet_packets import (
    ArtDmx,
    ArtNetPacketError,
    ArtPoll,
    ArtPollReply,
    ArtSync,
    build_artdmx,
    build_artpoll,
    build_artpollreply,
    build_artsync,
    next_sequence,
    parse_artnet,
)

ID = b"Art-Net\x00"  # ID[8]: "Art-Net" and a null


def test_artdmx_layout_matches_the_specification() -> None:
    packet = build_artdmx(port_address=0x1234, data=bytes([10, 20, 30, 40]), sequence=7, physical=2)
    expected = (
        ID
        + bytes([0x00, 0x50])  # OpCode 0x5000 (OpDmx), low byte first
        + bytes([0x00, 0x0E])  # ProtVerHi, ProtVerLo: 14
        + bytes([0x07])  # Sequence
        + bytes([0x02])  # Physical
        + bytes([0x34])  # SubUni: low byte of the Port-Address (Sub-Net 3, Universe 4)
        + bytes([0x12])  # Net: Port-Address bits 14-8
        + bytes([0x00, 0x04])  # LengthHi, Length: 4 levels, high byte first
        + bytes([10, 20, 30, 40])  # Data[Length]
    )
    assert packet == expected


def test_a_full_universe_is_530_bytes_and_an_odd_frame_is_padded_to_an_even_length() -> None:
    assert len(build_artdmx(1, bytes(512), 1)) == 18 + 512
    odd = build_artdmx(1, bytes([9, 9, 9]), 1)
    assert odd[16:18] == bytes([0x00, 0x04])  # Length rounded up to the next even number
    assert odd[18:] == bytes([9, 9, 9, 0])


def test_highest_port_address_splits_into_net_and_subuni() -> None:
    packet = build_artdmx(0x7FFF, bytes(2), 1)
    assert packet[14] == 0xFF
    assert packet[15] == 0x7F


@pytest.mark.parametrize(("port_address", "data", "sequence", "message"), [
    (0x8000, bytes(2), 1, r"Port-Address 32768 is outside 0\.\.32767"),
    (-1, bytes(2), 1, "Port-Address -1"),
    (1, b"", 1, r"1\.\.512 levels, got 0"),
    (1, bytes(513), 1, r"1\.\.512 levels, got 513"),
    (1, bytes(2), 256, r"Sequence 256 is outside 0\.\.255"),
])
def test_artdmx_builder_refuses_what_the_wire_cannot_carry(port_address: int, data: bytes, sequence: int,
                                                          message: str) -> None:
    with pytest.raises(ArtNetPacketError, match=message):
        build_artdmx(port_address, data, sequence)


def test_sequence_runs_1_to_255_and_wraps_past_0_which_means_disabled() -> None:
    assert next_sequence(0) == 1
    assert next_sequence(1) == 2
    assert next_sequence(254) == 255
    assert next_sequence(255) == 1
    seen = {0}
    value = 0
    for _ in range(600):
        value = next_sequence(value)
        seen.add(value)
        assert value != 0
    assert seen == set(range(256))


def test_artpoll_layout_matches_the_specification() -> None:
    assert build_artpoll(flags=0x02, diag_priority=0x10) == (
        ID
        + bytes([0x00, 0x20])  # OpCode 0x2000 (OpPoll), low byte first
        + bytes([0x00, 0x0E])  # ProtVer 14
        + bytes([0x02])  # Flags (bit 1: send ArtPollReply on change)
        + bytes([0x10])  # DiagPriority (DpLow)
    )


def test_artsync_layout_matches_the_specification() -> None:
    assert build_artsync() == (
        ID
        + bytes([0x00, 0x52])  # OpCode 0x5200 (OpSync), low byte first
        + bytes([0x00, 0x0E])  # ProtVer 14
        + bytes([0x00, 0x00])  # Aux1, Aux2: 0
    )


def test_artpollreply_layout_matches_the_specification() -> None:
    reply = ArtPollReply(ip="10.0.0.21", port=0x1936, version_info=0x0102, net_switch=0x01, sub_switch=0x02,
                         oem=0x1234, esta_manufacturer=0x7FF0, short_name="node-a", long_name="Node A long",
                         node_report="#0001 [0042] ok", port_types=(0x80, 0x80), sw_out=(0x03, 0x04),
                         mac=bytes([1, 2, 3, 4, 5, 6]), bind_index=1, status1=0xD0, status2=0x08)
    packet = build_artpollreply(reply)
    assert len(packet) == 239
    assert packet[0:8] == ID
    assert packet[8:10] == bytes([0x00, 0x21])  # OpCode 0x2100 (OpPollReply), low byte first
    assert packet[10:14] == bytes([10, 0, 0, 21])  # IP Address
    assert packet[14:16] == bytes([0x36, 0x19])  # Port 0x1936, low byte first
    assert packet[16:18] == bytes([0x01, 0x02])  # VersInfoH, VersInfoL
    assert packet[18:20] == bytes([0x01, 0x02])  # NetSwitch, SubSwitch
    assert packet[20:22] == bytes([0x12, 0x34])  # OemHi, Oem
    assert packet[22:24] == bytes([0x00, 0xD0])  # Ubea Version, Status1
    assert packet[24:26] == bytes([0xF0, 0x7F])  # EstaManLo, EstaManHi
    assert packet[26:44] == b"node-a".ljust(18, b"\x00")  # ShortName[18]
    assert packet[44:108] == b"Node A long".ljust(64, b"\x00")  # LongName[64]
    assert packet[108:172] == b"#0001 [0042] ok".ljust(64, b"\x00")  # NodeReport[64]
    assert packet[172:174] == bytes([0x00, 0x02])  # NumPortsHi, NumPortsLo
    assert packet[174:178] == bytes([0x80, 0x80, 0, 0])  # PortTypes[4]: DMX512 outputs
    assert packet[178:182] == bytes(4)  # GoodInput[4]
    assert packet[182:186] == bytes([0x80, 0x80, 0, 0])  # GoodOutputA[4]: data being transmitted
    assert packet[186:190] == bytes(4)  # SwIn[4]
    assert packet[190:194] == bytes([0x03, 0x04, 0, 0])  # SwOut[4]
    assert packet[194:200] == bytes(6)  # AcnPriority, SwMacro, SwRemote, Spare[3]
    assert packet[200] == 0x00  # Style: StNode
    assert packet[201:207] == bytes([1, 2, 3, 4, 5, 6])  # MAC
    assert packet[207:211] == bytes([10, 0, 0, 21])  # BindIp
    assert packet[211:213] == bytes([0x01, 0x08])  # BindIndex, Status2 (15-bit Port-Address)
    assert packet[213:] == bytes(26)  # GoodOutputB .. Filler
    parsed = parse_artnet(packet)
    assert parsed == replace(reply, good_output=(0x80, 0x80), sw_in=(0, 0))  # the unset ports read as sent
    assert isinstance(parsed, ArtPollReply)
    assert parsed.output_universes == (0x123, 0x124)  # Net 1, Sub-Net 2, Universe 3 and 4


def test_every_builder_round_trips_through_the_parser() -> None:
    assert parse_artnet(build_artdmx(300, bytes(range(200)) * 2 + bytes(112), 42, 1)) == ArtDmx(
        42, 1, 300, bytes(range(200)) * 2 + bytes(112))
    assert parse_artnet(build_artpoll(2, 0x10)) == ArtPoll(2, 0x10)
    assert parse_artnet(build_artsync()) == ArtSync()
    assert parse_artnet(ID + bytes([0x00, 0x20, 0x00, 0x0E])) == ArtPoll(0, 0)  # a 12-byte ArtPoll of old


@pytest.mark.parametrize(("packet", "message"), [
    (b"", "not Art-Net: 0 bytes"),
    (b"Art-Nat\x00\x00\x50\x00\x0e", "ID is"),
    (ID + bytes([0x00, 0x99, 0, 14]), "unsupported Art-Net OpCode 0x9900"),
    (ID + bytes([0x00, 0x50, 0, 13]) + bytes(8), "ProtVer 13 is below 14"),
    (ID + bytes([0x00, 0x50, 0, 14, 1, 0, 1, 0, 0x02, 0x01]) + bytes(10), r"Length 513 is outside 1\.\.512"),
    (ID + bytes([0x00, 0x50, 0, 14, 1, 0, 1, 0, 0x00, 0x10]) + bytes(10), "truncated: Length says 16 levels, 10"),
    (ID + bytes([0x00, 0x50, 0, 14, 1, 0, 1, 0x80, 0x00, 0x02]) + bytes(2), "Net 128 has bit 7 set"),
    (ID + bytes([0x00, 0x21]) + bytes(100), "ArtPollReply is truncated: 110 bytes"),
])
def test_parser_rejects_garbage_naming_what_is_wrong(packet: bytes, message: str) -> None:
    with pytest.raises(ArtNetPacketError, match=message):
        parse_artnet(packet)


def _parses_or_explains(data: bytes) -> None:
    try:
        outcome: object = parse_artnet(data)
    except ArtNetPacketError as exc:
        outcome = exc  # anything else (IndexError, struct.error ...) escapes and fails the test
    assert isinstance(outcome, ArtDmx | ArtPoll | ArtPollReply | ArtSync) or (
        isinstance(outcome, ArtNetPacketError) and str(outcome))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_either_parse_or_raise_our_error(data: bytes) -> None:
    _parses_or_explains(data)


@settings(max_examples=300, deadline=None)
@given(opcode=st.sampled_from([0x5000, 0x2000, 0x2100, 0x5200]), body=st.binary(max_size=560))
def test_bytes_behind_a_valid_header_either_parse_or_raise_our_error(opcode: int, body: bytes) -> None:
    _parses_or_explains(ID + opcode.to_bytes(2, "little") + body)


@settings(max_examples=200, deadline=None)
@given(port_address=st.integers(0, 0x7FFF), data=st.binary(min_size=1, max_size=512),
       sequence=st.integers(0, 255), physical=st.integers(0, 255))
def test_artdmx_round_trips_for_any_valid_fields(port_address: int, data: bytes, sequence: int,
                                                 physical: int) -> None:
    parsed = parse_artnet(build_artdmx(port_address, data, sequence, physical))
    assert isinstance(parsed, ArtDmx)
    assert (parsed.port_address, parsed.sequence, parsed.physical) == (port_address, sequence, physical)
    assert parsed.data[:len(data)] == data
    assert len(parsed.data) % 2 == 0
