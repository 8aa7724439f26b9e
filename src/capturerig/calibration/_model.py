"""The camera model the solver estimates: OpenCV pinhole + (k1, k2, p1, p2, k3), poses as Rodrigues vectors.

A camera's parameter vector is ``[fx, fy, cx, cy, k1, k2, p1, p2, k3, rx, ry, rz, tx, ty, tz]`` with
x_cam = R(r) x_world + t; a board pose is ``[rx, ry, rz, tx, ty, tz]`` with x_world = R(r) x_board + t.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "BOARD_PARAMS",
    "CAMERA_PARAMS",
    "INTRINSIC_NAMES",
    "CameraParams",
    "RigidTransform",
    "best_fit_scale",
    "compose",
    "invert",
    "project_with_jacobians",
    "rigid_align",
    "rotation_angle_deg",
    "rotation_vector",
]

INTRINSIC_NAMES = ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3")
CAMERA_PARAMS = 15
BOARD_PARAMS = 6


@dataclass(frozen=True)
class CameraParams:
    """One camera: intrinsics K and dist, and pose (x_cam = R x_world + t)."""

    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray

    @property
    def centre(self) -> np.ndarray:
        """Camera centre in the world frame."""
        return np.asarray(-self.R.T @ self.t, dtype=np.float64)

    def vector(self) -> np.ndarray:
        rvec = rotation_vector(self.R)
        return np.concatenate([[self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]], self.dist, rvec, self.t])

    @classmethod
    def from_vector(cls, vector: np.ndarray) -> CameraParams:
        fx, fy, cx, cy = vector[:4]
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        R = cv2.Rodrigues(np.asarray(vector[9:12], dtype=np.float64))[0]
        return cls(K=K, dist=np.array(vector[4:9], dtype=np.float64), R=R, t=np.array(vector[12:15], dtype=np.float64))

    def transformed(self, transform: RigidTransform) -> CameraParams:
        """The same camera expressed in a new world frame, x_new = transform(x_old)."""
        R = self.R @ transform.R.T
        return CameraParams(K=self.K, dist=self.dist, R=R, t=self.t - R @ transform.t)

    def project(self, world_points: np.ndarray) -> np.ndarray:
        rvec = rotation_vector(self.R)
        image, _ = cv2.projectPoints(np.asarray(world_points, dtype=np.float64).reshape(-1, 1, 3), rvec, self.t,
                                     self.K, self.dist)
        return np.asarray(image, dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class RigidTransform:
    """x_new = R x_old + t (a rotation and a translation, no scale)."""

    R: np.ndarray
    t: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(np.asarray(points) @ self.R.T + self.t, dtype=np.float64)


def rotation_vector(matrix: np.ndarray) -> np.ndarray:
    """Rodrigues vector of a rotation matrix, also for tiny angles (OpenCV's returns 0 below ~1e-5 rad)."""
    m = np.asarray(matrix, dtype=np.float64)
    if (np.trace(m) - 1.0) / 2.0 > 1.0 - 1e-8:  # below ~1.4e-4 rad: sin(angle) = angle to 3e-9
        return 0.5 * np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]])
    return np.asarray(cv2.Rodrigues(m)[0], dtype=np.float64).reshape(3)


def compose(r_inner: np.ndarray, t_inner: np.ndarray, r_outer: np.ndarray,
            t_outer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rodrigues pose of ``outer(inner(x))``."""
    r, t = cv2.composeRT(r_inner.reshape(3, 1), t_inner.reshape(3, 1), r_outer.reshape(3, 1), t_outer.reshape(3, 1))[:2]
    return np.asarray(r, dtype=np.float64).reshape(3), np.asarray(t, dtype=np.float64).reshape(3)


def invert(r: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rodrigues pose of the inverse transform."""
    R = cv2.Rodrigues(np.asarray(r, dtype=np.float64).reshape(3, 1))[0]
    return -np.asarray(r, dtype=np.float64).reshape(3), -R.T @ np.asarray(t, dtype=np.float64).reshape(3)


def project_with_jacobians(object_points: np.ndarray, camera: np.ndarray,
                           board: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project board-frame points through a board pose and a camera.

    Returns
    -------
    tuple
        image points (N, 2); d(image)/d(camera vector) (2N, 15); d(image)/d(board vector) (2N, 6).
        Rows alternate u, v per point (OpenCV's order).
    """
    r_board, t_board = board[:3].reshape(3, 1), board[3:].reshape(3, 1)
    r_cam, t_cam = camera[9:12].reshape(3, 1), camera[12:15].reshape(3, 1)
    (r3, t3, dr3dr1, dr3dt1, dr3dr2, dr3dt2,
     dt3dr1, dt3dt1, dt3dr2, dt3dt2) = cv2.composeRT(r_board, t_board, r_cam, t_cam)
    K = np.array([[camera[0], 0.0, camera[2]], [0.0, camera[1], camera[3]], [0.0, 0.0, 1.0]])
    image, jac = cv2.projectPoints(object_points.reshape(-1, 1, 3), r3, t3, K, camera[4:9])
    # projectPoints' columns: rvec (3), tvec (3), fx fy (2), cx cy (2), distortion (5).
    d_r3, d_t3 = jac[:, 0:3], jac[:, 3:6]
    d_camera = np.empty((jac.shape[0], CAMERA_PARAMS))
    d_camera[:, 0:9] = jac[:, 6:15]
    d_camera[:, 9:12] = d_r3 @ dr3dr2 + d_t3 @ dt3dr2
    d_camera[:, 12:15] = d_r3 @ dr3dt2 + d_t3 @ dt3dt2
    d_board = np.empty((jac.shape[0], BOARD_PARAMS))
    d_board[:, 0:3] = d_r3 @ dr3dr1 + d_t3 @ dt3dr1
    d_board[:, 3:6] = d_r3 @ dr3dt1 + d_t3 @ dt3dt1
    return np.asarray(image, dtype=np.float64).reshape(-1, 2), d_camera, d_board


def rigid_align(source: np.ndarray, target: np.ndarray) -> RigidTransform:
    """The rotation and translation (no scale) that best maps ``source`` points onto ``target`` (Kabsch)."""
    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    covariance = (target - target_mean).T @ (source - source_mean)
    u, _, vt = np.linalg.svd(covariance)
    sign = np.sign(np.linalg.det(u @ vt)) or 1.0
    R = u @ np.diag([1.0, 1.0, sign]) @ vt
    return RigidTransform(R=R, t=target_mean - R @ source_mean)


def best_fit_scale(source: np.ndarray, target: np.ndarray) -> float:
    """The scale of the similarity that best maps ``source`` onto ``target`` (Umeyama)."""
    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    source_c, target_c = source - source.mean(axis=0), target - target.mean(axis=0)
    u, singular, vt = np.linalg.svd(target_c.T @ source_c)
    signs = np.array([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    return float((singular * signs).sum() / (source_c**2).sum())


def rotation_angle_deg(R_a: np.ndarray, R_b: np.ndarray) -> float:
    """Angle of the rotation between two orientations, degrees."""
    cosine = (np.trace(R_a @ R_b.T) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
