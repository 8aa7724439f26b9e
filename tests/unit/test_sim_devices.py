"""Sim drivers through the registry: what the engine sees when it drives the virtual studio."""

from __future__ import annotations

import time
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from capturerig.config import LightingCondition, LoadedRig, RigConfig
from capturerig.develop import develop_linear
from capturerig.devices import (
    Camera,
    CameraFile,
    DeviceError,
    DeviceTimeout,
    DriverContext,
    LightOutput,
    TriggerBox,
    Turntable,
    create_camera,
    create_light_output,
    create_trigger,
    create_turntable,
)
from capturerig.lighting import UniverseKey, frames_for_condition
from capturerig_sim import TIME_SCALE_ENV, SimCamera, VirtualStudio, expected_image, get_studio
from capturerig_sim import subject_mask as subject_mask_of
from capturerig_sim.raw_render import raw_truth

FULL_WHITE = {"intensity": 1.0, "red": 1.0, "green": 1.0, "blue": 1.0, "white": 1.0}
RED = {"intensity": 1.0, "red": 1.0}
BLUE = {"intensity": 1.0, "blue": 1.0}

pytestmark = pytest.mark.usefixtures("fast_sim")


def camera(context: DriverContext, camera_id: str) -> Camera:
    device = create_camera(context.rig.camera(camera_id), context)
    device.connect(timeout_s=5)
    return device


def lights(context: DriverContext) -> LightOutput:
    assert len(context.rig.light_outputs) == 1
    output = create_light_output(context.rig.light_outputs[0], context)
    output.open(timeout_s=1)
    return output


def trigger(context: DriverContext) -> TriggerBox:
    assert context.rig.trigger is not None
    box = create_trigger(context.rig.trigger, context)
    box.open(timeout_s=1)
    return box


def condition_frames(rig: RigConfig, levels: dict[str, float]) -> dict[UniverseKey, bytes]:
    return frames_for_condition(rig, LightingCondition.model_validate({"id": "t", "levels": {"*": levels}}))


def set_lights(output: LightOutput, rig: RigConfig, levels: dict[str, float]) -> dict[UniverseKey, bytes]:
    frames = condition_frames(rig, levels)
    for (_, universe), frame in frames.items():
        output.set_universe(universe, frame)
    output.wait_sent(timeout_s=1)
    return frames


def decode(file: CameraFile) -> npt.NDArray[np.uint8]:
    image = cv2.imdecode(np.frombuffer(file.data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"{file.name} does not decode"
    return np.asarray(image, dtype=np.uint8)


def smooth(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Blur away sensor noise and JPEG's chroma subsampling on the fine texture, keeping the picture."""
    return np.asarray(cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.5), dtype=np.float32)


def shoot(box: TriggerBox, cameras: Sequence[Camera]) -> dict[str, list[CameraFile]]:
    for device in cameras:
        device.arm(timeout_s=1)
    box.fire([device.id for device in cameras], timeout_s=1)
    return {device.id: device.wait_for_files(timeout_s=5) for device in cameras}


def test_registry_builds_sim_devices_that_speak_the_protocols(context: DriverContext) -> None:
    rig = context.rig
    assert rig.trigger is not None
    assert rig.turntable is not None
    assert isinstance(create_camera(rig.cameras[0], context), Camera)
    assert isinstance(create_light_output(rig.light_outputs[0], context), LightOutput)
    assert isinstance(create_trigger(rig.trigger, context), TriggerBox)
    assert isinstance(create_turntable(rig.turntable, context), Turntable)


def test_camera_reports_its_serial_or_the_one_the_rig_makes_it_claim(context: DriverContext) -> None:
    status = camera(context, "cam04").connect(timeout_s=1)
    assert (status.serial, status.model) == ("SIM00004", "capturerig-sim")
    assert status.free_bytes is not None
    assert status.free_bytes > 1_000_000_000

    liar = context.rig.camera("cam04").model_copy(update={"params": {"serial_reported": "OTHER123"}})
    assert create_camera(liar, context).connect(timeout_s=1).serial == "OTHER123"


def test_settings_are_read_back_and_an_unknown_one_is_named(context: DriverContext) -> None:
    device = camera(context, "cam00")
    written = {"iso": "200", "shutter": "1/250", "aperture": "5.6", "whitebalance": "tungsten"}
    assert device.apply_settings(written, timeout_s=1) == written
    with pytest.raises(DeviceError, match="'focusmode'") as raised:
        device.apply_settings({"iso": "100", "focusmode": "manual"}, timeout_s=1)
    assert raised.value.device_id == "cam00"
    with pytest.raises(DeviceError, match="shutter"):
        device.apply_settings({"shutter": "forever"}, timeout_s=1)


def test_a_stuck_setting_reads_back_what_the_camera_really_kept(context: DriverContext) -> None:
    stuck = context.rig.camera("cam02").model_copy(update={"params": {"stuck_settings": {"iso": "800"}}})
    device = create_camera(stuck, context)
    device.connect(timeout_s=1)
    assert device.apply_settings({"iso": "100", "shutter": "1/125"}, timeout_s=1) == {
        "iso": "800", "shutter": "1/125"}


def test_a_triggered_camera_delivers_a_jpeg_of_its_own_view(context: DriverContext) -> None:
    rig = context.rig
    frames = set_lights(lights(context), rig, FULL_WHITE)
    cameras = [camera(context, "cam00"), camera(context, "cam01")]
    before = time.time()
    files = shoot(trigger(context), cameras)
    own, other = rig.camera("cam00"), rig.camera("cam01")
    [jpeg] = files["cam00"]
    assert (jpeg.name, jpeg.format) == ("IMG_0001.JPG", "jpeg")
    assert before <= jpeg.exposed_at <= time.time()
    mask = subject_mask_of(own)
    image = smooth(decode(jpeg))
    assert np.abs(image - smooth(expected_image(own, rig, frames)))[mask].mean() < 2.0  # noise and JPEG only
    assert np.abs(image - smooth(expected_image(other, rig, frames)))[mask].mean() > 20


def test_the_picture_shows_the_light_on_the_wire_when_the_trigger_fired(
        context: DriverContext, studio: VirtualStudio) -> None:
    rig = context.rig
    output = lights(context)
    red = set_lights(output, rig, RED)
    assert studio.held_frame("dmx0", 1) == red[("dmx0", 1)]
    assert studio.fixture_levels("fx3")["red"] == 1.0
    device = camera(context, "cam03")
    device.arm(timeout_s=1)
    trigger(context).fire(["cam03"], timeout_s=1)
    set_lights(output, rig, BLUE)  # too late for this exposure
    image = decode(device.wait_for_files(timeout_s=5)[0]).astype(float)
    mask = subject_mask_of(rig.camera("cam03"))
    blue, _, red_level = image[mask].mean(axis=0)
    assert red_level > 3 * blue
    [record] = studio.exposure_log()
    assert record.frames[("dmx0", 1)] == red[("dmx0", 1)]


def test_an_unarmed_camera_gets_no_files_when_the_trigger_fires(context: DriverContext) -> None:
    set_lights(lights(context), context.rig, FULL_WHITE)
    armed, idle = camera(context, "cam00"), camera(context, "cam01")
    armed.arm(timeout_s=1)
    trigger(context).fire(["cam00", "cam01"], timeout_s=1)
    assert len(armed.wait_for_files(timeout_s=5)) == 1
    with pytest.raises(DeviceError, match="not armed") as raised:
        idle.wait_for_files(timeout_s=5)
    assert raised.value.device_id == "cam01"
    with pytest.raises(DeviceError, match="not armed"):
        armed.wait_for_files(timeout_s=5)  # one arm, one exposure


def test_armed_but_never_triggered_times_out(context: DriverContext) -> None:
    device = camera(context, "cam00")
    device.arm(timeout_s=1)
    start = time.monotonic()
    with pytest.raises(DeviceTimeout, match="not triggered"):
        device.wait_for_files(timeout_s=0.05)
    assert time.monotonic() - start < 1.0


def test_the_trigger_box_refuses_a_camera_it_is_not_wired_to(context: DriverContext) -> None:
    with pytest.raises(DeviceError, match="cam99") as raised:
        trigger(context).fire(["cam00", "cam99"], timeout_s=1)
    assert raised.value.device_id == "trig0"


def test_software_capture_works_without_a_trigger_box(context: DriverContext) -> None:
    set_lights(lights(context), context.rig, FULL_WHITE)
    device = camera(context, "cam05")
    device.trigger_capture(timeout_s=1)
    [jpeg] = device.wait_for_files(timeout_s=5)
    mask = subject_mask_of(context.rig.camera("cam05"))
    assert decode(jpeg)[mask].mean() > 80


def test_files_stay_on_the_card_until_deleted(context: DriverContext) -> None:
    set_lights(lights(context), context.rig, FULL_WHITE)
    device = camera(context, "cam06")
    assert isinstance(device, SimCamera)
    free_before = device.connect(timeout_s=1).free_bytes
    names = []
    for _ in range(2):
        device.trigger_capture(timeout_s=1)
        names += [f.name for f in device.wait_for_files(timeout_s=5)]
    assert names == ["IMG_0001.JPG", "IMG_0002.JPG"]
    assert set(device.card_files()) == set(names)
    free_after = device.connect(timeout_s=1).free_bytes
    assert free_before is not None
    assert free_after == free_before - sum(device.card_files().values())
    with pytest.raises(DeviceError, match=r"IMG_0042\.JPG"):
        device.delete_files(["IMG_0001.JPG", "IMG_0042.JPG"], timeout_s=1)
    assert set(device.card_files()) == set(names)  # all or nothing
    device.delete_files(names, timeout_s=1)
    assert device.card_files() == {}
    assert device.connect(timeout_s=1).free_bytes == free_before


def test_a_camera_reconnected_later_finds_its_card_and_settings(context: DriverContext) -> None:
    device = camera(context, "cam07")
    device.apply_settings({"iso": "400"}, timeout_s=1)
    device.trigger_capture(timeout_s=1)
    device.wait_for_files(timeout_s=5)
    device.close()
    again = camera(context, "cam07")
    assert isinstance(again, SimCamera)
    assert list(again.card_files()) == ["IMG_0001.JPG"]
    assert again.apply_settings({"shutter": "1/125"}, timeout_s=1) == {"shutter": "1/125"}
    again.trigger_capture(timeout_s=1)
    assert [f.name for f in again.wait_for_files(timeout_s=5)] == ["IMG_0002.JPG"]


def test_a_camera_asked_for_a_format_it_cannot_make_refuses_to_connect(context: DriverContext) -> None:
    heif = context.rig.camera("cam00").model_copy(update={"formats": ("jpeg", "heif")})
    with pytest.raises(DeviceError, match="heif"):
        create_camera(heif, context).connect(timeout_s=1)


def test_a_raw_plus_jpeg_camera_delivers_a_dng_of_the_linear_light_beside_its_jpeg(context: DriverContext) -> None:
    rig = context.rig
    frames = set_lights(lights(context), rig, FULL_WHITE)
    config = rig.camera("cam00").model_copy(update={"formats": ("raw", "jpeg")})
    device = create_camera(config, context)
    device.connect(timeout_s=5)
    [files] = shoot(trigger(context), [device]).values()
    assert [(f.name, f.format) for f in files] == [("IMG_0001.DNG", "raw"), ("IMG_0001.JPG", "jpeg")]
    developed = develop_linear(files[0].data, name=files[0].name)
    truth = raw_truth(config, rig, frames)
    mask = subject_mask_of(config)
    # Full-size AHD development of a noisy mosaic against the noiseless truth: equal to within the noise.
    error = np.abs(cv2.GaussianBlur(developed.rgb, (0, 0), 1.5) - cv2.GaussianBlur(truth, (0, 0), 1.5))[mask]
    assert error.mean() < 0.01
    assert float(developed.rgb[mask].mean()) == pytest.approx(float(truth[mask].mean()), rel=0.01)


def test_light_output_checks_universe_and_frame_length(context: DriverContext, studio: VirtualStudio) -> None:
    output = create_light_output(context.rig.light_outputs[0], context)
    with pytest.raises(DeviceError, match="not open"):
        output.set_universe(1, bytes(512))
    output.open(timeout_s=1)
    with pytest.raises(ValueError, match=r"dmx0: universe 2"):
        output.set_universe(2, bytes(512))
    with pytest.raises(ValueError, match=r"dmx0: universe 1 .*511"):
        output.set_universe(1, bytes(511))
    frame = bytes(range(256)) * 2
    output.set_universe(1, frame)
    output.wait_sent(timeout_s=1)
    assert studio.held_frames() == {("dmx0", 1): frame}


def test_turntable_turns_the_subject_and_refuses_angles_outside_its_travel(
        context: DriverContext, studio: VirtualStudio) -> None:
    assert context.rig.turntable is not None
    table = create_turntable(context.rig.turntable, context)
    table.open(timeout_s=1)
    table.home(timeout_s=1)
    assert table.move_to(90.0, timeout_s=10) == 90.0
    assert studio.turntable_deg == 90.0
    with pytest.raises(DeviceError, match="outside") as raised:
        table.move_to(400.0, timeout_s=10)
    assert raised.value.device_id == "tt0"
    assert studio.turntable_deg == 90.0

    set_lights(lights(context), context.rig, FULL_WHITE)
    device = camera(context, "cam00")
    device.trigger_capture(timeout_s=1)
    turned = decode(device.wait_for_files(timeout_s=5)[0]).astype(int)
    table.home(timeout_s=10)
    device.trigger_capture(timeout_s=1)
    home = decode(device.wait_for_files(timeout_s=5)[0]).astype(int)
    assert np.abs(turned - home)[subject_mask_of(context.rig.camera("cam00"))].mean() > 10


def test_modelled_latencies_follow_the_time_scale(context: DriverContext, studio: VirtualStudio) -> None:
    assert context.rig.turntable is not None
    studio.time_scale = 0.1
    table = create_turntable(context.rig.turntable, context)
    table.open(timeout_s=1)
    start = time.monotonic()
    table.move_to(30.0, timeout_s=5)  # 30 deg at 60 deg/s = 0.5 s, scaled to 0.05 s
    assert 0.045 <= time.monotonic() - start < 5.0  # never faster than the model; slack for a loaded machine

    studio.time_scale = 1.0
    output = lights(context)
    universe = context.rig.light_outputs[0].universes[0]
    start = time.monotonic()
    output.set_universe(universe, bytes(512))
    output.wait_sent(timeout_s=1)  # the frame just handed over goes out within one DMX frame
    assert time.monotonic() - start >= 1 / 44 - 0.002
    # Slow the studio down tenfold so the modelled camera path (~110 ms for the sim-studio body: 40 ms trigger
    # latency + 8 ms exposure + 60 ms card write + download) dwarfs any stall of a loaded test machine.
    studio.time_scale = 10.0
    device = camera(context, "cam00")
    device.arm(timeout_s=1)
    fired = time.monotonic()
    trigger(context).fire(["cam00"], timeout_s=1)
    with pytest.raises(DeviceTimeout, match="download") as raised:
        device.wait_for_files(timeout_s=0.02)
    assert raised.value.device_id == "cam00"
    assert len(device.wait_for_files(timeout_s=10)) == 1  # the files were still on the card
    assert time.monotonic() - fired >= 1.05


def test_a_move_that_outlasts_its_timeout_raises_and_the_table_keeps_turning(
        context: DriverContext, studio: VirtualStudio) -> None:
    assert context.rig.turntable is not None
    studio.time_scale = 1.0
    table = create_turntable(context.rig.turntable, context)
    table.open(timeout_s=1)
    start = time.monotonic()
    with pytest.raises(DeviceTimeout, match="180"):
        table.move_to(180.0, timeout_s=0.05)  # needs 3 s
    assert time.monotonic() - start < 1.0
    assert 0.0 < studio.turntable_deg < 180.0
    assert studio.turntable_moving()


def test_time_scale_comes_from_the_environment(loaded: LoadedRig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIME_SCALE_ENV, "0.25")
    assert get_studio("scaled", loaded.config, loaded.path.parent).time_scale == 0.25
    monkeypatch.setenv(TIME_SCALE_ENV, "fast")
    with pytest.raises(ValueError, match=TIME_SCALE_ENV):
        get_studio("broken", loaded.config, loaded.path.parent)


def test_devices_of_different_studios_do_not_share_a_world(context: DriverContext, loaded: LoadedRig) -> None:
    other = context.rig.light_outputs[0].model_copy(update={"params": {"studio": "second"}})
    output = create_light_output(other, context)
    output.open(timeout_s=1)
    output.set_universe(1, b"\xff" * 512)
    assert get_studio("second", loaded.config, loaded.path.parent).held_frame("dmx0", 1) == b"\xff" * 512
    assert get_studio("default", loaded.config, loaded.path.parent).held_frame("dmx0", 1) == bytes(512)


def test_repeat_images_deliver_one_test_card_of_the_cameras_size_without_rendering(loaded: LoadedRig) -> None:
    rig = loaded.config.model_copy(update={"simulation": {**loaded.config.simulation, "images": "repeat"}})
    context = DriverContext(rig, loaded.path.parent)
    cameras = [camera(context, "cam00"), camera(context, "cam07")]
    box = trigger(context)
    first, second = shoot(box, cameras), shoot(box, cameras)
    cards = {f.data for files in (first, second) for shot in files.values() for f in shot}
    assert len(cards) == 1  # the same bytes for every camera and every shot: nothing was ray-cast
    image = decode(first["cam00"][0])
    intrinsics = rig.camera("cam00").intrinsics
    assert image.shape[:2] == (intrinsics.height, intrinsics.width)
