"""A first guess for the bundle adjustment: each camera's lens alone, then the rig from a spanning tree.

The tree follows the pairs of cameras that saw the board at the same instants most often; each edge's
relative pose is the candidate (one per shared frame) that best explains all of that pair's shared views.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree

from capturerig.calibration._detect import BoardDetection
from capturerig.calibration._model import CameraParams, compose, invert

__all__ = ["LensGuess", "RigGuess", "initial_lens", "initial_rig"]

Pose = tuple[np.ndarray, np.ndarray]  # Rodrigues vector, translation


@dataclass(frozen=True)
class LensGuess:
    """One camera calibrated on its own: intrinsics and the board pose (board -> camera) of each view."""

    K: np.ndarray
    dist: np.ndarray
    rms_px: float
    board_in_camera: dict[str, Pose]


@dataclass(frozen=True)
class RigGuess:
    """Cameras and board poses in the frame of the root camera; cameras the tree could not reach."""

    root: str
    cameras: dict[str, CameraParams]
    boards: dict[str, Pose]  # frame -> board -> world
    unreachable: list[str]


def initial_lens(views: Mapping[str, BoardDetection], size: tuple[int, int],
                 nominal_K: np.ndarray | None = None, nominal_dist: np.ndarray | None = None) -> LensGuess:
    """Calibrate one camera from its own views (``calibrateCameraExtended``, OPENCV model).

    A nominal K from the rig file, when given, seeds the solve (a capture of mostly distant, frontal
    views pins the focal length poorly on its own).
    """
    frames = list(views)
    object_points = [views[f].object_points.astype(np.float32) for f in frames]
    image_points = [views[f].corners.astype(np.float32) for f in frames]
    flags = 0
    K = np.eye(3)
    dist = np.zeros(5)
    if nominal_K is not None:
        K = np.array(nominal_K, dtype=np.float64)
        dist = np.zeros(5) if nominal_dist is None else np.array(nominal_dist, dtype=np.float64)
        flags |= cv2.CALIB_USE_INTRINSIC_GUESS
    criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-10)
    rms, K_found, dist_found, rvecs, tvecs = cv2.calibrateCameraExtended(
        object_points, image_points, size, K, dist, flags=flags, criteria=criteria)[:5]
    poses = {f: (np.asarray(r, dtype=np.float64).reshape(3), np.asarray(t, dtype=np.float64).reshape(3))
             for f, r, t in zip(frames, rvecs, tvecs, strict=True)}
    return LensGuess(np.asarray(K_found, dtype=np.float64), np.asarray(dist_found, dtype=np.float64).reshape(-1)[:5],
                     float(rms), poses)


def _view_rms(detection: BoardDetection, lens: LensGuess, pose: Pose) -> float:
    projected, _ = cv2.projectPoints(detection.object_points.reshape(-1, 1, 3), pose[0], pose[1], lens.K, lens.dist)
    return float(np.sqrt(np.mean(np.sum((projected.reshape(-1, 2) - detection.corners) ** 2, axis=1))))


def _relative_pose(parent: str, child: str, shared: list[str], views: Mapping[str, Mapping[str, BoardDetection]],
                   lenses: Mapping[str, LensGuess]) -> Pose:
    """child <- parent transform: the per-frame candidate with the smallest median error over shared views."""
    best: tuple[float, Pose] | None = None
    for frame in shared:
        to_board = invert(*lenses[parent].board_in_camera[frame])
        candidate = compose(*to_board, *lenses[child].board_in_camera[frame])
        errors = []
        for other in shared:
            board_in_child = compose(*lenses[parent].board_in_camera[other], *candidate)
            errors.append(_view_rms(views[child][other], lenses[child], board_in_child))
        score = float(np.median(errors))
        if best is None or score < best[0]:
            best = (score, candidate)
    assert best is not None  # an edge exists only where frames are shared
    return best[1]


def initial_rig(views: Mapping[str, Mapping[str, BoardDetection]], lenses: Mapping[str, LensGuess]) -> RigGuess:
    """Chain the cameras along a maximum spanning tree of shared views, rooted at the best-connected one."""
    cameras = [c for c in lenses if views.get(c)]
    index = {camera: i for i, camera in enumerate(cameras)}
    frames_of = {camera: set(views[camera]) for camera in cameras}
    shared: dict[tuple[int, int], list[str]] = {}
    weights = np.zeros((len(cameras), len(cameras)))
    for a in cameras:
        for b in cameras:
            if index[a] < index[b]:
                common = sorted(frames_of[a] & frames_of[b])
                if common:
                    shared[(index[a], index[b])] = common
                    weights[index[a], index[b]] = weights[index[b], index[a]] = len(common)
    strength = weights.sum(axis=1) + 1e-3 * np.array([len(frames_of[c]) for c in cameras])
    root = int(np.argmax(strength))
    # A maximum spanning tree is the minimum one of reversed weights (all positive: 0 means no edge).
    reversed_weights = np.where(weights > 0, weights.max() + 1.0 - weights, 0.0)
    tree = minimum_spanning_tree(csr_matrix(reversed_weights))
    tree = tree + tree.T
    _, labels = connected_components(tree, directed=False)
    order, predecessors = breadth_first_order(tree, root, directed=False, return_predecessors=True)
    world_to_camera: dict[str, Pose] = {cameras[root]: (np.zeros(3), np.zeros(3))}
    for node in order[1:]:
        parent = int(predecessors[node])
        key = (min(parent, node), max(parent, node))
        relative = _relative_pose(cameras[parent], cameras[node], shared[key], views, lenses)
        world_to_camera[cameras[node]] = compose(*world_to_camera[cameras[parent]], *relative)
    solved = {c: CameraParams(K=lenses[c].K, dist=lenses[c].dist, R=cv2.Rodrigues(p[0])[0], t=p[1])
              for c, p in world_to_camera.items()}
    boards = _board_poses(views, lenses, world_to_camera)
    unreachable = [c for c in cameras if labels[index[c]] != labels[root]]
    unreachable += [c for c in lenses if c not in index]
    return RigGuess(cameras[root], solved, boards, unreachable)


def _board_poses(views: Mapping[str, Mapping[str, BoardDetection]], lenses: Mapping[str, LensGuess],
                 world_to_camera: Mapping[str, Pose]) -> dict[str, Pose]:
    """Each frame's board -> world pose: the camera's estimate that best explains all cameras seeing it."""
    seen_by: dict[str, list[str]] = {}
    for camera in world_to_camera:
        for frame in views[camera]:
            seen_by.setdefault(frame, []).append(camera)
    boards: dict[str, Pose] = {}
    for frame, cameras in sorted(seen_by.items()):
        best: tuple[float, Pose] | None = None
        for source in cameras:
            board_in_world = compose(*lenses[source].board_in_camera[frame], *invert(*world_to_camera[source]))
            score = sum(_view_rms(views[c][frame], lenses[c], compose(*board_in_world, *world_to_camera[c]))
                        for c in cameras)
            if best is None or score < best[0]:
                best = (score, board_in_world)
        assert best is not None
        boards[frame] = best[1]
    return boards
