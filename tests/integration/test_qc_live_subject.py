"""The per-image checks on a live subject: a person who sways (up to ~1 cm, ~1.5 deg) between takes and stands a
little elsewhere at each new pose. No check may fail a clean image for that, and a real fault is still caught.

The sim camera does not yet hand an exposure's take and time to the renderer, so the takes are rendered here
as the sim camera renders them (:func:`capturerig_sim._image_faults.faulty_image`, the live subject's pose per
trigger from :func:`capturerig_sim.render.live_subject_pose`) and checked in take order by the ``QcRunner`` that
``capturerig qc`` and the engine use, with the subject regions they use (the capture volume through the rig's
nominal geometry): "moved" measures the view outside it.
"""

from __future__ import annotations

import hashlib

import pytest
import yaml

import capturerig
from capturerig.lighting import frames_for_condition
from capturerig.plan import expand_plan
from capturerig.qc import CHECKS, CheckResult, QcFile, QcRunner, TakeQc, Verdict, session_views, subject_regions
from capturerig_sim import encode_jpeg
from capturerig_sim._image_faults import faulty_image
from capturerig_sim.render import STILL, live_subject_pose

CAMERAS = 5
TAKE_S = 2.0  # studio seconds between triggers
# (camera, take index) -> fault, each after the camera has a baseline in that light (index 9: p01/s00/l01/b1)
FAULTS = {("cam02", 10): "defocus", ("cam04", 9): "bumped"}
PLAN = """\
name: qc-live
consistency: pose
retries: 1
subject: {kind: person}
poses:
  - {id: p00, description: first hold}
  - {id: p01, description: second hold}
stations:
  - {id: s00, angle_deg: 0}
lighting:
  - {id: l00, levels: {"*": {intensity: 1.0, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
  - {id: l01, levels: {"*": {intensity: 0.5, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
  - {id: l02, levels: {fx0: {intensity: 1.0, white: 1.0}, fx1: {intensity: 1.0, white: 1.0},
                       fx7: {intensity: 1.0, white: 1.0}}}
brackets:
  - {id: b0, ev: 0}
  - {id: b1, ev: 0}
camera_groups: [ring-low]
settle: {lights_s: 0.0, turntable_s: 0.0}
"""
def _seed(camera_id: str, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"live-test:{camera_id}:{index}".encode()).digest()[:8], "little")


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[TakeQc, int]]:
    """Every take of a 2-pose plan on 5 cameras, the subject live, one defocused and one bumped image; checked in
    take order."""
    work = tmp_path_factory.mktemp("qc-live")
    document = capturerig.load_rig().config.model_dump(mode="json", exclude_defaults=True)
    document["cameras"] = [c for c in document["cameras"] if c.get("group") == "ring-low"][:CAMERAS]
    document["simulation"] = {**document.get("simulation", {}), "live_subject": {"seed": 7}}
    (work / "rig.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    (work / "plan.yaml").write_text(PLAN)
    rig = capturerig.load_rig(work / "rig.yaml")
    plan = capturerig.load_plan(work / "plan.yaml", rig)
    takes = expand_plan(rig.config, plan.config)
    assert len(takes) == 12
    assert len(takes[0].cameras) == CAMERAS
    runner = QcRunner([c.id for c in rig.config.cameras], plan.config.qc,
                      masks=subject_regions(*session_views(rig.config)))
    results = []
    poses = set()
    for index, take in enumerate(takes):
        pose = live_subject_pose(rig.config, take.id, index * TAKE_S)
        poses.add(pose)
        frames = frames_for_condition(rig.config, take.lighting, rig.path.parent)
        files = []
        for camera_id in take.cameras:
            fault = FAULTS.get((camera_id, index))
            faults = frozenset({fault}) if fault else frozenset()
            image = faulty_image(rig.config.camera(camera_id), rig.config, frames, take.station.angle_deg, {},
                                 rig.path.parent, _seed(camera_id, index), faults, subject_pose=pose)
            path = work / camera_id / f"{take.id.replace('/', '_')}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode_jpeg(image))
            files.append(QcFile(path, camera_id))
        results.append((runner.check_take(take.id, take.lighting.state_id, files, station=take.station.id), index))
    assert STILL not in poses  # the subject really moved at every trigger
    assert len(poses) == len(takes)
    return results


@pytest.mark.parametrize("check", CHECKS)
def test_a_swaying_subject_fails_no_check_on_clean_images(checked: list[tuple[TakeQc, int]], check: str) -> None:
    failed = [(take.take_id, f.camera_id, c.reason, c.figures) for take, index in checked for f in take.files
              if (f.camera_id, index) not in FAULTS
              for c in f.checks if c.check == check and c.verdict is Verdict.FAIL]
    assert not failed, f"{len(failed)} clean images failed '{check}', e.g. {failed[:3]}"


def _check(checked: list[tuple[TakeQc, int]], kind: str, check: str) -> tuple[str, CheckResult]:
    (camera_id, at), = [key for key, fault in FAULTS.items() if fault == kind]
    take = next(take for take, index in checked if index == at)
    faulty = next(f for f in take.files if f.camera_id == camera_id)
    return camera_id, next(c for c in faulty.checks if c.check == check)


def test_a_defocused_camera_is_still_caught_on_a_swaying_subject(checked: list[tuple[TakeQc, int]]) -> None:
    camera_id, sharpness = _check(checked, "defocus", "sharpness")
    assert sharpness.verdict is Verdict.FAIL, sharpness
    assert "softer" in sharpness.reason
    assert camera_id in sharpness.reason


def test_a_bumped_camera_is_still_caught_on_a_swaying_subject(checked: list[tuple[TakeQc, int]]) -> None:
    camera_id, moved = _check(checked, "bumped", "moved")
    assert moved.verdict is Verdict.FAIL, moved
    assert f"{camera_id}'s view moved" in moved.reason
    assert "bumped" in moved.reason
    # Measured outside the capture volume (what stands still), against the same lighting state (l01).
    assert 0.15 <= moved.figures["outside"] < 0.5
    assert "_l01_" in moved.figures["against"]


def test_moved_measures_outside_the_subject_region_on_every_clean_image(
        checked: list[tuple[TakeQc, int]]) -> None:
    compared = [c.figures for take, index in checked for f in take.files if (f.camera_id, index) not in FAULTS
                for c in f.checks if c.check == "moved" and "shift_px" in c.figures]
    assert len(compared) >= 30  # every image after each camera's first in a light had something to compare
    assert all(0.15 <= figures["outside"] < 0.5 for figures in compared)
