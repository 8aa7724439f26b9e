"""Planar props in the virtual studio, the cameras' hidden ground truth, and the simulated board operator."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from capturerig.calibration import BoardSpec, detect_board, load_board
from capturerig.config import CameraConfig, LightingCondition, RigConfig, default_rig_path, load_rig
from capturerig.lighting import UniverseKey, frames_for_condition
from capturerig_sim import PlanarProp, VirtualStudio, camera_truth, expected_image, render_image, subject_mask
from capturerig_sim.calib_operator import CalibrationOperator, board_in_view, board_prop, plan_board_poses
from capturerig_sim.render import Light, render_linear


@pytest.fixture(scope="module")
def rig() -> RigConfig:
    return load_rig(default_rig_path()).config


@pytest.fixture(scope="module")
def board() -> BoardSpec:
    return load_board("studio-charuco")


def white(rig: RigConfig, intensity: float = 0.3) -> dict[UniverseKey, bytes]:
    condition = LightingCondition.model_validate(
        {"id": "w", "levels": {"*": {"intensity": intensity, "red": 1.0, "green": 1.0, "blue": 1.0, "white": 1.0}}})
    return frames_for_condition(rig, condition)


def facing(camera: CameraConfig, rig: RigConfig, distance: float, tilt_deg: float,
           board: BoardSpec) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A board pose ``distance`` in front of the true camera, centred on its axis, turned ``tilt_deg``."""
    truth = camera_truth(camera, rig)
    tilt, _ = cv2.Rodrigues(np.array([0.3, 1.0, 0.0]) / np.hypot(0.3, 1.0) * np.radians(tilt_deg))
    roll, _ = cv2.Rodrigues(np.array([0.0, 0.0, np.pi / 2]))  # the long side along the portrait image
    in_camera = tilt @ roll
    width, height = board.size_m
    offset = np.array([0.0, 0.0, distance]) - in_camera @ np.array([width / 2, height / 2, 0.0])
    return truth.rotation.T @ in_camera, truth.rotation.T @ (offset - truth.translation)


def test_a_rendered_board_shows_its_corners_where_the_true_camera_projects_them(
        rig: RigConfig, board: BoardSpec) -> None:
    camera = rig.camera("cam03")
    truth = camera_truth(camera, rig)
    rotation, translation = facing(camera, rig, 1.3, 25.0, board)
    prop = board_prop(board).moved_to(rotation, translation)
    image = render_image(camera, rig, white(rig), props=[prop], subject_present=False, noise_seed=3, room_light=0.4)
    found = detect_board(image, board)
    assert found is not None
    assert len(found) == board.corner_count
    rvec, _ = cv2.Rodrigues(truth.rotation @ rotation)
    tvec = truth.rotation @ translation + truth.translation
    projected, _ = cv2.projectPoints(found.object_points, rvec, tvec, truth.intrinsics.matrix(),
                                     truth.intrinsics.distortion())
    error = np.linalg.norm(projected.reshape(-1, 2) - found.corners, axis=1)
    assert error.mean() < 0.1
    assert error.max() < 0.35
    # The rig file's nominal camera is a few pixels off: the render follows the truth, not the file.
    nominal = camera_truth(camera)
    rvec_nominal, _ = cv2.Rodrigues(nominal.rotation @ rotation)
    shifted, _ = cv2.projectPoints(found.object_points, rvec_nominal, nominal.rotation @ translation
                                   + nominal.translation, camera.intrinsics.matrix(), camera.intrinsics.distortion())
    assert np.linalg.norm(shifted.reshape(-1, 2) - found.corners, axis=1).mean() > 1.0


def test_the_subject_hides_a_board_behind_it_and_a_board_in_front_hides_the_subject(rig: RigConfig) -> None:
    camera = rig.camera("cam00")  # on the +x axis, 2.2 m out, looking at (0, 0, 1)
    plain = rig.model_copy(update={"simulation": {}})
    truth = camera_truth(camera, plain)
    red = np.zeros((4, 4, 3), np.float32)
    red[..., 0] = 0.8
    # A 0.4 m red square at the subject's height facing the camera: once behind the subject, once in front.
    rotation = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]]).T  # columns: x->+y, y->-z, z->-x
    behind = PlanarProp("red", red, 0.4, 0.4, rotation, np.array([-0.5, -0.2, 1.2]))
    in_front = PlanarProp("red", red, 0.4, 0.4, rotation, np.array([0.8, -0.2, 1.2]))
    lamp = (Light("lamp", (2.0, 0.0, 1.0), (1.0, 1.0, 1.0)),)
    mask = subject_mask(camera, 0.0, plain)
    centre_v, centre_u = np.argwhere(mask).mean(axis=0).astype(int)
    without = render_linear(truth, lamp, 0.0)[centre_v, centre_u]
    hidden = render_linear(truth, lamp, 0.0, props=[behind])[centre_v, centre_u]
    shown = render_linear(truth, lamp, 0.0, props=[in_front])[centre_v, centre_u]
    assert np.array_equal(hidden, without)
    assert shown[0] > 5 * max(shown[1], shown[2])
    # Seen from behind, the board is its plain grey back.
    turned_away = PlanarProp("red", red, 0.4, 0.4, rotation @ np.diag([1.0, -1.0, -1.0]), np.array([0.8, -0.2, 0.8]))
    back = render_linear(truth, lamp, 0.0, props=[turned_away])[centre_v, centre_u]
    assert back[0] == pytest.approx(back[1], rel=0.01)
    assert back[0] > without[0] / 10
    # Without a subject the square behind is visible.
    seen = render_linear(truth, lamp, 0.0, props=[behind], subject_present=False)[centre_v, centre_u]
    assert seen[0] > 3 * max(seen[1], seen[2])


def test_a_prop_out_of_view_changes_no_pixel(rig: RigConfig, board: BoardSpec) -> None:
    camera = rig.camera("cam00")
    away = board_prop(board).moved_to(np.eye(3), np.array([5.0, 0.0, 1.0]))  # behind the camera's back (+x)
    assert np.array_equal(expected_image(camera, rig, white(rig)),
                          expected_image(camera, rig, white(rig), props=[away]))


def test_cameras_really_differ_from_the_rig_file_by_seeded_realistic_amounts(rig: RigConfig) -> None:
    assert rig.simulation["truth"]["seed"] == 1
    focal, centre_mm, rotation_deg, principal = [], [], [], []
    for camera in rig.cameras:
        truth, nominal = camera_truth(camera, rig), camera_truth(camera)
        again = camera_truth(camera, rig)
        assert np.array_equal(truth.rotation, again.rotation)
        assert truth.intrinsics == again.intrinsics
        focal.append(truth.intrinsics.fx / camera.intrinsics.fx - 1.0)
        assert truth.intrinsics.fy / truth.intrinsics.fx == pytest.approx(camera.intrinsics.fy / camera.intrinsics.fx)
        principal.append(np.hypot(truth.intrinsics.cx - camera.intrinsics.cx,
                                  truth.intrinsics.cy - camera.intrinsics.cy))
        centre_mm.append(1000 * np.linalg.norm(truth.centre - nominal.centre))
        angle, _ = cv2.Rodrigues(truth.rotation @ nominal.rotation.T)
        rotation_deg.append(np.degrees(np.linalg.norm(angle)))
    assert 0.003 < np.std(focal) < 0.03  # about 1 %
    assert 0.5 < np.median(principal) < 10  # a few pixels
    assert 0.1 < np.median(rotation_deg) < 0.8  # about 0.3 deg
    assert 1.0 < np.median(centre_mm) < 12  # about 5 mm
    # And the images follow the truth: the subject's outline moves by several pixels.
    camera = rig.camera("cam05")
    moved = subject_mask(camera, 0.0, rig) ^ subject_mask(camera)
    assert moved.sum() > 300


def test_a_malformed_truth_section_is_refused_naming_the_key(rig: RigConfig) -> None:
    bad = rig.model_copy(update={"simulation": {"truth": {"seed": 1, "focal": 1.0}}})
    with pytest.raises(ValueError, match=r"simulation.truth: unknown key 'focal'"):
        camera_truth(rig.cameras[0], bad)
    negative = rig.model_copy(update={"simulation": {"truth": {"centre_mm": -1}}})
    with pytest.raises(ValueError, match=r"simulation.truth.centre_mm: must be a number >= 0"):
        camera_truth(rig.cameras[0], negative)


def test_each_exposure_keeps_the_props_of_its_instant(studio: VirtualStudio, board: BoardSpec) -> None:
    first = board_prop(board)
    studio.set_props([first])
    studio.subject_present = False
    studio.arm("cam00", {}, 0)
    studio.fire(["cam00"])
    studio.set_props([])
    studio.subject_present = True
    record = studio.exposure_log()[-1]
    assert record.props == (first,)
    assert record.subject_present is False
    assert studio.props == ()
    with pytest.raises(TypeError, match="must be a PlanarProp"):
        studio.set_props(["board"])  # type: ignore[list-item]


def test_the_operator_moves_the_board_once_per_take_whatever_the_trigger(studio: VirtualStudio, rig: RigConfig,
                                                                        board: BoardSpec) -> None:
    operator = CalibrationOperator(rig, board, frames=6, seed=2)
    studio.set_operator(operator)
    positions = []
    for _ in range(2):  # a trigger box fires every camera at once
        for camera_id in ("cam00", "cam01"):
            studio.arm(camera_id, {}, 0)
        studio.fire(["cam00", "cam01"])
        positions.append(operator.position)
    for _ in range(2):  # software triggers fire the cameras one after the other
        for camera_id in ("cam00", "cam01"):
            studio.arm(camera_id, {}, 0)
            studio.fire([camera_id])
        positions.append(operator.position)
    assert positions == [0, 1, 2, 3]
    log = studio.exposure_log()
    assert log[-1].props[0] is not log[-3].props[0]
    assert np.allclose(log[-1].props[0].rotation, operator.poses[3].rotation)


def test_the_operator_sweeps_for_many_cameras_and_fills_each_camera_close_up(rig: RigConfig, board: BoardSpec) -> None:
    poses = plan_board_poses(rig, board, frames=40, seed=0)
    truths = {camera.id: camera_truth(camera, rig) for camera in rig.cameras}
    sweeps = [pose for pose in poses if pose.kind == "sweep"]
    close = [pose for pose in poses if pose.kind == "close-up"]
    assert len(close) == 16
    assert {pose.camera for pose in close} == set(truths)
    viewers = [sum(board_in_view(board, pose, truth) for truth in truths.values()) for pose in sweeps]
    assert np.mean(viewers) >= 4
    assert min(viewers) >= 2
    for pose in close:  # the whole board in view, filling half the image or more, tilted
        truth = truths[str(pose.camera)]
        assert board_in_view(board, pose, truth)
        width, height = board.size_m
        outline = np.array([[0, 0, 0], [width, 0, 0], [width, height, 0], [0, height, 0]], dtype=np.float64)
        in_camera = (outline @ pose.rotation.T + pose.translation) @ truth.rotation.T + truth.translation
        pixels, _ = cv2.projectPoints(in_camera, np.zeros(3), np.zeros(3), truth.intrinsics.matrix(),
                                      truth.intrinsics.distortion())
        assert cv2.contourArea(pixels.astype(np.float32)) > 0.5 * truth.intrinsics.width * truth.intrinsics.height
        view = (truth.rotation @ pose.rotation)[:, 2]
        assert 10 < np.degrees(np.arccos(abs(view[2]))) < 40
    halves = [poses[:20], poses[20:]]
    assert all(any(p.kind == "close-up" for p in half) and any(p.kind == "sweep" for p in half) for half in halves)


def test_a_rig_can_set_the_stage_for_calibration(rig: RigConfig, fast_sim: None) -> None:
    from capturerig_sim import get_studio

    calibration = rig.model_copy(update={"simulation": {**rig.simulation, "stage": "calibration",
                                                        "operator": {"board": "studio-charuco", "frames": 5}}})
    studio = get_studio("calibration-stage", calibration, default_rig_path().parent)
    assert studio.subject_present is False
    assert studio.room_light > 0
    assert isinstance(studio.operator, CalibrationOperator)
    assert len(studio.operator.poses) == 5
    unknown = rig.model_copy(update={"simulation": {"stage": "party"}})
    with pytest.raises(ValueError, match="simulation stage 'party' is unknown"):
        get_studio("party-stage", unknown, default_rig_path().parent)
