"""The per-image checks on the panel (issue 22): a session with a camera out of focus once shows the failure on
that thumbnail, with the reason in words (on hover, in the viewer, in the list of takes to re-shoot, on the
timeline and on the rig map's camera tile); the operator re-shoots the take from the panel while the subject is
still in the rig, and the second attempt passes -- as the journal says too. After the run a take is re-shot
through the same route (a re-shoot of the session), and a session opened read-only shows the verdicts its
journal holds."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from playwright.sync_api import Page, expect

from capturerig import load_rig
from capturerig.engine import Journal
from capturerig.web._messages import RunStarted
from capturerig.web._views import PanelViews
from capturerig_sim import get_studio
from tests.web.conftest import SUBJECT, LivePanel, shot, start_panel

TIMEOUT_MS = 60_000  # a loaded 2-core machine; each run of this 4-camera plan takes a few seconds
SOFT_TAKE = "p01/s00/l00/b0"  # cam01's third exposure: p00's two takes gave it a baseline first
CAMERAS = ["cam00", "cam01", "cam02", "cam03"]
PLAN = """\
name: qc-panel
consistency: take
retries: 1
subject: {kind: object}
poses:
  - {id: p00, description: first hold, operator_confirmed: true}
  - {id: p01, description: second hold, operator_confirmed: true}
  - {id: p02, description: third hold, operator_confirmed: true}
stations:
  - {id: s00, angle_deg: 0}
lighting:
  - {id: l00, levels: {"*": {intensity: 1.0, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
  - {id: l01, levels: {"*": {intensity: 0.5, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
camera_groups: [ring-low]
settle: {lights_s: 0.0, turntable_s: 0.0}
qc: {on_fail: ask}
"""
TAKES = [f"{pose}/s00/{light}/b0" for pose in ("p00", "p01", "p02") for light in ("l00", "l01")]


@pytest.fixture
def qc_live(tmp_path: Path, studio_files: Path, fast_sim: None) -> Iterator[LivePanel]:
    """The panel over the example studio cut to four cameras, with the qc-panel plan beside its rig, and cam01's
    third exposure out of focus (the simulator's one-shot ``defocus`` fault)."""
    rig_path = studio_files / "rig.yaml"
    document = yaml.safe_load(rig_path.read_text(encoding="utf-8"))
    document["cameras"] = [camera for camera in document["cameras"] if camera["id"] in CAMERAS]
    rig_path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    (studio_files / "qc-plan.yaml").write_text(PLAN, encoding="utf-8")
    rig = load_rig(rig_path)
    studio = get_studio("default", rig.config, rig.path.parent)
    studio.faults.schedule("cam01", "defocus", 2)
    handle = start_panel(tmp_path / "panel", rig=rig_path)
    try:
        yield handle
    finally:
        handle.server.stop()
        assert handle.panel.runs.wait(30.0), "a panel session was still running after the server stopped"


def _checked(session_dir: Path) -> list[dict[str, Any]]:
    journal = Journal(session_dir)
    try:
        return journal.events("TakeChecked")
    finally:
        journal.close()


def _verified_attempt(session_dir: Path, take_id: str) -> int | None:
    journal = Journal(session_dir)
    try:
        return journal.takes()[take_id].verified_attempt
    finally:
        journal.close()


def _confirm(page: Page, pose: str) -> None:
    expect(page.locator("#pose-confirm")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("#pose-name")).to_have_text(pose, timeout=TIMEOUT_MS)
    page.click("#pose-yes")
    expect(page.locator("#pose-confirm")).to_be_hidden(timeout=TIMEOUT_MS)


def _cell(page: Page, take: str, camera: str, sheet: str = "#contact-sheet") -> Any:
    return page.locator(f'{sheet} td[data-take="{take}"][data-camera="{camera}"]')


def test_a_soft_image_is_flagged_on_its_thumbnail_and_re_shot_from_the_panel(qc_live: LivePanel, page: Page) -> None:
    started = time.monotonic()
    live = qc_live
    page.goto(f"{live.url}/#session")
    page.fill("#subject", SUBJECT)
    page.select_option("#session-plan", "qc-panel")
    expect(page.locator("#estimate")).to_contain_text("6 takes, 24 images")
    expect(page.locator("#confirm-poses")).to_be_checked()
    page.click("#start")
    _confirm(page, "p00")
    _confirm(page, "p01")

    # p01 shot; the run waits for the operator at p02 while the soft take's checks come in.
    expect(page.locator("#pose-name")).to_have_text("p02", timeout=TIMEOUT_MS)
    soft = _cell(page, SOFT_TAKE, "cam01")
    badge = soft.locator(".qc-badge.fail")
    expect(badge).to_be_visible(timeout=TIMEOUT_MS)
    assert "softer than its own takes: check focus" in (badge.get_attribute("title") or "")
    assert (badge.get_attribute("title") or "").startswith("cam01 is")
    assert "check focus" in (soft.get_attribute("title") or "")  # hovering anywhere on the cell says it
    # every other image passed (their checks may still be coming in)
    expect(page.locator("#contact-sheet td.qc-ok")).to_have_count(15, timeout=TIMEOUT_MS)  # p00, p01: 4 x 4 - 1
    expect(page.locator("#contact-sheet .qc-badge")).to_have_count(1)
    expect(page.locator("#contact-sheet th.qc-fail")).to_have_count(1)
    name = page.evaluate("() => S.run.session.name")
    session_dir = live.root / "sessions" / name
    # Read back from the journal (what a past session's sheet shows), the same verdict and reason.
    view = requests.get(f"{live.url}/api/sessions/{name}/view", timeout=30).json()
    journalled = view["status"][SOFT_TAKE]["qc"]
    assert (journalled["attempt"], journalled["verdict"], journalled["action"]) == (1, "fail", "awaiting_operator")
    assert any("check focus" in r for r in journalled["cameras"]["cam01"]["reasons"])
    shot(page, "qc-1-soft-thumbnail-flagged")

    # The viewer says which check failed and why.
    soft.locator("img").click()
    checks = page.locator("#viewer-checks")
    expect(checks.locator(".qc-verdict.fail")).to_contain_text("softer than its own takes: check focus")
    expect(checks.locator('li[data-check="sharpness"]')).to_contain_text("sharpness: fail")
    shot(page, "qc-2-viewer-checks")
    page.keyboard.press("Escape")
    expect(page.locator("#image-viewer")).to_be_hidden()

    # The camera's tile (dashboard, rig map) keeps its latest check: p01's second take, in focus again; the
    # timeline lists the failed one.
    tile = requests.get(f"{live.url}/api/state", timeout=30).json()["board"]["tiles"]["cam01"]
    assert (tile["last_check"]["take"], tile["last_check"]["verdict"]) == ("p01/s00/l01/b0", "ok")
    expect(page.locator('#timeline li[data-kind="check-fail"]')).to_contain_text("check focus", timeout=TIMEOUT_MS)

    # The operator re-shoots it: queued into this run, shot once p02 is done, with p01 announced again.
    row = page.locator(f'#qc-takes .qc-take[data-take="{SOFT_TAKE}"]')
    expect(row).to_contain_text("cam01 is")
    row.get_by_role("button", name=f"Re-shoot take {SOFT_TAKE}").click()
    expect(row.locator(".qc-note")).to_contain_text("shot again in this run", timeout=TIMEOUT_MS)
    shot(page, "qc-3-reshoot-asked")
    _confirm(page, "p02")
    _confirm(page, "p01")  # the subject takes p01 again for the one take
    expect(page.locator("#run-state")).to_have_text("done", timeout=TIMEOUT_MS)

    # The second attempt's image replaced the first, and passed: no badge anywhere, no take left to re-shoot.
    expect(soft).to_have_class(re.compile(r"\bqc-ok\b"), timeout=TIMEOUT_MS)
    expect(page.locator("#contact-sheet .qc-badge")).to_have_count(0)
    expect(page.locator("#contact-sheet td.qc-ok")).to_have_count(24)
    expect(page.locator("#qc-takes")).to_be_hidden()
    first_paths = {f["path"] for f in journalled["cameras"]["cam01"]["files"]}
    assert soft.locator("img").get_attribute("data-path") not in first_paths  # attempt 2's file is shown
    expect(page.locator('#timeline li[data-kind="check-passed"]')).to_contain_text(
        f"Take {SOFT_TAKE} attempt 2: every image passed", timeout=TIMEOUT_MS)
    shot(page, "qc-4-second-attempt-passed")
    events = [(e["attempt"], e["verdict"], e["action"]) for e in _checked(session_dir) if e["take_id"] == SOFT_TAKE]
    assert events == [(1, "fail", "awaiting_operator"), (2, "ok", "none")]
    assert _verified_attempt(session_dir, SOFT_TAKE) == 2
    assert sorted({e["take_id"] for e in _checked(session_dir)}) == sorted(TAKES)

    # After the run the same route re-shoots a take as a re-shoot of the session (as the panel's page asks it).
    # The page says "done" when the last take is verified; the run thread ends a moment later (a request in
    # between is queued "as soon as this run has ended"): wait for it.
    assert live.panel.runs.wait(30.0)
    origin = {"Origin": live.url}
    missing = requests.post(f"{live.url}/api/sessions/{name}/takes/p09/s00/l00/b0/reshoot", json={}, headers=origin,
                            timeout=30)
    assert missing.status_code == 404, missing.text
    assert "p09" in missing.json()["detail"]
    answer = requests.post(f"{live.url}/api/sessions/{name}/takes/{TAKES[0]}/reshoot",
                           json={"reason": "the operator saw a blink", "confirm_poses": False}, headers=origin,
                           timeout=30)
    assert answer.status_code == 202, answer.text
    assert answer.json()["when"] == "now, in a re-shoot of the session"
    expect(page.locator("#run-state")).to_have_text("done", timeout=TIMEOUT_MS)
    assert live.panel.runs.wait(30.0)
    again = [(e["attempt"], e["verdict"]) for e in _checked(session_dir) if e["take_id"] == TAKES[0]]
    assert again == [(1, "ok"), (2, "ok")]
    assert _verified_attempt(session_dir, TAKES[0]) == 2
    expect(page.locator('#timeline li[data-kind="reshoot-requested"]')).to_have_count(2, timeout=TIMEOUT_MS)

    # Opened read-only, the session shows each take's verdicts from its journal, and its timeline the failure.
    page.locator(f'#sessions-list tr[data-session="{name}"] button.open').click()
    expect(page.locator("#past-session")).to_be_visible()
    expect(page.locator("#past-sheet td.qc-ok")).to_have_count(24)
    expect(page.locator('#past-timeline li[data-kind="check-fail"]')).to_contain_text("check focus")
    shot(page, "qc-5-past-session")
    elapsed = time.monotonic() - started
    print(f"qc panel test: {elapsed:.1f} s")


def test_the_run_view_shows_the_verdict_of_the_attempt_on_the_sheet() -> None:
    """No browser: the server's views. A check arriving for an older attempt never replaces the shown one's, a
    new attempt clears the old verdict until its own arrives, and the camera's tile keeps its last check."""
    views = PanelViews()
    session = "s1"
    views.apply(RunStarted(session=session, info={"name": session, "cameras": ["cam01"]}, takes=[
        {"id": SOFT_TAKE, "ordinal": 0, "pose": "p01", "station": "s00", "lighting": "l00", "lighting_name": "l00",
         "bracket": "b0", "cameras": ["cam01"]}], status={}).message())

    def checked(attempt: int, verdict: str, action: str) -> dict[str, Any]:
        reasons = [] if verdict == "ok" else ["cam01 is 40 % softer than its own takes: check focus"]
        return {"kind": "TakeChecked", "session": session, "at": 1.0, "take_id": SOFT_TAKE, "attempt": attempt,
                "verdict": verdict, "action": action, "on_fail": "ask", "seconds": 0.01, "error": None,
                "files": [{"camera": "cam01", "path": f"images/cam01_{attempt}.jpg", "format": "jpeg",
                           "verdict": verdict, "reasons": reasons,
                           "checks": [{"check": "sharpness", "verdict": verdict, "reason": "r", "figures": {}}]}]}

    def started(attempt: int) -> dict[str, Any]:
        return {"kind": "TakeStarted", "session": session, "at": 1.0, "take_id": SOFT_TAKE, "attempt": attempt,
                "ordinal": 0, "total": 1}

    views.apply(started(1))
    views.apply(checked(1, "fail", "awaiting_operator"))
    qc = views.run.status[SOFT_TAKE]["qc"]
    assert (qc["attempt"], qc["verdict"], qc["cameras"]["cam01"]["reasons"]) == (
        1, "fail", ["cam01 is 40 % softer than its own takes: check focus"])
    assert views.board.tiles["cam01"]["last_check"]["verdict"] == "fail"
    views.apply({"kind": "ReshootRequested", "session": session, "at": 2.0, "take_id": SOFT_TAKE,
                 "reason": "soft", "queued": True})
    assert views.run.status[SOFT_TAKE]["reshoot"]["queued"] is True
    views.apply(started(2))
    assert "qc" not in views.run.status[SOFT_TAKE]
    assert "reshoot" not in views.run.status[SOFT_TAKE]
    views.apply(checked(1, "fail", "awaiting_operator"))  # late word on attempt 1: not the image shown now
    assert "qc" not in views.run.status[SOFT_TAKE]
    views.apply(checked(2, "ok", "none"))
    assert views.run.status[SOFT_TAKE]["qc"]["verdict"] == "ok"
    assert views.board.tiles["cam01"]["last_check"]["verdict"] == "ok"
