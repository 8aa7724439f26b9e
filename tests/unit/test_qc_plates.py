"""Clean plates (the empty rig) in the per-image checks: their own baseline, never the subject's, and a stale
camera is caught on a plate all the same."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from capturerig.qc import FileQc, QcFile, QcRunner, TakeQc, Verdict
from tests.unit.test_qc_checks import CAMERAS, scene, take, write


def empty_rig(seed: int) -> npt.NDArray[np.float32]:
    """The rig without the subject: a dark, smooth backdrop and a few rig parts (far less detail, darker)."""
    height, width = 480, 640
    image = np.tile(np.linspace(25.0, 45.0, width, dtype=np.float32), (height, 1))[..., None].repeat(3, axis=2)
    rig = np.random.default_rng(2000)  # the rig's parts stand where they stand, whatever the noise
    for _ in range(12):
        x, y = int(rig.integers(20, width - 60)), int(rig.integers(20, height - 60))
        cv2.rectangle(image, (x, y), (x + int(rig.integers(6, 50)), y + int(rig.integers(6, 50))),
                      rig.uniform(50.0, 90.0, 3).tolist(), -1)
    image += np.random.default_rng(seed).normal(0.0, 1.5, image.shape).astype(np.float32)
    return image


def plate_take(runner: QcRunner, folder: Path, index: int, light: str = "l00", station: str = "s00",
               reuse: dict[str, Path] | None = None, plate: bool = True) -> TakeQc:
    files = []
    for camera in CAMERAS:
        path = folder / f"{camera}_plate_{station}_{light}_{index}.jpg"
        if reuse and camera in reuse:
            path.write_bytes(reuse[camera].read_bytes())
        else:
            write(folder, path.name, empty_rig(500 + index * 10 + CAMERAS.index(camera)))
        files.append(QcFile(path, camera))
    return runner.check_take(f"plate/{station}/{light}/b0#{index}", light, files, station=station, plate=plate)


def only(result: TakeQc, camera: str) -> FileQc:
    (checked,) = [f for f in result.files if f.camera_id == camera]
    return checked


def problems(result: TakeQc) -> list[str]:
    return [c.reason for f in result.files for c in f.checks if c.verdict is not Verdict.OK]


@pytest.fixture
def warmed(tmp_path: Path) -> QcRunner:
    runner = QcRunner(CAMERAS)
    for index in range(3):
        assert take(runner, tmp_path, index).verdict is Verdict.OK
    return runner


def test_a_plate_is_judged_against_plates_not_the_subjects_baseline(warmed: QcRunner, tmp_path: Path) -> None:
    # The empty rig against the subject's images would read as soft and dark (the checks see a fault) ...
    judged_as_subject = plate_take(warmed, tmp_path / "", 0, plate=False)
    assert judged_as_subject.verdict is not Verdict.OK
    assert any("softer than its own takes" in reason or "darker" in reason for reason in problems(judged_as_subject))
    # ... as a plate it has its own baseline: plates at both stations pass, and later plates compare with them.
    runner = QcRunner(CAMERAS)
    for index in range(3):
        take(runner, tmp_path, index)
    for index, station in enumerate(("s00", "s01", "s00")):
        result = plate_take(runner, tmp_path, index + 1, station=station)
        assert result.verdict is Verdict.OK, problems(result)
    sharp = next(c for c in only(result, "cam01").checks if c.check == "sharpness")
    assert sharp.figures["baseline_images"] == 1  # the first plate at s00, not the subject's three


def test_plates_leave_the_subjects_baseline_as_it_was(warmed: QcRunner, tmp_path: Path) -> None:
    for index in range(3):
        assert plate_take(warmed, tmp_path, index).verdict is Verdict.OK
    after = take(warmed, tmp_path, 10)  # the subject back in the rig: judged against its own images only
    assert after.verdict is Verdict.OK, problems(after)
    sharpness = next(c for c in only(after, "cam02").checks if c.check == "sharpness")
    assert sharpness.figures["baseline_images"] == 3
    soft = cv2.GaussianBlur(scene(999), (0, 0), 3.0).astype(np.float32)  # and a soft subject image is still caught
    result = take(warmed, tmp_path, 11, faulty="cam02", picture=soft)
    assert next(c for c in only(result, "cam02").checks if c.check == "sharpness").verdict is Verdict.FAIL


def test_a_stale_camera_is_caught_on_a_plate(warmed: QcRunner, tmp_path: Path) -> None:
    # cam03 hands over its last subject image again when the plates are shot (it did not expose).
    result = plate_take(warmed, tmp_path, 0, reuse={"cam03": tmp_path / "cam03_t02.jpg"})
    stale = next(c for c in only(result, "cam03").checks if c.check == "stale")
    assert stale.verdict is Verdict.FAIL
    assert "handed over the same file again" in stale.reason
    assert only(result, "cam00").verdict is Verdict.OK
    # and a plate handed over again for the next lighting state too.
    again = plate_take(warmed, tmp_path, 1, light="l01", reuse={"cam01": tmp_path / "cam01_plate_s00_l00_0.jpg"})
    assert next(c for c in only(again, "cam01").checks if c.check == "stale").verdict is Verdict.FAIL


def test_plates_keep_the_black_frame_check(warmed: QcRunner, tmp_path: Path) -> None:
    files = []
    for camera in CAMERAS:
        picture = np.zeros((480, 640, 3), np.float32) if camera == "cam00" else empty_rig(CAMERAS.index(camera))
        files.append(QcFile(write(tmp_path, f"{camera}_capped.jpg", picture), camera))
    result = warmed.check_take("plate/s00/l00/b0", "l00", files, station="s00", plate=True)
    black = next(c for c in only(result, "cam00").checks if c.check == "black")
    assert black.verdict is Verdict.FAIL
    assert "lens cap" in black.reason
