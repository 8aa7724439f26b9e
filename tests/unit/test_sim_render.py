"""The virtual studio's pictures: what a camera sees depends on the light on the wire, the table and the pose."""

from __future__ import annotations

import time

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from capturerig.config import (
    CameraConfig,
    LightingCondition,
    LoadedRig,
    NominalPose,
    RigConfig,
    default_rig_path,
    load_rig,
)
from capturerig.lighting import UniverseKey, blackout_frames, frames_for_condition
from capturerig_sim import camera_response, expected_image, floor_mask, subject_mask
from capturerig_sim.render import SUBJECT_CENTRE, Light, camera_truth, encode_jpeg, render_image, render_linear

FULL_WHITE = {"intensity": 1.0, "red": 1.0, "green": 1.0, "blue": 1.0, "white": 1.0}


@pytest.fixture(scope="module")
def rig() -> RigConfig:
    loaded: LoadedRig = load_rig(default_rig_path())
    # The nominal cameras (no simulation.truth): these tests check the renderer against the rig's own numbers.
    return loaded.config.model_copy(update={"simulation": {}})


def frames(rig: RigConfig, **levels: dict[str, float]) -> dict[UniverseKey, bytes]:
    """DMX frames for a condition given as fixture id (``all`` for every fixture) -> role -> level."""
    named = {("*" if key == "all" else key): value for key, value in levels.items()}
    return frames_for_condition(rig, LightingCondition.model_validate({"id": "t", "levels": named}))


def linear(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """Approximate linear light from 8-bit values, assuming only that the tone curve is close to gamma 2.2."""
    return (image.astype(np.float64) / 255.0) ** 2.2


def test_doubling_dmx_intensity_doubles_the_light_on_the_subject(rig: RigConfig) -> None:
    camera = rig.camera("cam00")
    half = expected_image(camera, rig, frames(rig, all={**FULL_WHITE, "intensity": 0.5}))
    full = expected_image(camera, rig, frames(rig, all=FULL_WHITE))
    subject = subject_mask(camera)
    # Compare where both images are well inside the tone curve (no clipping, no deep shadow).
    usable = subject & np.all((half > 40) & (full < 230), axis=2)
    assert usable.sum() > 5000
    ratio = np.median(linear(full)[usable] / linear(half)[usable])
    assert ratio == pytest.approx(2.0, rel=0.1)


def test_red_only_light_makes_the_subject_red(rig: RigConfig) -> None:
    camera = rig.camera("cam03")
    image = expected_image(camera, rig, frames(rig, all={"intensity": 1.0, "red": 1.0}))
    light = linear(image)[subject_mask(camera)]  # BGR
    blue, green, red = light.mean(axis=0)
    assert red > 5 * green
    assert red > 5 * blue


def test_with_every_light_dark_only_the_backdrop_is_visible(rig: RigConfig) -> None:
    camera = rig.camera("cam09")  # a high camera: it sees the turntable top too
    dark = expected_image(camera, rig, blackout_frames(rig)).astype(int)
    lit = expected_image(camera, rig, frames(rig, all=FULL_WHITE)).astype(int)
    backdrop = ~(subject_mask(camera) | floor_mask(camera))
    backdrop_level = np.median(dark[backdrop])
    assert 15 < backdrop_level < 80  # a dark grey, not black
    assert dark.max() <= backdrop_level + 3  # subject and table disappear into the dark
    assert np.array_equal(dark[backdrop], lit[backdrop])  # and lights never change the backdrop
    assert np.median(lit[subject_mask(camera)]) > backdrop_level + 60


def test_turning_the_table_turns_the_subject_with_it(rig: RigConfig) -> None:
    """Turning the table +90 deg (counter-clockwise from above) shows cam00 what it would see from a quarter
    turn clockwise round the ring with the table at 0: the texture is fixed to the subject.

    The fixtures sit every 45 deg with alternating heights, so a 90 deg turn leaves their pattern unchanged.
    """
    camera = rig.camera("cam00")
    light = frames(rig, all=FULL_WHITE)
    at_0 = expected_image(camera, rig, light, turntable_deg=0.0)
    at_90 = expected_image(camera, rig, light, turntable_deg=90.0)
    assert np.abs(at_0.astype(int) - at_90.astype(int))[subject_mask(camera)].mean() > 10

    x, y, z = camera.pose.position
    moved = camera.model_copy(update={"pose": NominalPose(position=(y, -x, z))})
    difference = np.abs(expected_image(moved, rig, light, turntable_deg=0.0).astype(int) - at_90)
    assert difference.max() <= 1  # rounding only


def test_each_camera_sees_its_own_view(rig: RigConfig) -> None:
    light = frames(rig, all=FULL_WHITE)
    first, second = rig.camera("cam00"), rig.camera("cam01")
    mask = subject_mask(first)
    difference = np.abs(expected_image(first, rig, light).astype(int) - expected_image(second, rig, light))
    assert difference[mask].mean() > 10


def _subject_outline_conic(camera: CameraConfig) -> npt.NDArray[np.float64]:
    """The subject's outline as a conic in ideal (undistorted) normalised coordinates: x^T C x = 0.

    Projective geometry, independent of the renderer: an ellipsoid (dual quadric Q*) seen by P = [R | t]
    has the dual outline conic C* = P Q* P^T, and C is its inverse.
    """
    rotation, translation = camera.pose.cam_from_world()
    move = np.eye(4)
    move[:3, 3] = SUBJECT_CENTRE
    dual_quadric = move @ np.diag([0.30**2, 0.22**2, 0.85**2, -1.0]) @ move.T
    projection = np.hstack([rotation, translation.reshape(3, 1)])
    return np.asarray(np.linalg.inv(projection @ dual_quadric @ projection.T), dtype=np.float64)


@pytest.mark.parametrize("camera_id", ["cam00", "cam03", "cam10", "cam15"])
def test_subject_outline_is_where_pose_intrinsics_and_lens_put_it(rig: RigConfig, camera_id: str) -> None:
    camera = rig.camera(camera_id)
    intr = camera.intrinsics
    mask = subject_mask(camera)
    # The pixels a user sees change with the light exactly there (and the table top, which is excluded).
    lit = expected_image(camera, rig, frames(rig, all=FULL_WHITE)).astype(int)
    dark = expected_image(camera, rig, blackout_frames(rig)).astype(int)
    seen = (np.abs(lit - dark).max(axis=2) > 30) & ~floor_mask(camera)
    assert (seen & mask).sum() / (seen | mask).sum() > 0.97

    # Every pixel on the rim of the outline has its centre inside the true outline and within a pixel of it.
    inner = mask.copy()
    inner[1:-1, 1:-1] = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    rows, cols = np.nonzero(mask & ~inner)
    pixels = np.stack([cols, rows], axis=1).astype(float).reshape(-1, 1, 2)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-12)
    ideal = cv2.undistortPoints(pixels, intr.matrix(), intr.distortion(), None, None, None, criteria)
    points = np.hstack([ideal.reshape(-1, 2), np.ones((rows.size, 1))])
    conic = _subject_outline_conic(camera)
    value = np.einsum("ij,jk,ik->i", points, conic, points)
    gradient = 2.0 * (points @ conic)[:, :2]
    signed_px = value / np.linalg.norm(gradient, axis=1) * intr.fx  # first-order distance, + is outside
    assert rows.size > 500
    assert signed_px.max() < 0.1
    assert signed_px.min() > -1.1

    # And the centre of the body, (0, 0, 1), projects inside the outline, near the middle of its row (seen
    # obliquely the body's oval cross-section is a little lopsided in perspective).
    rotation, translation = camera.pose.cam_from_world()
    rvec, _ = cv2.Rodrigues(rotation)
    projected, _ = cv2.projectPoints(np.array([SUBJECT_CENTRE]), rvec, translation, intr.matrix(),
                                     intr.distortion())
    u, v = np.rint(projected.ravel()).astype(int)
    assert mask[v, u]
    assert abs(np.flatnonzero(mask[v]).mean() - u) < 5.0


def test_surface_points_project_into_the_subject_through_the_lens_distortion(rig: RigConfig) -> None:
    camera = rig.camera("cam08")
    rotation, translation = camera.pose.cam_from_world()
    centre_cam = -rotation.T @ translation
    radii = np.array([0.30, 0.22, 0.85])
    rng = np.random.default_rng(1)
    unit = rng.normal(size=(4000, 3))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    points = unit * radii + np.array(SUBJECT_CENTRE)
    normals = unit / radii
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    towards = centre_cam - points
    visible = np.einsum("ij,ij->i", normals, towards / np.linalg.norm(towards, axis=1, keepdims=True)) > 0.2
    rvec, _ = cv2.Rodrigues(rotation)
    pixels, _ = cv2.projectPoints(points[visible], rvec, translation, camera.intrinsics.matrix(),
                                  camera.intrinsics.distortion())
    cols, rows = np.rint(pixels.reshape(-1, 2)).astype(int).T
    mask = subject_mask(camera)
    inside = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
    assert inside.all()
    assert mask[rows, cols].all()


def test_a_fixture_twice_as_far_lights_the_subject_a_quarter_as_much(rig: RigConfig) -> None:
    camera = rig.camera("cam00")  # on the +x axis, facing the subject's front point (0.30, 0, 1)
    truth = camera_truth(camera)
    rotation, translation = camera.pose.cam_from_world()
    rvec, _ = cv2.Rodrigues(rotation)
    front, _ = cv2.projectPoints(np.array([[0.30, 0.0, 1.0]]), rvec, translation, camera.intrinsics.matrix(),
                                 camera.intrinsics.distortion())
    u, v = np.rint(front.ravel()).astype(int)

    def light_at(distance: float) -> float:
        lamp = Light("lamp", (0.30 + distance, 0.0, 1.0), (1.0, 1.0, 1.0))
        lit = render_linear(truth, (lamp,), 0.0)[v, u]
        ambient_only = render_linear(truth, (), 0.0)[v, u]
        return float((lit - ambient_only).mean())

    assert light_at(1.0) / light_at(2.0) == pytest.approx(4.0, rel=0.05)


def test_one_stop_more_exposure_doubles_the_light_and_white_balance_tints(rig: RigConfig) -> None:
    camera = rig.camera("cam02")
    light = frames(rig, all={**FULL_WHITE, "intensity": 0.4})
    normal = expected_image(camera, rig, light, settings={"shutter": "1/125"})
    brighter = expected_image(camera, rig, light, settings={"shutter": "1/62.5"})
    usable = subject_mask(camera) & np.all((normal > 40) & (brighter < 230), axis=2)
    assert np.median(linear(brighter)[usable] / linear(normal)[usable]) == pytest.approx(2.0, rel=0.1)
    tungsten = expected_image(camera, rig, light, settings={"whitebalance": "tungsten"})
    mask = subject_mask(camera)
    assert tungsten[mask][:, 0].mean() > normal[mask][:, 0].mean() + 10  # bluer
    assert tungsten[mask][:, 2].mean() < normal[mask][:, 2].mean() - 10  # less red


def test_each_body_has_its_own_stable_colour_response() -> None:
    first, again, other = camera_response("SIM00000"), camera_response("SIM00000"), camera_response("SIM00001")
    assert np.array_equal(first.mix, again.mix)
    assert np.allclose(first.mix.sum(axis=1), 1.0)  # grey stays grey before white balance
    assert not np.allclose(first.wb_gains, other.wb_gains)
    assert np.all(np.abs(first.gammas - 2.2) < 0.12)
    assert np.abs(first.mix - np.eye(3)).max() < 0.05


def test_noise_is_small_seeded_and_the_jpeg_keeps_the_picture(rig: RigConfig) -> None:
    camera = rig.camera("cam00")
    light = frames(rig, all=FULL_WHITE)
    clean = expected_image(camera, rig, light)
    noisy = render_image(camera, rig, light, noise_seed=7)
    assert np.array_equal(noisy, render_image(camera, rig, light, noise_seed=7))
    assert 0.3 < np.abs(noisy.astype(int) - clean).mean() < 2.0
    data = encode_jpeg(noisy)
    assert data[:2] == b"\xff\xd8"
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert np.abs(decoded.astype(int) - clean).mean() < 2.5


def test_a_new_lighting_state_renders_quickly(rig: RigConfig) -> None:
    camera = rig.camera("cam00")
    expected_image(camera, rig, frames(rig, all=FULL_WHITE))  # ray grid and hit map are cached per camera
    start = time.perf_counter()
    for level in (0.2, 0.4, 0.6, 0.8, 1.0):
        render_image(camera, rig, frames(rig, all={**FULL_WHITE, "intensity": level}), noise_seed=1)
    # A generous bound (shared CI machines); typically about 30 ms per image.
    assert (time.perf_counter() - start) / 5 < 0.5
