"""The virtual subject as a user sees it: a person with a head, arms and legs, in frame, on a turntable top,
textured so that structure from motion matches the right things and nothing repeats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from capturerig.config import CameraConfig, LightingCondition, LoadedRig, RigConfig, default_rig_path, load_rig
from capturerig.lighting import UniverseKey, frames_for_condition
from capturerig_sim import camera_truth, expected_image, floor_mask, subject_mask
from capturerig_sim._body import BODY_HEIGHT_M
from capturerig_sim._scene import scene_hits
from capturerig_sim._texture import body_albedo, table_albedo
from capturerig_sim.render import BODY_PARTS, SUBJECT_CENTRE, clear_render_caches

FULL_WHITE = {"intensity": 1.0, "red": 1.0, "green": 1.0, "blue": 1.0, "white": 1.0}
Image = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def rig() -> RigConfig:
    loaded: LoadedRig = load_rig(default_rig_path())
    return loaded.config.model_copy(update={"simulation": {}})  # the nominal cameras: truth = rig file


@pytest.fixture(scope="module")
def white(rig: RigConfig) -> dict[UniverseKey, bytes]:
    return frames_for_condition(rig, LightingCondition.model_validate({"id": "w", "levels": {"*": FULL_WHITE}}))


def part(name: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    found = next(p for p in BODY_PARTS if p.name == name)
    return np.array(found.centre), np.array(found.radii)


def project(camera: CameraConfig, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Pixel (u, v) of world points through the nominal camera and its lens, (N, 2)."""
    rotation, translation = camera.pose.cam_from_world()
    rvec, _ = cv2.Rodrigues(rotation)
    pixels, _ = cv2.projectPoints(np.asarray(points, dtype=np.float64).reshape(-1, 3), rvec, translation,
                                  camera.intrinsics.matrix(), camera.intrinsics.distortion())
    return np.asarray(pixels.reshape(-1, 2), dtype=np.float64)


def runs(row: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(first, last + 1) of every run of True in a mask row."""
    edges = np.diff(np.concatenate([[0], row.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def run_at(row: npt.NDArray[np.bool_], column: int) -> tuple[int, int]:
    return next((a, b) for a, b in runs(row) if a <= column < b)


def test_the_subject_is_a_person_with_a_head_arms_and_legs(rig: RigConfig) -> None:
    camera = rig.camera("cam00")  # in front of the subject at table 0
    mask = subject_mask(camera)
    axis_u = round(project(camera, [0.0, 0.0, 1.0])[0, 0])

    def row(z: float) -> int:
        return round(project(camera, [0.0, 0.0, z])[0, 1])

    torso = run_at(mask[row(part("chest")[0][2])], axis_u)
    head = run_at(mask[row(part("head")[0][2])], axis_u)
    assert head[1] - head[0] < 0.6 * (torso[1] - torso[0])  # a head, narrower than the chest, above it
    assert torso[0] < head[0]
    assert head[1] < torso[1]
    # The top of the head is BODY_HEIGHT_M up: the mask starts where that projects (seen from below, the outline's
    # top is a little beyond the crown's own image: a few pixels, about a centimetre).
    top = np.flatnonzero(mask.any(axis=1))[0]
    assert 1.75 <= BODY_HEIGHT_M <= 1.8  # an adult
    assert abs(top - project(camera, [0.01, 0.0, BODY_HEIGHT_M])[0, 1]) < 4.0
    # The body's centre, where the rig's cameras look, is inside it.
    assert min(p.implicit([SUBJECT_CENTRE])[0] for p in BODY_PARTS) < 0.8

    # Arms held away from the body (an A-pose): at forearm height, arm - gap - torso - gap - arm.
    forearm = runs(mask[row(part("left_forearm")[0][2])])
    assert len(forearm) == 3
    assert forearm[1][0] - forearm[0][1] > 20
    assert forearm[2][0] - forearm[1][1] > 20
    # Two legs with a gap between them, the body's axis in the gap.
    shins = runs(mask[row(part("left_shin")[0][2])])
    assert len(shins) == 2
    assert shins[0][1] + 20 < shins[1][0]
    assert shins[0][1] <= axis_u < shins[1][0]


def test_every_camera_frames_the_body_at_every_table_angle(rig: RigConfig) -> None:
    """The upper ring frames the whole body with a margin; the low ring everything above the ankles.

    The low ring (0.7 m up, looking at (0, 0, 1)) frames down to about 0.1 m above the table near the subject:
    its frame misses even the table's centre, so it crops the feet. Aiming that ring lower (about (0, 0, 0.88))
    would frame all of a person of this height with a margin of some 20 pixels top and bottom.
    """
    rng = np.random.default_rng(3)
    surface = []
    for body_part in BODY_PARTS:
        unit = rng.normal(size=(2000, 3))
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        surface.append(unit * np.array(body_part.radii) @ body_part.axes().T + np.array(body_part.centre))
    points = np.concatenate(surface)
    assert points[:, 2].min() == pytest.approx(0.0, abs=2e-3)  # standing on the table top
    for camera in rig.cameras:
        low_ring = camera.pose.position[2] < 1.0
        kept = points[points[:, 2] > 0.15] if low_ring else points
        intr = camera.intrinsics
        for angle in np.radians(np.arange(0.0, 360.0, 30.0)):
            turn = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0, 0, 1]])
            u, v = project(camera, kept @ turn.T).T
            margin = min(u.min(), intr.width - 1 - u.max(), v.min(), intr.height - 1 - v.max())
            assert margin > 10, (camera.id, np.degrees(angle))


def highpass(image: Image) -> npt.NDArray[np.float32]:
    """The texture without the shading: grey levels minus their blur."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return np.asarray(grey - cv2.GaussianBlur(grey, (0, 0), 6.0), dtype=np.float32)


def eroded(mask: npt.NDArray[np.bool_], size: int = 7) -> npt.NDArray[np.bool_]:
    return cv2.erode(mask.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)


@pytest.mark.parametrize("turn_deg", [30.0, 180.0])
def test_a_turned_subject_shows_new_texture_not_a_repeat(rig: RigConfig, white: dict[UniverseKey, bytes],
                                                         turn_deg: float) -> None:
    """A repeating texture (a checker with a 180 deg period, 12 table sectors) shows the same picture after a
    period's turn, and feature matching pairs up points that are not the same."""
    for camera_id in ("cam00", "cam09"):
        camera = rig.camera(camera_id)
        home = expected_image(camera, rig, white, 0.0)
        turned = expected_image(camera, rig, white, turn_deg)
        for mask_of in (subject_mask, floor_mask):
            both = eroded(mask_of(camera, 0.0) & mask_of(camera, turn_deg))
            assert both.sum() > 5000
            correlation = np.corrcoef(highpass(home)[both], highpass(turned)[both])[0, 1]
            assert correlation < 0.3, (camera_id, mask_of.__name__, correlation)
        subject = eroded(subject_mask(camera, 0.0) & subject_mask(camera, turn_deg))
        assert np.abs(home.astype(int) - turned)[subject].mean() > 20


def test_features_matched_between_cameras_agree_with_the_true_geometry(rig: RigConfig,
                                                                       white: dict[UniverseKey, bytes]) -> None:
    """SIFT with Lowe's ratio test between neighbouring cameras: many matches, and few that contradict the
    epipolar geometry of the true cameras (a match more than 3 px off its epipolar line is a false match).

    Only features a few pixels inside the subject in both images count: one on the outline sees the backdrop
    and a different rim of the body from each camera, on any subject, textured or not.
    """
    sift = cv2.SIFT_create()
    features = {}
    for camera_id in ("cam00", "cam01", "cam04", "cam05", "cam08", "cam09", "cam03", "cam10"):
        camera = rig.camera(camera_id)
        grey = cv2.cvtColor(expected_image(camera, rig, white), cv2.COLOR_BGR2GRAY)
        keypoints, descriptors = sift.detectAndCompute(grey, None)
        pixels = np.array([k.pt for k in keypoints])
        u, v = np.rint(pixels).astype(int).T
        features[camera_id] = (pixels, descriptors, eroded(subject_mask(camera), 9)[v, u])
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-12)
    total = wrong = 0
    for first, second in (("cam00", "cam01"), ("cam04", "cam05"), ("cam08", "cam09"), ("cam00", "cam08"),
                          ("cam03", "cam10")):
        (pixels_a, descriptors_a, inside_a), (pixels_b, descriptors_b, inside_b) = features[first], features[second]
        pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(descriptors_a, descriptors_b, k=2)
        good = [m for m, n in pairs if m.distance < 0.75 * n.distance]
        a = np.array([m.queryIdx for m in good])
        b = np.array([m.trainIdx for m in good])
        keep = inside_a[a] & inside_b[b]
        a, b = a[keep], b[keep]
        truth_a, truth_b = camera_truth(rig.camera(first)), camera_truth(rig.camera(second))
        ideal = []
        for truth, pixels in ((truth_a, pixels_a[a]), (truth_b, pixels_b[b])):
            intr = truth.intrinsics
            normalised = cv2.undistortPoints(pixels.reshape(-1, 1, 2), intr.matrix(), intr.distortion(), None, None,
                                             None, criteria).reshape(-1, 2)
            ideal.append(np.hstack([normalised, np.ones((len(normalised), 1))]))
        rotation = truth_b.rotation @ truth_a.rotation.T
        tx, ty, tz = truth_b.translation - rotation @ truth_a.translation
        essential = np.array([[0.0, -tz, ty], [tz, 0.0, -tx], [-ty, tx, 0.0]]) @ rotation
        lines = ideal[0] @ essential.T  # epipolar lines in the second image
        off_px = (np.abs(np.einsum("ij,ij->i", ideal[1], lines)) / np.hypot(lines[:, 0], lines[:, 1])
                  * truth_b.intrinsics.fx)
        assert len(off_px) > 40, (first, second)
        total += len(off_px)
        wrong += int((off_px > 3.0).sum())
    assert total > 600
    assert wrong / total < 0.05


def test_the_turntable_top_is_textured_and_shows_where_zero_is(rig: RigConfig,
                                                              white: dict[UniverseKey, bytes]) -> None:
    camera = rig.camera("cam09")  # a high camera: it sees much of the table top
    image = expected_image(camera, rig, white)
    table = eroded(floor_mask(camera))
    assert table.sum() > 20000
    assert highpass(image)[table].std() > 10  # texture at every few pixels, not flat sectors
    keypoints = cv2.SIFT_create().detect(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), None)
    on_table = [k for k in keypoints if table[round(k.pt[1]), round(k.pt[0])]]
    assert len(on_table) > 150
    # A red mark at the table's 0 deg, near its rim, turning with it (seen beyond the subject's feet).
    for camera_id, turn_deg in (("cam04", 0.0), ("cam06", 90.0), ("cam13", 180.0)):
        camera = rig.camera(camera_id)
        image = expected_image(camera, rig, white, turn_deg).astype(int)
        angle = np.radians(turn_deg)
        u, v = np.rint(project(camera, [0.51 * np.cos(angle), 0.51 * np.sin(angle), 0.0])[0]).astype(int)
        assert floor_mask(camera, turn_deg)[v, u]
        blue, green, red = image[v, u]
        assert red > 2 * max(green, blue), (camera_id, image[v, u])


def test_the_body_texture_keeps_every_channel_in_a_range_every_light_can_show() -> None:
    rng = np.random.default_rng(4)
    points = rng.uniform([-0.15, -0.6, 0.0], [0.2, 0.6, 1.8], size=(200_000, 3))
    albedo = body_albedo(points)
    assert albedo.min() >= 0.15
    assert albedo.max() <= 0.80
    assert 0.35 < float(np.median(albedo)) < 0.5
    # Hue varies, not only brightness: the channels' ratios spread.
    chroma = albedo / albedo.mean(axis=1, keepdims=True)
    assert np.percentile(chroma, 95, axis=0).min() > 1.15
    assert np.percentile(chroma, 5, axis=0).max() < 0.85


def test_the_textures_are_the_same_in_every_process() -> None:
    """Seeded generators, not hash(): a sim camera rendering in a worker process shows the same subject."""
    points = [[0.1, 0.2, 1.3], [-0.05, -0.4, 0.7], [0.3, 0.0, 0.02]]
    script = ("import json, numpy as np\n"
              "from capturerig_sim._texture import body_albedo, table_albedo\n"
              f"p = np.array({points})\n"
              "print(json.dumps([body_albedo(p).tolist(), table_albedo(p[:, 0], p[:, 1]).tolist()]))\n")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60,
                          check=True)
    body, table = json.loads(done.stdout)
    here = np.array(points)
    assert np.array_equal(np.array(body, dtype=np.float32), body_albedo(here))
    assert np.array_equal(np.array(table, dtype=np.float32), table_albedo(here[:, 0], here[:, 1]))


def test_a_new_table_angle_is_traced_quickly(rig: RigConfig) -> None:
    clear_render_caches()
    truth = camera_truth(rig.camera("cam08"))
    scene_hits(truth, 0.0)  # the camera's ray grid is cached from here on
    start = time.perf_counter()
    for angle in (10.0, 20.0, 30.0):
        scene_hits(truth, angle)
    # A generous bound (shared CI machines); typically about 0.1 s per camera and angle on two cores.
    assert (time.perf_counter() - start) / 3 < 1.0
