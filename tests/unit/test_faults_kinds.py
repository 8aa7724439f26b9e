"""The chaos fault kinds: each one reaches the engine as the error (or the bad file) a real device gives."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from capturerig.config import DeviceConfig
from capturerig.devices import (
    Camera,
    DeviceError,
    DeviceTimeout,
    DriverContext,
    create_camera,
    create_light_output,
    create_trigger,
)
from capturerig.devices.triggerbox import SerialTriggerBox
from capturerig_sim import SimCamera, VirtualStudio
from capturerig_sim._ledger import LEDGER_ENV, read_ledger
from capturerig_sim.triggerbox_sim import TriggerBoxSimulator

pytestmark = pytest.mark.usefixtures("fast_sim")


def _camera(context: DriverContext, camera_id: str = "cam00") -> Camera:
    device = create_camera(context.rig.camera(camera_id), context)
    device.connect(timeout_s=1)
    return device


def _decodes(data: bytes) -> bool:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None


def test_a_truncated_download_is_cut_short_but_the_card_copy_is_whole(
        context: DriverContext, studio: VirtualStudio) -> None:
    device = _camera(context)
    studio.inject_fault("cam00", "truncated_download")
    device.trigger_capture(timeout_s=1)
    [short] = device.wait_for_files(timeout_s=1)
    assert short.data[:2] == b"\xff\xd8"  # still starts like a JPEG
    assert not short.data.endswith(b"\xff\xd9")
    assert not _decodes(short.data)
    assert isinstance(device, SimCamera)
    assert device.card_files()[short.name] > len(short.data)


def test_a_camera_dropping_off_usb_mid_download_keeps_the_files_on_its_card(
        context: DriverContext, studio: VirtualStudio) -> None:
    device = _camera(context)
    studio.inject_fault("cam00", "disconnect_mid_download")
    device.trigger_capture(timeout_s=1)
    with pytest.raises(DeviceError, match="during the download") as raised:
        device.wait_for_files(timeout_s=1)
    assert raised.value.device_id == "cam00"
    assert isinstance(device, SimCamera)
    assert list(device.card_files()) == ["IMG_0001.JPG"]
    [again] = device.wait_for_files(timeout_s=1)  # the same exposure, downloaded on the retry
    assert again.name == "IMG_0001.JPG"
    assert _decodes(again.data)


def test_slow_usb_delivers_late_and_a_short_timeout_sees_it(context: DriverContext, studio: VirtualStudio) -> None:
    device = _camera(context)
    studio.inject_fault("cam00", "slow_usb")
    studio.time_scale = 10.0  # the 0.5 s re-enumeration stall takes 5 s of wall time: far past 1 s
    device.trigger_capture(timeout_s=1)
    with pytest.raises(DeviceTimeout, match="needs about") as raised:
        device.wait_for_files(timeout_s=1.0)
    assert raised.value.device_id == "cam00"
    assert studio.pending_faults() == {}


def test_a_silent_light_node_drops_the_frame_and_says_so(context: DriverContext, studio: VirtualStudio) -> None:
    output = create_light_output(context.rig.light_outputs[0], context)
    output.open(timeout_s=1)
    universe = context.rig.light_outputs[0].universes[0]
    studio.inject_fault(output.id, "light_silent")
    output.set_universe(universe, bytes([255]) * 512)
    with pytest.raises(DeviceTimeout, match="silent") as raised:
        output.wait_sent(timeout_s=1)
    assert raised.value.device_id == output.id
    assert studio.held_frame(output.id, universe) == bytes(512)  # the fixtures never saw it
    output.set_universe(universe, bytes([255]) * 512)
    output.wait_sent(timeout_s=1)
    assert studio.held_frame(output.id, universe) == bytes([255]) * 512


def test_a_trigger_box_reset_fires_no_camera(context: DriverContext, studio: VirtualStudio) -> None:
    assert context.rig.trigger is not None
    box = create_trigger(context.rig.trigger, context)
    box.open(timeout_s=1)
    device = _camera(context)
    device.arm(timeout_s=1)
    studio.inject_fault(box.id, "trigger_reset")
    with pytest.raises(DeviceError, match="reset") as raised:
        box.fire(["cam00"], timeout_s=1)
    assert raised.value.device_id == box.id
    assert studio.exposure_log() == []
    assert "cam00" in studio.armed()  # still armed: the next pulse exposes it
    box.fire(["cam00"], timeout_s=1)
    assert len(device.wait_for_files(timeout_s=1)) == 1


def test_the_ledger_records_deliveries_erasures_and_faults(
        context: DriverContext, studio: VirtualStudio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.setenv(LEDGER_ENV, str(ledger))
    device = _camera(context)
    studio.inject_fault("cam00", "corrupt_download")
    device.trigger_capture(timeout_s=1)
    [broken] = device.wait_for_files(timeout_s=1)
    device.delete_files([broken.name], timeout_s=1)
    with ledger.open("a", encoding="utf-8") as handle:
        handle.write('{"event": "deliv')  # what a kill mid-write leaves: skipped, not an error
    fault, delivered, erased = read_ledger(ledger)
    assert (fault["event"], fault["device"], fault["kind"]) == ("fault", "cam00", "corrupt_download")
    assert delivered["event"] == "delivered"
    assert delivered["sha256"] != delivered["card_sha256"]
    assert delivered["size"] == len(broken.data)
    assert erased == {**erased, "event": "erased", "camera": "cam00", "card_name": broken.name,
                      "card_sha256": delivered["card_sha256"]}
    assert all(json.loads(line) for line in ledger.read_text().splitlines()[:3])


def test_a_trigger_box_reset_loses_the_pulse_and_the_driver_sends_its_settings_again(
        studio: VirtualStudio, context: DriverContext, tmp_path: Path) -> None:
    outputs = {camera.id: index for index, camera in enumerate(context.rig.cameras)}
    with TriggerBoxSimulator(studio, outputs, link=tmp_path / "trig0", device_id="trig0") as sim:
        box = SerialTriggerBox(DeviceConfig(id="trig0", driver="serial-box",
                                            params={"port": sim.path, "outputs": outputs}), context)
        box.open(2.0)
        try:
            box.set_delays({"cam01": 500}, 2.0)
            studio.arm("cam00", {}, 0)
            studio.inject_fault("trig0", "trigger_reset")
            with pytest.raises(DeviceError) as raised:
                box.fire(["cam00"], 0.3)
            assert raised.value.device_id == "trig0"
            assert studio.exposure_log() == []  # no pulse went out
            assert sim.logic.delay_us[outputs["cam01"]] == 0  # the reset forgot the delays
            box.fire(["cam00"], 2.0)
            assert [record.camera_id for record in studio.exposure_log()] == ["cam00"]
            assert sim.logic.delay_us[outputs["cam01"]] == 500  # the driver sent them again before that fire
            assert box.delays_us["cam01"] == 500
        finally:
            box.close()
