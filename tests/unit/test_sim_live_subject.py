"""The simulator's live subject: off by default (the still mannequin keeps its pixels), seeded, smooth in time,
bounded as configured, a larger change at a new pose, and the true alpha follows the pose it was rendered in."""

from __future__ import annotations

import math

import numpy as np
import pytest

import capturerig
from capturerig.config import RigConfig
from capturerig.lighting import UniverseKey, frames_for_condition
from capturerig_sim.render import (
    STILL,
    SUBJECT_CENTRE,
    SubjectPose,
    camera_truth,
    live_subject_pose,
    render_image,
    subject_mask,
)


def _rig(live: object = None) -> RigConfig:
    rig = capturerig.load_rig().config
    if live is None:
        return rig
    return rig.model_copy(update={"simulation": {**rig.simulation, "live_subject": live}})


def _white(rig: RigConfig) -> dict[UniverseKey, bytes]:
    plan = capturerig.load_plan(None, capturerig.load_rig()).config
    return frames_for_condition(rig, plan.lighting[0])


def test_a_rig_without_a_live_subject_keeps_it_still_and_its_pixels() -> None:
    rig = _rig()
    assert live_subject_pose(rig, "p00/s00/l00/b0", 12.5) is STILL
    camera = rig.cameras[0]
    frames = _white(rig)
    assert np.array_equal(render_image(camera, rig, frames, 0.0, noise_seed=3),
                          render_image(camera, rig, frames, 0.0, noise_seed=3, subject_pose=STILL))


def test_the_sway_is_seeded_bounded_and_smooth_and_a_new_pose_moves_it_more() -> None:
    rig = _rig({"seed": 3, "sway_mm": 10, "sway_deg": 1.5, "pose_mm": 30, "pose_deg": 5})
    poses = [live_subject_pose(rig, "p00/s00/l00/b0", t * 0.5) for t in range(400)]
    assert poses[7] == live_subject_pose(rig, "p00/s01/l02/b0", 3.5)  # the take's pose and the time, only
    # Within a pose the body stays within sway_mm (and sway_deg) of its place for that pose.
    dx = np.array([p.dx_m for p in poses])
    dy = np.array([p.dy_m for p in poses])
    yaw = np.array([p.yaw_deg for p in poses])
    centre = np.array([dx.mean(), dy.mean()])
    assert np.hypot(dx - centre[0], dy - centre[1]).max() <= 0.010 + 1e-9
    assert np.ptp(dx) > 0.004  # it really sways (several mm, a degree and more)
    assert np.ptp(yaw) > 1.0
    assert np.ptp(yaw) <= 2 * 1.5 + 1e-9
    # Smooth: half a second apart it moves a few millimetres, never jumps.
    assert np.hypot(np.diff(dx), np.diff(dy)).max() < 0.005  # a person sways about a centimetre a second
    # Every pose has its own place, further apart than the sway, within pose_mm of the turntable's centre.
    places = [live_subject_pose(rig, f"p{k:02d}/s00/l00/b0", 0.0) for k in range(20)]
    spread = max(math.hypot(a.dx_m - b.dx_m, a.dy_m - b.dy_m) for a in places for b in places)
    assert spread > 0.02
    assert all(math.hypot(p.dx_m, p.dy_m) <= 0.040 + 1e-9 for p in places)
    assert live_subject_pose(_rig({"seed": 4}), "p00/s00/l00/b0", 0.0) != live_subject_pose(rig, "p00/s00/l00/b0",
                                                                                            0.0)


@pytest.mark.parametrize(("live", "named"), [("yes", "live_subject: must be a mapping"),
                                             ({"sway_cm": 1}, "unknown key 'sway_cm'"),
                                             ({"sway_mm": -1}, "live_subject.sway_mm: must be a number >= 0")])
def test_a_malformed_live_subject_is_refused_naming_the_key(live: object, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        live_subject_pose(_rig(live), "p00/s00/l00/b0", 0.0)


def _project(rig: RigConfig, camera_index: int, point: np.ndarray) -> np.ndarray:
    truth = camera_truth(rig.cameras[camera_index], rig)
    x = truth.rotation @ point + truth.translation
    intr = truth.intrinsics
    return np.array([intr.fx * x[0] / x[2] + intr.cx, intr.fy * x[1] / x[2] + intr.cy])


def test_the_true_alpha_follows_the_pose_the_image_was_rendered_in() -> None:
    rig = _rig({})
    camera = rig.cameras[0]
    # 5 cm to the subject's left, sideways for cam00 (the subject faces it at table angle 0); at 90 deg the same
    # shift in the table frame is world -x, which the camera sees turned: the offset turns with the table.
    pose = SubjectPose(dx_m=0.0, dy_m=0.05, yaw_deg=0.0)
    still, moved = subject_mask(camera, 0.0, rig), subject_mask(camera, 0.0, rig, pose)
    centre = np.array(SUBJECT_CENTRE)
    expected = _project(rig, 0, centre + np.array([0.0, 0.05, 0.0])) - _project(rig, 0, centre)
    rows, cols = np.nonzero(still)
    rows2, cols2 = np.nonzero(moved)
    measured = np.array([cols2.mean() - cols.mean(), rows2.mean() - rows.mean()])
    assert np.linalg.norm(expected) > 5.0
    assert np.linalg.norm(measured - expected) < 0.25 * np.linalg.norm(expected), (measured, expected)
    # And the rendered image shows the subject exactly there: the pixels that changed against the still render
    # are where either mask is (the table top and the backdrop stay as they were).
    frames = _white(rig)
    a = render_image(camera, rig, frames, 0.0).astype(int)
    b = render_image(camera, rig, frames, 0.0, subject_pose=pose).astype(int)
    changed = np.abs(a - b).max(axis=2) > 0
    assert not (changed & ~(still | moved)).any()
    assert changed[still ^ moved].mean() > 0.95
