"""Clean plates from the panel (issue 22): the run asks the technician to clear the rig in the place it asks to
confirm poses -- a prompt of its own -- then for the subject back in the rig before the subject's pose; the
contact sheet marks the plate takes as plates, and the simulated studio shot them empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from playwright.sync_api import Page, expect

from capturerig_sim import get_studio
from tests.web.conftest import SUBJECT, LivePanel, shot, start_panel

TIMEOUT_MS = 60_000  # a loaded 2-core machine; this 4-camera plan takes a few seconds
CAMERAS = ["cam00", "cam01", "cam02", "cam03"]
PLAN = """\
name: plates-panel
consistency: take
retries: 1
plates: before
subject: {kind: object}
poses:
  - {id: p00, description: first hold, operator_confirmed: true}
stations:
  - {id: s00, angle_deg: 0}
lighting:
  - {id: l00, levels: {"*": {intensity: 1.0, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
  - {id: l01, levels: {"*": {intensity: 0.5, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
camera_groups: [ring-low]
settle: {lights_s: 0.0, turntable_s: 0.0}
"""


@pytest.fixture
def plates_live(tmp_path: Path, studio_files: Path, fast_sim: None) -> Iterator[LivePanel]:
    """The panel over the example studio cut to four cameras, with the plates-panel plan beside its rig."""
    rig_path = studio_files / "rig.yaml"
    document = yaml.safe_load(rig_path.read_text(encoding="utf-8"))
    document["cameras"] = [camera for camera in document["cameras"] if camera["id"] in CAMERAS]
    rig_path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    (studio_files / "plates-panel.yaml").write_text(PLAN, encoding="utf-8")
    handle = start_panel(tmp_path / "panel", rig=rig_path)
    try:
        yield handle
    finally:
        handle.server.stop()
        assert handle.panel.runs.wait(30.0), "a panel session was still running after the server stopped"


def test_the_panel_asks_to_clear_the_rig_for_the_plates_then_for_the_subject_back(
        plates_live: LivePanel, page: Page) -> None:
    live = plates_live
    page.goto(f"{live.url}/#session")
    page.fill("#subject", SUBJECT)
    page.select_option("#session-plan", "plates-panel")
    expect(page.locator("#estimate")).to_contain_text("4 takes, 16 images")
    expect(page.locator("#estimate")).to_contain_text("clean plates ~")
    page.click("#start")

    ask = page.locator("#pose-confirm")
    expect(ask).to_be_visible(timeout=TIMEOUT_MS)
    expect(ask).to_have_attribute("data-kind", "plate")
    expect(page.locator("#pose-title")).to_have_text("Clear the rig for the clean plates")
    expect(page.locator("#pose-question")).to_contain_text("Nobody and nothing may stay in it")
    expect(page.locator("#pose-yes")).to_have_text("The rig is clear, shoot the plates")
    shot(page, "plates-1-clear-the-rig")
    page.click("#pose-yes")

    # The plates shot, the same place asks for the subject back before its pose.
    expect(ask).to_have_attribute("data-kind", "subject_back", timeout=TIMEOUT_MS)
    expect(ask).to_be_visible()
    expect(page.locator("#pose-title")).to_have_text("Subject back in the rig: pose p00")
    expect(page.locator("#pose-name")).to_have_text("p00")
    expect(page.locator("#pose-yes")).to_have_text("Subject in pose, shoot")
    expect(page.locator("#contact-sheet th.plate")).to_have_count(2)  # the two plate takes, marked
    shot(page, "plates-2-subject-back")
    page.click("#pose-yes")
    expect(page.locator("#run-state")).to_have_text("done", timeout=TIMEOUT_MS)

    expect(page.locator("#contact-sheet td.plate img")).to_have_count(8, timeout=TIMEOUT_MS)
    expect(page.locator("#contact-sheet td:not(.plate) img")).to_have_count(8)
    assert "clean plate" in (page.locator('#contact-sheet th[data-take="plate/s00/l00/b0"]').get_attribute("title")
                             or "")
    name = page.evaluate("() => S.run.session.name")
    timeline = requests.get(f"{live.url}/api/sessions/{name}/timeline", timeout=30).json()["entries"]
    texts = [entry["text"] for entry in timeline]
    assert any(t.startswith("The operator confirmed the rig is clear for the clean plates") for t in texts), texts
    assert "Clean plates: the empty rig is shot (nobody and nothing in it)." in texts
    # The simulated studio's technician cleared the rig for the plates and brought the subject back after.
    loaded = live.panel.catalog.default_rig.loaded
    studio = get_studio("default", loaded.config, loaded.path.parent)
    shown = [(r.take_id.split("/")[0], r.subject_present) for r in studio.exposure_log() if r.take_id]
    assert shown == [("plate", False)] * 8 + [("p00", True)] * 8
    shot(page, "plates-3-done")
