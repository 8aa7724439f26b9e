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
from capturerig_sim._scene import scene_hits
from capturerig_sim.render import (
    BODY_PARTS,
    SUBJECT_CENTRE,
    Light,
    camera_truth,
    encode_jpeg,
    render_image,
    render_linear,
)

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


def _outline_conics(camera: CameraConfig) -> npt.NDArray[np.float64]:
    """Each body part's outline as a conic in ideal (undistorted) normalised coordinates: x^T C x = 0, (P, 3, 3).

    Projective geometry, independent of the renderer: an ellipsoid x = c + A u (|u| = 1) is the dual quadric
    Q* = H diag(1, 1, 1, -1) H^T with H = [[A, c], [0, 1]]; seen by P = [R | t] its dual outline conic is
    C* = P Q* P^T, and C is its inverse (sign: + outside, for a camera outside the part).
    """
    rotation, translation = camera.pose.cam_from_world()
    projection = np.hstack([rotation, translation.reshape(3, 1)])
    conics = []
    for part in BODY_PARTS:
        frame = np.eye(4)
        frame[:3, :3] = part.axes() @ np.diag(part.radii)
        frame[:3, 3] = part.centre
        dual_quadric = frame @ np.diag([1.0, 1.0, 1.0, -1.0]) @ frame.T
        conics.append(np.linalg.inv(projection @ dual_quadric @ projection.T))
    return np.asarray(conics, dtype=np.float64)


def _outline_distance_px(camera: CameraConfig, pixels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Signed distance (pixels, + outside) of image points (N, 2) (u, v) to the union of the parts' outlines.

    Per part the first-order distance to its conic; the union's is the smallest (inside any part is inside).
    """
    intr = camera.intrinsics
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-12)
    ideal = cv2.undistortPoints(pixels.reshape(-1, 1, 2), intr.matrix(), intr.distortion(), None, None, None,
                                criteria)
    points = np.hstack([ideal.reshape(-1, 2), np.ones((pixels.shape[0], 1))])
    conics = _outline_conics(camera)
    value = np.einsum("ij,pjk,ik->pi", points, conics, points)
    gradient = 2.0 * np.einsum("ij,pjk->pik", points, conics)[:, :, :2]
    return np.asarray((value / np.linalg.norm(gradient, axis=2) * intr.fx).min(axis=0), dtype=np.float64)


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

    # Every pixel on the rim of the outline has its centre inside the union of the parts' true outlines and
    # within a pixel of it; every backdrop pixel next to the subject has its centre outside all of them.
    inner = mask.copy()
    inner[1:-1, 1:-1] = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    rows, cols = np.nonzero(mask & ~inner)
    rim_px = _outline_distance_px(camera, np.stack([cols, rows], axis=1).astype(float))
    assert rows.size > 1000
    assert rim_px.max() < 0.1
    # A rim pixel's outside neighbour is a pixel away; a little more here, from the lens's local scale and the
    # first-order distance to the tightly curved outline of a hand or forearm a few pixels wide.
    assert rim_px.min() > -1.25
    near = np.zeros_like(mask)
    near[1:-1, 1:-1] = mask[:-2, 1:-1] | mask[2:, 1:-1] | mask[1:-1, :-2] | mask[1:-1, 2:]
    rows, cols = np.nonzero(near & ~mask)
    assert rows.size > 1000
    assert _outline_distance_px(camera, np.stack([cols, rows], axis=1).astype(float)).min() > -0.1

    # And the centre of the body, (0, 0, 1), projects inside the torso, near the middle of the torso's run of
    # its row (seen obliquely the oval cross-section is a little lopsided in perspective).
    rotation, translation = camera.pose.cam_from_world()
    rvec, _ = cv2.Rodrigues(rotation)
    projected, _ = cv2.projectPoints(np.array([SUBJECT_CENTRE]), rvec, translation, intr.matrix(),
                                     intr.distortion())
    u, v = np.rint(projected.ravel()).astype(int)
    assert mask[v, u]
    outside = np.flatnonzero(~mask[v])
    left, right = outside[outside < u].max() + 1, outside[outside > u].min()
    assert abs((left + right - 1) / 2.0 - u) < 5.0


def _surface_samples(count: int, seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Random points on every body part and their outward unit normals, (N, 3) each, subject frame."""
    rng = np.random.default_rng(seed)
    points, normals = [], []
    for part in BODY_PARTS:
        unit = rng.normal(size=(count, 3))
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        axes, radii = part.axes(), np.array(part.radii)
        points.append(unit * radii @ axes.T + np.array(part.centre))
        normal = (unit / radii) @ axes.T
        normals.append(normal / np.linalg.norm(normal, axis=1, keepdims=True))
    return np.concatenate(points), np.concatenate(normals)


def _seen_from(centre: npt.NDArray[np.float64], points: npt.NDArray[np.float64],
               normals: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which surface points a camera at ``centre`` sees, and which it would see but for a part in front.

    Both face the camera and lie inside no other part (else they are not on the body's surface); ray-tested
    against every part analytically (the table top is below every point and never hides one).
    """
    towards = points - centre
    reach = np.linalg.norm(towards, axis=1)
    ray = towards / reach[:, None]
    on_surface = np.einsum("ij,ij->i", normals, -ray) > 0.0
    hidden = np.zeros(len(points), dtype=bool)
    for part in BODY_PARTS:
        on_surface &= part.implicit(points) > 1.0 - 1e-9
        to_unit = part.to_unit()
        o = to_unit @ (centre - np.array(part.centre))
        d = ray @ to_unit.T
        a, b, c = np.einsum("ij,ij->i", d, d), d @ o, o @ o - 1.0
        disc = b * b - a * c
        entry = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
        hidden |= (disc > 0.0) & (entry < reach - 0.02)  # the ray enters this part 2 cm before the point
    return on_surface & ~hidden, on_surface & hidden


@pytest.mark.parametrize("camera_id", ["cam08", "cam03"])
def test_surface_points_project_into_the_subject_through_the_lens_distortion(rig: RigConfig,
                                                                             camera_id: str) -> None:
    camera = rig.camera(camera_id)
    rotation, translation = camera.pose.cam_from_world()
    centre = -rotation.T @ translation
    points, normals = _surface_samples(1500, seed=1)
    visible, hidden = _seen_from(centre, points, normals)
    rvec, _ = cv2.Rodrigues(rotation)
    pixels, _ = cv2.projectPoints(points, rvec, translation, camera.intrinsics.matrix(),
                                  camera.intrinsics.distortion())
    pixels = np.asarray(pixels.reshape(-1, 2), dtype=np.float64)
    # Rounding moves a point up to 0.71 px: keep those a pixel inside the outline (a thin hand seen edge-on
    # has hardly any), where the pixel it rounds to must see the subject too.
    clear = visible & (_outline_distance_px(camera, pixels) < -1.0)
    assert clear.sum() > 6000
    cols, rows = np.rint(pixels).astype(int).T
    mask = subject_mask(camera)
    inside = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
    # The low ring's frame ends a little above the table (see test_sim_subject): only feet may fall out of it.
    assert np.all(inside[clear] | (points[clear][:, 2] < 0.15))
    assert mask[rows[clear & inside], cols[clear & inside]].all()

    # The nearest part wins: where a point is visible the camera sees it there (within what a 0.7 px step
    # along the surface changes), and where a part hides it the camera sees something nearer.
    hits = scene_hits(camera_truth(camera), 0.0)
    row_of = np.full(mask.size, -1)
    row_of[hits.index] = np.arange(hits.index.size)
    seen_at = row_of[np.where(inside, rows, 0) * mask.shape[1] + np.where(inside, cols, 0)]
    depth = np.linalg.norm(points - centre, axis=1)
    seen_depth = np.linalg.norm(hits.points[seen_at].astype(np.float64) - centre, axis=1)
    error = (seen_depth - depth)[clear & inside]
    assert np.median(np.abs(error)) < 0.002
    assert np.mean(np.abs(error) < 0.01) > 0.99  # the rest round onto a neighbouring part's edge
    hidden_error = (seen_depth - depth)[hidden & inside]
    assert hidden_error.size > 50
    assert np.mean(hidden_error < -0.01) > 0.9


def test_a_fixture_twice_as_far_lights_the_subject_a_quarter_as_much(rig: RigConfig) -> None:
    camera = rig.camera("cam00")  # on the +x axis, facing the front of the chest
    chest = next(part for part in BODY_PARTS if part.name == "chest")
    front = np.array(chest.centre) + np.array([chest.radii[0], 0.0, 0.0])  # normal +x, towards the lamp
    truth = camera_truth(camera)
    rotation, translation = camera.pose.cam_from_world()
    rvec, _ = cv2.Rodrigues(rotation)
    pixel, _ = cv2.projectPoints(front.reshape(1, 3), rvec, translation, camera.intrinsics.matrix(),
                                 camera.intrinsics.distortion())
    u, v = np.rint(pixel.ravel()).astype(int)
    assert subject_mask(camera)[v, u]

    def light_at(distance: float) -> float:
        lamp = Light("lamp", (front[0] + distance, front[1], front[2]), (1.0, 1.0, 1.0))
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
