"""The visual hull on a small synthetic rig: it holds the subject, cuts a stray blob, fills a matched patch."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from capturerig.masks import HullCamera, Matte, carve_hull, mend_with_hull, project_hull

CENTRE = np.array([0.0, 0.0, 0.9])
RADIUS = 0.25
WIDTH, HEIGHT = 160, 200


def _camera(azimuth_deg: float, height: float) -> HullCamera:
    """A camera 2 m from the rig's z axis looking at the sphere's centre, OpenCV axes, a little distortion."""
    azimuth = math.radians(azimuth_deg)
    centre = np.array([2.0 * math.cos(azimuth), 2.0 * math.sin(azimuth), height])
    forward = (CENTRE - centre) / np.linalg.norm(CENTRE - centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    k = np.array([[300.0, 0.0, WIDTH / 2 - 0.5], [0.0, 300.0, HEIGHT / 2 - 0.5], [0.0, 0.0, 1.0]])
    return HullCamera(WIDTH, HEIGHT, k, np.array([-0.05, 0.01, 0.0, 0.0, 0.0]), rotation, -rotation @ centre)


CAMERAS = [_camera(azimuth, height) for azimuth in range(0, 360, 60) for height in (0.6, 1.4)]


def _silhouette(camera: HullCamera) -> npt.NDArray[np.bool_]:
    """The sphere's true silhouette: pixels whose ray (through the same lens) meets it, 4 x 4 samples each."""
    hits = np.zeros((HEIGHT, WIDTH))
    for du in (-0.375, -0.125, 0.125, 0.375):
        for dv in (-0.375, -0.125, 0.125, 0.375):
            u, v = np.meshgrid(np.arange(WIDTH) + du, np.arange(HEIGHT) + dv)
            x, y = (u - camera.k[0, 2]) / camera.k[0, 0], (v - camera.k[1, 2]) / camera.k[1, 1]
            for _ in range(10):  # undo the radial distortion by fixed-point iteration
                r2 = x * x + y * y
                factor = 1.0 + camera.dist[0] * r2 + camera.dist[1] * r2 * r2
                x = (u - camera.k[0, 2]) / camera.k[0, 0] / factor
                y = (v - camera.k[1, 2]) / camera.k[1, 1] / factor
            rays = np.stack([x, y, np.ones_like(x)], axis=-1) @ camera.rotation  # into the world
            rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
            offset = camera.centre - CENTRE
            b = rays @ offset
            hits += (b * b - (offset @ offset - RADIUS**2)) > 0.0
    return hits >= 8


TRUTH = [_silhouette(camera) for camera in CAMERAS]


def _iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_the_hull_holds_the_subject_and_projects_close_to_each_silhouette() -> None:
    hull = carve_hull(list(zip(CAMERAS, TRUTH, strict=True)))

    # Every point of the sphere lies in a kept voxel (the hull holds the subject) ...
    rng = np.random.default_rng(3)
    directions = rng.standard_normal((500, 3))
    points = CENTRE + RADIUS * 0.97 * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    # The voxels lie on one lattice: a point is in a kept voxel when its lattice cell is among the kept ones.
    origin = hull.centres[0]
    kept = {tuple(cell) for cell in np.rint((hull.centres - origin) / hull.voxel_m).astype(int)}
    cells = np.rint((points - origin) / hull.voxel_m).astype(int)
    assert all(tuple(cell) in kept for cell in cells)
    # ... and it is not much more than the sphere: 12 views of a sphere carve it close.
    assert hull.centres.shape[0] * hull.voxel_m**3 < 1.6 * (4 / 3) * math.pi * RADIUS**3
    for camera, truth in zip(CAMERAS, TRUTH, strict=True):
        assert _iou(project_hull(hull, camera), truth) >= 0.8


def test_the_hull_cuts_a_stray_blob_and_fills_a_patch_one_camera_missed() -> None:
    masks = [truth.copy() for truth in TRUTH]
    # Camera 0: a blob of floor beside the subject (a shadow taken for it) and a patch of the subject missed.
    blob = np.zeros_like(masks[0])
    blob[170:190, 20:45] = True
    patch = np.zeros_like(masks[0])
    rows, cols = np.nonzero(TRUTH[0])
    r0, c0 = int(rows.mean()), int(cols.mean())  # a hole inside: too large for the matte's own hole filling
    patch[r0 - 8 : r0 + 8, c0 - 6 : c0 + 6] = True
    patch &= TRUTH[0]
    masks[0] = (masks[0] | blob) & ~patch
    hull = carve_hull(list(zip(CAMERAS, masks, strict=True)))
    matte = Matte(foreground=masks[0], unsure=patch.copy())  # the matte was unsure where the plate matched

    mended = mend_with_hull(matte, project_hull(hull, CAMERAS[0]))

    assert not (mended & blob).any(), "the stray blob survived"
    assert (mended & patch).sum() >= 0.9 * patch.sum(), "the missed patch was not filled"
    assert _iou(mended, TRUTH[0]) > _iou(masks[0], TRUTH[0])
    assert _iou(mended, TRUTH[0]) >= 0.97


def test_a_hull_needs_two_cameras_and_masks_of_their_size() -> None:
    with pytest.raises(ValueError, match="at least two cameras"):
        carve_hull([(CAMERAS[0], TRUTH[0])])
    with pytest.raises(ValueError, match="a mask of 10x10 for a camera of 160x200"):
        carve_hull([(CAMERAS[0], TRUTH[0]), (CAMERAS[1], np.zeros((10, 10), bool))])
