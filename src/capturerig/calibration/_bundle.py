"""One joint bundle adjustment over every lens, camera pose and board pose (scipy ``least_squares``).

The Jacobian is exact and sparse: OpenCV's ``projectPoints`` and ``composeRT`` give the derivatives of each
view's corners with respect to its camera (15 parameters) and its board pose (6), and the chain rule joins
them. The root camera's pose is held at the identity: that fixes the gauge (a rigid motion of everything);
the scale comes from the board's square length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.linalg import LinearOperator

from capturerig.calibration._detect import BoardDetection
from capturerig.calibration._model import (
    BOARD_PARAMS,
    CAMERA_PARAMS,
    CameraParams,
    project_with_jacobians,
)

__all__ = ["BundleResult", "View", "bundle_adjust", "corner_errors"]

# A view with fewer inlier corners than this is dropped as a whole: its board pose would rest on too little.
MIN_VIEW_CORNERS = 6


@dataclass(frozen=True)
class View:
    """The corners of one board frame seen by one camera (only the corners still in use)."""

    camera: str
    frame: str
    ids: np.ndarray
    object_points: np.ndarray
    corners: np.ndarray


@dataclass(frozen=True)
class BundleResult:
    """The adjusted rig (root camera's frame) with the covariance of every camera's 15 parameters.

    ``covariance[camera]`` is the (15, 15) block of s^2 (J^T J)^-1 for that camera (zeros for the root's
    pose, which is held fixed); ``camera_covariance`` is the joint covariance of all cameras' parameters
    (15 per camera, in ``cameras`` order) for propagating to other frames.
    """

    cameras: dict[str, CameraParams]
    boards: dict[str, tuple[np.ndarray, np.ndarray]]
    views: list[View]
    residuals: list[np.ndarray]  # (n, 2) per view, pixels
    covariance: dict[str, np.ndarray]
    camera_covariance: np.ndarray
    residual_sigma_px: float
    root: str
    iterations: int


def views_from_detections(views: Mapping[str, Mapping[str, BoardDetection]],
                          cameras: Sequence[str]) -> list[View]:
    return [View(camera, frame, d.ids, d.object_points, d.corners)
            for camera in cameras for frame, d in sorted(views.get(camera, {}).items())]


class _Problem:
    """Parameter layout, residuals and the sparse Jacobian of one bundle adjustment."""

    def __init__(self, views: list[View], cameras: dict[str, CameraParams],
                 boards: Mapping[str, tuple[np.ndarray, np.ndarray]], root: str) -> None:
        self.views = views
        seen = {v.camera for v in views}
        if root not in seen:
            raise ValueError(f"the root camera {root} has no view left to adjust")
        self.camera_ids = [c for c in cameras if c in seen]
        self.frame_ids = sorted({v.frame for v in views})
        self.camera_index = {c: i for i, c in enumerate(self.camera_ids)}
        self.frame_index = {f: i for i, f in enumerate(self.frame_ids)}
        self.board_offset = len(self.camera_ids) * CAMERA_PARAMS
        full = np.concatenate([cameras[c].vector() for c in self.camera_ids]
                              + [np.concatenate(boards[f]) for f in self.frame_ids])
        self.full = full
        root_pose = self.camera_index[root] * CAMERA_PARAMS + 9
        self.free = np.setdiff1d(np.arange(full.size), np.arange(root_pose, root_pose + 6))
        self.column_of = np.full(full.size, -1)
        self.column_of[self.free] = np.arange(self.free.size)
        self.rows = np.cumsum([0] + [2 * len(v.ids) for v in views])
        self._structure()
        self._cache_key: bytes | None = None
        self._cache: tuple[np.ndarray, csr_matrix] | None = None

    def _structure(self) -> None:
        rows, columns = [], []
        for k, view in enumerate(self.views):
            n_rows = 2 * len(view.ids)
            row = np.arange(self.rows[k], self.rows[k] + n_rows)
            camera_columns = self.camera_index[view.camera] * CAMERA_PARAMS + np.arange(CAMERA_PARAMS)
            board_columns = self.board_offset + self.frame_index[view.frame] * BOARD_PARAMS + np.arange(BOARD_PARAMS)
            block_columns = np.concatenate([camera_columns, board_columns])
            rows.append(np.repeat(row, block_columns.size))
            columns.append(np.tile(block_columns, n_rows))
        all_rows, all_columns = np.concatenate(rows), np.concatenate(columns)
        mapped = self.column_of[all_columns]
        self.keep = mapped >= 0
        self.jac_rows, self.jac_columns = all_rows[self.keep], mapped[self.keep]

    def expand(self, x: np.ndarray) -> np.ndarray:
        full = self.full.copy()
        full[self.free] = x
        return full

    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, csr_matrix]:
        key = x.tobytes()
        if self._cache_key == key and self._cache is not None:
            return self._cache
        full = self.expand(x)
        residuals, blocks = [], []
        for view in self.views:
            camera_start = self.camera_index[view.camera] * CAMERA_PARAMS
            board_start = self.board_offset + self.frame_index[view.frame] * BOARD_PARAMS
            projected, d_camera, d_board = project_with_jacobians(
                view.object_points, full[camera_start:camera_start + CAMERA_PARAMS],
                full[board_start:board_start + BOARD_PARAMS])
            residuals.append((projected - view.corners).reshape(-1))
            blocks.append(np.hstack([d_camera, d_board]).reshape(-1))
        data = np.concatenate(blocks)[self.keep]
        jacobian = coo_matrix((data, (self.jac_rows, self.jac_columns)),
                              shape=(int(self.rows[-1]), self.free.size)).tocsr()
        self._cache_key, self._cache = key, (np.concatenate(residuals), jacobian)
        return self._cache

    def cameras(self, full: np.ndarray) -> dict[str, CameraParams]:
        return {c: CameraParams.from_vector(full[i * CAMERA_PARAMS:(i + 1) * CAMERA_PARAMS])
                for i, c in enumerate(self.camera_ids)}

    def boards(self, full: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        result = {}
        for i, frame in enumerate(self.frame_ids):
            start = self.board_offset + i * BOARD_PARAMS
            result[frame] = (full[start:start + 3].copy(), full[start + 3:start + 6].copy())
        return result


def _solve(problem: _Problem, loss: str, f_scale: float, max_nfev: int) -> tuple[np.ndarray, int]:
    """Minimise over x = x0 + L^-T z, where L L^T = J^T J at the start (whitened variables).

    The lens parameters are strongly correlated (k1, k2, k3; focal length and distance), which leaves the
    raw problem so ill-conditioned that least_squares' iterative trust-region solver (LSMR, the one that
    takes a sparse Jacobian) needs thousands of inner iterations per step. In whitened variables the
    Jacobian J L^-T is close to orthonormal and each step takes a few; the minimum is the same.
    """
    x0 = problem.full[problem.free]
    _, jacobian0 = problem.evaluate(x0)
    information = (jacobian0.T @ jacobian0).toarray()
    information[np.diag_indices_from(information)] *= 1.0 + 1e-9  # keeps a barely-seen camera factorable
    factor = cholesky(information, lower=True)

    def to_x(z: np.ndarray) -> np.ndarray:
        return np.asarray(x0 + solve_triangular(factor, z, lower=True, trans="T"), dtype=np.float64)

    def jac(z: np.ndarray) -> LinearOperator:
        jacobian = problem.evaluate(to_x(z))[1]
        return LinearOperator(jacobian.shape, dtype=np.float64,
                              matvec=lambda v: jacobian @ solve_triangular(factor, np.ravel(v), lower=True, trans="T"),
                              rmatvec=lambda u: solve_triangular(factor, jacobian.T @ np.ravel(u), lower=True))

    result = least_squares(lambda z: problem.evaluate(to_x(z))[0], np.zeros(x0.size), jac=jac, method="trf",
                           loss=loss, f_scale=f_scale, ftol=1e-10, xtol=1e-10, gtol=1e-10, max_nfev=max_nfev)
    return to_x(np.asarray(result.x)), int(result.nfev)


def corner_errors(problem_views: Sequence[View], residuals: np.ndarray) -> list[np.ndarray]:
    """Split a stacked residual vector into (n, 2) arrays per view."""
    out, start = [], 0
    for view in problem_views:
        n = 2 * len(view.ids)
        out.append(residuals[start:start + n].reshape(-1, 2))
        start += n
    return out


def _inliers(views: list[View], errors: list[np.ndarray], threshold: float) -> list[View]:
    kept = []
    for view, error in zip(views, errors, strict=True):
        good = np.linalg.norm(error, axis=1) <= threshold
        if good.sum() >= MIN_VIEW_CORNERS:
            kept.append(View(view.camera, view.frame, view.ids[good], view.object_points[good], view.corners[good]))
    return kept


def _covariance(problem: _Problem, x: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """s^2 (J^T J)^-1 for the cameras' parameters, with the board poses eliminated (Schur complement).

    The board poses' information is block diagonal (6 x 6 per frame), so eliminating them is cheap and
    the cameras' covariance is the inverse of a small dense matrix.
    """
    residuals, jacobian = problem.evaluate(x)
    dof = max(1, residuals.size - x.size)
    sigma2 = float(residuals @ residuals) / dof
    information = (jacobian.T @ jacobian).tocsr()
    cameras_end = len(problem.camera_ids) * CAMERA_PARAMS
    free_cameras = int(np.count_nonzero(problem.free < cameras_end))
    a = information[:free_cameras, :free_cameras].toarray()
    b = information[:free_cameras, free_cameras:].toarray()
    d = information[free_cameras:, free_cameras:].toarray()
    b_d_inverse = np.empty_like(b)
    for start in range(0, d.shape[0], BOARD_PARAMS):
        block = slice(start, start + BOARD_PARAMS)
        b_d_inverse[:, block] = b[:, block] @ np.linalg.inv(d[block, block])
    reduced = a - b_d_inverse @ b.T
    covariance_free = sigma2 * np.linalg.pinv(reduced, rcond=1e-14, hermitian=True)
    free_camera_index = problem.free[:free_cameras]
    camera_covariance = np.zeros((cameras_end, cameras_end))
    camera_covariance[np.ix_(free_camera_index, free_camera_index)] = covariance_free
    per_camera = {c: camera_covariance[i * CAMERA_PARAMS:(i + 1) * CAMERA_PARAMS,
                                       i * CAMERA_PARAMS:(i + 1) * CAMERA_PARAMS]
                  for i, c in enumerate(problem.camera_ids)}
    return per_camera, camera_covariance, float(np.sqrt(sigma2))


def bundle_adjust(views: list[View], cameras: dict[str, CameraParams],
                  boards: Mapping[str, tuple[np.ndarray, np.ndarray]], root: str,
                  outlier_sigmas: float = 4.0, min_threshold_px: float = 0.5, max_nfev: int = 100,
                  robust: bool = True) -> BundleResult:
    """Refine everything jointly, reject outlying corners, and refine again on the inliers.

    First a robust solve (soft L1, scale 1 px) so that a few bad corners cannot pull the rig; then corners
    farther than ``outlier_sigmas`` robust sigmas (at least ``min_threshold_px``) are dropped, and a plain
    least-squares solve on the inliers gives the estimate and its covariance s^2 (J^T J)^-1. With
    ``robust=False`` (views already cleaned) only the plain solve runs.
    """
    problem = _Problem(views, cameras, boards, root)
    x, evaluations = _solve(problem, "soft_l1" if robust else "linear", 1.0, max_nfev)
    current = views
    for _ in range(2 if robust else 0):
        full = problem.expand(x)
        errors = corner_errors(current, problem.evaluate(x)[0])
        norms = np.concatenate([np.linalg.norm(e, axis=1) for e in errors])
        # A 2-D Gaussian's error norm has median 1.1774 sigma (Rayleigh); the median ignores the outliers.
        robust_sigma = float(np.median(norms)) / 1.1774
        threshold = max(outlier_sigmas * robust_sigma, min_threshold_px)
        kept = _inliers(current, errors, threshold)
        problem = _Problem(kept, problem.cameras(full), problem.boards(full), root)
        x, more = _solve(problem, "linear", 1.0, max_nfev)
        evaluations += more
        if sum(len(v.ids) for v in kept) == sum(len(v.ids) for v in current):
            current = kept
            break
        current = kept
    full = problem.expand(x)
    covariance, camera_covariance, sigma = _covariance(problem, x)
    residuals = corner_errors(current, problem.evaluate(x)[0])
    return BundleResult(problem.cameras(full), problem.boards(full), current, residuals, covariance,
                        camera_covariance, sigma, root, evaluations)
