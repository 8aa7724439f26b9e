"""The serial light controller driver against the simulated controller on a pty."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capturerig.config import LightOutputConfig
from capturerig.devices import DeviceError, DeviceTimeout, DriverContext, create_light_output
from capturerig.devices.serial_lights import SerialLightsOutput
from capturerig_sim.serial_lights_sim import SerialLightsSim


@pytest.fixture
def controller() -> Iterator[SerialLightsSim]:
    with SerialLightsSim("leds0", serial="LED0042", channels=64) as sim:
        yield sim


def _driver(context: DriverContext, port: str, universes: tuple[int, ...] = (1,), **params: Any
            ) -> SerialLightsOutput:
    config = LightOutputConfig(id="leds0", driver="serial-lights", params={"port": port, **params},
                               universes=universes)
    output = create_light_output(config, context)
    assert isinstance(output, SerialLightsOutput)
    return output


def test_open_identifies_the_controller_and_reads_its_status(controller: SerialLightsSim,
                                                            context: DriverContext) -> None:
    output = _driver(context, controller.path)
    output.open(2.0)
    try:
        assert output.identity is not None
        assert (output.identity.serial, output.identity.channels, output.slots) == ("LED0042", 64, 64)
        assert output.status_at_open == (0, 0)
        assert [command for command, _ in controller.queries] == ["ID?", "S?"]
    finally:
        output.close()


def test_each_universe_gets_its_frame_exactly(controller: SerialLightsSim, context: DriverContext) -> None:
    output = _driver(context, controller.path, universes=(1, 2))
    output.open(2.0)
    try:
        one, two = bytes(range(64)) + bytes(448), bytes([255] * 64) + bytes(448)
        output.set_universe(1, one)
        output.set_universe(2, two)
        output.wait_sent(1.0)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and controller.device.frames.get(2) != two[:64]:
            time.sleep(0.01)
        assert controller.device.frames[1] == one[:64]
        assert controller.device.frames[2] == two[:64]
        assert controller.errors == []
    finally:
        output.close()


def test_no_query_is_sent_while_frames_stream(controller: SerialLightsSim, context: DriverContext) -> None:
    output = _driver(context, controller.path)
    output.open(2.0)
    try:
        controller.wait_for_frames(3, 2.0)
        with pytest.raises(DeviceError, match="leds0: refusing to read the controller status while DMX frames stream"):
            output.read_status(1.0)
    finally:
        output.close()
    assert all(frames_before == 0 for _, frames_before in controller.queries)


def test_a_refused_frame_is_reported_by_wait_sent_with_the_controllers_error(context: DriverContext) -> None:
    with SerialLightsSim("leds0", channels=8) as sim:
        output = _driver(context, sim.path, channels=8)
        output.open(2.0)
        output.slots = 9  # as if the rig promised more channels than the controller has
        try:
            output.set_universe(1, bytes([1] * 512))
            with pytest.raises(DeviceTimeout, match=r"leds0: frame not on the wire .*refused the frame of universe 1: "
                                                    r"ERR 6 more than 8 slots"):
                output.wait_sent(0.5)
        finally:
            output.close()


def test_a_rig_whose_frames_do_not_fit_the_baud_rate_is_refused(context: DriverContext) -> None:
    with SerialLightsSim("leds0", channels=512) as sim:
        output = _driver(context, sim.path, rate_hz=44)
        with pytest.raises(DeviceError, match=r"1 x 512 slots take 89\.6 ms at 115200 baud, longer than one frame "
                                              r"period at 44 Hz"):
            output.open(2.0)


def test_a_controller_with_another_serial_is_refused(controller: SerialLightsSim, context: DriverContext) -> None:
    with pytest.raises(DeviceError, match="has serial LED0042, the rig expects LED0001"):
        _driver(context, controller.path, serial="LED0001").open(2.0)


@pytest.mark.parametrize(("fault", "error", "message"), [
    ("silent", DeviceTimeout, r"no reply to 'ID\?' from .* within 0\.4 s"),
    ("garbage", DeviceError,
     r"no valid reply to 'ID\?' .*: got 00 ff 7e 7e .*line b'not a reply\\n': missing checksum"),
    ("truncated", DeviceError, r"got 49 44 20 63 61 \(5 bytes\).*unfinished line \(5 bytes, truncated\?\)"),
])
def test_a_broken_controller_gives_a_clear_error_within_the_timeout(context: DriverContext, fault: str,
                                                                    error: type[DeviceError], message: str) -> None:
    with SerialLightsSim("leds0", fault=fault) as sim:
        output = _driver(context, sim.path)
        started = time.monotonic()
        with pytest.raises(error, match=message) as raised:
            output.open(0.4)
        assert time.monotonic() - started < 3.0
        assert sim.path in str(raised.value)
        assert not output.streaming


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reply=st.binary(max_size=120) | st.sampled_from([b"ID capturerig-leds 1.0 X 8\n", b"OK\nERR 9 x\n"]))
def test_any_reply_opens_the_controller_or_gives_a_device_error_never_a_hang(
        controller: SerialLightsSim, context: DriverContext, reply: bytes) -> None:
    controller.reply_override = reply
    output = _driver(context, controller.path, reply_timeout_s=0.1)
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
        assert str(error).startswith("leds0: ")
    else:
        assert output.identity is not None
