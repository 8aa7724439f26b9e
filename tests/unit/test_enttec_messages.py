"""ENTTEC DMX USB Pro API messages, byte for byte against the API's layout, and a parser that survives anything."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capturerig.devices.enttec_protocol import (
    MAX_DATA,
    EnttecMessage,
    MessageReader,
    WidgetParameters,
    decode_serial_number,
    dmx_packet,
    encode_message,
    encode_serial_number,
    get_parameters_request,
    serial_number_request,
    set_parameters_request,
)


def test_a_short_dmx_packet_is_padded_to_24_slots_after_start_code_zero() -> None:
    expected = bytes([
        0x7E,        # start of message
        0x06,        # label 6: Output Only Send DMX Packet Request
        25, 0x00,    # data length LSB, MSB: start code + 24 slots
        0x00,        # DMX start code 0 (dimmer data)
        1, 2, 3,     # the three slots given
        *[0] * 21,   # padding to the widget's minimum of 24 slots
        0xE7,        # end of message
    ])
    assert dmx_packet(bytes([1, 2, 3])) == expected


def test_a_full_universe_packet_carries_513_data_bytes() -> None:
    expected = bytes([0x7E, 0x06, 0x01, 0x02, 0x00]) + bytes([0xFF] * 512) + bytes([0xE7])  # 513 = 0x0201
    assert dmx_packet(bytes([0xFF] * 512)) == expected


def test_more_than_512_slots_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 512 slots"):
        dmx_packet(bytes(513))


def test_get_widget_parameters_request_asks_for_no_user_configuration() -> None:
    # label 3, length 2, user configuration size LSB 0, MSB 0
    assert get_parameters_request(0) == bytes([0x7E, 0x03, 0x02, 0x00, 0x00, 0x00, 0xE7])


def test_serial_number_request_has_no_data() -> None:
    assert serial_number_request() == bytes([0x7E, 0x0A, 0x00, 0x00, 0xE7])  # label 10, length 0


def test_set_widget_parameters_sends_size_break_mab_and_rate() -> None:
    message = set_parameters_request(WidgetParameters(firmware=0, break_units=9, mab_units=1, rate=40))
    assert message == bytes([
        0x7E, 0x04, 0x05, 0x00,  # label 4, 5 data bytes
        0x00, 0x00,              # user configuration size LSB, MSB
        0x09,                    # break: 9 x 10.67 us = 96 us
        0x01,                    # mark after break: 1 x 10.67 us
        0x28,                    # output rate 40 packets/s
        0xE7,
    ])


def test_out_of_range_widget_timing_is_refused_with_the_allowed_range() -> None:
    with pytest.raises(ValueError, match=r"break time 8 .* outside 9\.\.127"):
        set_parameters_request(WidgetParameters(0, 8, 1, 40))
    with pytest.raises(ValueError, match=r"output rate 41 .* outside 0\.\.40"):
        set_parameters_request(WidgetParameters(0, 9, 1, 41))


def test_a_widget_parameters_reply_decodes_firmware_break_mab_and_rate() -> None:
    reader = MessageReader()
    (message,) = reader.feed(bytes([0x7E, 0x03, 0x05, 0x00, 0x44, 0x01, 0x0C, 0x02, 0x1E, 0xE7]))
    parameters = WidgetParameters.from_reply(message.data)
    assert parameters.firmware_version == "1.68"  # MSB 0x01, LSB 0x44
    assert (parameters.break_units, parameters.mab_units, parameters.rate) == (12, 2, 30)
    assert parameters.break_us == pytest.approx(128.04)
    assert parameters.mab_us == pytest.approx(21.34)


def test_a_too_short_parameters_reply_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least 5 data bytes, got 3"):
        WidgetParameters.from_reply(b"\x01\x02\x03")


def test_serial_numbers_are_bcd_least_significant_byte_first() -> None:
    assert decode_serial_number(bytes([0x78, 0x56, 0x34, 0x12])) == "12345678"
    assert encode_serial_number("12345678") == bytes([0x78, 0x56, 0x34, 0x12])
    with pytest.raises(ValueError, match="not BCD"):
        decode_serial_number(bytes([0x7A, 0x56, 0x34, 0x12]))
    with pytest.raises(ValueError, match="4 data bytes, got 3"):
        decode_serial_number(b"\x00\x00\x00")


def test_the_reader_resynchronises_after_garbage_a_bad_length_and_a_bad_end_byte() -> None:
    good = encode_message(10, bytes([0x78, 0x56, 0x34, 0x12]))
    stream = (b"noise"                                   # bytes before any start byte
              + bytes([0x7E, 0x03, 0xFF, 0xFF])          # a length of 65535: not a message
              + bytes([0x7E, 0x03, 0x01, 0x00, 0x05, 0x00])  # end byte 0x00 instead of 0xE7
              + good)
    reader = MessageReader()
    assert reader.feed(stream) == [EnttecMessage(10, bytes([0x78, 0x56, 0x34, 0x12]))]
    reasons = " | ".join(reader.rejections)
    assert "before the start byte" in reasons
    assert "length of 65535" in reasons
    assert "end byte 0x00" in reasons


def test_a_message_split_into_single_bytes_is_parsed_once_complete() -> None:
    reader = MessageReader()
    message = encode_message(3, bytes([0x44, 0x01, 9, 1, 40]))
    results = [reader.feed(bytes([byte])) for byte in message]
    assert results[:-1] == [[]] * (len(message) - 1)
    assert results[-1] == [EnttecMessage(3, bytes([0x44, 0x01, 9, 1, 40]))]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=700), max_size=8))
def test_the_reader_takes_any_bytes_without_raising_and_buffers_at_most_one_message(chunks: list[bytes]) -> None:
    reader = MessageReader()
    for chunk in chunks:
        for message in reader.feed(chunk):
            assert 0 <= message.label <= 255
            assert len(message.data) <= MAX_DATA
        assert len(reader.pending) <= MAX_DATA + 4


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64).map(lambda b: b.replace(b"\x7e", b"")), st.integers(0, 255),
       st.binary(max_size=MAX_DATA), st.integers(1, 50))
def test_a_message_after_garbage_is_found_however_the_stream_is_cut(garbage: bytes, label: int, data: bytes,
                                                                    cut: int) -> None:
    stream = garbage + encode_message(label, data)
    reader = MessageReader()
    messages = []
    for start in range(0, len(stream), cut):
        messages += reader.feed(stream[start : start + cut])
    assert messages == [EnttecMessage(label, data)]
