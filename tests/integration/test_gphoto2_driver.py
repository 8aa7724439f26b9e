"""The gphoto2 driver against libgphoto2's virtual camera, one real worker process per camera."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from capturerig.config import LoadedRig, load_rig
from capturerig.devices import DeviceError, DeviceTimeout, DriverContext, create_camera
from capturerig.devices.gphoto2 import GPhoto2Camera
from capturerig_sim.vcamera import fill_vcameradir
from tests.integration._vusb import vusb_copy

TIMEOUT_S = 10.0


@pytest.fixture
def vusb(tmp_path: Path) -> LoadedRig:
    return load_rig(vusb_copy(tmp_path) / "rig.yaml")


def _camera(rig: LoadedRig, index: int = 0, context: DriverContext | None = None,
            **params: object) -> GPhoto2Camera:
    config = rig.config.cameras[index]
    if params:
        config = config.model_copy(update={"params": {**config.params, **params}})
    camera = create_camera(config, context or DriverContext(rig.config, rig.path.parent))
    assert isinstance(camera, GPhoto2Camera)  # found through the entry point, as a rig file names it
    return camera


@pytest.fixture
def camera(vusb: LoadedRig) -> Iterator[GPhoto2Camera]:
    cam = _camera(vusb)
    cam.connect(TIMEOUT_S)
    yield cam
    cam.close()


def _shoot(camera: GPhoto2Camera, timeout_s: float = TIMEOUT_S) -> list[str]:
    camera.arm(timeout_s)
    camera.trigger_capture(timeout_s)
    files = camera.wait_for_files(timeout_s)
    assert [f.format for f in files] == ["jpeg"]
    image = cv2.imdecode(np.frombuffer(files[0].data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape == (480, 640, 3)
    return [f.name for f in files]


def test_connect_reports_the_folder_identity_model_battery_and_free_card(vusb: LoadedRig) -> None:
    camera = _camera(vusb, 2)
    try:
        status = camera.connect(TIMEOUT_S)
        assert status.serial == "vcam2" == vusb.config.cameras[2].serial
        assert status.model == "Nikon DSC D750"
        assert status.battery_percent == 50.0
        assert status.free_bytes is not None
        assert status.free_bytes > 100_000_000
        assert camera.worker_pid not in (None, os.getpid())
    finally:
        camera.close()
    assert camera.worker_pid is None


def test_connect_refuses_a_low_battery_or_a_full_card(vusb: LoadedRig) -> None:
    camera = _camera(vusb, min_battery_percent=60)
    with pytest.raises(DeviceError, match=r"vc0: battery at 50% \(the rig asks for at least 60%\).*charge"):
        camera.connect(TIMEOUT_S)
    camera.close()
    camera = _camera(vusb, min_free_shots=1000)  # 1000 x 12 MB JPEGs: more than the 556 MB it has
    with pytest.raises(DeviceError, match=r"vc0: card has 556 MB free, less than 12000 MB"):
        camera.connect(TIMEOUT_S)
    camera.close()


def test_a_device_serial_not_found_lists_the_serials_that_were(vusb: LoadedRig) -> None:
    camera = _camera(vusb, expect_serial="3004711")
    with pytest.raises(DeviceError, match=r"no camera with serial 3004711 found \(found: serial 0\.1 "
                                          r"\(Nikon DSC D750 at usb:"):
        camera.connect(TIMEOUT_S)
    camera.close()


def test_unknown_body_profile_and_empty_image_folder_are_clear_errors(vusb: LoadedRig, tmp_path: Path) -> None:
    config = vusb.config.cameras[0].model_copy(update={"body": "nikon-d7500"})
    with pytest.raises(DeviceError, match=r"vc0: no camera body profile 'nikon-d7500'.*available: .*nikon-d750"):
        create_camera(config, DriverContext(vusb.config, vusb.path.parent))
    empty = tmp_path / "empty"
    empty.mkdir()
    camera = _camera(vusb, vcameradir=str(empty))
    with pytest.raises(DeviceError, match=r"has no JPEG images.*python -m capturerig_sim.vcamera"):
        camera.connect(TIMEOUT_S)
    fill_vcameradir(empty, "late", 2)  # the camera "comes back": the next connect binds it
    try:
        assert camera.connect(TIMEOUT_S).serial == "empty"
    finally:
        camera.close()


def test_capture_downloads_a_jpeg_and_delete_removes_it_from_the_card(camera: GPhoto2Camera) -> None:
    names = _shoot(camera)
    assert names[0].startswith("/store_")
    assert names[0].endswith(".JPG")
    camera.delete_files(names, TIMEOUT_S)
    with pytest.raises(DeviceError, match="file not found on the camera"):
        camera.delete_files(names, TIMEOUT_S)  # really gone from the card
    _shoot(camera)  # the camera goes on after a refused request
    assert camera.restarts == 0


def test_supported_settings_are_applied_and_read_back(camera: GPhoto2Camera) -> None:
    wanted = {"shutter": "1/50", "aperture": "11", "capturetarget": "card"}
    assert camera.apply_settings(wanted, TIMEOUT_S) == wanted
    assert camera.apply_settings({"shutter": "1/100", "aperture": "5.6"}, TIMEOUT_S) == {
        "shutter": "1/100", "aperture": "5.6"}


def test_missing_iso_widget_is_reported_as_an_unsupported_setting(camera: GPhoto2Camera) -> None:
    with pytest.raises(DeviceError, match=r"vc0: iso is not supported by this camera \(no widget 'iso'\)"):
        camera.apply_settings({"iso": "100"}, TIMEOUT_S)
    with pytest.raises(DeviceError, match=r"imageformat is not supported by this camera"):
        camera.apply_settings({"imageformat": "raw+jpeg"}, TIMEOUT_S)


def test_a_value_the_camera_does_not_offer_lists_the_values_it_does(camera: GPhoto2Camera) -> None:
    with pytest.raises(DeviceError, match=r"aperture 3 is not offered by this camera \(widget 'f-number' "
                                          r"offers: f/2\.8, f/3\.5, .*f/8, .*f/22\)"):
        camera.apply_settings({"aperture": "3"}, TIMEOUT_S)
    with pytest.raises(DeviceError, match=r"shutter 1/125 is not offered.*offers: 1\.0000s, .*0\.0100s"):
        camera.apply_settings({"shutter": "1/125"}, TIMEOUT_S)
    with pytest.raises(DeviceError, match=r"capturetarget sdram is not offered.*offers: ram, card"):
        camera.apply_settings({"capturetarget": "sdram"}, TIMEOUT_S)


@pytest.mark.slow
def test_worker_restarts_after_the_virtual_cameras_out_of_memory_and_no_file_is_lost(
        camera: GPhoto2Camera) -> None:
    camera.apply_settings({"aperture": "8"}, TIMEOUT_S)
    first_pid = camera.worker_pid
    delivered: list[str] = []
    failures: list[str] = []
    for _ in range(40):  # the virtual camera fails after ~26 captures per process
        try:
            delivered += _shoot(camera)
        except DeviceError as exc:
            failures.append(str(exc))
    assert len(delivered) == 40 - len(failures)
    assert len(failures) == 1
    assert "libgphoto2 ran out of memory" in failures[0]
    assert camera.restarts == 1
    assert camera.worker_pid != first_pid
    assert camera.apply_settings({"aperture": "8"}, TIMEOUT_S) == {"aperture": "8"}  # re-applied, still there


def test_sigkill_of_a_worker_mid_take_is_detected_and_the_camera_works_again(camera: GPhoto2Camera) -> None:
    pid = camera.worker_pid
    assert pid is not None
    camera.arm(TIMEOUT_S)
    os.kill(pid, signal.SIGSTOP)  # hold it so the fire message is in flight when it dies
    camera.trigger_capture(TIMEOUT_S)
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(DeviceError, match=rf"camera worker \(pid {pid}\) died \(killed by SIGKILL\) during "
                                          "download"):
        camera.wait_for_files(30.0)
    assert time.monotonic() - started < 30.0
    _shoot(camera)
    assert camera.restarts == 1
    assert camera.worker_pid != pid


def test_a_hung_worker_is_killed_within_its_timeout_and_the_camera_works_again(camera: GPhoto2Camera) -> None:
    pid = camera.worker_pid
    assert pid is not None
    camera.arm(TIMEOUT_S)
    os.kill(pid, signal.SIGSTOP)  # a libgphoto2 call that never returns looks the same from outside
    camera.trigger_capture(TIMEOUT_S)
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match=rf"download got no answer within 1\.5 s: the camera worker \(pid "
                                            rf"{pid}\) hung and was killed"):
        camera.wait_for_files(1.5)
    assert 1.5 <= time.monotonic() - started < 10.0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
    _shoot(camera)
    assert camera.restarts == 1


def test_cameras_fire_together_behind_one_barrier(vusb: LoadedRig) -> None:
    context = DriverContext(vusb.config, vusb.path.parent)  # one rig's drivers share a context, as in the engine
    cameras = [_camera(vusb, i, context) for i in range(4)]
    try:
        for cam in cameras:
            cam.connect(TIMEOUT_S)
        for cam in cameras:
            cam.arm(TIMEOUT_S)
        group = cameras[0].fire_group
        before = len(group.history)
        for cam in cameras[:3]:
            cam.trigger_capture(TIMEOUT_S)
        assert len(group.history) == before  # held back until the last armed camera is triggered
        cameras[3].trigger_capture(TIMEOUT_S)
        batch = group.history[-1]
        assert sorted(batch.sent_at) == ["vc0", "vc1", "vc2", "vc3"]
        for cam in cameras:
            assert len(cam.wait_for_files(TIMEOUT_S)) == 1
        assert batch.dispatch_spread_s >= 0.0
        assert batch.receipt_spread_s is not None
    finally:
        for cam in cameras:
            cam.close()
