"""A bumped camera is caught by "moved" with a live subject: the simulator's bump (6 px and 0.6 deg) applied to a
rendered frame, checked against the same camera's earlier image of the same lighting state and station, through
the subject region the engine uses (the capture volume through the nominal geometry).

The cases are bench/qc.py --live's (its rig, seed, take times and noise seeds) that the phase correlation of
edge images missed: cam02 under red light, where the only still detail outside the volume is the stage's two
corners at the frame's bottom (read 0.9 px), and cam06, where the bump moves both corners along the stage's rim
(an edge shows no shift along itself: read 1.6 px, and 0.4 px by a masked correlation of the whole view).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

import capturerig
from capturerig.config import LightingCondition, RigConfig
from capturerig.lighting import frames_for_condition
from capturerig.qc import QcFile, QcRunner, Verdict, rig_volume, session_views, subject_regions
from capturerig_sim import encode_jpeg
from capturerig_sim._image_faults import faulty_image
from capturerig_sim.render import live_subject_pose

TAKE_S = 2.0  # bench/qc.py: studio seconds between triggers
ROOM_LIGHT = 0.04
LIGHTS = {
    "l01": {"*": {"intensity": 0.5, "red": 1.0, "green": 1.0, "blue": 1.0, "white": 1.0}},
    "l03": {"*": {"intensity": 1.0, "red": 1.0}},
}


def _seed(camera_id: str, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"qc-bench:{camera_id}:{index}".encode()).digest()[:8], "little")


@pytest.fixture(scope="module")
def live_rig(tmp_path_factory: pytest.TempPathFactory) -> tuple[RigConfig, Path]:
    work = tmp_path_factory.mktemp("qc-moved")
    document = capturerig.load_rig().config.model_dump(mode="json", exclude_defaults=True)
    document["cameras"] = document["cameras"][:16]
    document["simulation"] = {**document.get("simulation", {}), "live_subject": {"seed": 22}}
    (work / "rig.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    rig = capturerig.load_rig(work / "rig.yaml")
    return rig.config, rig.path.parent


def _shoot(rig: RigConfig, base: Path, out: Path, camera_id: str, take_id: str, index: int, light: str,
           faults: frozenset[str]) -> QcFile:
    condition = LightingCondition.model_validate({"id": light, "levels": LIGHTS[light]})
    frames = frames_for_condition(rig, condition, base)
    pose = live_subject_pose(rig, take_id, index * TAKE_S)
    picture = faulty_image(rig.camera(camera_id), rig, frames, 90.0, {}, base, _seed(camera_id, index), faults,
                           room_light=ROOM_LIGHT, subject_pose=pose)
    path = out / f"{camera_id}_{take_id.replace('/', '_')}_{'-'.join(sorted(faults)) or 'clean'}.jpg"
    path.write_bytes(encode_jpeg(picture))
    return QcFile(path, camera_id, "jpeg")


@pytest.mark.parametrize(("camera_id", "before", "after", "light"), [
    ("cam02", ("p02/s01/l03/b0", 23), ("p03/s01/l03/b0", 31), "l03"),
    ("cam06", ("p05/s01/l01/b0", 45), ("p06/s01/l01/b0", 53), "l01"),
])
def test_a_bumped_camera_is_caught_with_a_live_subject(live_rig: tuple[RigConfig, Path], tmp_path: Path,
                                                       camera_id: str, before: tuple[str, int],
                                                       after: tuple[str, int], light: str) -> None:
    rig, base = live_rig
    masks = subject_regions(*session_views(rig), rig_volume(rig))
    runner = QcRunner([camera_id], masks={camera_id: masks[camera_id]})
    earlier = _shoot(rig, base, tmp_path, camera_id, *before, light, frozenset())
    runner.check_take(before[0], light, [earlier], station="s01")

    def moved(faults: frozenset[str]) -> tuple[Verdict, dict[str, object], str]:
        shot = _shoot(rig, base, tmp_path, camera_id, *after, light, faults)
        # A fresh runner each time: the clean image must not become the bumped one's baseline.
        again = QcRunner([camera_id], masks={camera_id: masks[camera_id]})
        again.check_take(before[0], light, [earlier], station="s01")
        (checked,) = again.check_take(after[0], light, [shot], station="s01").files
        result = next(c for c in checked.checks if c.check == "moved")
        return result.verdict, result.figures, result.reason

    verdict, figures, reason = moved(frozenset())
    assert verdict is Verdict.OK, (reason, figures)  # the subject stands elsewhere at the new pose: not a bump
    assert float(str(figures["shift_px"])) < 0.5
    verdict, figures, reason = moved(frozenset({"bumped"}))
    assert verdict is Verdict.FAIL, (reason, figures)
    assert float(str(figures["shift_px"])) >= 3.0
    assert f"{camera_id}'s view moved" in reason
    assert 0.15 <= float(str(figures["outside"])) < 0.25  # only the stage's corners and the backdrop to go by
