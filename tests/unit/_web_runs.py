"""Sessions run by the panel's RunManager on the simulated studio, with no server: real journals for the tests of
what the panel reads back from them (estimates, timelines, interrupted sessions)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from capturerig.web._catalog import Catalog
from capturerig.web._hub import EventHub
from capturerig.web._runs import Hardware, RunManager
from capturerig.web._views import PanelViews
from tests.conftest import with_test_card_images

SUBJECT = "S-web"  # has consent for "capture" in the tests' registry
RUN_TIMEOUT_S = 120.0


def run_manager(studio_files: Path, sessions: Path) -> tuple[RunManager, PanelViews]:
    """A RunManager over ``sessions`` for the studio in ``studio_files`` (its images a fixed test card) and the
    panel's views of it; the hub has no loop bound, so they are reduced in the engine's threads."""
    catalog = Catalog((with_test_card_images(studio_files / "rig.yaml"),))
    hardware = Hardware()
    views = PanelViews(busy=lambda: hardware.owner)
    return RunManager(catalog, sessions, EventHub(256, [views.apply]), hardware), views


def verified(runs: RunManager) -> int:
    """Takes the running session's journal says verified."""
    session = runs.session
    return session.folder.journal.event_count("TakeVerified") if session is not None else 0


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = RUN_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def run_session(runs: RunManager, plan: str = "sim-demo") -> str:
    """Start a session without pose confirmations and wait until it has ended; its name."""
    name = runs.start(None, plan, SUBJECT, confirm_poses=False)
    assert runs.wait(RUN_TIMEOUT_S), "the session did not end"
    return name
