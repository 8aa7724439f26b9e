"""The ENTTEC DMX USB Pro driver against a simulated widget on a pty: what the widget receives and answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capturerig.config import LightOutputConfig
from capturerig.devices import DeviceError, DeviceTimeout, DriverContext, create_light_output
from capturerig.devices.enttec import EnttecProOutput
from capturerig.devices.enttec_protocol import WidgetParameters
from capturerig_sim.enttec_widget import EnttecWidgetSim


@pytest.fixture
def widget() -> Iterator[EnttecWidgetSim]:
    sim = EnttecWidgetSim("enttec0", universe=1, serial="00123456",
                          parameters=WidgetParameters(firmware=0x0144, break_units=12, mab_units=2, rate=30))
    with sim:
        yield sim


def _driver(context: DriverContext, port: str, **params: Any) -> EnttecProOutput:
    config = LightOutputConfig(id="enttec0", driver="enttec-pro", params={"port": port, **params}, universes=(1,))
    output = create_light_output(config, context)
    assert isinstance(output, EnttecProOutput)
    return output


def _pattern(seed: int) -> bytes:
    return bytes((seed + 7 * i) % 256 for i in range(512))


def test_open_reads_the_widget_parameters_and_serial_number(widget: EnttecWidgetSim, context: DriverContext) -> None:
    output = _driver(context, widget.path)
    output.open(2.0)
    try:
        assert output.serial_number == "00123456"
        assert output.widget_parameters == WidgetParameters(0x0144, 12, 2, 30)
        assert [label for label, _ in widget.queries] == [3, 10]
    finally:
        output.close()


def test_frames_arrive_exactly_as_set(widget: EnttecWidgetSim, context: DriverContext) -> None:
    output = _driver(context, widget.path)
    output.open(2.0)
    try:
        for seed in (1, 2, 3):
            output.set_universe(1, _pattern(seed))
            output.wait_sent(1.0)
            received = widget.wait_for_levels(_pattern(seed), 2.0)
            assert received is not None, f"frame {seed} never arrived whole"
            assert received.slots == _pattern(seed)
        assert widget.errors == []
        assert widget.start_codes == {0}
    finally:
        output.close()


def test_fewer_slots_are_padded_to_24_on_the_wire(widget: EnttecWidgetSim, context: DriverContext) -> None:
    output = _driver(context, widget.path, slots=24)
    output.open(2.0)
    try:
        output.set_universe(1, bytes([200] * 10) + bytes(502))
        output.wait_sent(1.0)
        received = widget.wait_for_levels(bytes([200] * 10), 2.0)
        assert received is not None
        assert received.slots == bytes([200] * 10) + bytes(14)  # exactly 24 slots: 10 set, 14 zero
    finally:
        output.close()


def test_configured_timing_is_written_at_open_and_read_back(widget: EnttecWidgetSim, context: DriverContext) -> None:
    output = _driver(context, widget.path, break_us=192, mab_us=32, output_rate=25)
    output.open(2.0)
    try:
        assert (widget.parameters.break_units, widget.parameters.mab_units, widget.parameters.rate) == (18, 3, 25)
        assert output.widget_parameters is not None
        assert output.widget_parameters.break_units == 18
    finally:
        output.close()


def test_no_query_reaches_the_widget_while_frames_stream(widget: EnttecWidgetSim, context: DriverContext) -> None:
    output = _driver(context, widget.path)
    output.open(2.0)
    try:
        widget.wait_for_frames(3, 2.0)
        with pytest.raises(DeviceError, match=r"enttec0: refusing to read the widget parameters while DMX frames "
                                              r"stream"):
            output.get_widget_parameters(1.0)
        with pytest.raises(DeviceError, match="refusing to read the widget serial number while DMX frames stream"):
            output.get_serial_number(1.0)
    finally:
        output.close()
    assert all(frames_before == 0 for _, frames_before in widget.queries), widget.queries


def test_a_widget_with_another_serial_is_refused(widget: EnttecWidgetSim, context: DriverContext) -> None:
    output = _driver(context, widget.path, serial="99999999")
    with pytest.raises(DeviceError, match="has serial 00123456, the rig expects 99999999"):
        output.open(2.0)
    assert not output.streaming


@pytest.mark.parametrize(("fault", "error", "message"), [
    ("silent", DeviceTimeout, r"no reply to Get Widget Parameters \(label 3\) from .* within 0\.4 s"),
    ("garbage", DeviceError, r"garbled reply to Get Widget Parameters .*: got 20 21 22 .*without a start byte"),
    ("truncated", DeviceError, r"got 7e 03 05 00 \(4 bytes\).*unfinished message \(4 bytes, truncated\?\)"),
    ("bad_end", DeviceError, r"end byte 0x00 instead of 0xe7"),
])
def test_a_broken_widget_gives_a_clear_error_within_the_timeout(context: DriverContext, fault: str,
                                                                error: type[DeviceError], message: str) -> None:
    with EnttecWidgetSim("enttec0", universe=1, fault=fault) as sim:
        output = _driver(context, sim.path)
        started = time.monotonic()
        with pytest.raises(error, match=message) as raised:
            output.open(0.4)
        assert time.monotonic() - started < 3.0
        assert sim.path in str(raised.value)
        assert "enttec0" in str(raised.value)
        assert not output.streaming


def test_a_missing_port_names_the_path(context: DriverContext) -> None:
    output = _driver(context, "/tmp/capturerig-sim/no-such-widget")
    with pytest.raises(DeviceError, match=r"enttec0: cannot open serial port /tmp/capturerig-sim/no-such-widget"):
        output.open(1.0)


def test_bad_params_are_refused_naming_the_param(context: DriverContext) -> None:
    with pytest.raises(DeviceError, match=r"params\.slots: input should be less than or equal to 512 \(got 600\)"):
        _driver(context, "/dev/null", slots=600)
    with pytest.raises(DeviceError, match=r"params\.rate_hz: input should be less than or equal to 44 \(got 50\)"):
        _driver(context, "/dev/null", rate_hz=50)
    with pytest.raises(DeviceError, match=r"params\.slots: should be a whole number, got 512\.0"):
        _driver(context, "/dev/null", slots=512.0)
    with pytest.raises(DeviceError, match=r"params\.port: is required but missing \(the interface's serial device"):
        create_light_output(LightOutputConfig(id="e", driver="enttec-pro", universes=(1,)), context)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reply=st.binary(max_size=80))
def test_any_reply_gives_parameters_or_a_device_error_never_a_hang(widget: EnttecWidgetSim, context: DriverContext,
                                                                   reply: bytes) -> None:
    widget.reply_override = reply
    output = _driver(context, widget.path, reply_timeout_s=0.1)
    started = time.monotonic()
    error: DeviceError | None = None
    try:
        output.open(0.1)
    except DeviceError as exc:  # our error, naming the device; any other exception fails the test
        error = exc
    finally:
        output.close()
    assert time.monotonic() - started < 3.0
    if error is not None:
        assert str(error).startswith("enttec0: ")
    else:
        assert output.widget_parameters is not None


def test_frames_need_an_open_widget_and_a_universe_it_carries(widget: EnttecWidgetSim,
                                                             context: DriverContext) -> None:
    output = _driver(context, widget.path)
    with pytest.raises(DeviceError, match="enttec0: cannot send: the ENTTEC DMX USB Pro is not open"):
        output.set_universe(1, bytes(512))
    with pytest.raises(ValueError, match=r"enttec0: does not carry universe 2 \(carries 1\)"):
        output.set_universe(2, bytes(512))
    with pytest.raises(ValueError, match="a frame has 512 levels, got 3"):
        output.set_universe(1, bytes(3))
    output.open(2.0)
    output.close()
    output.close()  # closing twice is harmless
    with pytest.raises(DeviceError, match="cannot wait for frames"):
        output.wait_sent(0.1)
