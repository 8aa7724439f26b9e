"""The subject region of each camera: the capture volume projected through its geometry (nominal or calibrated),
and what the checks make of it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import yaml

import capturerig
from capturerig.config import ConfigError
from capturerig.geometry import CameraGeometry
from capturerig.packaging import nominal_geometry
from capturerig.qc import (
    DEFAULT_VOLUME,
    CaptureVolume,
    QcFile,
    QcRunner,
    Verdict,
    regions_document,
    rig_volume,
    session_views,
    subject_regions,
)
from capturerig.qc._region import project_volume, regions_from_document


def pixel(view: CameraGeometry, point: tuple[float, float, float]) -> tuple[int, int]:
    """Where ``point`` (rig frame) lands in ``view``'s image (OpenCV's projection, distortion included)."""
    rvec, _ = cv2.Rodrigues(view.rotation)
    found, _ = cv2.projectPoints(np.array([point], dtype=np.float64), rvec, view.translation, view.k, view.dist)
    u, v = found.reshape(2)
    return round(float(u)), round(float(v))


def looking_at(position: tuple[float, float, float], target: tuple[float, float, float], width: int = 800,
               height: int = 600, dist: tuple[float, ...] = (0.0,) * 5) -> CameraGeometry:
    """A camera at ``position`` looking at ``target`` (z up), focal length ``width`` px."""
    centre, forward = np.array(position), np.array(target) - np.array(position)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    rotation = np.stack([right, np.cross(forward, right), forward])
    k = np.array([[width, 0.0, (width - 1) / 2], [0.0, width, (height - 1) / 2], [0.0, 0.0, 1.0]])
    return CameraGeometry(width, height, k, np.array(dist, dtype=float), rotation, -rotation @ centre)


def test_the_volume_axis_at_mid_height_is_inside_every_demo_camera_region() -> None:
    rig = capturerig.load_rig().config
    cameras, source = session_views(rig)
    assert source == "nominal"
    regions = subject_regions(cameras, source)
    views = {c.id: CameraGeometry(g.width, g.height, g.k, g.dist, g.rotation, g.translation)
             for c, g in ((c, cameras[c.id]) for c in rig.cameras)}
    middle = (0.0, 0.0, (DEFAULT_VOLUME.floor_m + DEFAULT_VOLUME.top_m) / 2)
    for camera in rig.cameras:
        region = regions[camera.id]
        assert region.mask.shape == (camera.intrinsics.height, camera.intrinsics.width)
        assert not region.centre
        u, v = pixel(views[camera.id], middle)
        assert region.mask[v, u], camera.id
        # The stage beside the subject's feet stays outside: what "moved" measures against.
        assert 0.15 <= 1.0 - region.share < 0.5, (camera.id, region.share)
        assert region.figures()["region"] == "capture volume through the nominal geometry"


@pytest.mark.parametrize("dist", [(0.0,) * 5, (-0.25, 0.08, 0.001, -0.001, 0.0)])
def test_a_point_far_outside_the_volume_is_outside_the_region(dist: tuple[float, ...]) -> None:
    view = looking_at((4.0, 0.0, 1.2), (0.0, 0.0, 1.0), dist=dist)
    mask = project_volume(view, DEFAULT_VOLUME, margin_px=20.0)
    assert mask is not None
    for point in ((0.0, 0.0, 1.0), (0.0, 0.55, 0.9), (0.0, 0.0, 0.05), (0.0, 0.0, 1.8)):  # in the volume
        u, v = pixel(view, point)
        assert mask[v, u], point
    for point in ((0.0, 1.6, 1.0), (0.0, -1.4, 1.6), (0.0, 0.6, 0.05)):  # beside it, and the stage's edge
        u, v = pixel(view, point)
        assert 0 <= u < view.width
        assert 0 <= v < view.height
        assert not mask[v, u], point
    # Wider by the margin: a point just outside the cylinder (2 cm) still falls in it.
    u, v = pixel(view, (0.0, 0.62, 1.2))
    assert mask[v, u]


def test_a_camera_that_does_not_see_the_volume_gets_the_centre_region_and_says_so() -> None:
    away = looking_at((4.0, 0.0, 1.2), (8.0, 0.0, 1.2))
    inside = looking_at((0.1, 0.0, 1.2), (4.0, 0.0, 1.2))
    regions = subject_regions({"away": away, "inside": inside, "ok": looking_at((4.0, 0.0, 1.2), (0, 0, 1.0))},
                              "nominal")
    assert regions["away"].centre
    assert "the capture volume is not in view" in regions["away"].figures()["region"]
    assert 0.4 < regions["away"].share < 0.6  # the middle 60 % x 80 % of the frame
    assert not regions["inside"].centre
    assert regions["inside"].share == 1.0  # a camera inside the volume sees it everywhere
    assert not regions["ok"].centre


def _geometry_file(tmp_path: Path, rig: capturerig.config.RigConfig, shift_camera: str, dx: float) -> Path:
    document = dict(nominal_geometry(rig).document)
    document.update(source="calibration", id="geo-test")
    cameras = {camera_id: dict(entry) for camera_id, entry in document["cameras"].items()}
    # The calibration found the camera 30 px off its nominal principal point: the region follows it.
    cameras[shift_camera]["K"] = [[row[0], row[1], row[2] + (dx if index == 0 else 0.0)]
                                  for index, row in enumerate(cameras[shift_camera]["K"])]
    document["cameras"] = cameras
    path = tmp_path / "geometry.json"
    path.write_text(json.dumps(document))
    return path


def test_the_calibrated_geometry_is_used_when_given_else_the_nominal(tmp_path: Path) -> None:
    rig = capturerig.load_rig().config
    nominal, source = session_views(rig)
    assert source == "nominal"
    calibrated, source = session_views(rig, _geometry_file(tmp_path, rig, "cam03", 30.0))
    assert source == "calibration"
    assert float(calibrated["cam03"].k[0, 2]) == pytest.approx(float(nominal["cam03"].k[0, 2]) + 30.0)
    before, after = subject_regions(nominal, "nominal"), subject_regions(calibrated, "calibration")
    assert after["cam03"].figures()["region"] == "capture volume through the calibration geometry"
    assert np.array_equal(before["cam00"].mask, after["cam00"].mask)
    columns = np.flatnonzero(before["cam03"].mask[300]), np.flatnonzero(after["cam03"].mask[300])
    assert columns[1][0] - columns[0][0] == pytest.approx(30, abs=2)


def test_a_geometry_file_that_does_not_fit_is_refused_naming_it(tmp_path: Path) -> None:
    rig = capturerig.load_rig().config
    path = _geometry_file(tmp_path, rig, "cam00", 0.0)
    document = json.loads(path.read_text())
    del document["cameras"]["cam05"]
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"geometry\.json: camera 'cam05' .* is not calibrated"):
        session_views(rig, path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"geometry\.json: not valid JSON"):
        session_views(rig, path)
    with pytest.raises(ValueError, match="cannot read"):
        session_views(rig, tmp_path / "missing.json")
    with pytest.raises(ValueError, match="base_radius_m"):
        CaptureVolume(radius_m=0.3, base_radius_m=0.5)


def test_the_checks_process_rebuilds_the_same_regions_from_the_geometry() -> None:
    rig = capturerig.load_rig().config
    cameras, source = session_views(rig)
    document = json.loads(json.dumps(regions_document(cameras, source)))  # as it crosses the pipe
    again, direct = regions_from_document(document), subject_regions(cameras, source)
    assert set(again) == set(direct)
    for camera_id, region in direct.items():
        assert np.array_equal(region.mask, again[camera_id].mask), camera_id


def _textured(seed: int, shift: float = 0.0) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    image = np.full((480, 640, 3), 70.0, dtype=np.float32)
    for _ in range(80):
        x, y = int(rng.integers(10, 630)), int(rng.integers(10, 470))
        cv2.circle(image, (x, y), int(rng.integers(3, 20)), rng.uniform(30, 220, 3).tolist(), -1)
    image = cv2.warpAffine(image, np.float32([[1, 0, shift], [0, 1, 0]]), (640, 480),
                           borderMode=cv2.BORDER_REPLICATE)
    return np.clip(image + np.random.default_rng(seed + 1).normal(0, 1.5, image.shape), 0, 255).astype(np.uint8)


def _moved(runner: QcRunner, folder: Path, index: int, light: str, picture: npt.NDArray[np.uint8]) -> tuple:
    path = folder / f"t{index}.jpg"
    cv2.imwrite(str(path), picture)
    (checked,) = runner.check_take(f"p00/s00/{light}/b0#{index}", light, [QcFile(path, "cam00")], station="s00").files
    return next(c for c in checked.checks if c.check == "moved")


def test_moved_compares_outside_the_region_and_only_the_same_light(tmp_path: Path) -> None:
    subject = np.zeros((480, 640), dtype=bool)
    subject[:, 200:440] = True  # the middle 37.5 % is the subject: it may move by itself
    runner = QcRunner(["cam00"], masks={"cam00": subject})
    assert _moved(runner, tmp_path, 0, "l00", _textured(1)).reason == \
        "no earlier image of this scene in this light to compare with"
    assert "no earlier image" in _moved(runner, tmp_path, 1, "l01", _textured(1)).reason  # another light
    inside = _textured(1)
    inside[:, 200:440] = _textured(9)[:, 200:440]  # the subject changed entirely; the rest stood still
    moved = _moved(runner, tmp_path, 2, "l00", inside)
    assert moved.verdict is Verdict.OK, moved
    assert moved.figures["outside"] == pytest.approx(0.6, abs=0.05)
    bumped = _moved(runner, tmp_path, 3, "l00", _textured(1, shift=6.0))
    assert bumped.verdict is Verdict.FAIL, bumped
    assert "cam00's view moved" in bumped.reason


def test_moved_says_when_the_region_leaves_too_little_to_compare(tmp_path: Path) -> None:
    subject = np.ones((480, 640), dtype=bool)
    subject[:, :40] = False  # 6 % of the frame outside
    runner = QcRunner(["cam00"], masks={"cam00": subject})
    _moved(runner, tmp_path, 0, "l00", _textured(1))
    moved = _moved(runner, tmp_path, 1, "l00", _textured(1, shift=8.0))
    assert moved.verdict is Verdict.OK
    assert moved.reason.startswith("nothing to compare outside the subject")
    assert moved.figures["outside"] < 0.15


def _rig_file(tmp_path: Path, stage: dict[str, object] | None) -> Path:
    document = capturerig.load_rig().config.model_dump(mode="json", exclude_defaults=True)
    if stage is not None:
        document["stage"] = stage
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_the_rig_file_sets_the_capture_volume_and_every_caller_projects_it(tmp_path: Path) -> None:
    assert rig_volume(capturerig.load_rig(_rig_file(tmp_path, None)).config) == DEFAULT_VOLUME
    narrow = {"volume": {"radius_m": 0.45, "top_m": 1.6, "base_radius_m": 0.2, "base_top_m": 0.6,
                         "centre_xy": [0.05, 0.0]}}
    rig = capturerig.load_rig(_rig_file(tmp_path, narrow)).config
    volume = rig_volume(rig)
    assert volume == CaptureVolume(0.45, 1.6, 0.2, 0.6, 0.0, (0.05, 0.0))
    cameras, source = session_views(rig)
    wide, small = subject_regions(cameras, source), subject_regions(cameras, source, volume)
    for camera_id in wide:
        assert small[camera_id].share < wide[camera_id].share, camera_id
        assert not (small[camera_id].mask & ~wide[camera_id].mask).any(), camera_id  # a smaller volume, inside
    # What the engine hands the checks' process carries the rig's volume.
    document = json.loads(json.dumps(regions_document(cameras, source, volume)))
    assert CaptureVolume.from_json(document["volume"]) == volume
    assert np.array_equal(regions_from_document(document)["cam00"].mask, small["cam00"].mask)


@pytest.mark.parametrize(("volume", "words"), [
    ({"base_radius_m": 0.9}, ["stage.volume", "base_radius_m (0.9) must not exceed radius_m (0.6)"]),
    ({"top_m": 0.5}, ["stage.volume", "base_top_m (0.6) < top_m (0.5)"]),
    ({"radius_m": -0.2}, ["stage.volume.radius_m", "greater than 0"]),
    ({"radius": 0.5}, ["stage.volume.radius"]),
])
def test_a_bad_capture_volume_in_the_rig_file_is_refused_naming_the_field(tmp_path: Path, volume: dict[str, object],
                                                                          words: list[str]) -> None:
    path = _rig_file(tmp_path, {"volume": volume})
    with pytest.raises(ConfigError) as caught:
        capturerig.load_rig(path)
    message = str(caught.value)
    assert "rig.yaml" in message
    for word in words:
        assert word in message, message
