"""One camera's OpenCV model and pose in the rig frame, as ``geometry.json`` (``capturerig.geometry/1``) has it.

Shared by packaging (which writes it for the trainers) and the per-image checks (which project the capture volume
through it in their own child process): numpy only, so that child imports nothing heavy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["PIXEL_CENTRE_OFFSET", "CameraGeometry", "rz"]

FloatArray = npt.NDArray[np.float64]

# The rig's intrinsics follow OpenCV, where the centre of the top-left pixel is (0, 0). COLMAP puts that
# centre at (0.5, 0.5) ("the upper left image corner has coordinate (0, 0) and the center of the upper left
# most pixel has coordinate (0.5, 0.5)", colmap.github.io/database.html, Keypoints), and nerfstudio casts
# the ray of pixel (i, j) through (j + 0.5, i + 0.5) (Cameras.get_image_coords, pixel_offset=0.5) and
# copies COLMAP's cx, cy unchanged. Both outputs therefore get cx + 0.5, cy + 0.5; without it every
# trainer would see the images shifted by half a pixel.
PIXEL_CENTRE_OFFSET = 0.5


def rz(angle_deg: float | None) -> FloatArray:
    """Rotation about +z by ``angle_deg`` degrees (counter-clockwise seen from above); identity for None."""
    if angle_deg is None or angle_deg == 0.0:
        return np.eye(3)
    angle = math.radians(angle_deg)
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class CameraGeometry:
    """One camera's OpenCV model and pose in the rig frame.

    Attributes
    ----------
    width, height : int
        Image size in pixels.
    k : ndarray
        3x3 OpenCV camera matrix (top-left pixel centre at (0, 0)).
    dist : ndarray
        ``k1, k2, p1, p2, k3``.
    rotation, translation : ndarray
        x_cam = R x_rig + t, OpenCV camera axes, metres.
    """

    width: int
    height: int
    k: FloatArray
    dist: FloatArray
    rotation: FloatArray
    translation: FloatArray

    def cam_from_subject(self, angle_deg: float | None) -> tuple[FloatArray, FloatArray]:
        """``R Rz(angle)`` and ``t``: COLMAP's cam_from_world with the subject frame as world."""
        return self.rotation @ rz(angle_deg), self.translation

    def pixel_centre_half(self) -> dict[str, float]:
        """``fx, fy, cx, cy, k1, k2, p1, p2, k3`` for COLMAP and nerfstudio (principal point + 0.5)."""
        k1, k2, p1, p2, k3 = (float(v) for v in self.dist)
        return {"fx": float(self.k[0, 0]), "fy": float(self.k[1, 1]),
                "cx": float(self.k[0, 2]) + PIXEL_CENTRE_OFFSET, "cy": float(self.k[1, 2]) + PIXEL_CENTRE_OFFSET,
                "k1": k1, "k2": k2, "p1": p1, "p2": p2, "k3": k3}

    def to_document(self) -> dict[str, Any]:
        """This camera as a ``capturerig.geometry/1`` entry."""
        return {"width": self.width, "height": self.height, "model": "OPENCV", "K": self.k.tolist(),
                "dist": self.dist.tolist(), "R": self.rotation.tolist(), "t": self.translation.tolist()}
