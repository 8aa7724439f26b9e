"""A visual hull carved from every camera's silhouette, projected back to mend each camera's mask.

The rig frame (metres, z up, the floor at z = 0: see :mod:`capturerig.packaging`) holds a box round the point
the cameras look at. Voxels are carved coarse to fine (4, 2, 1 cm): a voxel goes when ``min_votes`` cameras
that see it, or half of them, find no subject within its projected radius (so a voxel that is only partly
subject stays, and the hull holds the subject), when fewer than three see subject there, or when fewer than
half of all cameras see it at all; the survivors are split and tested again. Nothing under the floor is the
subject (a reflection in a glossy floor is seen there).

Projected back into a camera, the hull cuts what the camera's mask holds outside it (stray blobs, a shadow
taken for the subject, a reflection) and fills what the camera was unsure of inside it (a patch of the
subject that matched the plate). The hull is larger than the subject by up to a voxel and in concavities no
camera sees into, so it only decides pixels that lie well inside or well outside its projection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.masks._matte import BoolArray, Matte, clean_mask, fill_holes

__all__ = ["Hull", "HullCamera", "carve_hull", "mend_with_hull", "project_hull"]

Float64Array = npt.NDArray[np.float64]
_LEVELS_M = (0.04, 0.02, 0.01)


@dataclass(frozen=True)
class HullCamera:
    """A camera's OpenCV model and pose: x_cam = R x_rig + t; ``k`` 3 x 3, ``dist`` k1, k2, p1, p2, k3."""

    width: int
    height: int
    k: Float64Array
    dist: Float64Array
    rotation: Float64Array
    translation: Float64Array

    @property
    def centre(self) -> Float64Array:
        return np.asarray(-self.rotation.T @ self.translation, dtype=np.float64)

    def project(self, points: Float64Array) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], Float64Array,
                                                     npt.NDArray[np.bool_]]:
        """Pixel column, row and depth of world ``points`` (N, 3), and which land inside the image.

        A point whose undistorted direction lies far outside the image is marked outside before the lens
        model is applied: the distortion polynomial folds such points back into the frame.
        """
        cam = points @ self.rotation.T + self.translation
        depth = cam[:, 2]
        front = depth > 1e-3
        x = np.where(front, cam[:, 0] / np.where(front, depth, 1.0), 0.0)
        y = np.where(front, cam[:, 1] / np.where(front, depth, 1.0), 0.0)
        fx, fy, cx, cy = self.k[0, 0], self.k[1, 1], self.k[0, 2], self.k[1, 2]
        margin = 0.25  # of the image, in the undistorted plane
        plausible = front & (np.abs(x * fx) < (0.5 + margin) * self.width + abs(cx - self.width / 2)) & (
            np.abs(y * fy) < (0.5 + margin) * self.height + abs(cy - self.height / 2))
        k1, k2, p1, p2, k3 = (float(v) for v in self.dist)
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
        yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
        u = np.rint(fx * xd + cx).astype(np.intp)
        v = np.rint(fy * yd + cy).astype(np.intp)
        inside = plausible & (u >= 0) & (u < self.width) & (v >= 0) & (v < self.height)
        return u, v, depth, inside


@dataclass(frozen=True)
class Hull:
    """Voxel centres (N, 3) in the rig frame and the voxels' side (m)."""

    centres: Float64Array
    voxel_m: float


def _look_point(cameras: Sequence[HullCamera]) -> Float64Array:
    """The point nearest every camera's optical axis (least squares)."""
    a = np.zeros((3, 3))
    b = np.zeros(3)
    for camera in cameras:
        axis = camera.rotation[2]  # the camera's z axis in the rig frame
        projector = np.eye(3) - np.outer(axis, axis)
        a += projector
        b += projector @ camera.centre
    return np.asarray(np.linalg.lstsq(a, b, rcond=None)[0], dtype=np.float64)


def _start_grid(cameras: Sequence[HullCamera], voxel_m: float) -> Float64Array:
    centre = _look_point(cameras)
    reach = 0.6 * float(np.median([np.linalg.norm(camera.centre - centre) for camera in cameras]))
    axes = [np.arange(centre[i] - reach, centre[i] + reach + voxel_m, voxel_m) for i in range(3)]
    axes[2] = axes[2][axes[2] >= voxel_m / 2]  # nothing under the floor
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return np.asarray(grid, dtype=np.float64)


def _carve(centres: Float64Array, voxel_m: float, views: Sequence[tuple[HullCamera, npt.NDArray[np.float32]]],
           min_votes: int) -> npt.NDArray[np.bool_]:
    background_votes = np.zeros(centres.shape[0], dtype=np.int32)
    subject_votes = np.zeros(centres.shape[0], dtype=np.int32)
    seen = np.zeros(centres.shape[0], dtype=np.int32)
    for camera, distance in views:
        u, v, depth, inside = camera.project(centres)
        # The voxel's bounding sphere projects to about this radius (pixels).
        radius = np.where(inside, camera.k[0, 0] * voxel_m * 0.87 / np.maximum(depth, 1e-3), 0.0) + 1.0
        far = np.zeros(centres.shape[0], dtype=bool)
        far[inside] = distance[v[inside], u[inside]] > radius[inside]
        background_votes += far
        subject_votes += inside & ~far
        seen += inside
    # Lost when min_votes cameras say background, or half of those that see it do (a voxel only a few narrow
    # views reach is not trusted on their silhouettes' edges), or fewer than three see subject there.
    # The subject stands where the rig looks: a voxel fewer than half the cameras see is none of it (it may be
    # where two opposite cameras look through the subject and no other camera's view reaches).
    return np.asarray((background_votes < min_votes) & (2 * background_votes < seen) & (2 * seen >= len(views))
                      & (subject_votes >= min(3, len(views))), dtype=bool)


def carve_hull(views: Sequence[tuple[HullCamera, BoolArray]], min_votes: int = 2) -> Hull:
    """Carve the visual hull of the masks in ``views`` (camera, its mask for one exposure).

    Raises
    ------
    ValueError
        Fewer than two views, or a mask whose size is not its camera's.
    """
    if len(views) < 2:
        raise ValueError(f"a visual hull needs at least two cameras' masks, got {len(views)}")
    distances: list[tuple[HullCamera, npt.NDArray[np.float32]]] = []
    for camera, mask in views:
        if mask.shape != (camera.height, camera.width):
            raise ValueError(f"a mask of {mask.shape[1]}x{mask.shape[0]} for a camera of "
                             f"{camera.width}x{camera.height}")
        # Distance from each pixel to the nearest subject pixel (0 on the subject).
        distances.append((camera, np.asarray(cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3),
                                             dtype=np.float32)))
    cameras = [camera for camera, _ in views]
    centres = _start_grid(cameras, _LEVELS_M[0])
    for level, voxel_m in enumerate(_LEVELS_M):
        if level:
            half = voxel_m / 2.0
            offsets = np.array([[dx, dy, dz] for dx in (-half, half) for dy in (-half, half) for dz in (-half, half)])
            centres = (centres[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
            centres = centres[centres[:, 2] > 0.0]
        centres = centres[_carve(centres, voxel_m, distances, min_votes)]
        if centres.size == 0:
            break
    return Hull(centres, _LEVELS_M[-1])


def project_hull(hull: Hull, camera: HullCamera) -> BoolArray:
    """The hull's silhouette in ``camera`` (height, width), bool: each voxel drawn as its projected disc."""
    silhouette = np.zeros((camera.height, camera.width), dtype=np.uint8)
    if hull.centres.size == 0:
        return silhouette.astype(bool)
    u, v, depth, inside = camera.project(hull.centres)
    silhouette[v[inside], u[inside]] = 1
    radius = int(np.ceil(np.median(camera.k[0, 0] * hull.voxel_m * 0.5 / depth[inside]))) if inside.any() else 1
    size = 2 * max(radius, 1) + 1
    return cv2.dilate(silhouette, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))).astype(bool)


def mend_with_hull(matte: Matte, silhouette: BoolArray, margin_px: int = 1, notch_px: int = 2,
                   min_component: float = 0.02,
                   max_hole: float = 0.01) -> BoolArray:
    """A camera's mask mended by the hull's ``silhouette`` in it.

    Cut what lies more than ``margin_px`` outside the silhouette; fill the unsure pixels more than
    ``margin_px`` inside it that lie in a hole of the mask or a notch narrower than a ``notch_px`` disc (a
    patch of the subject that matched the plate). The hull is fatter than the subject
    where no camera sees into a concavity, so it never adds a region the camera saw apart from the subject.
    """
    size = 2 * margin_px + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    around = cv2.dilate(silhouette.astype(np.uint8), kernel).astype(bool)
    within = cv2.erode(silhouette.astype(np.uint8), kernel).astype(bool)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * notch_px + 1, 2 * notch_px + 1))
    notches = cv2.morphologyEx(matte.foreground.astype(np.uint8), cv2.MORPH_CLOSE, disc).astype(bool)
    notches |= fill_holes(matte.foreground, 1.0)
    mended = (matte.foreground & around) | (matte.unsure & within & notches)
    return clean_mask(mended, min_component, max_hole)

