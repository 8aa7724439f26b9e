"""The serial light controller protocol: the examples of PROTOCOL.md, error codes, and fuzzed parsers."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capturerig.devices.serial_lights_protocol import (
    MAX_LINE,
    LineSplitter,
    ProtocolError,
    checksum,
    format_line,
    frame_command,
    parse_frame_command,
    parse_identity,
    parse_line,
    parse_status,
)
from capturerig_sim.serial_lights_sim import SerialLightsDevice

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "firmware-config" / "serial-lights" / "PROTOCOL.md"


def test_every_checksum_in_the_protocol_document_is_right() -> None:
    example = PROTOCOL_MD.read_text().split("```text", 1)[1].split("```", 1)[0]
    lines = re.findall(r"^(?:host|device): +(\S.*?\*[0-9A-F]{2})", example, flags=re.MULTILINE)
    assert len(lines) == 8
    for line in lines:
        body, given_sum = line.rsplit("*", 1)
        assert checksum(body.encode()) == given_sum, line


def test_a_frame_line_is_universe_then_two_hex_digits_per_slot_with_checksum() -> None:
    assert frame_command(1, bytes([0xFF, 0x80])) == b"F 1 FF80*7F\n"
    assert format_line("ID?") == b"ID?*32\n"


def test_the_device_answers_the_protocol_document_conversation() -> None:
    device = SerialLightsDevice(serial="LED0001", channels=64)
    assert device.feed(b"ID?*32\n") == b"ID capturerig-leds 1.0 LED0001 64*47\n"
    assert device.feed(b"F 1 FF80*7F\n") == b"OK*04\n"
    assert device.frames[1] == bytes([255, 128]) + bytes(62)
    assert device.feed(b"F 1 FF8*4F\n") == b"ERR 4 odd number of hex digits*65\n"
    assert device.feed(b"B*42\n") == b"OK*04\n"
    assert device.frames[1] == bytes(64)
    assert device.feed(b"S?\r\n") == format_line("S 1 1")  # a person may type S? without a checksum


@pytest.mark.parametrize(("line", "code"), [
    (b"F 1 FF80\n", 2),            # a frame without its checksum
    (b"ID?*00\n", 2),              # a wrong checksum
    (b"X*58\n", 1),                # an unknown command
    (format_line("F 1 ZZ"), 4),    # not hex
    (format_line("F 40000 00"), 5),  # universe out of range
    (format_line("F 1 " + "00" * 65), 6),  # more slots than the 64 channels
    (b"F 1 " + b"0" * MAX_LINE + b"\n", 3),  # over-long line
])
def test_bad_lines_get_the_documented_error_code(line: bytes, code: int) -> None:
    reply = SerialLightsDevice(channels=64).feed(line)
    assert reply.startswith(f"ERR {code} ".encode()), reply


def test_an_identity_from_another_product_or_major_version_is_refused_naming_it() -> None:
    assert parse_identity("ID capturerig-leds 1.7 A-1 512").channels == 512
    with pytest.raises(ProtocolError, match=r"protocol version 2\.0 is not 1\.x"):
        parse_identity("ID capturerig-leds 2.0 A1 64")
    with pytest.raises(ProtocolError, match=r"product 'other' is not capturerig-leds"):
        parse_identity("ID other 1.0 A1 64")
    with pytest.raises(ProtocolError, match=r"channel count '513' is not 1\.\.512"):
        parse_identity("ID capturerig-leds 1.0 A1 513")


def test_status_and_frame_parsers_refuse_malformed_bodies() -> None:
    assert parse_status("S 10 2") == (10, 2)
    with pytest.raises(ProtocolError, match="expected 'S <frames> <errors>'"):
        parse_status("S ten 2")
    assert parse_frame_command("F 0 0aFF", 4) == (0, bytes([10, 255]))
    with pytest.raises(ProtocolError, match="expected F <universe> <hex>"):
        parse_frame_command("F 1", 4)


def test_an_over_long_line_is_reported_once_and_dropped_to_its_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"x" * (MAX_LINE + 10)) == [None]
    assert splitter.feed(b"yyy") == []
    assert splitter.feed(b"\nOK\n") == [b"OK\n"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=1500), max_size=6))
def test_the_splitter_takes_any_bytes_and_returns_bounded_lines(chunks: list[bytes]) -> None:
    splitter = LineSplitter()
    for chunk in chunks:
        for line in splitter.feed(chunk):
            assert line is None or (line.endswith(b"\n") and len(line) <= MAX_LINE)
        assert len(splitter.pending) <= MAX_LINE


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=MAX_LINE + 20))
def test_line_and_reply_parsers_raise_only_protocol_errors(raw: bytes) -> None:
    try:
        body, _ = parse_line(raw)
    except ProtocolError:
        return
    for parse in (parse_identity, parse_status):
        with contextlib.suppress(ProtocolError):  # the documented error; anything else fails the test
            parse(body)
    try:
        parse_frame_command(body, 512)
    except ProtocolError:
        return


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300) | st.sampled_from([b"ID?\n", b"B\n", frame_command(2, bytes(8))]),
                max_size=10))
def test_the_simulated_controller_answers_any_input_with_valid_reply_lines(chunks: list[bytes]) -> None:
    device = SerialLightsDevice(channels=16)
    replies = b"".join(device.feed(chunk) for chunk in chunks)
    for line in replies.splitlines(keepends=True):
        body, had_checksum = parse_line(line)
        assert had_checksum
        assert body.split(" ")[0] in {"ID", "OK", "S", "ERR"}


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 32767), st.binary(min_size=1, max_size=512))
def test_every_frame_round_trips(universe: int, slots: bytes) -> None:
    body, had_checksum = parse_line(frame_command(universe, slots), require_checksum=True)
    assert had_checksum
    assert parse_frame_command(body, 512) == (universe, slots)
