"""A real simulated session whose plan shoots clean plates (`plates: after`), packaged with masks by the command a
technician runs: `capturerig package --geometry --masks on --rgba`, then `capturerig verify`.

The engine shoots the subject and then the empty rig (pose ``plate``); the package keeps the plates as originals
and gives every training image a mask, mended by the visual hull of the geometry calibration (the simulator's true
cameras). The masks are the subject (IoU against the simulator's true alpha), a point on the subject lands inside
its mask through transforms.json, and the command says where the masks are.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import capturerig
from capturerig.cli import app
from capturerig.config import PLATE_POSE_ID
from capturerig.engine import RunState
from capturerig.subjects import DEMO_PURPOSE, enrol_demo_subject
from capturerig_sim import get_studio, reset_studios
from capturerig_sim.render import subject_alpha
from tests.integration.test_package_masks import LOOK, ON_SUBJECT, _nerfstudio_project, truth_geometry

runner = CliRunner()
PLAN = """\
name: masks-session
consistency: take
retries: 1
plates: after
poses:
  - {id: p00, description: "A-pose, arms 30 degrees from the body"}
stations:
  - {id: s00, angle_deg: 0}
lighting:
  - {id: l00, levels: {"*": {intensity: 1.0, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
  - {id: l01, levels: {"*": {intensity: 0.5, red: 1.0, green: 0.6, blue: 0.3, white: 0.5}}}
brackets:
  - {id: b0, ev: 0}
camera_groups: [ring-low]
settle: {lights_s: 0.0, turntable_s: 0.0}
"""


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The session (the lower ring, two lighting states, the plates after the subject) and its geometry file."""
    root = tmp_path_factory.mktemp("masks-real-session")
    reset_studios()
    base = capturerig.load_rig()
    document = base.config.model_dump(mode="json", exclude_defaults=True)
    document["simulation"] = {**document.get("simulation", {}), "look": LOOK}  # floor shadows and spill
    (root / "rig.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    (root / "plan.yaml").write_text(PLAN)
    rig = capturerig.load_rig(root / "rig.yaml")
    plan = capturerig.load_plan(root / "plan.yaml", rig)
    get_studio("default", rig.config, rig.path.parent).time_scale = 0.0
    registry = enrol_demo_subject(root / "subjects.sqlite", "masks").registry_path
    session = capturerig.Session.create(rig, plan, subject="masks", out=root / "session", purpose=DEMO_PURPOSE,
                                        registry=registry)
    try:
        result = session.run(lambda pose: True)
    finally:
        session.close()
        reset_studios()
    assert result.state == RunState.DONE, result.error
    return root / "session", truth_geometry(rig.config, root / "geometry.json")


def test_the_package_command_makes_masks_from_the_sessions_plates_and_verify_passes(
    shot: tuple[Path, Path], tmp_path: Path,
) -> None:
    session, geometry = shot
    out = tmp_path / "package"
    result = runner.invoke(app, ["package", str(session), "--out", str(out), "--geometry", str(geometry),
                                 "--masks", "on", "--rgba"])
    assert result.exit_code == 0, result.output
    assert "masks:         from the clean plates (data/plates/); 2 of 2 exposures mended by the visual hull" in \
        result.output
    verified = runner.invoke(app, ["verify", str(out)])
    assert verified.exit_code == 0, verified.output
    data = out / "data"
    document = json.loads((data / "package.json").read_text())
    rig = capturerig.load_rig(session / "rig.yaml").config
    cameras = [camera.id for camera in rig.cameras if camera.group == "ring-low"]
    assert sorted(p["name"] for p in document["plates"]) == sorted(
        f"{camera}_{PLATE_POSE_ID}_s00_{light}.jpg" for camera in cameras for light in ("l00", "l01"))
    assert sorted(document["snapshots"]) == ["p00_l00", "p00_l01"]
    for snapshot in ("p00_l00", "p00_l01"):
        transforms = json.loads((data / "snapshots" / snapshot / "transforms.json").read_text())
        assert len(transforms["frames"]) == len(cameras)
        for entry in transforms["frames"]:
            mask = cv2.imread(str(data / "snapshots" / snapshot / entry["mask_path"]), cv2.IMREAD_UNCHANGED)
            truth = subject_alpha(rig.camera(entry["camera_id"]), 0.0, rig) > 0.5
            iou = ((mask > 127) & truth).sum() / ((mask > 127) | truth).sum()
            assert iou > 0.95, (snapshot, entry["camera_id"], iou)
            for u, v in _nerfstudio_project(transforms, entry, ON_SUBJECT):
                assert mask[int(np.floor(v)), int(np.floor(u))] == 255, (snapshot, entry["camera_id"], u, v)
    refused = runner.invoke(app, ["package", str(session), "--out", str(tmp_path / "again"), "--masks", "off",
                                  "--rgba"])
    assert refused.exit_code == 2, refused.output
    assert "--rgba: RGBA images carry the masks as alpha, and this package has none (--masks off)" in \
        refused.output.replace("\n", " ")
    assert not (tmp_path / "again").exists()
