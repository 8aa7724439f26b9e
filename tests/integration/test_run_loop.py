"""One run loop: every way of shooting fires the cameras from the runner's thread, four calls from Runner.run.

A newcomer following a take reads Runner.run -> Runner._shoot_pose -> <Shooter>.shoot -> ... -> Firing.fire,
whether the pose is shot take by take (box or software trigger) or as a burst on the trigger box.
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path

import pytest

import capturerig
from capturerig.engine import RunState, Session
from capturerig.engine._firing import Firing
from tests.conftest import with_test_card_images

pytestmark = pytest.mark.usefixtures("fast_sim")

TRIGGER_SECTION = "trigger:\n  id: trig0\n  driver: sim\n  params: {studio: default}\n"


def _calls_to_fire(studio_files: Path, tmp_path: Path, consistency: str, trigger_box: bool, stations: int,
                   monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Run the example studio's session; per fire, the functions from Runner.run down to Firing.fire."""
    rig_path, plan_path = studio_files / "rig.yaml", studio_files / "plan.yaml"
    if not trigger_box:
        assert TRIGGER_SECTION in rig_path.read_text()
        rig_path.write_text(rig_path.read_text().replace(TRIGGER_SECTION, ""))
    plan = plan_path.read_text().replace("\nconsistency: take", f"\nconsistency: {consistency}")
    if stations == 1:  # a pose held at one station: its lighting states can be one burst
        plan = plan.replace("  - {id: s01, angle_deg: 90}\n", "")
    plan_path.write_text(plan)
    rig = capturerig.load_rig(with_test_card_images(rig_path))
    session = Session.create(rig, capturerig.load_plan(plan_path, rig), subject="S-test", out=tmp_path / "s")
    paths: list[list[str]] = []
    run_thread: list[threading.Thread] = []
    fire = Firing.fire

    def recording_fire(self: Firing, armed: list[str], not_before: float = 0.0) -> object:
        assert threading.current_thread() is run_thread[0], "the cameras were fired off the run loop's thread"
        names = [frame.name for frame in traceback.extract_stack()[:-1]]
        paths.append([*names[len(names) - 1 - names[::-1].index("run"):], "fire"])
        return fire(self, armed, not_before)

    monkeypatch.setattr(Firing, "fire", recording_fire)
    run_thread.append(threading.current_thread())
    result = session.run()
    assert result.state == RunState.DONE, result.error
    return paths


@pytest.mark.parametrize(("consistency", "trigger_box", "stations", "shooter_path"), [
    ("take", True, 2, ["shoot", "_shoot_one"]),
    ("take", False, 2, ["shoot", "_shoot_one"]),  # software trigger
    ("pose", True, 2, ["shoot", "_shoot_one"]),  # the table turns inside the hold: take by take
    ("pose", True, 1, ["shoot", "_expose_all"]),  # held at one station: one burst on the box
])
def test_every_way_of_shooting_fires_four_calls_from_the_run_loop(
        studio_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, consistency: str, trigger_box: bool,
        stations: int, shooter_path: list[str]) -> None:
    paths = _calls_to_fire(studio_files, tmp_path, consistency, trigger_box, stations, monkeypatch)
    assert len(paths) == 4 * stations  # every take of the plan was fired through it, once
    assert all(path == ["run", "_shoot_pose", *shooter_path, "fire"] for path in paths), paths
