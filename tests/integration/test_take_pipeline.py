"""A take's files are stored while the next take is shot; the next light never lands inside an exposure."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

import capturerig
from capturerig.engine import RunState, Session
from capturerig.plan import expand_plan, shutter_seconds
from capturerig_sim import TIME_SCALE_ENV, reset_studios
from tests.conftest import with_test_card_images

TIME_SCALE = 0.25  # modelled latencies a quarter of real: the order of events is real, the test quick


@pytest.fixture
def quarter_time_sim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIME_SCALE_ENV, str(TIME_SCALE))
    reset_studios()


@pytest.mark.usefixtures("quarter_time_sim")
def test_the_next_light_waits_for_every_exposure_and_goes_on_while_files_are_stored(
        studio_files: Path, tmp_path: Path) -> None:
    rig = capturerig.load_rig(with_test_card_images(studio_files / "rig.yaml"))
    plan = capturerig.load_plan(studio_files / "plan.yaml", rig)
    session = Session.create(rig, plan, subject="S-test", out=tmp_path / "session")
    assert session.run().state == RunState.DONE
    journal = session.folder.journal
    takes = expand_plan(rig.config, plan.config)
    lit = {e["take_id"]: e["wire_at"] for e in journal.events("LightsApplied")}
    exposed: dict[str, list[float]] = {}
    for event in journal.events("FileStored"):
        exposed.setdefault(event["take_id"], []).append(event["exposed_at"])
    shutter = shutter_seconds("1/125") * TIME_SCALE
    changes = [(before, after) for before, after in pairwise(takes) if after.id in lit]
    assert len(changes) == len(takes) - 1  # every take of the demo plan has its own light
    for before, after in changes:  # no frame of the next state went out before the last shutter closed
        assert lit[after.id] >= max(exposed[before.id]) + shutter, (before.id, after.id)
    started = {e["take_id"]: e["at"] for e in journal.events("TakeStarted")}
    verified = {e["take_id"]: e["at"] for e in journal.events("TakeVerified")}
    overlapped = [before.id for before, after in changes if started[after.id] < verified[before.id]]
    assert len(overlapped) >= len(changes) // 2, overlapped  # the next take started while files were stored
    assert len(journal.verified_files()) == len(takes) * 16
