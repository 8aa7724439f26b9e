"""Deliberately bad calibration data gets a failing verdict that names the camera and the cause."""

from __future__ import annotations

import re

import cv2
import numpy as np

from capturerig.calibration import (
    CalibrationOptions,
    CameraParams,
    CaptureDetections,
    calibrate_rig,
    load_board,
    simulate_detections,
    sweep_board_poses,
)
from tests.unit.test_calibration_solver import ring_rig, synthetic_capture, true_cameras


def _failed(result_verdicts: tuple[object, ...]) -> list[str]:
    return [v.reason for v in result_verdicts if not v.passed]  # type: ignore[attr-defined]


def test_a_camera_that_sees_the_board_in_one_frame_only_fails_by_name() -> None:
    rig = ring_rig()
    truth = true_cameras(rig)
    capture = synthetic_capture(rig, load_board("studio-charuco"), truth, close_ups=1, sweeps=16)
    first = sorted(capture.views["cam05"])[0]
    views = dict(capture.views)
    views["cam05"] = {first: capture.views["cam05"][first]}
    result = calibrate_rig(CaptureDetections(capture.board, capture.image_sizes, views), rig,
                           CalibrationOptions(cross_validate=False))
    failed = _failed(result.geometry.verdicts)
    assert any(r.startswith("cam05: sees the board in 1 frame only") for r in failed), failed
    assert "cam05" not in result.geometry.cameras
    assert not result.geometry.passed


def test_a_wrong_square_length_shows_as_a_rig_of_the_wrong_size() -> None:
    rig = ring_rig()
    truth = true_cameras(rig)
    board = load_board("studio-charuco")
    capture = synthetic_capture(rig, board, truth, close_ups=1, sweeps=16)
    # The printed squares are 80 mm but the board file says 74 mm: every distance comes out 7.5 % short.
    wrong = board.model_copy(update={"square_length_m": 0.074, "marker_length_m": 0.048})
    views = {camera: {frame: type(d)(d.ids, d.corners, d.object_points * (0.074 / 0.080))
                      for frame, d in frames.items()} for camera, frames in capture.views.items()}
    result = calibrate_rig(CaptureDetections(wrong, capture.image_sizes, views), rig,
                           CalibrationOptions(cross_validate=False))
    scale = next(v for v in result.geometry.verdicts if v.check == "scale")
    assert not scale.passed
    assert scale.camera in truth
    assert re.search(r"the calibrated rig is 7\.[3-7] % smaller than the rig file says", scale.reason)
    assert "square_length_m (0.074 m) is probably wrong" in scale.reason


def test_a_camera_bumped_half_way_through_the_capture_fails_by_name() -> None:
    rig = ring_rig()
    truth = true_cameras(rig)
    board = load_board("studio-charuco")
    sizes = {c.id: (c.intrinsics.width, c.intrinsics.height) for c in rig.cameras}
    poses = sweep_board_poses(truth, board, frames=36, close_ups_per_camera=2, seed=2)
    # 20 sweeps, then two close-ups per camera: each half of the shooting gets 10 sweeps and one close-up
    # of every camera. cam02 is knocked (0.5 degrees, 4 mm) between the halves.
    order = sorted(poses)
    halves = (order[:10] + order[20::2], order[10:20] + order[21::2])
    first = {f"t{k:03d}": poses[f] for k, f in enumerate(halves[0])}
    second = {f"t{k + 18:03d}": poses[f] for k, f in enumerate(halves[1])}
    R = cv2.Rodrigues(np.radians(0.5) * np.array([0.0, 1.0, 0.0]))[0] @ truth["cam02"].R
    bumped = dict(truth, cam02=CameraParams(K=truth["cam02"].K, dist=truth["cam02"].dist, R=R,
                                            t=-R @ (truth["cam02"].centre + 0.004)))
    before = simulate_detections(truth, sizes, board, first, noise_px=0.1, seed=3)
    after = simulate_detections(bumped, sizes, board, second, noise_px=0.1, seed=4)
    views = {c: {**before.views[c], **after.views[c]} for c in truth}
    result = calibrate_rig(CaptureDetections(board, sizes, views), rig)
    failed = [v for v in result.geometry.verdicts if not v.passed]
    assert failed
    assert all(v.camera == "cam02" for v in failed), [v.reason for v in failed]
    assert any("moved during the capture" in v.reason for v in failed), [v.reason for v in failed]


def test_a_half_seen_by_two_cameras_only_is_not_compared_rather_than_failed() -> None:
    # Two camera centres cannot fix a half's rotation in the rig frame (about the line between them), and a gap
    # between two cameras cannot be pinned on either: such a half is reported unchecked, never as a moved camera.
    rig = ring_rig()
    truth = true_cameras(rig)
    capture = synthetic_capture(rig, load_board("studio-charuco"), truth, close_ups=2, sweeps=40)
    pair = ("cam00", "cam01")
    frames = sorted({f for views in capture.views.values() for f in views})
    # The rig's other cameras stop at frame ``cut``, chosen so that the pair's later frames are the second half.
    cut = next(k for k in range(len(frames))
               if k >= len({f for c in pair for f in capture.views[c] if f >= frames[k]}))
    views = {camera: {f: d for f, d in frames_of.items() if camera in pair or f < frames[cut]}
             for camera, frames_of in capture.views.items()}
    result = calibrate_rig(CaptureDetections(capture.board, capture.image_sizes, views), rig)
    halves = [v for v in result.geometry.verdicts if v.check == "cross-validation first/second half"]
    assert {v.camera for v in halves} == set(truth)
    assert all(v.passed for v in halves), [v.reason for v in halves if not v.passed]
    unchecked = [v.reason for v in halves if v.camera in pair]
    assert all("only 2 cameras" in r and "in this half, too few to place it in the rig frame" in r
               for r in unchecked), unchecked
