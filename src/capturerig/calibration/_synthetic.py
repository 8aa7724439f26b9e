"""Synthetic board views: project a board through known cameras, for tests and for planning a capture.

Detections made this way test the estimator itself (its maths, its uncertainty, its verdicts) with a
truth that is exact; the rendered virtual studio tests the whole chain including detection.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from capturerig.calibration._board import BoardSpec
from capturerig.calibration._detect import MIN_CORNERS, BoardDetection
from capturerig.calibration._model import CameraParams
from capturerig.calibration._observations import CaptureDetections

__all__ = ["BoardPose", "board_pose_facing", "simulate_detections", "sweep_board_poses"]

BoardPose = tuple[np.ndarray, np.ndarray]  # R (3, 3) and t (3,): x_world = R x_board + t


def board_pose_facing(board: BoardSpec, centre: np.ndarray, normal: np.ndarray, roll_rad: float) -> BoardPose:
    """The pose that puts the board's centre at ``centre`` with its printed face towards ``normal``."""
    normal = np.asarray(normal, dtype=np.float64) / np.linalg.norm(normal)
    z_axis = -normal  # the board frame's z points into the board
    helper = np.array([0.0, 0.0, 1.0]) if abs(z_axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x_axis = np.cross(helper, z_axis)
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(z_axis, x_axis)
    rotation = np.stack([x_axis, y_axis, z_axis], axis=1)
    roll = cv2.Rodrigues(z_axis * roll_rad)[0]
    rotation = roll @ rotation
    width, height = board.size_m
    return rotation, np.asarray(centre, dtype=np.float64) - rotation @ np.array([width / 2, height / 2, 0.0])


def sweep_board_poses(cameras: Mapping[str, CameraParams], board: BoardSpec, frames: int = 40,
                      close_ups_per_camera: int = 1, seed: int = 0,
                      volume: tuple[float, float, float] = (0.6, 0.5, 1.7)) -> dict[str, BoardPose]:
    """A capture as a careful technician makes it: sweeps through the volume, then close-ups per camera.

    ``volume`` is (radius, lowest, highest) of the cylinder around the rig axis that the sweep visits.
    Close-ups hold the board 0.6-0.9 m in front of one camera, tilted, so it fills the image.
    """
    rng = np.random.default_rng(seed)
    radius, low, high = volume
    poses: dict[str, BoardPose] = {}
    sweep = max(0, frames - close_ups_per_camera * len(cameras))
    for k in range(sweep):
        angle, r = rng.uniform(0, 2 * np.pi), radius * np.sqrt(rng.uniform())
        centre = np.array([r * np.cos(angle), r * np.sin(angle), rng.uniform(low, high)])
        facing = rng.uniform(0, 2 * np.pi)
        normal = np.array([np.cos(facing), np.sin(facing), rng.uniform(-0.3, 0.3)])
        poses[f"f{k:03d}"] = board_pose_facing(board, centre, normal, rng.uniform(-0.5, 0.5))
    k = sweep
    for camera in cameras.values():
        for _ in range(close_ups_per_camera):
            forward = camera.R[2]
            centre = camera.centre + rng.uniform(0.6, 0.9) * forward
            tilt = cv2.Rodrigues(rng.normal(size=3) * np.radians(20))[0]
            poses[f"f{k:03d}"] = board_pose_facing(board, centre, tilt @ -forward, rng.uniform(-0.4, 0.4))
            k += 1
    return poses


def simulate_detections(cameras: Mapping[str, CameraParams], image_sizes: Mapping[str, tuple[int, int]],
                        board: BoardSpec, poses: Mapping[str, BoardPose], noise_px: float = 0.1, seed: int = 0,
                        max_incidence_deg: float = 70.0) -> CaptureDetections:
    """What each camera would detect: corners in front of it, inside its image, on a face turned to it.

    Gaussian noise of ``noise_px`` (per axis) is added to every corner; views with fewer than
    MIN_CORNERS corners are left out, as the detector would.
    """
    rng = np.random.default_rng(seed)
    points = board.corner_points()
    ids = np.arange(points.shape[0])
    views: dict[str, dict[str, BoardDetection]] = {camera: {} for camera in cameras}
    for frame, (R_board, t_board) in poses.items():
        world = points @ R_board.T + t_board
        normal = -R_board[:, 2]
        for camera_id, camera in cameras.items():
            width, height = image_sizes[camera_id]
            to_camera = camera.centre - (R_board @ np.array([*np.array(board.size_m) / 2, 0.0]) + t_board)
            cosine = float(normal @ to_camera / np.linalg.norm(to_camera))
            if cosine < np.cos(np.radians(max_incidence_deg)):
                continue
            depth = (world @ camera.R.T + camera.t)[:, 2]
            image = camera.project(world)
            inside = (depth > 0.05) & (image[:, 0] >= 0) & (image[:, 0] <= width - 1) \
                & (image[:, 1] >= 0) & (image[:, 1] <= height - 1)
            if inside.sum() < MIN_CORNERS:
                continue
            noisy = image[inside] + rng.normal(scale=noise_px, size=(int(inside.sum()), 2))
            views[camera_id][frame] = BoardDetection(ids[inside], noisy, points[inside].copy())
    return CaptureDetections(board, dict(image_sizes), views, {c: len(poses) for c in cameras})
