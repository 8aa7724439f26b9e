"""The per-image checks on a live subject: a person who sways (up to ~1 cm, ~1.5 deg) between takes and stands a
little elsewhere at each new pose. No check may fail a clean image for that, and a real fault is still caught.

The sim camera does not yet hand an exposure's take and time to the renderer, so the takes are rendered here
as the sim camera renders them (:func:`capturerig_sim._image_faults.faulty_image`, the live subject's pose per
trigger from :func:`capturerig_sim.render.live_subject_pose`) and checked in take order by the ``QcRunner`` that
``capturerig qc`` and the engine use.
"""

from __future__ import annotations

import hashlib

import pytest
import yaml

import capturerig
from capturerig.lighting import frames_for_condition
from capturerig.plan import expand_plan
from capturerig.qc import CHECKS, QcFile, QcRunner, TakeQc, Verdict
from capturerig_sim import encode_jpeg
from capturerig_sim._image_faults import faulty_image
from capturerig_sim.render import STILL, live_subject_pose

CAMERAS = 5
TAKE_S = 2.0  # studio seconds between triggers
FAULT = ("cam02", "defocus", 10)  # camera, kind, take index (after each camera has a baseline in each light)
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
# The check a swaying subject still makes false-alarm (bench/qc.py --live): "moved" compares a camera's edges
# with its own earlier image, subject included. Measured outside the subject it is quiet, but a capture knows
# no subject region yet (the capture volume through the geometry, or masks from plates shot before).
NEEDS_LEAD_FIX = {
    "moved": "phase correlation over the whole frame's edges follows the swaying subject (1 cm is 2-3 px): "
             "bench/qc.py --live: 1245 of 1600 clean images flagged (78 %, 828 failed)",
}


def _seed(camera_id: str, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"live-test:{camera_id}:{index}".encode()).digest()[:8], "little")


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[TakeQc, int]]:
    """Every take of a 2-pose plan on 5 cameras, the subject live, one defocused image; checked in take order."""
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
    runner = QcRunner([c.id for c in rig.config.cameras], plan.config.qc)
    results = []
    poses = set()
    for index, take in enumerate(takes):
        pose = live_subject_pose(rig.config, take.id, index * TAKE_S)
        poses.add(pose)
        frames = frames_for_condition(rig.config, take.lighting, rig.path.parent)
        files = []
        for camera_id in take.cameras:
            faults = frozenset({FAULT[1]}) if (camera_id, index) == (FAULT[0], FAULT[2]) else frozenset()
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


@pytest.mark.parametrize("check", [
    pytest.param(check, marks=pytest.mark.xfail(strict=True, reason=NEEDS_LEAD_FIX[check]))
    if check in NEEDS_LEAD_FIX else check for check in CHECKS])
def test_a_swaying_subject_fails_no_check_on_clean_images(checked: list[tuple[TakeQc, int]], check: str) -> None:
    failed = [(take.take_id, f.camera_id, c.reason, c.figures) for take, index in checked for f in take.files
              if (f.camera_id, index) != (FAULT[0], FAULT[2])
              for c in f.checks if c.check == check and c.verdict is Verdict.FAIL]
    assert not failed, f"{len(failed)} clean images failed '{check}', e.g. {failed[:3]}"


def test_a_defocused_camera_is_still_caught_on_a_swaying_subject(checked: list[tuple[TakeQc, int]]) -> None:
    take, _ = next((take, index) for take, index in checked if index == FAULT[2])
    faulty = next(f for f in take.files if f.camera_id == FAULT[0])
    sharpness = next(c for c in faulty.checks if c.check == "sharpness")
    assert sharpness.verdict is Verdict.FAIL, sharpness
    assert "softer" in sharpness.reason
    assert FAULT[0] in sharpness.reason
