"""Putting a solved rig into a chosen frame, and carrying its pose uncertainty along.

The bundle adjustment holds one camera fixed, so its covariance says how every other camera moves
*relative to that one*. Reported in the rig frame after a rigid alignment of all camera centres, the
uncertainty is shared out over the cameras instead; this module propagates the covariance through that
alignment (numerically: the alignment is a smooth function of the centres).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from capturerig.calibration._model import CameraParams, RigidTransform, rigid_align, rotation_vector

__all__ = ["align_to", "aligned_covariance"]


def align_to(cameras: Mapping[str, CameraParams], target_centres: Mapping[str, np.ndarray]) -> RigidTransform:
    """The rigid transform (no scale) taking the cameras' centres onto ``target_centres`` (common ids)."""
    common = [c for c in cameras if c in target_centres]
    source = np.array([cameras[c].centre for c in common])
    target = np.array([target_centres[c] for c in common])
    return rigid_align(source, target)


def _aligned_state(pose_vector: np.ndarray, ids: Sequence[str], target: Mapping[str, np.ndarray] | None,
                   reference_rotations: Sequence[np.ndarray]) -> np.ndarray:
    """Centres (3) and rotation deviations (3, radians about the world axes) of all cameras, after alignment."""
    rotations, centres = [], []
    for k in range(len(ids)):
        R = cv2.Rodrigues(pose_vector[6 * k:6 * k + 3])[0]
        rotations.append(R)
        centres.append(-R.T @ pose_vector[6 * k + 3:6 * k + 6])
    if target is not None:
        transform = rigid_align(np.array(centres), np.array([target[c] for c in ids]))
    else:
        transform = RigidTransform(np.eye(3), np.zeros(3))
    state = []
    for R, centre, reference in zip(rotations, centres, reference_rotations, strict=True):
        world_rotation = R @ transform.R.T  # cam_from_world in the aligned frame
        # The small rotation w with world_from_cam = exp([w]) world_from_cam_reference: about the world axes.
        deviation = rotation_vector(world_rotation.T @ reference)
        state.append(np.concatenate([transform.R @ centre + transform.t, deviation]))
    return np.concatenate(state)


def aligned_covariance(cameras: Mapping[str, CameraParams], camera_covariance: np.ndarray,
                       target: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Covariance (15, 15) of each camera's [fx, fy, cx, cy, k1, k2, p1, p2, k3, centre (m), rotation (rad)].

    Parameters
    ----------
    cameras
        The solved cameras in the solver's frame, in the order of ``camera_covariance``'s blocks.
    camera_covariance
        Joint covariance of all cameras' 15-parameter vectors (as :meth:`CameraParams.vector` orders them).
    target
        Camera centres the rig is aligned to (the same alignment the outputs get), or None to stay in the
        solver's frame. The rotation is the small rotation about the world axes (see ``_aligned_state``).
    """
    ids = list(cameras)
    count = len(ids)
    pose_columns = np.concatenate([15 * k + 9 + np.arange(6) for k in range(count)])
    base = np.concatenate([np.concatenate([rotation_vector(cameras[c].R), cameras[c].t]) for c in ids])
    transform = align_to(cameras, target) if target is not None else RigidTransform(np.eye(3), np.zeros(3))
    references = [cameras[c].R @ transform.R.T for c in ids]
    step = 1e-6
    pose_jacobian = np.empty((base.size, base.size))
    for j in range(base.size):
        delta = np.zeros(base.size)
        delta[j] = step
        pose_jacobian[:, j] = (_aligned_state(base + delta, ids, target, references)
                               - _aligned_state(base - delta, ids, target, references)) / (2 * step)
    jacobian = np.eye(15 * count)  # the lens parameters do not depend on the frame
    jacobian[np.ix_(pose_columns, pose_columns)] = pose_jacobian
    covariance = jacobian @ camera_covariance @ jacobian.T
    return {c: covariance[15 * k:15 * k + 15, 15 * k:15 * k + 15] for k, c in enumerate(ids)}
