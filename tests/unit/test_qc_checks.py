"""Each per-image check on synthetic pictures: ok on a clean image, warn/fail on its fault, a reason in words."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError

from capturerig.qc import QcFile, QcRunner, QcSettings, QcThresholds, TakeQc, Verdict

CAMERAS = ("cam00", "cam01", "cam02", "cam03")


def scene(seed: int, level: float = 1.0, tint: tuple[float, float, float] = (1.0, 1.0, 1.0),
          shift: tuple[float, float] = (0.0, 0.0)) -> npt.NDArray[np.float32]:
    """A textured picture (blobs and edges, the same for a camera whatever the noise seed), BGR float 0..255."""
    rng = np.random.default_rng(1000)  # the scene itself: one per test module, every camera sees it
    height, width = 480, 640
    image = np.full((height, width, 3), 60.0, dtype=np.float32)
    for _ in range(60):
        x, y = int(rng.integers(20, width - 20)), int(rng.integers(20, height - 20))
        colour = rng.uniform(40, 200, 3)
        cv2.circle(image, (x, y), int(rng.integers(4, 30)), colour.tolist(), -1)
        cv2.rectangle(image, (x, y), (x + int(rng.integers(5, 40)), y + 3), (colour * 0.5).tolist(), -1)
    if shift != (0.0, 0.0):
        matrix = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
        image = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    image *= np.float32(level)
    image *= np.array(tint[::-1], dtype=np.float32)
    image += np.random.default_rng(seed).normal(0.0, 1.5, image.shape).astype(np.float32)
    return image


def write(folder: Path, name: str, image: npt.NDArray[np.float32]) -> Path:
    path = folder / name
    assert cv2.imwrite(str(path), np.clip(np.rint(image), 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def take(runner: QcRunner, folder: Path, index: int, light: str = "l00", faulty: str | None = None,
         picture: npt.NDArray[np.float32] | None = None, reuse: Path | None = None, level: float = 1.0) -> TakeQc:
    """One take of every camera; ``faulty`` gets ``picture`` (or the old file ``reuse``) instead."""
    files = []
    for camera in CAMERAS:
        if camera == faulty and reuse is not None:
            path = folder / f"{camera}_t{index:02d}.jpg"
            path.write_bytes(reuse.read_bytes())
        elif camera == faulty and picture is not None:
            path = write(folder, f"{camera}_t{index:02d}.jpg", picture)
        else:
            path = write(folder, f"{camera}_t{index:02d}.jpg", scene(index * 10 + CAMERAS.index(camera), level))
        files.append(QcFile(path, camera))
    return runner.check_take(f"p00/s00/{light}/b0#{index}", light, files, station="s00")


def verdicts(result: TakeQc, camera: str) -> dict[str, Verdict]:
    (checked,) = [f for f in result.files if f.camera_id == camera]
    return {c.check: c.verdict for c in checked.checks}


def reason(result: TakeQc, camera: str, check: str) -> str:
    (checked,) = [f for f in result.files if f.camera_id == camera]
    return next(c.reason for c in checked.checks if c.check == check)


@pytest.fixture
def warmed(tmp_path: Path) -> tuple[QcRunner, Path]:
    """A runner that has seen three clean takes of every camera."""
    runner = QcRunner(CAMERAS)
    for index in range(3):
        result = take(runner, tmp_path, index)
        assert result.verdict is Verdict.OK, [c.to_json() for f in result.files for c in f.checks if c.verdict != "ok"]
    return runner, tmp_path


def test_clean_takes_pass_every_check(warmed: tuple[QcRunner, Path]) -> None:
    runner, folder = warmed
    result = take(runner, folder, 3)
    assert result.verdict is Verdict.OK
    assert all(f.seconds > 0 for f in result.files)
    assert result.to_json()["files"][0]["checks"][0]["verdict"] == "ok"


def test_a_defocused_camera_fails_sharpness_against_its_own_takes(warmed: tuple[QcRunner, Path]) -> None:
    runner, folder = warmed
    blurred = cv2.GaussianBlur(scene(0, 1.0) - 0, (0, 0), 2.0) + np.random.default_rng(7).normal(
        0, 1.5, (480, 640, 3)).astype(np.float32)
    result = take(runner, folder, 3, faulty="cam02", picture=blurred)
    assert verdicts(result, "cam02")["sharpness"] is Verdict.FAIL
    assert "cam02 is" in reason(result, "cam02", "sharpness")
    assert "softer than its own takes: check focus" in \
        reason(result, "cam02", "sharpness")
    assert verdicts(result, "cam01")["sharpness"] is Verdict.OK


def test_a_stale_file_is_named_with_the_file_it_repeats(warmed: tuple[QcRunner, Path]) -> None:
    runner, folder = warmed
    old = folder / "cam01_t02.jpg"
    result = take(runner, folder, 3, light="l01", faulty="cam01", reuse=old)
    assert verdicts(result, "cam01")["stale"] is Verdict.FAIL
    assert str(old) in reason(result, "cam01", "stale")


def test_a_near_identical_picture_under_another_light_is_stale(warmed: tuple[QcRunner, Path]) -> None:
    runner, folder = warmed
    assert take(runner, folder, 3, light="l01", level=0.5).verdict is Verdict.OK  # a dimmer state
    again = cv2.imread(str(folder / "cam03_t03.jpg")).astype(np.float32) + 0.4  # re-encoded: other bytes
    result = take(runner, folder, 4, light="l00", faulty="cam03", picture=again)
    assert verdicts(result, "cam03")["stale"] is Verdict.FAIL
    assert "same picture as" in reason(result, "cam03", "stale")


def test_a_missed_light_fails_the_light_check_and_a_black_frame_fails_black(warmed: tuple[QcRunner, Path]) -> None:
    runner, folder = warmed
    result = take(runner, folder, 3, faulty="cam00", picture=scene(33, level=0.35))
    assert verdicts(result, "cam00")["light"] is Verdict.FAIL
    assert "EV darker than l00 gives it" in reason(result, "cam00", "light")
    capped = np.random.default_rng(3).normal(0.5, 1.0, (480, 640, 3)).astype(np.float32)
    result = take(runner, folder, 4, faulty="cam01", picture=capped)
    assert verdicts(result, "cam01")["black"] is Verdict.FAIL
    assert "lens cap" in reason(result, "cam01", "black")


def test_a_colour_change_under_the_same_light_is_a_mismatch(warmed: tuple[QcRunner, Path]) -> None:
    runner, folder = warmed
    result = take(runner, folder, 3, faulty="cam02", picture=scene(43, tint=(1.0, 0.75, 0.75)))
    assert verdicts(result, "cam02")["light"] is not Verdict.OK
    assert "colour is off for l00" in reason(result, "cam02", "light") or "EV" in reason(result, "cam02", "light")


def test_overexposure_fails_the_exposure_check(warmed: tuple[QcRunner, Path]) -> None:
    runner, folder = warmed
    result = take(runner, folder, 3, faulty="cam03", picture=scene(53, level=4.0))
    assert verdicts(result, "cam03")["exposure"] is Verdict.FAIL
    assert "clipped" in reason(result, "cam03", "exposure")


def test_a_bumped_camera_fails_view_moved(warmed: tuple[QcRunner, Path]) -> None:
    runner, folder = warmed
    result = take(runner, folder, 3, faulty="cam00", picture=scene(63, shift=(6.0, -3.0)))
    assert verdicts(result, "cam00")["moved"] is Verdict.FAIL
    assert "view moved" in reason(result, "cam00", "moved")
    assert verdicts(result, "cam01")["moved"] is Verdict.OK


def test_thresholds_come_from_the_settings(tmp_path: Path) -> None:
    lenient = QcRunner(CAMERAS, QcSettings(thresholds=QcThresholds(light_warn_ev=2.0, light_fail_ev=3.0)))
    for index in range(3):
        take(lenient, tmp_path, index)
    result = take(lenient, tmp_path, 3, faulty="cam00", picture=scene(33, level=0.6))
    assert verdicts(result, "cam00")["light"] is Verdict.OK


def test_bad_settings_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="on_fail"):
        QcSettings.model_validate({"on_fail": "explode"})
    with pytest.raises(ValidationError, match="sharpnes"):
        QcSettings.model_validate({"thresholds": {"sharpnes_warn": 0.5}})
    with pytest.raises(ValidationError, match="sharpness_fail must not be stricter than sharpness_warn"):
        QcThresholds(sharpness_warn=0.5, sharpness_fail=0.7)
    assert QcSettings().on_fail == "ask"
    assert QcSettings().enabled


def test_a_file_that_is_not_an_image_is_named(tmp_path: Path) -> None:
    from capturerig.qc import QcError

    broken = tmp_path / "cam00_t00.jpg"
    broken.write_bytes(b"\x00\x00not a jpeg")
    with pytest.raises(QcError, match=r"cam00_t00\.jpg"):
        QcRunner(CAMERAS).check_take("t", "l00", [QcFile(broken, "cam00")])
    with pytest.raises(QcError, match="not one of the rig's cameras"):
        QcRunner(CAMERAS).check_take("t", "l00", [QcFile(broken, "cam99")])


def test_raw_files_are_measured_linearly_and_clipping_counted_at_the_white_level() -> None:
    import capturerig
    from capturerig.config import LightingCondition
    from capturerig.lighting import frames_for_condition
    from capturerig.qc import measure_image
    from capturerig_sim.raw_render import render_raw

    rig = capturerig.load_rig()
    white = frames_for_condition(rig.config, LightingCondition.model_validate(
        {"id": "w", "levels": {"*": {"intensity": 1.0, "white": 1.0}}}))
    camera = rig.config.cameras[0]

    def dng(shutter: str) -> bytes:
        return bytes(render_raw(camera, rig.config, white, 0.0, {"shutter": shutter}, rig.path.parent, noise_seed=1))

    normal, over = measure_image(dng("1/125"), "IMG_0001.DNG"), measure_image(dng("1/8"), "IMG_0002.DNG")
    assert normal.clipped < 0.001 < over.clipped
    assert over.light > 4 * normal.light  # 4 EV more light, clipped at the top
    assert (normal.width, normal.height) == (camera.intrinsics.width, camera.intrinsics.height)
