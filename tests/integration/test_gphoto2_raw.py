"""RAW and RAW+JPEG on the gphoto2 path, as far as libgphoto2's virtual camera can take them.

The virtual camera serves the simulator's DNGs from its folder (listed as DNG, every byte as written), but
its capture makes one ``GPH_nnnn.JPG`` and announces nothing else (libgphoto2 2.5.34, vcamera.c
``ptp_initiatecapture_write``): so a RAW+JPEG or RAW-only virtual camera shows the operator's error for a
body set to write fewer formats than the rig lists, within the companion wait, not the capture timeout.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rawpy

from capturerig.config import LoadedRig, load_rig
from capturerig.devices import DeviceError, DriverContext, create_camera
from capturerig.devices.gphoto2 import GPhoto2Camera
from capturerig_sim._response import camera_response
from capturerig_sim.raw_render import SIM_SENSOR
from capturerig_sim.raw_sensor import CFA_PATTERNS
from capturerig_sim.vcamera import fill_vcameradir
from tests.integration._vusb import vusb_copy

TIMEOUT_S = 10.0
COMPANION_S = 1.0

# What a tethering program does with the virtual camera's card: list it, download a file (stdout: JSON).
_LIST_AND_DOWNLOAD = """
import json, sys
import gphoto2 as gp
camera = gp.Camera()
camera.init()
listing = []
for index in range(camera.folder_list_files("/store_00010001").count()):
    name = camera.folder_list_files("/store_00010001").get_name(index)
    info = camera.file_get_info("/store_00010001", name)
    listing.append([name, info.file.type, info.file.size])
camera_file = camera.file_get("/store_00010001", sys.argv[1], gp.GP_FILE_TYPE_NORMAL)
with open(sys.argv[2], "wb") as out:
    out.write(bytes(memoryview(camera_file.get_data_and_size())))
camera.exit()
print(json.dumps(listing))
"""


@pytest.fixture
def raw_vusb(tmp_path: Path) -> LoadedRig:
    """The vusb rig with vc0 recording RAW+JPEG and vc1 RAW only, their folders holding the DNG pairs."""
    return load_rig(vusb_copy(tmp_path, {"vc0": ["raw", "jpeg"], "vc1": ["raw"]}) / "rig.yaml")


def _camera(rig: LoadedRig, index: int) -> Iterator[GPhoto2Camera]:
    config = rig.config.cameras[index]
    # The virtual card's 556 MB holds 19 NEFs at the D750 profile's 28 MB: fewer than the default 20 shots.
    params = {**config.params, "companion_timeout_s": COMPANION_S, "min_free_shots": 10}
    config = config.model_copy(update={"params": params})
    camera = create_camera(config, DriverContext(rig.config, rig.path.parent))
    assert isinstance(camera, GPhoto2Camera)
    camera.connect(TIMEOUT_S)
    try:
        yield camera
    finally:
        camera.close()


@pytest.fixture
def raw_jpeg_camera(raw_vusb: LoadedRig) -> Iterator[GPhoto2Camera]:
    yield from _camera(raw_vusb, 0)


@pytest.fixture
def raw_only_camera(raw_vusb: LoadedRig) -> Iterator[GPhoto2Camera]:
    yield from _camera(raw_vusb, 1)


def test_a_raw_cameras_folder_holds_a_dng_beside_each_jpeg_and_a_refill_keeps_them(raw_vusb: LoadedRig) -> None:
    folder = raw_vusb.path.parent / "vcam" / "vcam0"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["card00.dng", "card00.jpg", "card01.dng", "card01.jpg", "card02.dng", "card02.jpg"]
    assert all((folder / n).read_bytes()[:4] == b"II*\x00" for n in names if n.endswith(".dng"))
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    (folder / "card01.dng").unlink()
    fill_vcameradir(folder, "vc0", 3, raw_for=raw_vusb.config.cameras[0])  # the session start fills again
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name != "card01.dng"} == {
        n: s for n, s in stamps.items() if n != "card01.dng"}
    assert (folder / "card01.dng").is_file()  # only the missing one was written
    jpeg_only = raw_vusb.path.parent / "vcam" / "vcam2"
    assert sorted(p.suffix for p in jpeg_only.iterdir()) == [".jpg"] * 3


def test_libgphoto2_lists_the_simulators_dng_and_downloads_it_byte_for_byte(raw_vusb: LoadedRig,
                                                                            tmp_path: Path) -> None:
    folder = raw_vusb.path.parent / "vcam" / "vcam0"
    target = tmp_path / "downloaded.dng"
    done = subprocess.run([sys.executable, "-c", _LIST_AND_DOWNLOAD, "card01.dng", str(target)],
                          env={**os.environ, "VCAMERADIR": str(folder)}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    listing = {name: (mime, size) for name, mime, size in json.loads(done.stdout.strip().splitlines()[-1])}
    assert listing["card01.dng"] == ("image/x-adobe-dng", (folder / "card01.dng").stat().st_size)
    assert listing["card01.jpg"][0] == "image/jpeg"
    data = target.read_bytes()
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256((folder / "card01.dng").read_bytes()).hexdigest()
    neutral = SIM_SENSOR.as_shot_neutral(camera_response(raw_vusb.config.cameras[0].serial))
    with rawpy.imread(io.BytesIO(data)) as raw:
        assert raw.raw_image.shape == (480, 640)
        assert list(raw.black_level_per_channel) == [SIM_SENSOR.black_level] * 4
        assert raw.white_level == SIM_SENSOR.white_level
        assert raw.raw_pattern is not None
        read = [1 if int(c) == 3 else int(c) for c in raw.raw_pattern.reshape(-1)]
        assert tuple(read) == CFA_PATTERNS[SIM_SENSOR.pattern]
        wb = np.array(raw.camera_whitebalance[:3])  # AsShotNeutral of vc0's own colour (its serial)
        assert np.allclose(wb / wb[1], neutral[1] / neutral, rtol=1e-5)
        assert SIM_SENSOR.black_level < float(raw.raw_image.mean()) < SIM_SENSOR.white_level  # the card, exposed


def _shoot(camera: GPhoto2Camera) -> None:
    camera.arm(TIMEOUT_S)
    camera.trigger_capture(TIMEOUT_S)
    camera.wait_for_files(TIMEOUT_S + 5.0)


def test_a_raw_and_jpeg_shot_whose_raw_never_comes_fails_within_the_companion_wait_naming_both(
        raw_jpeg_camera: GPhoto2Camera) -> None:
    for _ in range(2):  # the same clear error every shot, from the same worker: nothing to restart
        started = time.monotonic()
        with pytest.raises(DeviceError, match=r"^vc0: GPH_\d{4}\.JPG arrived but its raw file did not within 1 s "
                                              r"\(this camera's formats: raw, jpeg\) \(set the body's image "
                                              r"quality to write every format the rig lists for it "
                                              r"\(imageformat: raw\+jpeg"):
            _shoot(raw_jpeg_camera)
        assert COMPANION_S <= time.monotonic() - started < TIMEOUT_S  # not the whole capture timeout
    assert raw_jpeg_camera.restarts == 0


def test_a_raw_only_camera_handed_a_jpeg_says_what_it_wrote_instead(raw_only_camera: GPhoto2Camera) -> None:
    started = time.monotonic()
    with pytest.raises(DeviceError, match=r"^vc1: the camera wrote GPH_\d{4}\.JPG, none of this camera's "
                                          r"formats \(raw\), and nothing else within 1 s"):
        _shoot(raw_only_camera)
    assert time.monotonic() - started < TIMEOUT_S
    assert raw_only_camera.restarts == 0
