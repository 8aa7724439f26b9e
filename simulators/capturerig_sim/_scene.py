"""The studio's geometry: camera ground truth, pixel rays, and where they meet the subject and the table top.

World frame as in the rig file: metres, z up, origin at the turntable centre on the floor. The subject is a
person standing on the turntable top in an A-pose, a union of ellipsoids (:mod:`capturerig_sim._body`), with
a seeded solid colour texture fixed to it; the table top (radius :data:`FLOOR_RADIUS_M`) carries its own
seeded texture and a red mark at 0 deg (:mod:`capturerig_sim._texture`). Both turn with the table (positive
angles turn counter-clockwise seen from above) and neither texture repeats, so structure from motion can match
them without being fooled.

A live subject (rig ``simulation.live_subject``, off by default) is a person, not a mannequin: between
exposures it sways and turns a little, and at each new pose it stands a little elsewhere
(:func:`live_subject_pose` gives a :class:`SubjectPose` per exposure; the table top stays where it is).

Beyond the table there is nothing to see: the backdrop is a featureless painted cyclorama (a constant grey in
the renderer). That is deliberate, not a shortcut: a capture's training package puts every image in the
subject frame (the table's turn folded into each camera pose), so anything textured that stays still while
the table turns (a studio floor, walls) would contradict those poses.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.config import CameraConfig, Intrinsics, RigConfig
from capturerig_sim._body import BODY_PARTS, RayBundles, bundle_rays, intersect_body
from capturerig_sim._texture import body_albedo, table_albedo

__all__ = [
    "BODY_PARTS",
    "FLOOR_RADIUS_M",
    "LIVE_SUBJECT_KEYS",
    "STILL",
    "SUBJECT_CENTRE",
    "TRUTH_KEYS",
    "CameraTruth",
    "Hits",
    "SubjectPose",
    "camera_truth",
    "clear_scene_caches",
    "floor_shading",
    "live_subject_pose",
    "normalised_grid",
    "scene_hits",
]

# The middle of the body (inside the abdomen and the pelvis): what the demo rig's cameras look at.
SUBJECT_CENTRE: tuple[float, float, float] = (0.0, 0.0, 1.0)
FLOOR_RADIUS_M = 0.6

Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CameraTruth:
    """A sim camera's true geometry: what it really is, whatever the rig file claims.

    ``x_cam = rotation @ x_world + translation`` (OpenCV axes), as ``NominalPose.cam_from_world``.
    """

    serial: str
    intrinsics: Intrinsics
    rotation: Float64Array
    translation: Float64Array

    @property
    def centre(self) -> Float64Array:
        """The camera centre in the world."""
        return np.asarray(-self.rotation.T @ self.translation, dtype=np.float64)

    def cache_key(self) -> tuple[object, ...]:
        """What the rendered geometry depends on (the serial only changes colour)."""
        return (self.intrinsics, self.rotation.tobytes(), self.translation.tobytes())


# What ``simulation.truth`` may say, with what each number means (all optional, default 0 = no change).
TRUTH_KEYS: Mapping[str, str] = {
    "seed": "integer; the same seed gives every camera the same difference on every run",
    "focal_pct": "standard deviation of fx and fy (one common factor, square pixels), percent",
    "principal_px": "standard deviation of cx and cy, pixels",
    "dist": "standard deviation of k1 and k2 (p1, p2 get a tenth of it; k3 is kept)",
    "rotation_deg": "rms rotation of the camera about a random axis, degrees",
    "centre_mm": "rms displacement of the camera centre, millimetres",
}


def _truth_settings(rig: RigConfig) -> dict[str, float] | None:
    """``rig.simulation.truth`` checked, or None when the rig asks for no perturbation."""
    raw: Any = rig.simulation.get("truth")
    if raw is None:
        return None
    where = f"rig '{rig.name}' simulation.truth"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be a mapping of {', '.join(TRUTH_KEYS)}, got {raw!r}")
    unknown = sorted(set(raw) - set(TRUTH_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key {', '.join(map(repr, unknown))} (known: {', '.join(TRUTH_KEYS)})")
    settings = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{where}.{key}: must be a number >= 0 ({TRUTH_KEYS[key]}), got {value!r}")
        settings[str(key)] = float(value)
    return settings


def _perturbed(camera: CameraConfig, nominal: CameraTruth, settings: Mapping[str, float]) -> CameraTruth:
    """``nominal`` changed by seeded random amounts of the sizes ``settings`` names (per serial)."""
    seed = int(settings.get("seed", 0))
    # hashlib, not hash(): str hashes are salted per process and the truth must be the same in every process.
    digest = hashlib.sha256(f"truth:{seed}:{camera.serial}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    draws = rng.standard_normal(11)
    intr = nominal.intrinsics
    focal = 1.0 + settings.get("focal_pct", 0.0) / 100.0 * draws[0]
    principal = settings.get("principal_px", 0.0) * draws[1:3]
    dist_sigma = settings.get("dist", 0.0)
    dist = intr.distortion()
    dist[:4] += dist_sigma * np.array([1.0, 1.0, 0.1, 0.1]) * draws[3:7]
    intrinsics = intr.model_copy(update={
        "fx": intr.fx * focal, "fy": intr.fy * focal, "cx": intr.cx + principal[0], "cy": intr.cy + principal[1],
        "dist": tuple(float(d) for d in dist[: len(intr.dist)])})
    # Per-axis sigma = rms / sqrt(3), so the rms of the whole rotation (and displacement) is the setting.
    axis_angle = np.radians(settings.get("rotation_deg", 0.0)) / math.sqrt(3.0) * draws[7:10]
    delta, _ = cv2.Rodrigues(axis_angle)
    shift = rng.standard_normal(3) * settings.get("centre_mm", 0.0) / 1000.0 / math.sqrt(3.0)
    rotation = np.asarray(delta @ nominal.rotation, dtype=np.float64)
    centre = nominal.centre + shift
    return CameraTruth(camera.serial, intrinsics, rotation, np.asarray(-rotation @ centre, dtype=np.float64))


def camera_truth(camera: CameraConfig, rig: RigConfig | None = None) -> CameraTruth:
    """Ground truth of a sim camera: its rig intrinsics and nominal pose, changed as ``rig.simulation.truth`` says.

    With ``simulation: {truth: {seed: 1, focal_pct: 1.0, principal_px: 3, dist: 0.005, rotation_deg: 0.3,
    centre_mm: 5}}`` every camera differs from what the rig file claims by seeded random amounts of about
    those sizes (see :data:`TRUTH_KEYS`), as a real camera differs from its nominal description; geometry
    calibration should recover the truth. Every render goes through here.

    Parameters
    ----------
    camera
        The camera as the rig file describes it.
    rig
        The rig holding it; None (or a rig without ``simulation.truth``) gives the nominal camera.

    Raises
    ------
    ValueError
        When ``simulation.truth`` is malformed (naming the rig and the key).
    """
    rotation, translation = camera.pose.cam_from_world()
    nominal = CameraTruth(camera.serial, camera.intrinsics, np.asarray(rotation, dtype=np.float64),
                          np.asarray(translation, dtype=np.float64))
    settings = None if rig is None else _truth_settings(rig)
    return nominal if settings is None else _perturbed(camera, nominal, settings)


@dataclass(frozen=True)
class SubjectPose:
    """Where the subject stands against its place on the table: shifted on the table top (metres, table frame:
    it turns with the table) and turned about its own vertical axis (degrees, counter-clockwise from above)."""

    dx_m: float = 0.0
    dy_m: float = 0.0
    yaw_deg: float = 0.0

    def placement(self, turntable_deg: float) -> tuple[Float64Array, Float64Array]:
        """The subject frame in the world at ``turntable_deg``: (turn, offset) with world = turn @ x + offset."""
        a, b = math.radians(turntable_deg), math.radians(turntable_deg + self.yaw_deg)
        turn = np.array([[math.cos(b), -math.sin(b), 0.0], [math.sin(b), math.cos(b), 0.0], [0.0, 0.0, 1.0]])
        offset = np.array([math.cos(a) * self.dx_m - math.sin(a) * self.dy_m,
                           math.sin(a) * self.dx_m + math.cos(a) * self.dy_m, 0.0])
        return turn, offset


STILL = SubjectPose()  # the mannequin: exactly where the table puts it

# What ``simulation.live_subject`` may say (all optional; an empty mapping is a live subject with the defaults).
LIVE_SUBJECT_KEYS: Mapping[str, tuple[float, str]] = {
    "seed": (0.0, "integer; the same seed gives the same sway and the same pose offsets on every run"),
    "sway_mm": (10.0, "largest sway of the body on the table top while it holds a pose, millimetres"),
    "sway_deg": (1.5, "largest turn of the body about its vertical axis while it holds a pose, degrees"),
    "pose_mm": (30.0, "largest shift of where it stands at a new pose (it stepped out and back), millimetres"),
    "pose_deg": (5.0, "largest turn of how it stands at a new pose, degrees"),
}
# Sway: two slow sinusoids per axis (body sway round 0.1-0.3 Hz, breathing round 0.25 Hz), seeded phases.
_SWAY_HZ = ((0.07, 0.19), (0.11, 0.23), (0.05, 0.29))


def _live_settings(rig: RigConfig) -> dict[str, float] | None:
    """``rig.simulation.live_subject`` checked (every key filled in), or None when the subject stands still."""
    raw: Any = rig.simulation.get("live_subject")
    if raw is None:
        return None
    where = f"rig '{rig.name}' simulation.live_subject"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be a mapping of {', '.join(LIVE_SUBJECT_KEYS)} (empty: the defaults), "
                         f"got {raw!r}")
    unknown = sorted(set(raw) - set(LIVE_SUBJECT_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(LIVE_SUBJECT_KEYS)})")
    settings = {}
    for key, (default, meaning) in LIVE_SUBJECT_KEYS.items():
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{where}.{key}: must be a number >= 0 ({meaning}), got {value!r}")
        settings[key] = float(value)
    return settings


def _draws(seed: float, label: str, count: int) -> Float64Array:
    digest = hashlib.sha256(f"live:{int(seed)}:{label}".encode()).digest()  # the same in every process
    return np.random.default_rng(int.from_bytes(digest[:8], "little")).uniform(-1.0, 1.0, count)


def live_subject_pose(rig: RigConfig | None, take_id: str | None, moment_s: float) -> SubjectPose:
    """Where a live subject stands for an exposure of ``take_id`` at ``moment_s`` (studio seconds).

    :data:`STILL` unless the rig has ``simulation: {live_subject: {...}}`` (:data:`LIVE_SUBJECT_KEYS`). Then the
    body sways smoothly in time (within ``sway_mm`` and ``sway_deg``; two exposures a second apart differ by a
    few millimetres) about a place drawn per pose (the take id's first part; within ``pose_mm`` and
    ``pose_deg``), every draw seeded. All cameras of one trigger must get the same ``take_id`` and ``moment_s``.

    Raises
    ------
    ValueError
        When ``simulation.live_subject`` is malformed (naming the rig and the key).
    """
    settings = None if rig is None else _live_settings(rig)
    if settings is None:
        return STILL
    seed = settings["seed"]
    pose_id = (take_id or "").split("/", 1)[0]
    place = _draws(seed, f"pose:{pose_id}", 3)
    phases = _draws(seed, "sway", 6) * math.pi
    sway = []
    for axis, (slow, fast) in enumerate(_SWAY_HZ):  # each axis within [-1, 1]
        sway.append(0.6 * math.sin(2 * math.pi * slow * moment_s + phases[2 * axis])
                    + 0.4 * math.sin(2 * math.pi * fast * moment_s + phases[2 * axis + 1]))
    sway_m, pose_m = settings["sway_mm"] / 1000.0, settings["pose_mm"] / 1000.0
    # Shifts inside a disc of the stated radius (the two axes' draws scaled so their length stays within it).
    return SubjectPose(dx_m=float(pose_m * place[0] + sway_m * sway[0]) / math.sqrt(2.0),
                       dy_m=float(pose_m * place[1] + sway_m * sway[1]) / math.sqrt(2.0),
                       yaw_deg=float(settings["pose_deg"] * place[2] + settings["sway_deg"] * sway[2]))


@dataclass(frozen=True)
class Hits:
    """Where a camera's rays meet the scene at one turntable angle (only the pixels that hit something)."""

    index: npt.NDArray[np.intp]  # flat (row-major) pixel indices
    points: Float32Array  # (M, 3) world
    normals: Float32Array  # (M, 3) world, unit
    albedo: Float32Array  # (M, 3) linear RGB
    subject: npt.NDArray[np.bool_]  # (M,) True on the subject, False on the turntable top
    normal_dot_point: Float32Array  # (M,) n.x, kept so shading is two matrix products per render
    point_norm2: Float32Array  # (M,) |x|^2


_CACHE_SIZE = 64
_cache_lock = threading.Lock()
_ray_cache: dict[tuple[object, ...], tuple[Float64Array, Float64Array]] = {}
# The last angle and subject pose per camera: stations change rarely (a live subject re-traces every exposure).
_hit_cache: dict[tuple[object, ...], tuple[tuple[float, SubjectPose], Hits]] = {}
_grid_cache: dict[tuple[object, ...], Float64Array] = {}
_bundle_cache: dict[tuple[object, ...], RayBundles] = {}
_shade_cache: dict[tuple[object, ...], tuple[Float32Array, Float32Array]] = {}
_BLOCK_PX = 8  # side of the pixel blocks whose rays are culled together against each body part
_Value = TypeVar("_Value")


def clear_scene_caches() -> None:
    """Forget cached ray grids and hit maps."""
    with _cache_lock:
        _ray_cache.clear()
        _hit_cache.clear()
        _grid_cache.clear()
        _bundle_cache.clear()
        _shade_cache.clear()


def _remember(cache: dict[tuple[object, ...], _Value], key: tuple[object, ...], value: _Value) -> None:
    with _cache_lock:
        if key not in cache and len(cache) >= _CACHE_SIZE:
            del cache[next(iter(cache))]  # oldest first: dicts keep insertion order
        cache[key] = value


def _rays(truth: CameraTruth) -> tuple[Float64Array, Float64Array]:
    """Camera centre (3,) and unit world rays of every pixel as rows x, y, z (3, N), through the lens."""
    key = truth.cache_key()
    with _cache_lock:
        cached = _ray_cache.get(key)
    if cached is not None:
        return cached
    intr = truth.intrinsics
    u, v = np.meshgrid(np.arange(intr.width, dtype=np.float64), np.arange(intr.height, dtype=np.float64))
    pixels = np.stack([u.ravel(), v.ravel()], axis=-1).reshape(-1, 1, 2)
    # More iterations than cv2.undistortPoints' default 5, so the ground truth holds to a hundredth of a pixel.
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-12)
    normalised = cv2.undistortPoints(pixels, intr.matrix(), intr.distortion(), None, None, None, criteria)
    rays_cam = np.concatenate([normalised.reshape(-1, 2), np.ones((pixels.shape[0], 1))], axis=1)
    rays_cam /= np.linalg.norm(rays_cam, axis=1, keepdims=True)
    # Columns as contiguous rows: the per-render work below is element-wise on 300k rays, which numpy does
    # much faster on 1-D arrays than through (N, 3) @ (3, 3) products.
    rays_world = np.ascontiguousarray((rays_cam @ truth.rotation).T)  # row-vector form of R^T d
    result = (truth.centre, rays_world)
    _remember(_ray_cache, key, result)
    return result


def normalised_grid(truth: CameraTruth) -> Float64Array:
    """Undistorted normalised image coordinates (x/z, y/z) of every pixel centre, (height, width, 2), cached.

    Props interpolate it between pixel centres to trace sub-pixel samples through the same lens model.
    """
    key = truth.cache_key()
    with _cache_lock:
        cached = _grid_cache.get(key)
    if cached is not None:
        return cached
    _, rays_world = _rays(truth)
    rays_cam = truth.rotation @ rays_world
    intr = truth.intrinsics
    grid = np.stack([rays_cam[0] / rays_cam[2], rays_cam[1] / rays_cam[2]], axis=-1).reshape(intr.height,
                                                                                               intr.width, 2)
    grid.flags.writeable = False
    _remember(_grid_cache, key, grid)
    return grid


def _bundles(truth: CameraTruth) -> RayBundles:
    """The camera's rays in bundles of _BLOCK_PX x _BLOCK_PX pixels (cached per camera)."""
    key = truth.cache_key()
    with _cache_lock:
        cached = _bundle_cache.get(key)
    if cached is not None:
        return cached
    _, rays = _rays(truth)
    width, height = truth.intrinsics.width, truth.intrinsics.height
    # Blocks at the right and bottom edges repeat their last column or row when the size is not a multiple.
    cols = np.minimum(np.arange(-(-width // _BLOCK_PX) * _BLOCK_PX), width - 1).reshape(-1, _BLOCK_PX)
    rows = np.minimum(np.arange(-(-height // _BLOCK_PX) * _BLOCK_PX), height - 1).reshape(-1, _BLOCK_PX)
    members = (rows[:, None, :, None] * width + cols[None, :, None, :]).reshape(-1, _BLOCK_PX * _BLOCK_PX)
    bundles = bundle_rays(rays, members)
    _remember(_bundle_cache, key, bundles)
    return bundles


# Per part: the gradient of its implicit function is gradient @ (x - centre) (subject frame).
_GRADIENTS = np.stack([part.to_unit().T @ part.to_unit() for part in BODY_PARTS])
_CENTRES = np.array([part.centre for part in BODY_PARTS], dtype=np.float64)


def _subject(origin: Float64Array, rays: Float64Array, turn: Float64Array, offset: Float64Array,
             bundles: RayBundles) -> tuple[npt.NDArray[np.intp], Float64Array, Float64Array, Float32Array]:
    """Pixel indices, world points, world normals and albedo where rays meet the body placed by ``turn`` and
    ``offset`` (:meth:`SubjectPose.placement`)."""
    # A body shifted by ``offset`` is met where the camera shifted back by it meets the body in place.
    index, distance, part = intersect_body(origin - offset, rays, float(turn[0, 0]), float(turn[1, 0]), bundles)
    points = origin[None, :] + distance[:, None] * rays[:, index].T
    # Into the subject frame (shifted and turned back): the texture and the normals live there.
    local = (points - offset[None, :]) @ turn
    normals = np.einsum("nij,nj->ni", _GRADIENTS[part], local - _CENTRES[part])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return index, points, normals @ turn.T, body_albedo(local)


def scene_hits(truth: CameraTruth, turntable_deg: float, subject_present: bool = True,
               pose: SubjectPose = STILL) -> Hits:
    """Where ``truth``'s pixels meet the subject or the table top at ``turntable_deg`` (cached per camera).

    ``subject_present`` False leaves the subject out (a calibration capture: the stage is empty). ``pose``:
    where a live subject stands on the table for this exposure (the table top does not move with it).
    """
    key = (*truth.cache_key(), subject_present)
    with _cache_lock:
        cached = _hit_cache.get(key)
    if cached is not None and cached[0] == (turntable_deg, pose):
        return cached[1]
    origin, rays = _rays(truth)
    cos_a, sin_a = math.cos(math.radians(turntable_deg)), math.sin(math.radians(turntable_deg))
    if subject_present:
        bundles = _bundles(truth)
        turn, offset = pose.placement(turntable_deg)
        subject_index, subject_points, subject_normals, subject_albedo = _subject(origin, rays, turn, offset,
                                                                                  bundles)
    else:
        subject_index, subject_points = np.zeros(0, dtype=np.intp), np.zeros((0, 3))
        subject_normals, subject_albedo = np.zeros((0, 3)), np.zeros((0, 3), dtype=np.float32)
    # Table top (z = 0). The subject stands on it (nowhere below) and every camera is above it, so a ray that
    # meets both meets the subject first: the subject wins without comparing distances.
    down = np.flatnonzero(rays[2] < -1e-9)
    s_floor = -origin[2] / rays[2, down]
    fx, fy = origin[0] + s_floor * rays[0, down], origin[1] + s_floor * rays[1, down]
    inside = fx * fx + fy * fy < FLOOR_RADIUS_M**2
    candidate = np.zeros(rays.shape[1], dtype=bool)
    candidate[down[inside]] = True
    candidate[subject_index] = False
    floor_index = np.flatnonzero(candidate)
    keep = candidate[down]
    fx, fy = fx[keep], fy[keep]
    floor_points = np.stack([fx, fy, np.zeros_like(fx)], axis=1)
    floor_albedo = table_albedo(cos_a * fx + sin_a * fy, -sin_a * fx + cos_a * fy)  # table frame
    floor_normals = np.zeros_like(floor_points)
    floor_normals[:, 2] = 1.0
    points = np.concatenate([subject_points, floor_points]).astype(np.float32)
    normals = np.concatenate([subject_normals, floor_normals]).astype(np.float32)
    hits = Hits(
        index=np.concatenate([subject_index, floor_index]),
        points=points,
        normals=normals,
        albedo=np.concatenate([subject_albedo, floor_albedo]),
        subject=np.concatenate([np.ones(subject_index.size, bool), np.zeros(floor_index.size, bool)]),
        normal_dot_point=np.einsum("ij,ij->i", normals, points),
        point_norm2=np.einsum("ij,ij->i", points, points),
    )
    _remember(_hit_cache, key, ((turntable_deg, pose), hits))
    return hits


_UNIT_MAPS = np.stack([part.to_unit() for part in BODY_PARTS])  # (P, 3, 3)
_MIN_RADII = np.array([min(part.radii) for part in BODY_PARTS])
_EQUAL_VOLUME_RADII = np.array([float(np.prod(part.radii)) ** (1.0 / 3.0) for part in BODY_PARTS])


def _smoothstep(x: Float64Array) -> Float64Array:
    v = np.clip(0.5 + 0.5 * x, 0.0, 1.0)
    return np.asarray(v * v * (3.0 - 2.0 * v), dtype=np.float64)


def _light_visibility(points: Float64Array, lights: Float64Array, light_radius_m: float) -> Float64Array:
    """Share (0..1) of each light, a sphere of ``light_radius_m``, that each floor point sees past the body.

    Subject frame. Analytic soft shadow: per part, the segment point -> light centre's closest approach to the
    part (in the part's unit-sphere space, scaled back by its thinnest semi-axis) is the clearance c at a
    fraction s of the way to the light; the light's disc seen from the point is R / |d| wide and the occluder's
    edge c / (s |d|) away from its centre, so the visible share is a smoothstep of c / (s R). Near the occluder
    (s small: feet on the floor) the shadow is sharp; far from it (the arms' shadows) it is a soft penumbra.
    """
    visible = np.ones((points.shape[0], lights.shape[0]))
    d = lights[None, :, :] - points[:, None, :]  # (F, L, 3)
    for part in range(len(BODY_PARTS)):
        to_unit = _UNIT_MAPS[part]
        o = (points - _CENTRES[part]) @ to_unit.T  # (F, 3)
        du = d @ to_unit.T  # (F, L, 3)
        dd = np.einsum("flk,flk->fl", du, du)
        s = np.clip(-np.einsum("fk,flk->fl", o, du) / dd, 1e-6, 1.0)
        closest = o[:, None, :] + s[..., None] * du
        clearance = (np.sqrt(np.einsum("flk,flk->fl", closest, closest)) - 1.0) * _MIN_RADII[part]
        np.minimum(visible, _smoothstep(clearance / (s * light_radius_m)), out=visible)
    return visible


def _ambient_visibility(points: Float64Array) -> Float64Array:
    """Share of the sky (cosine-weighted) a floor point sees past the body: darker floor round the feet.

    Each part counts as a sphere of its volume: one of radius r whose centre is d away at an angle theta from
    the floor's normal hides (r / d)^2 cos(theta) of the cosine-weighted hemisphere.
    """
    towards = _CENTRES[None, :, :] - points[:, None, :]  # (F, P, 3)
    dist2 = np.einsum("fpk,fpk->fp", towards, towards)
    cosine = np.maximum(towards[..., 2], 0.0) / np.sqrt(dist2)
    hidden = (_EQUAL_VOLUME_RADII[None, :] ** 2 / np.maximum(dist2, _EQUAL_VOLUME_RADII[None, :] ** 2)) * cosine
    return np.asarray(np.clip(1.0 - hidden.sum(axis=1), 0.0, 1.0), dtype=np.float64)


def floor_shading(truth: CameraTruth, turntable_deg: float, hits: Hits, light_positions: Float64Array,
                  light_radius_m: float, pose: SubjectPose = STILL) -> tuple[Float32Array, Float32Array]:
    """How the subject shades the table top in ``hits`` (cached per camera, angle and lights).

    Parameters
    ----------
    truth, turntable_deg, hits
        The camera, the table angle and its :func:`scene_hits` with the subject present.
    light_positions
        (L, 3) world positions of the fixtures.
    light_radius_m
        Radius of each fixture's emitting sphere (a soft box): the larger, the softer the shadow edges.
    pose
        Where the subject stands (as for :func:`scene_hits`): its shadow moves with it.

    Returns
    -------
    visibility, ambient
        (M, L) share of each light that reaches each hit point, and (M,) share of the ambient light; 1 on the
        subject itself (it casts shadows on the floor, its own shading stays Lambertian).
    """
    key = (*truth.cache_key(), turntable_deg, pose, hits.index.size, light_positions.tobytes(), light_radius_m)
    with _cache_lock:
        cached = _shade_cache.get(key)
    if cached is not None:
        return cached
    visibility = np.ones((hits.index.size, light_positions.shape[0]), dtype=np.float32)
    ambient = np.ones(hits.index.size, dtype=np.float32)
    floor = np.flatnonzero(~hits.subject)
    if floor.size and light_positions.size:
        turn, offset = pose.placement(turntable_deg)
        # Into the subject frame (shifted back, then rows times turn = turned back), where the parts live.
        points = (hits.points[floor].astype(np.float64) - offset) @ turn
        lights = (np.asarray(light_positions, dtype=np.float64) - offset) @ turn
        visibility[floor] = _light_visibility(points, lights, light_radius_m)
        ambient[floor] = _ambient_visibility(points)
    result = (visibility, ambient)
    _remember(_shade_cache, key, result)
    return result
