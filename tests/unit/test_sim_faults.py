"""Faults injected into the virtual studio: the right error, from the right device, for the asked count."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from capturerig.devices import (
    Camera,
    DeviceError,
    DeviceTimeout,
    DriverContext,
    create_camera,
    create_light_output,
    create_trigger,
    create_turntable,
)
from capturerig_sim import FAULT_KINDS, SimCamera, VirtualStudio

pytestmark = pytest.mark.usefixtures("fast_sim")


def camera(context: DriverContext, camera_id: str = "cam00") -> Camera:
    device = create_camera(context.rig.camera(camera_id), context)
    device.connect(timeout_s=1)
    return device


def exposed(device: Camera) -> Camera:
    device.trigger_capture(timeout_s=1)
    return device


def decodes(data: bytes) -> bool:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None


def _open_light(context: DriverContext) -> Callable[[], object]:
    output = create_light_output(context.rig.light_outputs[0], context)
    return lambda: output.open(timeout_s=1)


def _fire_trigger(context: DriverContext) -> Callable[[], object]:
    assert context.rig.trigger is not None
    box = create_trigger(context.rig.trigger, context)
    box.open(timeout_s=1)
    return lambda: box.fire(["cam00"], timeout_s=1)


def _move_table(context: DriverContext) -> Callable[[], object]:
    assert context.rig.turntable is not None
    table = create_turntable(context.rig.turntable, context)
    table.open(timeout_s=1)
    return lambda: table.move_to(10.0, timeout_s=1)


def _connect_camera(context: DriverContext) -> Callable[[], object]:
    device = create_camera(context.rig.camera("cam00"), context)
    return lambda: device.connect(timeout_s=1)


@pytest.mark.parametrize(("device_id", "make_call"), [
    ("cam00", _connect_camera), ("dmx0", _open_light), ("trig0", _fire_trigger), ("tt0", _move_table)])
def test_a_disconnect_fails_the_next_calls_then_clears(
        context: DriverContext, studio: VirtualStudio, device_id: str,
        make_call: Callable[[DriverContext], Callable[[], object]]) -> None:
    call = make_call(context)
    studio.inject_fault(device_id, "disconnect", count=2)
    for _ in range(2):
        with pytest.raises(DeviceError) as raised:
            call()
        assert raised.value.device_id == device_id
        assert not isinstance(raised.value, DeviceTimeout)
    call()
    assert studio.pending_faults() == {}


def test_a_busy_camera_refuses_to_arm_or_capture_once(context: DriverContext, studio: VirtualStudio) -> None:
    device = camera(context)
    studio.inject_fault("cam00", "busy")
    with pytest.raises(DeviceError, match="busy"):
        device.arm(timeout_s=1)
    device.arm(timeout_s=1)
    studio.inject_fault("cam00", "busy")
    with pytest.raises(DeviceError, match="busy"):
        device.trigger_capture(timeout_s=1)
    device.trigger_capture(timeout_s=1)
    assert len(device.wait_for_files(timeout_s=1)) == 1


def test_a_slow_download_times_out_and_the_files_come_on_retry(
        context: DriverContext, studio: VirtualStudio) -> None:
    device = exposed(camera(context))
    studio.inject_fault("cam00", "slow_download")
    with pytest.raises(DeviceTimeout, match="download") as raised:
        device.wait_for_files(timeout_s=30)  # time scale 0: gives up at once instead of after 30 s
    assert raised.value.device_id == "cam00"
    [jpeg] = device.wait_for_files(timeout_s=1)
    assert jpeg.name == "IMG_0001.JPG"
    assert decodes(jpeg.data)


def test_a_slow_download_waits_out_its_timeout_when_time_runs(
        context: DriverContext, studio: VirtualStudio) -> None:
    studio.time_scale = 0.01
    device = exposed(camera(context))
    studio.inject_fault("cam00", "slow_download")
    start = time.monotonic()
    with pytest.raises(DeviceTimeout):
        device.wait_for_files(timeout_s=0.1)
    assert 0.09 <= time.monotonic() - start < 1.0


def test_a_corrupt_download_does_not_decode_and_the_next_one_does(
        context: DriverContext, studio: VirtualStudio) -> None:
    device = exposed(camera(context))
    studio.inject_fault("cam00", "corrupt_download")
    [broken] = device.wait_for_files(timeout_s=1)
    assert not decodes(broken.data)
    assert isinstance(device, SimCamera)
    assert device.card_files()[broken.name] > len(broken.data)  # the card copy is whole
    [good] = exposed(device).wait_for_files(timeout_s=1)
    assert decodes(good.data)


def test_a_full_card_fails_the_exposure_once(context: DriverContext, studio: VirtualStudio) -> None:
    device = camera(context)
    studio.inject_fault("cam00", "card_full")
    device.arm(timeout_s=1)
    assert context.rig.trigger is not None
    box = create_trigger(context.rig.trigger, context)
    box.open(timeout_s=1)
    box.fire(["cam00"], timeout_s=1)
    with pytest.raises(DeviceError, match="card full") as raised:
        device.wait_for_files(timeout_s=1)
    assert raised.value.device_id == "cam00"
    studio.inject_fault("cam00", "card_full")
    with pytest.raises(DeviceError, match="card full"):
        device.trigger_capture(timeout_s=1)  # a software capture says so at once
    assert len(exposed(device).wait_for_files(timeout_s=1)) == 1


def test_a_small_card_fills_up_until_files_are_deleted(context: DriverContext) -> None:
    # The sim-studio body estimates 90 kB per JPEG; the rendered files are smaller.
    small = context.rig.camera("cam00").model_copy(update={"params": {"card_bytes": 100_000}})
    device = create_camera(small, context)
    device.connect(timeout_s=1)
    [first] = exposed(device).wait_for_files(timeout_s=1)
    with pytest.raises(DeviceError, match="card full"):
        device.trigger_capture(timeout_s=1)
    device.delete_files([first.name], timeout_s=1)
    assert len(exposed(device).wait_for_files(timeout_s=1)) == 1


def test_a_fault_hits_only_the_device_it_names(context: DriverContext, studio: VirtualStudio) -> None:
    healthy, faulty = camera(context, "cam01"), camera(context, "cam02")
    studio.inject_fault("cam02", "corrupt_download", count=3)
    assert decodes(exposed(healthy).wait_for_files(timeout_s=1)[0].data)
    assert not decodes(exposed(faulty).wait_for_files(timeout_s=1)[0].data)
    assert studio.pending_faults() == {("cam02", "corrupt_download"): 2}


def test_unknown_fault_kinds_and_counts_are_refused(studio: VirtualStudio) -> None:
    assert set(FAULT_KINDS) == {"disconnect", "busy", "slow_download", "corrupt_download", "card_full",
                                "truncated_download", "disconnect_mid_download", "slow_usb", "light_silent",
                                "trigger_reset", "defocus", "motion_blur", "wrong_shutter", "stale_file",
                                "silent_fixture", "late_fire", "lens_cap", "bumped"}
    with pytest.raises(ValueError, match="melt"):
        studio.inject_fault("cam00", "melt")
    with pytest.raises(ValueError, match="count"):
        studio.inject_fault("cam00", "busy", count=0)
