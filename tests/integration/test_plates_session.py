"""Clean plates in a simulated session: the technician is asked to clear the rig, the plate takes are shot and
journalled like any take, and their images show the empty rig (the simulator's clean plate, within noise) while
the subject's takes show the subject; the per-image checks pass both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import capturerig
from capturerig.config import Pose
from capturerig.engine import FileRecord, PoseStarted, RunState, TakeChecked, TakeVerified
from capturerig.subjects import DEMO_PURPOSE, enrol_demo_subject
from capturerig_sim import get_studio, reset_studios
from capturerig_sim.render import clean_plate, subject_mask

PLAN = """\
name: plates-test
consistency: take
retries: 1
plates: {plates}
subject: {{kind: object}}
poses:
  - {{id: p00, description: first hold}}
stations:
  - {{id: s00, angle_deg: 0}}
lighting:
  - {{id: l00, levels: {{"*": {{intensity: 1.0, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}}}}
  - {{id: l01, levels: {{"*": {{intensity: 0.5, red: 1.0, green: 0.6, blue: 0.3, white: 0.5}}}}}}
brackets:
  - {{id: b0, ev: 0}}
camera_groups: [ring-low]
settle: {{lights_s: 0.0, turntable_s: 0.0}}
"""


@pytest.fixture(autouse=True)
def _fresh_studios() -> Iterator[None]:
    reset_studios()
    yield
    reset_studios()


def shoot(tmp_path: Path, plates: str, trigger_box: bool = True, stale: tuple[str, int] | None = None,
          ) -> tuple[capturerig.Session, list[FileRecord], list[Pose], list[object]]:
    """4 cameras, 2 lighting states, one pose and the plates; the operator confirms every pose it is asked.
    Without the trigger box the cameras are fired by software; ``stale``: (camera, take index) that hands over
    its previous files again instead of exposing."""
    base = capturerig.load_rig()
    document = base.config.model_dump(mode="json", exclude_defaults=True)
    document["cameras"] = document["cameras"][:4]
    if not trigger_box:
        del document["trigger"]
    (tmp_path / "rig.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    (tmp_path / "plan.yaml").write_text(PLAN.format(plates=plates))
    rig = capturerig.load_rig(tmp_path / "rig.yaml")
    plan = capturerig.load_plan(tmp_path / "plan.yaml", rig)
    studio = get_studio("default", rig.config, rig.path.parent)
    studio.time_scale = 0.0
    if stale is not None:  # each exposure is one opportunity; a stale file counts from the second
        studio.faults.schedule(stale[0], "stale_file", stale[1] - 1)
    registry = enrol_demo_subject(tmp_path / "subjects.sqlite", "plates").registry_path
    session = capturerig.Session.create(rig, plan, subject="plates", out=tmp_path / "session", purpose=DEMO_PURPOSE,
                                        registry=registry)
    asked: list[Pose] = []
    events: list[object] = []
    session.subscribe(events.append)

    def confirm(pose: Pose) -> bool:
        asked.append(pose)
        return True

    try:
        result = session.run(confirm)
        files = session.folder.journal.verified_files()
    finally:
        session.close()
    assert result.state == RunState.DONE, result.error
    assert result.takes_verified == 4
    return session, files, asked, events


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) if image.ndim == 3 else image.astype(np.float32)


Images = dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]]


def images(session: capturerig.Session, files: list[FileRecord]) -> Images:
    """Per (take, camera): the stored image, the simulator's clean plate of that exposure, the subject's mask."""
    studio = get_studio("default", session.folder.rig.config, session.folder.rig.path.parent)
    rig = session.folder.rig.config
    exposures = {(r.take_id, r.camera_id): r for r in studio.exposure_log() if r.take_id is not None}
    found = {}
    for record in files:
        assert record.take_id is not None
        assert record.camera_id is not None
        exposure = exposures[(record.take_id, record.camera_id)]
        camera = rig.camera(record.camera_id)
        stored = cv2.imread(str(session.path / record.path), cv2.IMREAD_COLOR)
        assert stored is not None, record.path
        plate = clean_plate(camera, rig, exposure.frames, exposure.turntable_deg, exposure.settings,
                            session.folder.rig.path.parent)
        mask = subject_mask(camera, exposure.turntable_deg, rig)
        found[(record.take_id, record.camera_id)] = (stored, plate, mask)
    return found


def test_plates_after_the_subject_show_the_empty_rig_and_pass_their_checks(tmp_path: Path) -> None:
    session, files, asked, events = shoot(tmp_path, "after")
    assert [pose.id for pose in asked] == ["p00", "plate"]  # the technician confirms each, the plates last
    assert "clear the rig" in asked[1].description
    assert [e.pose_id for e in events if isinstance(e, PoseStarted)] == ["p00", "plate"]
    verified = [e.take_id for e in events if isinstance(e, TakeVerified)]
    assert verified == ["p00/s00/l00/b0", "p00/s00/l01/b0", "plate/s00/l00/b0", "plate/s00/l01/b0"]
    names = {Path(r.path).name for r in files if r.take_id and r.take_id.startswith("plate/")}
    assert names == {f"cam{i:02d}_plate_s00_{light}.jpg" for i in range(4) for light in ("l00", "l01")}
    checked = {e.take_id: e for e in events if isinstance(e, TakeChecked)}
    assert {take: e.verdict for take, e in checked.items()} == dict.fromkeys(verified, "ok"), \
        {take: [f["reasons"] for f in e.files] for take, e in checked.items()}
    for (take_id, camera_id), (stored, plate, mask) in images(session, files).items():
        assert mask.any(), camera_id  # every camera sees the subject's place
        difference = np.abs(_gray(stored) - _gray(plate))
        if take_id.startswith("plate/"):  # the empty rig: the simulator's clean plate up to noise and JPEG
            assert float(difference.mean()) < 1.5, (take_id, camera_id, float(difference.mean()))  # 0.3-0.6
            assert float(difference[mask].mean()) < 2.0, (take_id, camera_id)
        else:  # the subject stands there
            assert float(difference[mask].mean()) > 30.0, (take_id, camera_id, float(difference[mask].mean()))


@pytest.mark.parametrize("trigger_box", [True, False], ids=["trigger-box", "software-fire"])
def test_plates_before_the_subject_the_subject_steps_in_only_after_them(tmp_path: Path, trigger_box: bool) -> None:
    session, files, asked, events = shoot(tmp_path, "before", trigger_box)
    assert [pose.id for pose in asked] == ["plate", "p00"]
    assert [e.pose_id for e in events if isinstance(e, PoseStarted)] == ["plate", "p00"]
    studio = get_studio("default", session.folder.rig.config, session.folder.rig.path.parent)
    shown = [(r.take_id.split("/")[0], r.subject_present) for r in studio.exposure_log() if r.take_id]
    assert shown == [("plate", False)] * 8 + [("p00", True)] * 8  # 4 cameras x 2 states, plates first
    for (take_id, camera_id), (stored, plate, mask) in images(session, files).items():
        inside = float(np.abs(_gray(stored) - _gray(plate))[mask].mean())
        assert (inside < 2.0) if take_id.startswith("plate/") else (inside > 30.0), (take_id, camera_id, inside)


def test_a_camera_that_hands_over_its_last_subject_image_as_a_plate_is_caught(tmp_path: Path) -> None:
    _, _, _, events = shoot(tmp_path, "after", stale=("cam02", 2))  # its first plate: p00's l01 image again
    checked = {e.take_id: e for e in events if isinstance(e, TakeChecked)}
    plate = checked["plate/s00/l00/b0"]
    assert plate.verdict == "fail"
    failed = {f["camera"]: f for f in plate.files if f["verdict"] != "ok"}
    assert list(failed) == ["cam02"], failed
    assert any("handed over the same file again" in reason for reason in failed["cam02"]["reasons"])
    assert {take: e.verdict for take, e in checked.items() if take != "plate/s00/l00/b0"} == dict.fromkeys(
        ["p00/s00/l00/b0", "p00/s00/l01/b0", "plate/s00/l01/b0"], "ok")
