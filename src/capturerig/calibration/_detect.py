"""Finding a ChArUco board in an image (OpenCV 5) and how much of an image the found corners cover."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from capturerig.calibration._board import BoardSpec

__all__ = ["MIN_CORNERS", "BoardDetection", "coverage", "detect_board"]

# Fewer corners than this give a pose that is poorly conditioned (and may all lie on one line).
MIN_CORNERS = 6


@dataclass(frozen=True)
class BoardDetection:
    """The board corners found in one image.

    Attributes
    ----------
    ids
        ChArUco corner ids (N,), int.
    corners
        Sub-pixel image positions (N, 2), float64; integer coordinates are pixel centres.
    object_points
        The same corners in the board frame (N, 3), metres.
    """

    ids: np.ndarray
    corners: np.ndarray
    object_points: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def _detector(cv_board: cv2.aruco.CharucoBoard) -> cv2.aruco.CharucoDetector:
    parameters = cv2.aruco.DetectorParameters()
    # Sub-pixel marker corners make the interpolated chessboard corners more reliable on small markers.
    parameters.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    charuco = cv2.aruco.CharucoParameters()
    charuco.tryRefineMarkers = True
    return cv2.aruco.CharucoDetector(cv_board, charuco, parameters)


def detect_board(image: np.ndarray, board: BoardSpec,
                 min_corners: int = MIN_CORNERS) -> BoardDetection | None:
    """Find ``board``'s inner corners in ``image`` (grey or BGR uint8).

    Returns None when fewer than ``min_corners`` corners are found, or when they all lie on one line
    (such a view fixes no pose).
    """
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    cv_board = board.cv_board()
    charuco_corners, charuco_ids, _, _ = _detector(cv_board).detectBoard(grey)
    if charuco_ids is None or len(charuco_ids) < min_corners:
        return None
    if cv_board.checkCharucoCornersCollinear(charuco_ids):
        return None
    # The stubs only know the marker-board overload; a ChArUco board takes the (N, 1, 2) corner array itself.
    object_points, image_points = cv_board.matchImagePoints(charuco_corners, charuco_ids)  # type: ignore[call-overload]
    return BoardDetection(ids=np.asarray(charuco_ids, dtype=np.int64).reshape(-1),
                          corners=np.asarray(image_points, dtype=np.float64).reshape(-1, 2),
                          object_points=np.asarray(object_points, dtype=np.float64).reshape(-1, 3))


def coverage(detections: Iterable[BoardDetection | np.ndarray], width: int, height: int,
             cells: int | tuple[int, int] = 8) -> np.ndarray:
    """Which parts of an image the detected corners have reached.

    Parameters
    ----------
    detections
        Detections (or bare (N, 2) corner arrays) of one camera.
    width, height
        The camera's image size in pixels.
    cells
        Grid size: ``n`` for an n x n grid or ``(columns, rows)``.

    Returns
    -------
    numpy.ndarray
        (rows, columns) float array: the number of corners that fell in each cell. ``(grid > 0).mean()``
        is the share of the image covered; the empty cells tell the technician where the board is missing.
    """
    columns, rows = (cells, cells) if isinstance(cells, int) else cells
    grid = np.zeros((rows, columns), dtype=np.float64)
    for detection in detections:
        corners = detection.corners if isinstance(detection, BoardDetection) else np.asarray(detection)
        if corners.size == 0:
            continue
        column = np.clip(((corners[:, 0] + 0.5) / width * columns).astype(int), 0, columns - 1)
        row = np.clip(((corners[:, 1] + 0.5) / height * rows).astype(int), 0, rows - 1)
        np.add.at(grid, (row, column), 1.0)
    return grid
