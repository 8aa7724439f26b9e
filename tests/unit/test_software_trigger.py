"""The engine's software trigger fast path: prepare every camera in parallel, fire all from one thread."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import capturerig
from capturerig.devices import DeviceError, DriverContext, PreparedTrigger, create_camera
from capturerig.engine import RunState, Session, TriggerDispatched, dispatch_prepared
from tests.conftest import with_test_card_images


def _preparer(fired: list[str], camera_id: str) -> Callable[[], Callable[[], None]]:
    return lambda: (lambda: fired.append(camera_id))


def test_every_prepared_camera_fires_once_in_order_and_the_spread_is_measured() -> None:
    fired: list[str] = []
    cameras = [f"cam{i:02d}" for i in range(64)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # fewer threads than cameras is fine: only prepare uses them
        result = dispatch_prepared({c: _preparer(fired, c) for c in cameras}, pool, timeout_s=5.0)
    assert fired == cameras
    assert set(result.started) == set(cameras)
    assert not result.errors
    assert result.spread_s == max(result.started.values()) - min(result.started.values())


def test_a_camera_that_cannot_prepare_or_fire_is_reported_and_the_others_still_fire() -> None:
    fired: list[str] = []

    def busy() -> Callable[[], None]:
        raise DeviceError("cam01", "busy", "wait for it")

    def gone() -> None:
        raise DeviceError("cam02", "worker gone")

    preparers = {"cam00": _preparer(fired, "cam00"), "cam01": busy, "cam02": lambda: gone,
                 "cam03": _preparer(fired, "cam03")}
    with ThreadPoolExecutor(max_workers=4) as pool:
        result = dispatch_prepared(preparers, pool, timeout_s=5.0)
    assert fired == ["cam00", "cam03"]
    assert set(result.started) == {"cam00", "cam03"}
    assert "busy" in result.errors["cam01"]
    assert "worker gone" in result.errors["cam02"]


@pytest.mark.usefixtures("fast_sim")
def test_a_rig_without_a_trigger_box_fires_sim_cameras_through_the_fast_path(studio_files: Path,
                                                                              tmp_path: Path) -> None:
    rig_file = studio_files / "rig.yaml"
    text = rig_file.read_text()
    start = text.index("trigger:\n")
    end = text.index("turntable:\n")
    rig_file.write_text(text[:start] + text[end:])  # no trigger box: software trigger
    rig = capturerig.load_rig(with_test_card_images(rig_file))  # the dispatch is checked, not the pixels
    plan = capturerig.load_plan(studio_files / "plan.yaml", rig)
    session = Session.create(rig, plan, subject="S-soft", out=tmp_path / "session")
    events: list[TriggerDispatched] = []
    session.subscribe(lambda e: events.append(e) if isinstance(e, TriggerDispatched) else None)
    result = session.run()
    assert result.state == RunState.DONE
    assert len(events) == 8
    assert all(e.mode == "software" and len(e.per_camera) == 16 for e in events)
    camera = session.folder.rig.config.cameras[0]
    assert isinstance(create_camera(camera, DriverContext(rig.config, rig.path.parent)), PreparedTrigger)
