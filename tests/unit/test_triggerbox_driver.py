"""The serial trigger box driver against the box simulator on a pty: what an operator sees."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capturerig.config import DeviceConfig, LoadedRig
from capturerig.devices import DeviceError, DeviceTimeout, DriverContext, create_trigger
from capturerig.devices.triggerbox import BoxIdentity, ReplyError, SerialTriggerBox, parse_reply
from capturerig_sim import VirtualStudio
from capturerig_sim._latency import trigger_latency_ms
from capturerig_sim.triggerbox_sim import TriggerBoxSimulator

TIMEOUT_S = 2.0


@pytest.fixture
def outputs(loaded: LoadedRig) -> dict[str, int]:
    return {camera.id: index for index, camera in enumerate(loaded.config.cameras)}


@pytest.fixture
def sim(studio: VirtualStudio, outputs: dict[str, int], tmp_path: Path) -> Iterator[TriggerBoxSimulator]:
    with TriggerBoxSimulator(studio, outputs, link=tmp_path / "trig0", device_id="trig0") as simulator:
        yield simulator


def _box(sim: TriggerBoxSimulator, context: DriverContext, **params: Any) -> SerialTriggerBox:
    config = DeviceConfig(id="trig0", driver="serial-box", params={"port": sim.path, **params})
    return SerialTriggerBox(config, context)


@pytest.fixture
def box(sim: TriggerBoxSimulator, context: DriverContext, outputs: dict[str, int]) -> Iterator[SerialTriggerBox]:
    driver = _box(sim, context, outputs=outputs)
    driver.open(TIMEOUT_S)
    yield driver
    driver.close()


def _arm_all(studio: VirtualStudio, camera_ids: list[str]) -> None:
    for camera_id in camera_ids:
        studio.arm(camera_id, {}, 0)


def test_open_identifies_the_box(box: SerialTriggerBox) -> None:
    assert box.identity == BoxIdentity("1.0.0", "SIMTRIG0", 16)


def test_registry_builds_the_serial_box_driver(sim: TriggerBoxSimulator, context: DriverContext) -> None:
    driver = create_trigger(DeviceConfig(id="trig0", driver="serial-box", params={"port": sim.path}), context)
    assert isinstance(driver, SerialTriggerBox)
    assert driver.outputs["cam00"] == 0  # default wiring: the rig's cameras in order


def test_every_armed_camera_exposes_at_the_pulse_time_the_box_reports(
        box: SerialTriggerBox, studio: VirtualStudio, outputs: dict[str, int]) -> None:
    cameras = list(outputs)
    _arm_all(studio, cameras[:10])  # the other six are not armed: they ignore the pulse, like real bodies
    before = time.time()
    fired_at = box.fire(cameras, TIMEOUT_S)
    after = time.time()
    log = studio.exposure_log()
    assert sorted(r.camera_id for r in log) == sorted(cameras[:10])
    assert len({r.fired_at for r in log}) == 1  # one pulse
    assert before <= log[0].fired_at <= after
    assert before <= fired_at <= after


def test_flash_sync_reports_each_cameras_modelled_latency(box: SerialTriggerBox, studio: VirtualStudio,
                                                          loaded: LoadedRig) -> None:
    cameras = [c.id for c in loaded.config.cameras[:4]]
    _arm_all(studio, cameras)
    box.fire(cameras, TIMEOUT_S)
    sync = box.read_sync(TIMEOUT_S)
    expected = {c.id: round(trigger_latency_ms(c.serial, 40.0) * 1000) / 1e6 for c in loaded.config.cameras[:4]}
    assert sync == pytest.approx(expected, abs=1e-9)
    assert max(sync.values()) - min(sync.values()) > 0.0005  # the bodies differ, as real ones do


def test_per_output_delays_shift_the_exposure_and_the_sync_time(box: SerialTriggerBox, studio: VirtualStudio,
                                                                loaded: LoadedRig) -> None:
    studio.time_scale = 1.0  # delays are real waits here
    box.set_delays({"cam01": 20_000}, TIMEOUT_S)
    assert box.delays_us["cam01"] == 20_000
    _arm_all(studio, ["cam00", "cam01"])
    box.fire(["cam00", "cam01"], TIMEOUT_S)
    sync = box.read_sync(TIMEOUT_S)
    exposed = {r.camera_id: r.fired_at for r in studio.exposure_log()}
    assert exposed["cam01"] - exposed["cam00"] >= 0.019  # a timer never fires early
    latency = {c.id: trigger_latency_ms(c.serial, 40.0) / 1000 for c in loaded.config.cameras[:2]}
    assert sync["cam01"] - sync["cam00"] == pytest.approx(0.020 + latency["cam01"] - latency["cam00"], abs=2e-6)


def test_focus_is_kept_alive_while_the_host_is_idle(sim: TriggerBoxSimulator, context: DriverContext,
                                                    outputs: dict[str, int]) -> None:
    driver = _box(sim, context, outputs=outputs, watchdog_ms=150)
    driver.open(TIMEOUT_S)
    try:
        driver.focus(["cam00", "cam02"], TIMEOUT_S)
        time.sleep(0.6)  # four watchdog periods without a command from the engine
        assert driver.command("STATE?", "STATE", TIMEOUT_S).text.startswith("focus=0x0005")
        assert not any("WATCHDOG" in notice for notice in driver.notices)
    finally:
        driver.close()
    assert sim.logic.focus == 0  # close released it


def test_a_silent_host_gets_its_outputs_released(sim: TriggerBoxSimulator, context: DriverContext,
                                                 outputs: dict[str, int]) -> None:
    driver = _box(sim, context, outputs=outputs, watchdog_ms=100)
    driver.open(TIMEOUT_S)
    driver.focus(["cam03"], TIMEOUT_S)
    driver._stop.set()  # the host hangs: no keepalive any more
    deadline = time.monotonic() + 3.0
    while sim.logic.focus and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.logic.focus == 0
    driver.ping(TIMEOUT_S)  # the notice arrives before the next reply and is kept
    assert any(n.startswith("! WATCHDOG released all outputs") for n in driver.notices)
    driver.close()


def test_garbage_reply_names_the_port_and_the_command(box: SerialTriggerBox, sim: TriggerBoxSimulator) -> None:
    sim.inject_reply(b"\xff\xfe\x00 line noise\n")
    with pytest.raises(DeviceError, match=r"trig0: trigger box on .*trig0: sent garbage in reply to 'PING'"):
        box.ping(TIMEOUT_S)
    box.ping(TIMEOUT_S)  # the link recovers for the next command


def test_notices_before_a_reply_are_kept_and_skipped(box: SerialTriggerBox, sim: TriggerBoxSimulator) -> None:
    sim.inject_reply(b"! BOOT capturerig-trigger 1.0.0\r\nPONG\r\n")  # a box that reset, with CRLF endings
    box.ping(TIMEOUT_S)
    assert box.notices[-1] == "! BOOT capturerig-trigger 1.0.0"


def test_reopening_starts_from_a_clean_link(box: SerialTriggerBox) -> None:
    box.open(TIMEOUT_S)  # a second preflight
    box.ping(TIMEOUT_S)


def test_truncated_reply_times_out_saying_what_arrived(box: SerialTriggerBox, sim: TriggerBoxSimulator) -> None:
    sim.inject_reply(b"FIR")
    with pytest.raises(DeviceTimeout, match=r"reply to 'FIRE 0x1' was cut off: got b'FIR' and no newline"):
        box.fire(["cam00"], 0.3)
    box.ping(TIMEOUT_S)


def test_unexpected_reply_is_an_error(box: SerialTriggerBox, sim: TriggerBoxSimulator) -> None:
    sim.inject_reply(b"PONG\n")
    with pytest.raises(DeviceError, match=r"answered 'PONG' to 'FIRE 0x3' \(expected FIRED\)"):
        box.fire(["cam00", "cam01"], TIMEOUT_S)


def test_silent_box_times_out(box: SerialTriggerBox, studio: VirtualStudio) -> None:
    studio.inject_fault("trig0", "disconnect")
    with pytest.raises(DeviceTimeout, match=r"trigger box on .*: no reply to 'PING' \(check the USB cable"):
        box.ping(0.3)


def test_err_reply_says_what_the_box_refused(box: SerialTriggerBox) -> None:
    with pytest.raises(DeviceError, match=r"refused 'DELAY 0 2000000': ERR 2 bad argument"):
        box.set_delays({"cam00": 2_000_000}, TIMEOUT_S)


def test_a_box_with_too_few_outputs_is_refused_at_open(studio: VirtualStudio, context: DriverContext,
                                                       outputs: dict[str, int], tmp_path: Path) -> None:
    with TriggerBoxSimulator(studio, outputs, link=tmp_path / "small", n_outputs=4, serial="TB4") as small:
        driver = _box(small, context, outputs=outputs)
        with pytest.raises(DeviceError, match=r"the box \(serial TB4\) has 4 outputs, but params.outputs maps "
                                              r"cam04 -> 4, .*cam15 -> 15"):
            driver.open(TIMEOUT_S)
        driver.close()


def test_missing_port_and_bad_params_are_clear(context: DriverContext, tmp_path: Path) -> None:
    driver = SerialTriggerBox(DeviceConfig(id="trig0", driver="serial-box",
                                           params={"port": str(tmp_path / "ttyACM9")}), context)
    with pytest.raises(DeviceError, match=r"trigger box on .*ttyACM9: cannot open the port"):
        driver.open(TIMEOUT_S)
    with pytest.raises(DeviceError, match=r"params.port: is required but missing \(the box's serial device"):
        SerialTriggerBox(DeviceConfig(id="trig0", driver="serial-box"), context)
    with pytest.raises(DeviceError, match=r"params.outputs: names camera 'cam99', which the rig does not have"):
        SerialTriggerBox(DeviceConfig(id="trig0", driver="serial-box",
                                      params={"port": "/dev/null", "outputs": {"cam99": 0}}), context)


def test_firing_a_camera_without_an_output_names_it(box: SerialTriggerBox) -> None:
    with pytest.raises(DeviceError, match=r"no output is mapped to camX"):
        box.fire(["cam00", "camX"], TIMEOUT_S)


def test_shared_output_needs_one_delay(sim: TriggerBoxSimulator, context: DriverContext) -> None:
    driver = _box(sim, context, outputs={"cam00": 0, "cam01": 0})
    driver.open(TIMEOUT_S)
    try:
        with pytest.raises(DeviceError, match=r"cam00 and cam01 share output 0 but ask for delays 0 and 5 us"):
            driver.set_delays({"cam00": 0, "cam01": 5}, TIMEOUT_S)
    finally:
        driver.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=300))
def test_any_bytes_from_the_box_give_a_reply_or_a_device_error(box: SerialTriggerBox, sim: TriggerBoxSimulator,
                                                               noise: bytes) -> None:
    sim.inject_reply(noise)
    message = ""
    try:
        box.ping(0.2)
    except DeviceError as exc:
        message = str(exc)
    assert not message or f"trigger box on {box.port}: " in message  # an error names the port
    time.sleep(0.01)
    box._discard_input()  # what a later command would meet is not this example's concern
    box.ping(TIMEOUT_S)


KINDS = {"OK", "PONG", "CLOCK", "FIRED", "SYNC", "DELAY", "ID", "STATE", "ERR"}


def _parse_or_reject(line: str) -> None:
    try:
        reply = parse_reply(line)
    except ReplyError:
        return  # noise is rejected with ReplyError, never with another exception
    assert reply.kind in KINDS


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_reply_parser_fails_only_with_reply_error_on_text(line: str) -> None:
    _parse_or_reject(line)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60))
def test_reply_parser_fails_only_with_reply_error_on_raw_bytes(data: bytes) -> None:
    _parse_or_reject(data.decode("latin-1"))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(0, 15), st.integers(0, 2**32 - 1), max_size=16),
       st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_valid_replies_round_trip(table: dict[int, int], t_us: int, code: int) -> None:
    line = " ".join(["SYNC", *(f"{k}:{v}" for k, v in sorted(table.items()))])
    assert dict(parse_reply(line).table) == table
    assert parse_reply(f"FIRED {t_us}").value == t_us
    assert parse_reply(f"ERR {code} busy firing").text == "busy firing"
    with pytest.raises(ReplyError):
        parse_reply(f"FIRED {t_us + 2**32}")
    with pytest.raises(ReplyError):
        parse_reply(f"FIRED {t_us}\x00")
