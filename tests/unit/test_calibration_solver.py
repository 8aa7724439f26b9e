"""The joint calibration on synthetic detections: it recovers a known rig, in the rig frame, with honest sigmas.

Detections here are the true board corners projected through known cameras plus Gaussian noise: a test of
the estimator itself, where the truth is exact (the rendered studio tests the whole chain).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest

from capturerig.calibration import (
    BoardSpec,
    CalibrationOptions,
    CameraParams,
    CaptureDetections,
    RigCalibration,
    calibrate_rig,
    load_board,
    load_geometry,
    rigid_align,
    rotation_angle_deg,
    rotation_vector,
    simulate_detections,
    sweep_board_poses,
    write_calibration,
)
from capturerig.config import ConfigError, RigConfig, default_rig_path, load_rig

NOISE_PX = 0.1


def ring_rig() -> RigConfig:
    """The default studio's lower ring: 8 cameras, 2.2 m from the axis."""
    rig = load_rig(default_rig_path()).config
    return rig.model_copy(update={"cameras": tuple(c for c in rig.cameras if c.group == "ring-low")})


def true_cameras(rig: RigConfig, seed: int = 1) -> dict[str, CameraParams]:
    """The cameras as they really are: focal length, principal point and pose off the rig file's values."""
    rng = np.random.default_rng(seed)
    cameras = {}
    for camera in rig.cameras:
        R, t = camera.pose.cam_from_world()
        centre = -R.T @ t + rng.normal(scale=0.01, size=3)
        R = cv2.Rodrigues(rng.normal(scale=np.radians(0.3), size=3))[0] @ R
        K = camera.intrinsics.matrix()
        K[0, 0] *= 1 + rng.normal(scale=0.01)
        K[1, 1] = K[0, 0] * (1 + rng.normal(scale=0.001))
        K[:2, 2] += rng.normal(scale=3.0, size=2)
        cameras[camera.id] = CameraParams(K=K, dist=camera.intrinsics.distortion(), R=R, t=-R @ centre)
    return cameras


def synthetic_capture(rig: RigConfig, board: BoardSpec, truth: dict[str, CameraParams], seed: int = 2,
                      close_ups: int = 2, sweeps: int = 20) -> CaptureDetections:
    sizes = {c.id: (c.intrinsics.width, c.intrinsics.height) for c in rig.cameras}
    poses = sweep_board_poses(truth, board, frames=sweeps + close_ups * len(truth), close_ups_per_camera=close_ups,
                              seed=seed)
    return simulate_detections(truth, sizes, board, poses, noise_px=NOISE_PX, seed=seed + 1)


@pytest.fixture(scope="module")
def solved() -> tuple[RigConfig, dict[str, CameraParams], RigCalibration]:
    rig = ring_rig()
    truth = true_cameras(rig)
    capture = synthetic_capture(rig, load_board("studio-charuco"), truth)
    return rig, truth, calibrate_rig(capture, rig)


def test_a_clean_capture_passes_every_gate_and_recovers_the_true_cameras(
        solved: tuple[RigConfig, dict[str, CameraParams], RigCalibration]) -> None:
    _rig, truth, result = solved
    assert result.geometry.passed, [v.reason for v in result.geometry.failed()]
    ids = sorted(truth)
    align = rigid_align(np.array([result.cameras[c].centre for c in ids]), np.array([truth[c].centre for c in ids]))
    for camera in ids:
        estimate, true = result.cameras[camera].transformed(align), truth[camera]
        assert abs(estimate.K[0, 0] / true.K[0, 0] - 1) < 0.002, camera
        assert np.linalg.norm(estimate.K[:2, 2] - true.K[:2, 2]) < 3.0, camera
        assert rotation_angle_deg(estimate.R, true.R) < 0.25, camera
        assert np.linalg.norm(estimate.centre - true.centre) < 0.004, camera
        # Noise is 0.1 px per axis: the RMS of a 2-D residual is about 0.14 px.
        assert 0.1 < result.geometry.cameras[camera].rms_px < 0.2


def test_the_result_is_in_the_rig_frame_not_the_first_cameras(
        solved: tuple[RigConfig, dict[str, CameraParams], RigCalibration]) -> None:
    rig, _truth, result = solved
    assert result.geometry.gauge == "rig"
    for camera in rig.cameras:
        R, t = camera.pose.cam_from_world()
        # The truth is within 1-3 cm of the nominal positions; a solver frame would be metres away.
        assert np.linalg.norm(result.cameras[camera.id].centre - (-R.T @ t)) < 0.05
    assert result.geometry.scale_vs_nominal == pytest.approx(1.0, abs=0.01)


def test_reported_sigmas_cover_the_true_errors(
        solved: tuple[RigConfig, dict[str, CameraParams], RigCalibration]) -> None:
    _, truth, result = solved
    ids = sorted(truth)
    align = rigid_align(np.array([result.cameras[c].centre for c in ids]), np.array([truth[c].centre for c in ids]))
    z_scores = []
    for camera in ids:
        estimate, true = result.cameras[camera].transformed(align), truth[camera]
        sigmas = result.geometry.cameras[camera].sigmas
        errors = {"fx": estimate.K[0, 0] - true.K[0, 0], "fy": estimate.K[1, 1] - true.K[1, 1],
                  "cx": estimate.K[0, 2] - true.K[0, 2], "cy": estimate.K[1, 2] - true.K[1, 2]}
        errors.update({name: estimate.dist[k] - true.dist[k] for k, name in enumerate(("k1", "k2", "p1", "p2", "k3"))})
        errors.update({f"centre_{a}": e for a, e in zip("xyz", estimate.centre - true.centre, strict=True)})
        rotation = np.degrees(rotation_vector(estimate.R.T @ true.R))
        errors.update({f"rotation_{a}": e for a, e in zip("xyz", rotation, strict=True)})
        z_scores += [abs(error) / sigmas[name] for name, error in errors.items()]
    z = np.array(z_scores)
    assert (z <= 3).mean() >= 0.95
    # Not so wide that they say nothing: honest sigmas put about half the errors within 0.67 sigma.
    assert 0.4 < np.median(z) < 1.0


def test_outputs_geometry_json_a_colmap_model_and_a_report(
        solved: tuple[RigConfig, dict[str, CameraParams], RigCalibration], tmp_path: Path) -> None:
    _, _, result = solved
    written = write_calibration(result, tmp_path / "calib")
    document = json.loads(written.geometry.read_text())
    assert document["schema"] == "capturerig.geometry/1"
    assert document["rig"] == "sim-studio"
    assert document["board"]["name"] == "studio-charuco"
    entry = document["cameras"]["cam00"]
    assert entry["model"] == "OPENCV"
    assert len(entry["dist"]) == 5
    assert np.shape(entry["R"]) == (3, 3)
    assert {"fx", "cx", "centre_x", "rotation_z"} <= set(entry["sigmas"])
    geometry = load_geometry(written.geometry)
    camera = geometry.cameras["cam03"]
    assert np.allclose(camera.centre(), result.cameras["cam03"].centre)
    model = pycolmap.Reconstruction(str(written.colmap))
    assert len(model.images) == 8
    assert len(model.cameras) == 8
    image = next(i for i in model.images.values() if i.name == "cam03.png")
    assert np.allclose(image.cam_from_world().rotation.matrix(), camera.rotation(), atol=1e-9)
    html = written.report.read_text()
    assert "PASSED" in html
    assert "cam03" in html
    assert {p.name for p in written.plots} == {"coverage.png", "residuals.png", "per_view.png", "rig_top.png",
                                               "rig_side.png"}
    with pytest.raises(FileExistsError, match="choose a new --out"):
        write_calibration(result, tmp_path / "calib")


def test_a_geometry_file_that_is_not_one_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "geometry.json"
    path.write_text('{"schema": "something/2"}')
    with pytest.raises(ConfigError, match=r"geometry\.json.*expected 'capturerig\.geometry/1'"):
        load_geometry(path)


def test_without_a_rig_the_result_is_in_the_best_connected_cameras_frame() -> None:
    rig = ring_rig()
    truth = true_cameras(rig, seed=4)
    capture = synthetic_capture(rig, load_board("studio-charuco"), truth, seed=5, close_ups=1, sweeps=16)
    result = calibrate_rig(capture, None, CalibrationOptions(cross_validate=False))
    root = result.geometry.gauge.removeprefix("camera:")
    assert root in truth
    assert np.allclose(result.cameras[root].R, np.eye(3))
    assert np.allclose(result.cameras[root].t, 0.0)
    assert result.geometry.scale_vs_nominal is None


def test_two_cameras_are_reported_in_the_first_ones_frame_with_honest_sigmas() -> None:
    # Two cameras cannot be aligned to the rig file (a rotation about the line through them is free): the
    # result stays in one camera's frame, that camera's pose is exact by definition (sigma 0), and the other
    # camera's sigmas must cover its true error relative to it (a rigid fit of two centres would not).
    rig = ring_rig()
    rig = rig.model_copy(update={"cameras": rig.cameras[:2]})
    truth = true_cameras(rig, seed=6)
    capture = synthetic_capture(rig, load_board("studio-charuco"), truth, seed=7, close_ups=3, sweeps=10)
    result = calibrate_rig(capture, rig, CalibrationOptions(cross_validate=False))
    root = result.geometry.gauge.removeprefix("camera:")
    assert result.geometry.gauge.startswith("camera:")
    assert root in truth
    assert result.geometry.cameras[root].sigmas["rotation_x"] == 0.0
    into_root = truth[root]
    z_scores = []
    for camera in truth:
        true = truth[camera]
        R = true.R @ into_root.R.T
        true_in_root = CameraParams(K=true.K, dist=true.dist, R=R, t=true.t - R @ into_root.t)
        estimate, sigmas = result.cameras[camera], result.geometry.cameras[camera].sigmas
        errors = {"fx": estimate.K[0, 0] - true.K[0, 0], "cx": estimate.K[0, 2] - true.K[0, 2],
                  "cy": estimate.K[1, 2] - true.K[1, 2]}
        errors.update({f"centre_{a}": e for a, e in zip("xyz", estimate.centre - true_in_root.centre, strict=True)})
        rotation = np.degrees(rotation_vector(estimate.R.T @ true_in_root.R))
        errors.update({f"rotation_{a}": e for a, e in zip("xyz", rotation, strict=True)})
        for name, error in errors.items():
            if sigmas[name] == 0.0:
                assert abs(error) < 1e-9, (camera, name, error)  # held by the gauge, and exactly so
            else:
                z_scores.append(abs(error) / sigmas[name])
    assert len(z_scores) == 12
    assert max(z_scores) <= 3.5, np.round(z_scores, 2)
