"""The virtual subject's shape: a standing person in an A-pose, as a union of ellipsoids.

A union of ellipsoids keeps everything analytic: a ray meets each part where a quadratic has a root, the
nearest root over all parts is what a camera sees, a part's outline in an image is a conic, and a normal is
the gradient of the part's implicit function. Tests compute outlines and surface points from
:data:`BODY_PARTS` alone, independently of the renderer.

Subject frame: metres, origin at the turntable centre on the table top, z up, x the way the subject faces
(towards cam00 of the demo rig with the table at 0 deg), y to the subject's left. The world frame is the
subject frame turned about z by the table angle. The body stands on the table top (the soles touch z = 0)
and is 1.775 m tall, arms 30 deg from the body as the demo plan's pose p00 asks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["BODY_HEIGHT_M", "BODY_PARTS", "Ellipsoid", "RayBundles", "bundle_rays", "intersect_body"]

Float64Array = npt.NDArray[np.float64]
Vector = tuple[float, float, float]


@dataclass(frozen=True)
class Ellipsoid:
    """One part of the body: ``{x : |diag(1/radii) rotation^T (x - centre)| = 1}`` in the subject frame.

    Attributes
    ----------
    name
        What the part is (``head``, ``left_forearm`` ...).
    centre
        The part's centre, subject frame (m).
    radii
        Semi-axes along the part's own x, y and z axes (m).
    rotation
        Rows of a 3 x 3 rotation whose columns are the part's own axes in the subject frame.
    """

    name: str
    centre: Vector
    radii: Vector
    rotation: tuple[Vector, Vector, Vector]

    def axes(self) -> Float64Array:
        """The rotation as a (3, 3) array: column i is the part's axis i in the subject frame."""
        return np.array(self.rotation, dtype=np.float64)

    def to_unit(self) -> Float64Array:
        """(3, 3) linear map taking ``x - centre`` (subject frame) to the part's unit sphere."""
        return np.asarray(np.diag(1.0 / np.array(self.radii)) @ self.axes().T, dtype=np.float64)

    def implicit(self, points: npt.ArrayLike) -> Float64Array:
        """``|to_unit (x - centre)|^2`` of (N, 3) subject-frame points: < 1 inside, 1 on the surface."""
        local = (np.asarray(points, dtype=np.float64) - np.array(self.centre)) @ self.to_unit().T
        return np.asarray(np.einsum("ij,ij->i", local, local), dtype=np.float64)


_IDENTITY: tuple[Vector, Vector, Vector] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def _vector(values: npt.ArrayLike) -> Vector:
    x, y, z = (float(v) for v in np.asarray(values, dtype=np.float64))
    return (x, y, z)


def _rows(matrix: Float64Array) -> tuple[Vector, Vector, Vector]:
    return (_vector(matrix[0]), _vector(matrix[1]), _vector(matrix[2]))


def _limb(name: str, start: Vector, end: Vector, radii_xy: tuple[float, float], overshoot: float) -> Ellipsoid:
    """A part along ``start`` -> ``end``, its own z along the limb and its own x as close to forward as can be.

    ``overshoot`` (m) lengthens the part past ``start`` so that it reaches into the part it hangs from (a
    joint without a gap), and the ends are round, so the part spans start - overshoot .. end.
    """
    a, b = np.array(start), np.array(end)
    along = (b - a) / np.linalg.norm(b - a)
    forward = np.array([1.0, 0.0, 0.0]) - along[0] * along
    forward /= np.linalg.norm(forward)
    side = np.cross(along, forward)
    half = (float(np.linalg.norm(b - a)) + overshoot) / 2.0
    centre = b - half * along
    return Ellipsoid(name, _vector(centre), (*radii_xy, half), _rows(np.stack([forward, side, along], axis=1)))


def _mirrored(part: Ellipsoid) -> Ellipsoid:
    """The same part on the other side of the body (y -> -y)."""
    flip = np.diag([1.0, -1.0, 1.0])
    # Reflect the axes, then flip the part's own y back so that the frame stays a rotation.
    x, y, z = part.centre
    return Ellipsoid(part.name.replace("left_", "right_"), (x, -y, z), part.radii,
                     _rows(flip @ part.axes() @ flip))


def _left_side() -> tuple[Ellipsoid, ...]:
    """Arms and legs on the subject's left (+y); the right side mirrors them."""
    arm_angle = math.radians(30.0)  # from the body, in the frontal (y-z) plane
    down_out = np.array([0.0, math.sin(arm_angle), -math.cos(arm_angle)])
    shoulder = np.array([0.0, 0.18, 1.41])
    elbow = shoulder + 0.29 * down_out
    wrist = elbow + 0.26 * down_out
    fingertips = wrist + 0.18 * down_out

    hip, knee, ankle = (0.0, 0.09, 0.86), (0.0, 0.115, 0.48), (0.0, 0.13, 0.085)
    return (
        _limb("left_upper_arm", _vector(shoulder), _vector(elbow), (0.050, 0.047), 0.04),
        _limb("left_forearm", _vector(elbow), _vector(wrist), (0.040, 0.037), 0.03),
        # A hand hangs with the palm towards the thigh: wide front to back, thin side to side.
        _limb("left_hand", _vector(wrist), _vector(fingertips), (0.045, 0.020), 0.01),
        _limb("left_thigh", hip, knee, (0.085, 0.080), 0.08),
        _limb("left_shin", knee, ankle, (0.055, 0.050), 0.04),
        Ellipsoid("left_foot", (0.055, 0.135, 0.043), (0.125, 0.048, 0.043), _IDENTITY),
    )


def _body() -> tuple[Ellipsoid, ...]:
    left = _left_side()
    return (
        Ellipsoid("head", (0.01, 0.0, 1.655), (0.100, 0.080, 0.120), _IDENTITY),
        Ellipsoid("neck", (0.0, 0.0, 1.50), (0.055, 0.055, 0.090), _IDENTITY),
        Ellipsoid("shoulders", (0.0, 0.0, 1.40), (0.100, 0.220, 0.070), _IDENTITY),
        Ellipsoid("chest", (0.0, 0.0, 1.25), (0.120, 0.180, 0.240), _IDENTITY),
        Ellipsoid("abdomen", (0.0, 0.0, 1.08), (0.110, 0.150, 0.140), _IDENTITY),  # fills the waist
        Ellipsoid("pelvis", (0.0, 0.0, 0.95), (0.115, 0.175, 0.170), _IDENTITY),
        *left,
        *(_mirrored(part) for part in left),
    )


BODY_PARTS: tuple[Ellipsoid, ...] = _body()
BODY_HEIGHT_M = max(part.centre[2] + part.radii[2] for part in BODY_PARTS if part.name == "head")


@dataclass(frozen=True)
class _Packed:
    """The parts as arrays, for vectorised ray tests."""

    centres: Float64Array  # (P, 3) subject frame
    to_unit: Float64Array  # (P, 3, 3)
    bound: Float64Array  # (P,) radius of a sphere round each part (its longest semi-axis)


def _pack(parts: tuple[Ellipsoid, ...]) -> _Packed:
    centres = np.array([part.centre for part in parts], dtype=np.float64)
    to_unit = np.stack([part.to_unit() for part in parts])
    return _Packed(centres, to_unit, np.array([max(part.radii) for part in parts]))


_PACKED = _pack(BODY_PARTS)


@dataclass(frozen=True)
class RayBundles:
    """Rays grouped into narrow cones (a camera's 8 x 8 pixel blocks), so that a part finds the rays that may
    meet it by testing a few thousand cones instead of every ray.

    Attributes
    ----------
    members
        (B, K) indices of the rays of each bundle (a ray may appear in more than one).
    axes
        (B, 3) unit direction of each bundle's axis.
    spread
        (B,) angle (rad) between the axis and the member farthest from it.
    """

    members: npt.NDArray[np.intp]
    axes: Float64Array
    spread: Float64Array


def bundle_rays(rays: Float64Array, members: npt.NDArray[np.intp]) -> RayBundles:
    """Bundles of the unit ``rays`` (3, N) whose indices are the rows of ``members`` (B, K)."""
    grouped = rays[:, members]  # (3, B, K)
    axes = grouped.sum(axis=2).T
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    cosines = np.einsum("bi,ibk->bk", axes, grouped).min(axis=1)
    return RayBundles(members, axes, np.arccos(np.clip(cosines, -1.0, 1.0)))


def intersect_body(origin: Float64Array, rays: Float64Array, cos_a: float, sin_a: float,
                   bundles: RayBundles) -> tuple[npt.NDArray[np.intp], Float64Array, npt.NDArray[np.intp]]:
    """Where rays from ``origin`` first meet the body turned by the table angle.

    Parameters
    ----------
    origin
        The camera centre, world frame (3,); outside every part.
    rays
        Unit ray directions, world frame, as rows x, y, z (3, N).
    cos_a, sin_a
        Cosine and sine of the table angle (the body turns counter-clockwise seen from above).
    bundles
        The rays grouped into narrow cones (:func:`bundle_rays`); every ray must be in some bundle.

    Returns
    -------
    index, distance, part
        Indices of the rays that meet the body, the distance along each to the nearest hit over all parts, and
        which part of :data:`BODY_PARTS` that hit is on.
    """
    # Into the subject frame: turn back by the table angle. Only the origin and a 3 x 3 per part need turning.
    turn_back = np.array([[cos_a, sin_a, 0.0], [-sin_a, cos_a, 0.0], [0.0, 0.0, 1.0]])
    offsets = (turn_back @ origin)[None, :] - _PACKED.centres  # (P, 3): origin - centre, subject frame
    # A ray can only meet a part inside the cone from the camera round the part's bounding sphere, so a part
    # only solves its quadratic for the bundles whose cone overlaps that one.
    distance = np.linalg.norm(offsets, axis=1)
    towards = (-offsets @ turn_back) / distance[:, None]  # (P, 3) unit, world frame
    # (A camera inside a part's sphere could meet it in any direction: every bundle is near.)
    half_angle = np.where(distance > _PACKED.bound, np.arcsin(np.minimum(_PACKED.bound / distance, 1.0)), np.pi)
    apart = np.arccos(np.clip(towards @ bundles.axes.T, -1.0, 1.0))  # (P, B)
    near = apart <= half_angle[:, None] + bundles.spread[None, :] + 1e-9
    best = np.full(rays.shape[1], np.inf)
    part_of = np.full(rays.shape[1], -1, dtype=np.intp)
    for part in range(len(BODY_PARTS)):
        index = bundles.members[near[part]].ravel()
        if index.size == 0:
            continue
        o = _PACKED.to_unit[part] @ offsets[part]
        d = (_PACKED.to_unit[part] @ turn_back) @ rays[:, index]  # world direction -> the part's unit sphere
        # |o + s d|^2 = 1, near root (the camera is outside every part).
        a = np.einsum("ij,ij->j", d, d)
        b = o @ d
        disc = b * b - a * (o @ o - 1.0)
        met = disc > 0.0
        index, a, b, disc = index[met], a[met], b[met], disc[met]
        s = (-b - np.sqrt(disc)) / a
        nearer = (s > 0.0) & (s < best[index])
        best[index[nearer]] = s[nearer]
        part_of[index[nearer]] = part
    hit = np.flatnonzero(part_of >= 0)
    return hit, best[hit], part_of[hit]
