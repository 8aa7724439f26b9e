"""Open DMX: the frame layout, the break timing, the simulator-only break marker and its stream parser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st
from serial.urlhandler.protocol_loop import Serial as LoopSerial

from capturerig.config import LightOutputConfig
from capturerig.devices import DeviceError, DriverContext, create_light_output
from capturerig.devices.opendmx import BAUD_RATE, BREAK_MARKER, MIN_BREAK_US, MIN_MAB_US, OpenDmxOutput, dmx_frame
from capturerig_sim.opendmx_sim import FRAME_BYTES, OpenDmxSim, OpenDmxStreamParser


@pytest.fixture
def line() -> Iterator[OpenDmxSim]:
    with OpenDmxSim("dmx0", universe=3) as sim:
        yield sim


def _driver(context: DriverContext, port: str, **params: Any) -> OpenDmxOutput:
    config = LightOutputConfig(id="dmx0", driver="opendmx", params={"port": port, **params}, universes=(3,))
    output = create_light_output(config, context)
    assert isinstance(output, OpenDmxOutput)
    return output


def test_a_frame_is_start_code_zero_then_512_slots() -> None:
    frame = dmx_frame(bytes([10, 20, 30]))
    assert frame == b"\x00" + bytes([10, 20, 30]) + bytes(509)
    assert len(frame) == 513
    with pytest.raises(ValueError, match="at most 512 slots"):
        dmx_frame(bytes(513))


def test_the_port_is_250000_baud_8n2(line: OpenDmxSim, context: DriverContext) -> None:
    output = _driver(context, line.path, break_marker=True)
    output.open(1.0)
    try:
        port = output._port
        assert port is not None
        assert (port.baudrate, port.bytesize, port.parity, port.stopbits) == (
            BAUD_RATE, serial.EIGHTBITS, serial.PARITY_NONE, serial.STOPBITS_TWO)
    finally:
        output.close()


def test_frames_arrive_whole_with_at_least_the_dmx_break_and_mark_after_break(line: OpenDmxSim,
                                                                           context: DriverContext) -> None:
    output = _driver(context, line.path, break_marker=True)
    output.open(1.0)
    try:
        for value in (255, 17, 0):
            levels = bytes([value, 1, 2]) + bytes(509)
            output.set_universe(3, levels)
            output.wait_sent(1.0)
            received = line.wait_for_levels(levels, 2.0)
            assert received is not None
            assert received.universe == 3
            assert len(received.slots) == 512
        assert output.last_break_us >= MIN_BREAK_US
        assert output.last_mab_us >= MIN_MAB_US
        assert line.errors == []
        assert line.torn == 0
    finally:
        output.close()


def test_the_break_marker_is_refused_on_a_real_port(context: DriverContext) -> None:
    with pytest.raises(DeviceError, match=r"break_marker is for the Open DMX simulator only, but /dev/ttyUSB0"):
        _driver(context, "/dev/ttyUSB0", break_marker=True)


class _BreaklessLoop(LoopSerial):  # type: ignore[misc]
    """pyserial's loop port, refusing the break ioctl the way a pty may (errno 25)."""

    def _update_break_state(self) -> None:
        raise OSError(25, "Inappropriate ioctl for device")


def test_a_real_line_carries_only_start_code_and_slots(context: DriverContext) -> None:
    port = LoopSerial("loop://", timeout=0.5)  # echoes what the driver writes
    _driver(context, "loop://")._transmit(port, 3, bytes([9] * 512))
    assert port.read(1000) == b"\x00" + bytes([9] * 512)


def test_a_break_the_port_refuses_is_an_error_on_a_real_line(context: DriverContext) -> None:
    port = _BreaklessLoop("loop://", timeout=0.5)
    with pytest.raises(DeviceError, match=r"dmx0: cannot set the DMX break on loop://.*Inappropriate ioctl"):
        _driver(context, "loop://")._transmit(port, 3, bytes(512))
    assert port.in_waiting == 0  # nothing was sent without its break


def test_with_the_simulator_marker_a_refused_break_is_tolerated(context: DriverContext) -> None:
    port = _BreaklessLoop("loop://", timeout=0.5)
    _driver(context, "loop://", break_marker=True)._transmit(port, 3, bytes(512))
    assert port.read(1000) == BREAK_MARKER + bytes(FRAME_BYTES)


def test_the_parser_counts_a_torn_frame_and_resyncs_on_the_next_marker() -> None:
    parser = OpenDmxStreamParser()
    whole = BREAK_MARKER + dmx_frame(bytes([1] * 512))
    frames = parser.feed(b"junk" + whole + b"\x05\x06" + whole)
    assert [slots[:1] for _, slots in frames] == [b"\x01", b"\x01"]
    assert parser.torn == 1  # the two stray bytes after the first frame


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=1200), max_size=6))
def test_the_stream_parser_takes_any_bytes_and_returns_only_whole_frames(chunks: list[bytes]) -> None:
    parser = OpenDmxStreamParser()
    for chunk in chunks:
        for start_code, slots in parser.feed(chunk):
            assert 0 <= start_code <= 255
            assert len(slots) == 512
        assert len(parser._buffer) < len(BREAK_MARKER) + FRAME_BYTES


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=512, max_size=512), min_size=1, max_size=4), st.integers(1, 700))
def test_consecutive_frames_survive_any_chunking(levels: list[bytes], cut: int) -> None:
    stream = b"".join(BREAK_MARKER + dmx_frame(frame) for frame in levels)
    parser = OpenDmxStreamParser()
    got = []
    for start in range(0, len(stream), cut):
        got += parser.feed(stream[start : start + cut])
    assert got == [(0, frame) for frame in levels]
    assert parser.torn == 0
