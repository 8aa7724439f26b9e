"""Camera geometry in the subject frame, in the two conventions a package speaks (COLMAP and nerfstudio).

The rig frame is metres, z up, origin at the turntable centre on the floor. A package is expressed in the
*subject* frame instead: the turntable rotates the subject about the rig's z axis by the station angle, so
a subject point p_s sits at rig point Rz(angle) p_s. A camera with x_cam = R x_rig + t therefore sees
x_cam = R Rz(angle) p_s + t, and every station of a turntable session becomes a different virtual camera
around one static subject, which is what a trainer needs.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from capturerig.config import CameraConfig, Intrinsics

__all__ = [
    "PIXEL_CENTRE_OFFSET",
    "cam_from_subject",
    "opencv_to_pixel_centre_half",
    "opengl_c2w",
    "rz",
]

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


def cam_from_subject(camera: CameraConfig, angle_deg: float | None) -> tuple[FloatArray, FloatArray]:
    """Pose of a rig camera relative to the subject at a turntable angle.

    Parameters
    ----------
    camera : CameraConfig
        The rig camera (its nominal pose is in the rig frame).
    angle_deg : float or None
        Turntable angle at capture; ``None`` (no turntable) or 0 leaves the rig pose unchanged.

    Returns
    -------
    rotation, translation : ndarray
        ``R Rz(angle)`` (3x3) and ``t`` (3,) with x_cam = R Rz(angle) p_subject + t, OpenCV axes,
        metres: COLMAP's cam_from_world with the subject frame as world.
    """
    rotation, translation = camera.pose.cam_from_world()
    return np.asarray(rotation, dtype=float) @ rz(angle_deg), np.asarray(translation, dtype=float)


def opengl_c2w(rotation: FloatArray, translation: FloatArray) -> FloatArray:
    """Camera-to-world 4x4 with OpenGL/Blender camera axes (x right, y up, z backwards), as nerfstudio wants.

    Parameters
    ----------
    rotation, translation : ndarray
        cam_from_world in OpenCV axes (x_cam = R x + t).

    Returns
    -------
    ndarray
        4x4 matrix whose columns are the camera's right, up and backward axes and its centre, in world.
    """
    c2w = np.eye(4)
    c2w[:3, :3] = rotation.T
    c2w[:3, 3] = -rotation.T @ translation
    # OpenCV looks down +z with y down; OpenGL looks down -z with y up: same x, y and z negated.
    c2w[:3, 1:3] *= -1.0
    return c2w


def opencv_to_pixel_centre_half(intrinsics: Intrinsics) -> dict[str, float]:
    """Intrinsics for COLMAP and nerfstudio: the rig's OpenCV values with the principal point shifted.

    Parameters
    ----------
    intrinsics : Intrinsics
        OpenCV intrinsics (top-left pixel centre at (0, 0)).

    Returns
    -------
    dict
        ``fx, fy, cx, cy, k1, k2, p1, p2, k3`` for the (0.5, 0.5) pixel-centre convention; the
        distortion coefficients are unchanged because they act on normalised coordinates.
    """
    k1, k2, p1, p2, k3 = (float(value) for value in intrinsics.distortion())
    return {
        "fx": float(intrinsics.fx),
        "fy": float(intrinsics.fy),
        "cx": float(intrinsics.cx) + PIXEL_CENTRE_OFFSET,
        "cy": float(intrinsics.cy) + PIXEL_CENTRE_OFFSET,
        "k1": k1,
        "k2": k2,
        "p1": p1,
        "p2": p2,
        "k3": k3,
    }
