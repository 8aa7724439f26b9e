"""The simulated studio's bursts: exposures queue in the body, each sees the light of its own shutter window."""

from __future__ import annotations

import time

import pytest

from capturerig.config import LoadedRig
from capturerig.devices import DeviceError, DriverContext, create_camera
from capturerig_sim import VirtualStudio
from capturerig_sim.studio import ExposureTiming


def test_a_light_change_during_an_exposure_is_seen_mixed_and_flagged(loaded: LoadedRig) -> None:
    studio = VirtualStudio("mixed-light", loaded.config, loaded.path.parent, time_scale=1.0)
    output = loaded.config.light_outputs[0].id
    studio.set_frame(output, 1, bytes([200]) + bytes(511))
    studio.arm("cam00", {}, 0, timing=ExposureTiming(latency_s=0.0, shutter_s=0.2))
    studio.fire(["cam00"])
    record = studio.wait_for_exposure("cam00", 1.0)
    assert record is not None
    frames, changed = studio.exposure_light(record)
    assert not changed
    assert frames[(output, 1)][0] == 200
    # The same light changed half-way through a 200 ms window: the sensor integrates both levels.
    middle = (record.exposure_start + record.exposure_end) / 2
    time.sleep(max(0.0, middle - time.monotonic()))
    studio.set_frame(output, 1, bytes([0]) + bytes(511))
    frames, changed = studio.exposure_light(record)
    assert changed
    assert frames[(output, 1)][0] == pytest.approx(100, abs=15)


def test_a_burst_queues_exposures_and_a_pulse_faster_than_the_body_is_missed(loaded: LoadedRig) -> None:
    studio = VirtualStudio("burst", loaded.config, loaded.path.parent, time_scale=1.0)
    timing = ExposureTiming(latency_s=0.0, shutter_s=0.001, min_interval_s=0.05, buffer=3)
    studio.arm("cam00", {}, 0, exposures=4, timing=timing)
    studio.fire(["cam00"])
    studio.fire(["cam00"])  # at once: the body is not ready again for 50 ms
    time.sleep(0.06)
    studio.fire(["cam00"])
    time.sleep(0.06)
    studio.fire(["cam00"])  # three are still undelivered: the buffer is full
    assert "cam00" not in studio.armed()  # armed for four pulses, it has had them
    delivered = []
    while (record := studio.wait_for_exposure("cam00", 0.0)) is not None:
        delivered.append(record)
        studio.complete_exposure(record)
    assert [r.seq for r in delivered] == sorted(r.seq for r in delivered)  # oldest first
    assert [r.error is None for r in delivered] == [True, False, True, False]
    assert str(delivered[1].error).startswith("missed the trigger: ")
    assert delivered[3].error == "buffer full (3 exposures not yet delivered)"


def test_a_sim_camera_delivers_a_burst_one_exposure_per_call(loaded: LoadedRig, studio: VirtualStudio) -> None:
    camera = create_camera(loaded.config.camera("cam00"), DriverContext(loaded.config, loaded.path.parent))
    camera.connect(1.0)
    camera.arm(1.0, exposures=3)
    for _ in range(3):
        studio.fire(["cam00"])
    names = [f.name for _ in range(3) for f in camera.wait_for_files(1.0)]
    assert len(set(names)) == 3  # three exposures, three files on the card
    with pytest.raises(DeviceError, match="not armed"):
        camera.wait_for_files(0.1)
