"""Split-half cross-validation: calibrate on half of the frames twice and compare what the cameras project.

Odd/even frames tell whether the result is reproducible (and whether the Jacobian's sigmas are honest:
the two halves must differ by about what their sigmas predict). First/second half catches a camera
that moved during the capture (bumped): each half is consistent on its own, but they disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from capturerig.calibration._bundle import BundleResult, bundle_adjust, views_from_detections
from capturerig.calibration._gauge import align_to, aligned_covariance
from capturerig.calibration._model import CameraParams, rotation_vector
from capturerig.calibration._observations import CaptureDetections

__all__ = ["SplitCheck", "corner_points", "frame_order", "projection_sigma_px", "sigma_inflation", "split_checks"]

# Median of a chi-square variable with one degree of freedom: what median(z^2) is for honest sigmas.
_CHI2_1_MEDIAN = 0.4549
# Cameras a half needs, linked by shared frames, to be aligned with the whole rig by their centres.
_MIN_LINKED = 3


@dataclass(frozen=True)
class SplitCheck:
    """One split of the frames into two halves and how far apart the two calibrations are.

    ``difference_px[camera]`` is the RMS distance between the image positions of that camera's board
    corners (from the full solution) projected by the two half calibrations, ``predicted_px[camera]`` what
    their covariances let that distance be (one sigma, RMS over the corners). ``z_scores`` are parameter
    differences divided by their predicted sigma (intrinsics, centres and rotations of all cameras).
    """

    name: str
    halves: tuple[str, str]
    difference_px: dict[str, float]
    predicted_px: dict[str, float] = field(default_factory=dict)
    unchecked: dict[str, str] = field(default_factory=dict)  # camera -> why it could not be compared
    z_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _natural(stem: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", stem)]


def frame_order(capture: CaptureDetections) -> list[str]:
    """All frame stems in capture order (natural sort: f2 before f10)."""
    return sorted({f for frames in capture.views.values() for f in frames}, key=_natural)


def _half_solution(capture: CaptureDetections, keep: Callable[[str], bool], full: BundleResult,
                   min_views: int) -> tuple[BundleResult | None, dict[str, str]]:
    half = capture.subset(keep)
    counts = {c: sum(1 for f in half.views.get(c, {}) if f in full.boards) for c in full.cameras}
    skipped = {c: f"{n} views in this half" for c, n in counts.items() if n < min_views}
    candidates = [c for c in full.cameras if c not in skipped]
    frames_of = {c: {f for f in half.views.get(c, {}) if f in full.boards} for c in candidates}
    # Only cameras tied to each other by shared frames in this half can be compared.
    adjacency = np.array([[float(bool(frames_of[a] & frames_of[b])) for b in candidates] for a in candidates])
    if len(candidates) < _MIN_LINKED:
        why = f"only {len(candidates)} cameras with enough views in this half, too few to place it in the rig frame"
        return None, {c: skipped.get(c, why) for c in full.cameras}
    _, labels = connected_components(csr_matrix(adjacency), directed=False)
    main = np.bincount(labels).argmax()
    for camera, label in zip(candidates, labels, strict=True):
        if label != main:
            skipped[camera] = "not linked to the other cameras in this half"
    kept = [c for c in candidates if c not in skipped]
    if len(kept) < _MIN_LINKED:
        # A half is put into the whole rig's frame by its camera centres; two centres leave the rotation about
        # the line between them free, and a gap between two cameras could not be pinned on either of them.
        why = f"only {len(kept)} cameras linked in this half, too few to place it in the rig frame"
        return None, {**skipped, **{c: why for c in kept}}
    root = full.root if full.root in kept else max(kept, key=lambda c: counts[c])
    views = [v for v in views_from_detections(half.views, kept) if v.frame in full.boards]
    boards = {v.frame: full.boards[v.frame] for v in views}
    solution = bundle_adjust(views, {c: full.cameras[c] for c in kept}, boards, root)
    return solution, skipped


def _aligned(solution: BundleResult, full: BundleResult) -> dict[str, CameraParams]:
    transform = align_to(solution.cameras, {c: p.centre for c, p in full.cameras.items()})
    return {c: p.transformed(transform) for c, p in solution.cameras.items()}


def corner_points(full: BundleResult, camera: str, limit: int = 300) -> np.ndarray:
    """World positions (solver frame) of up to ``limit`` corners this camera used, from the full solution."""
    points = []
    for view in full.views:
        if view.camera == camera:
            r, t = full.boards[view.frame]
            points.append(view.object_points @ cv2.Rodrigues(r)[0].T + t)
    stacked = np.concatenate(points)
    step = max(1, stacked.shape[0] // limit)
    return np.asarray(stacked[::step], dtype=np.float64)


def _perturbed(camera: CameraParams, delta: np.ndarray) -> CameraParams:
    """``camera`` moved by delta = [9 lens parameters, centre (3), rotation about the world axes (3)]."""
    vector = camera.vector()
    lens = vector[:9] + delta[:9]
    rotation = camera.R @ cv2.Rodrigues(-delta[12:15])[0]
    centre = camera.centre + delta[9:12]
    K = np.array([[lens[0], 0.0, lens[2]], [0.0, lens[1], lens[3]], [0.0, 0.0, 1.0]])
    return CameraParams(K=K, dist=lens[4:9], R=rotation, t=-rotation @ centre)


def projection_sigma_px(camera: CameraParams, covariance: np.ndarray, points: np.ndarray) -> float:
    """RMS over ``points`` of the one-sigma image displacement that ``covariance`` (15, 15, aligned) allows."""
    steps = np.array([1e-3] * 4 + [1e-6] * 5 + [1e-6] * 3 + [1e-7] * 3)
    jacobian = np.empty((2 * points.shape[0], 15))
    for j in range(15):
        delta = np.zeros(15)
        delta[j] = steps[j]
        jacobian[:, j] = ((_perturbed(camera, delta).project(points) - _perturbed(camera, -delta).project(points))
                          .reshape(-1) / (2 * steps[j]))
    variance = np.einsum("ij,jk,ik->i", jacobian, covariance, jacobian)
    return float(np.sqrt(max(variance.sum(), 0.0) / points.shape[0]))


def _z_scores(cameras_a: dict[str, CameraParams], cameras_b: dict[str, CameraParams],
              covariance_a: dict[str, np.ndarray], covariance_b: dict[str, np.ndarray],
              common: list[str]) -> np.ndarray:
    scores = []
    for camera in common:
        a, b = cameras_a[camera], cameras_b[camera]
        difference = np.concatenate([a.vector()[:9] - b.vector()[:9], a.centre - b.centre,
                                     rotation_vector(a.R.T @ b.R)])
        variance = np.diag(covariance_a[camera]) + np.diag(covariance_b[camera])
        good = variance > 0
        scores.append(difference[good] / np.sqrt(variance[good]))
    return np.concatenate(scores) if scores else np.zeros(0)


def split_checks(capture: CaptureDetections, full: BundleResult, min_views: int) -> list[SplitCheck]:
    """Odd/even and first/second-half splits, each solved from the full solution as the start."""
    order = frame_order(capture)
    position = {frame: k for k, frame in enumerate(order)}
    middle = len(order) / 2
    splits = [("odd/even", ("even frames", "odd frames"),
               (lambda f: position[f] % 2 == 0), (lambda f: position[f] % 2 == 1)),
              ("first/second half", ("first half", "second half"),
               (lambda f: position[f] < middle), (lambda f: position[f] >= middle))]
    per_half_views = max(3, min_views // 2)
    checks = []
    for name, halves, keep_a, keep_b in splits:
        a, skipped_a = _half_solution(capture, keep_a, full, per_half_views)
        b, skipped_b = _half_solution(capture, keep_b, full, per_half_views)
        unchecked = {c: f"{halves[0]}: {why}" for c, why in skipped_a.items()}
        unchecked.update({c: f"{halves[1]}: {why}" for c, why in skipped_b.items() if c not in unchecked})
        if a is None or b is None:
            checks.append(SplitCheck(name, halves, {}, {}, unchecked))
            continue
        cameras_a, cameras_b = _aligned(a, full), _aligned(b, full)
        target = {c: p.centre for c, p in full.cameras.items()}
        covariance_a = aligned_covariance(a.cameras, a.camera_covariance, target)
        covariance_b = aligned_covariance(b.cameras, b.camera_covariance, target)
        common = [c for c in full.cameras if c in cameras_a and c in cameras_b]
        difference, predicted = {}, {}
        for camera in common:
            points = corner_points(full, camera)
            gap = cameras_a[camera].project(points) - cameras_b[camera].project(points)
            difference[camera] = float(np.sqrt(np.mean(np.sum(gap**2, axis=1))))
            predicted[camera] = projection_sigma_px(full.cameras[camera],
                                                    covariance_a[camera] + covariance_b[camera], points)
        scores = _z_scores(cameras_a, cameras_b, covariance_a, covariance_b, common) if name == "odd/even" \
            else np.zeros(0)
        checks.append(SplitCheck(name, halves, difference, predicted, unchecked, scores))
    return checks


def sigma_inflation(checks: list[SplitCheck], limit: float = 10.0) -> float:
    """How much the Jacobian sigmas must grow to explain the odd/even differences (never below 1).

    The median of the squared z-scores is used so that one bad camera (which its own verdicts name)
    does not inflate everyone's sigmas.
    """
    parts = [c.z_scores for c in checks if c.z_scores.size]
    scores = np.concatenate(parts) if parts else np.zeros(0)
    if scores.size < 10:
        return 1.0
    return float(np.clip(np.sqrt(np.median(scores**2) / _CHI2_1_MEDIAN), 1.0, limit))
