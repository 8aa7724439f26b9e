"""A pose held on the trigger box is shot as one burst: every state in the hold, the downloads after it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

import capturerig
from capturerig.engine import RunState, Session
from capturerig.engine._burst import BurstShooter
from capturerig.lighting import frames_for_condition
from capturerig.plan import expand_plan
from capturerig_sim import VirtualStudio, get_studio
from tests.conftest import with_test_card_images

pytestmark = pytest.mark.usefixtures("fast_sim")


def _held_pose(studio_files: Path, tmp_path: Path) -> tuple[Session, VirtualStudio]:
    """The demo plan for a person holding one pose at one station (four lighting states)."""
    plan_path = studio_files / "plan.yaml"
    text = plan_path.read_text()
    text = text.replace("\nconsistency: take", "\nconsistency: pose").replace("  - {id: s01, angle_deg: 90}\n", "")
    plan_path.write_text(text)
    rig = capturerig.load_rig(with_test_card_images(studio_files / "rig.yaml"))
    plan = capturerig.load_plan(plan_path, rig)
    session = Session.create(rig, plan, subject="S-test", out=tmp_path / "session")
    return session, get_studio("default", rig.config, rig.path.parent)


def test_every_state_is_exposed_in_the_hold_under_its_own_light_and_downloaded_after(
        studio_files: Path, tmp_path: Path) -> None:
    session, studio = _held_pose(studio_files, tmp_path)
    assert session.run().state == RunState.DONE
    journal = session.folder.journal
    rig = session.folder.rig
    takes = expand_plan(rig.config, session.folder.plan.config)
    assert [t.id for t in takes] == [e["take_id"] for e in journal.events("TakeVerified")]
    fires = [e["fired_at"] for e in journal.events("TriggerDispatched")]
    assert len(fires) == len(takes) == 4
    assert max(fires) < min(e["at"] for e in journal.events("FileStored"))  # no download inside the hold
    # What the studio's fixtures really showed while each shutter was open: the take's own state, steady.
    for camera in rig.config.cameras:
        exposures = [r for r in studio.exposure_log() if r.camera_id == camera.id]
        assert len(exposures) == len(takes)
        for record, take in zip(exposures, takes, strict=True):
            frames, changed = studio.exposure_light(record)
            assert not changed, (camera.id, take.id)
            wanted = frames_for_condition(rig.config, take.lighting, rig.path.parent)
            assert {key: frames[key] for key in wanted} == wanted, (camera.id, take.id)
    stored = {(f.take_id, f.camera_id) for f in journal.verified_files()}
    assert stored == {(t.id, c.id) for t in takes for c in rig.config.cameras}


def test_a_camera_that_misses_one_state_reshoots_the_pose_and_keeps_every_file(
        studio_files: Path, tmp_path: Path) -> None:
    session, studio = _held_pose(studio_files, tmp_path)
    studio.inject_fault("cam05", "card_full")  # its first exposure of the burst fails; the other 15 cameras shoot
    result = session.run()
    assert result.state == RunState.DONE
    journal = session.folder.journal
    failures = journal.events("TakeFailed")
    assert len(failures) == 1, [e["error"][:300] for e in failures]
    failed = failures[0]
    assert failed["take_id"] == "p00/s00/l00/b0"
    assert "cam05: exposure failed: card full" in failed["error"]
    assert "cam04" not in failed["error"]  # the other cameras' exposures of that state were good (and kept)
    assert failed["will_retry"]
    assert len(journal.events("PoseStarted")) == 1  # the person holds again: the whole pose, one more burst
    assert all(record.verified_attempt == 2 for record in journal.takes().values())
    assert len(journal.files()) == (4 * 16 - 1) + 4 * 16  # the first burst's files are all kept


class _AbortOnSecondPulse:
    """The technician presses abort while the second state's shutters are open."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pulses = 0

    def before_fire(self, studio: VirtualStudio, camera_ids: Sequence[str]) -> None:
        self.pulses += 1
        if self.pulses == 2:
            self.session.abort()


def test_an_abort_in_the_hold_puts_the_lights_safe_and_keeps_every_exposure_made(
        studio_files: Path, tmp_path: Path) -> None:
    session, studio = _held_pose(studio_files, tmp_path)
    studio.set_operator(_AbortOnSecondPulse(session))
    result = session.run()
    assert result.state == RunState.ABORTED
    assert all(not any(frame) for frame in studio.held_frames().values())  # lights safe
    exposed = [r for r in studio.exposure_log() if r.error is None]
    assert len(exposed) >= 2 * 16
    journal = session.folder.journal
    assert len(journal.files()) == len(exposed)  # every exposure made was downloaded, stored and journalled
    # Only the states really pulsed are journalled as triggered; the rest were never fired.
    assert journal.event_count("TriggerDispatched") == len({r.fired_at for r in studio.exposure_log()})
    assert all(record.status != "verified" for record in journal.takes().values())  # the light dropped in the hold


def test_a_burst_on_a_rig_without_a_trigger_box_is_refused_saying_why() -> None:
    # The runner only bursts through a box; should that ever slip, the error names the rig, not an assert.
    devices = SimpleNamespace(trigger=None, rig=SimpleNamespace(name="studio-b"))
    parts = SimpleNamespace(firing=SimpleNamespace(devices=devices))
    with pytest.raises(ValueError, match="rig studio-b has no trigger box: a pose can be shot as one burst only "
                                         "through a trigger box"):
        BurstShooter(parts, Path("rig.yaml"), lambda take: 1)  # type: ignore[arg-type]
