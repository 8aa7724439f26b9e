"""A technician runs whole simulated sessions from the panel in a real browser (Debian's Chromium)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import requests
from playwright.sync_api import Page, expect

from capturerig_sim import VirtualStudio
from tests.web.conftest import SUBJECT, LivePanel, shot

SESSION_TIMEOUT_MS = 120_000  # a loaded 2-core machine; the fast simulator needs ~10 s
CAMERAS, TAKES = 16, 8


def _thumbnails(page: Page) -> int:
    """Contact-sheet thumbnails that have arrived and decoded in the browser."""
    return int(page.evaluate(
        "Array.from(document.querySelectorAll('#contact-sheet td img')).filter(i => i.complete && i.naturalWidth > 0)"
        ".length"))


def _settled_count(page: Page, selector: str, quiet_ms: int = 1000) -> int:
    """How many ``selector`` elements the page shows once that number has not changed for ``quiet_ms``."""
    count = page.locator(selector).count()
    for _ in range(60):
        page.wait_for_timeout(quiet_ms)
        now = page.locator(selector).count()
        if now == count:
            return count
        count = now
    raise AssertionError(f"{selector}: still changing after a minute ({count})")


def _page_views(page: Page) -> dict[str, Any]:
    views: dict[str, Any] = page.evaluate("() => ({seq: S.seq, run: S.run, board: S.board})")
    return views


def _page_holds_the_servers_views(page: Page, live: LivePanel) -> None:
    """The page renders the server's views (a snapshot plus patches), so, once quiet, it holds them exactly;
    it keeps doing so after its socket drops (it reconnects) and after a patch goes missing (it starts over)."""
    page.wait_for_function("() => S.run && S.run.result !== null")
    state = requests.get(f"{live.url}/api/state", timeout=30).json()
    assert _page_views(page) == {"seq": state["seq"], "run": state["run"], "board": state["board"]}

    page.evaluate("() => S.socket.close()")
    expect(page.locator("#link")).to_have_text("offline")
    expect(page.locator("#link")).to_have_text("live", timeout=10_000)
    page.wait_for_function(f"() => S.seq === {state['seq']}")
    assert _page_views(page)["run"] == state["run"]

    page.evaluate("() => onMessage({kind: 'ViewPatch', seq: S.seq + 2, changes: [[['run', 'state'], 'bogus']]})")
    expect(page.locator("#link")).to_have_text("live", timeout=10_000)
    page.wait_for_function(f"() => S.seq === {state['seq']}")
    expect(page.locator("#run-state")).to_have_text("done")
    assert _page_views(page)["run"] == state["run"]


def test_a_whole_session_from_the_panel_fills_the_contact_sheet_and_pauses_and_resumes(
        paced_cards: LivePanel, page: Page, studio: VirtualStudio) -> None:
    live = paced_cards  # the run's controls, the sheet's cells and the package are checked, not what images show
    page.goto(f"{live.url}/#session")
    page.fill("#subject", SUBJECT)
    page.select_option("#session-plan", "sim-demo")
    expect(page.locator("#consent")).to_contain_text("consent: valid")
    expect(page.locator("#estimate")).to_contain_text(f"{TAKES} takes, {TAKES * CAMERAS} images")
    page.click("#start")

    # The pose is operator-confirmed: the panel asks, and the subject is told to hold once it is confirmed.
    expect(page.locator("#pose-confirm")).to_be_visible()
    expect(page.locator("#pose-name")).to_have_text("p00")
    expect(page.locator("#hold-cue")).to_have_class("cue relax")
    shot(page, "session-1-confirm-pose")
    page.click("#pose-yes")
    expect(page.locator("#hold-cue")).to_have_class("cue hold", timeout=SESSION_TIMEOUT_MS)
    expect(page.locator("#hold-word")).to_contain_text("HOLD")

    # Paused as soon as the first files land (a loaded machine draws thumbnails late: waiting for them could
    # let the run finish first), it stops at the next take boundary; the sheet holds that take's column.
    expect(page.locator("#arrivals .chip.arrived").first).to_be_visible(timeout=SESSION_TIMEOUT_MS)
    page.click("#pause")
    expect(page.locator("#run-state")).to_have_text("paused", timeout=SESSION_TIMEOUT_MS)
    page.wait_for_function("document.querySelectorAll('#contact-sheet td img').length >= 16",
                           timeout=SESSION_TIMEOUT_MS)
    expect(page.locator("#hold-cue")).to_have_class("cue relax")
    expect(page.locator("#resume")).to_be_enabled()
    paused_cells = _settled_count(page, "#contact-sheet td img")  # the files of the takes shot before the pause
    assert 16 <= paused_cells < TAKES * CAMERAS
    assert all(not any(frame) for frame in studio.held_frames().values()), "lights must be safe while paused"
    page.wait_for_timeout(500)
    assert page.locator("#contact-sheet td img").count() == paused_cells, "a paused session must not shoot"
    shot(page, "session-1-paused")

    # Resumed mid-pose: the subject moved while paused, so the pose is confirmed again, and the cue says HOLD
    # again before the next exposure (issue 18: it stayed RELAX while the rig shot the rest of the pose).
    page.click("#resume")
    expect(page.locator("#pose-confirm")).to_be_visible(timeout=SESSION_TIMEOUT_MS)
    expect(page.locator("#pose-name")).to_have_text("p00")
    expect(page.locator("#hold-cue")).to_have_class("cue relax")
    assert page.locator("#contact-sheet td img").count() == paused_cells, "no exposure before the confirmation"
    page.click("#pose-yes")
    expect(page.locator("#hold-cue")).to_have_class("cue hold", timeout=SESSION_TIMEOUT_MS)
    state = requests.get(f"{live.url}/api/state", timeout=30).json()
    assert state["run"]["hold"]["state"] == "hold"
    expect(page.locator("#run-state")).to_have_text("done", timeout=SESSION_TIMEOUT_MS)
    expect(page.locator("#progress")).to_have_text(f"{TAKES}/{TAKES}")
    expect(page.locator("#hold-cue")).to_have_class("cue relax")
    page.wait_for_function(f"Array.from(document.querySelectorAll('#contact-sheet td img'))"
                           f".filter(i => i.complete && i.naturalWidth > 0).length === {TAKES * CAMERAS}",
                           timeout=SESSION_TIMEOUT_MS)
    assert _thumbnails(page) == TAKES * CAMERAS
    assert live.panel.thumbs.made == TAKES * CAMERAS  # made on the server, once each
    expect(page.locator("#contact-sheet th.verified")).to_have_count(TAKES)
    shot(page, "session-1-done-contact-sheet")
    _page_holds_the_servers_views(page, live)

    # Calibration: this is a capture session, so geometry calibration says what it needs instead.
    page.goto(f"{live.url}/#calibration")
    expect(page.locator("#calib-current")).to_contain_text("geometry: none accepted yet")
    page.select_option("#calib-kind", "geometry")
    page.click("#calib-solve")
    refusal = page.locator("#problems .problem")
    expect(refusal.locator(".what")).to_contain_text("geometry needs a calibration session",
                                                     timeout=SESSION_TIMEOUT_MS)
    expect(refusal.locator(".todo")).to_contain_text("shoot the board from this page")
    shot(page, "calibration-refuses-a-capture-session")
    refusal.locator(".dismiss").click()

    # Packages: build from the session, verify with its report, download the zip.
    page.goto(f"{live.url}/#packages")
    page.click("#build-package")
    row = page.locator("#packages-list tbody tr").first
    expect(row).to_be_visible(timeout=SESSION_TIMEOUT_MS)
    row.locator("button.verify").click()
    expect(page.locator("#verify-report")).to_contain_text("every file matches its manifest",
                                                           timeout=SESSION_TIMEOUT_MS)
    name = row.get_attribute("data-package")
    download = page.request.get(f"{live.url}/api/packages/{name}/download")
    assert download.ok
    names = zipfile.ZipFile(io.BytesIO(download.body())).namelist()
    assert sum(n.endswith(".jpg") for n in names) >= TAKES * CAMERAS
    assert f"{name}/bagit.txt" in names
    shot(page, "packages-verified")


def test_a_failed_take_is_highlighted_reshot_and_an_abort_puts_the_lights_safe(
        paced_cards: LivePanel, page: Page, studio: VirtualStudio) -> None:
    live = paced_cards  # a corrupt download fails the take whatever the image shows; paced: aborted mid-run
    # cam03 delivers corrupt files five times. A corrupt file shows when the take is stored, while the next take is
    # already being shot, so the first two takes take turns: the first fails all three attempts (the session fails
    # there), the second fails twice and its third attempt is good.
    studio.inject_fault("cam03", "corrupt_download", count=5)
    page.goto(f"{live.url}/#session")
    page.fill("#subject", SUBJECT)
    page.select_option("#session-plan", "sim-demo")
    page.uncheck("#confirm-poses")
    page.click("#start")
    expect(page.locator("#run-state")).to_have_text("failed", timeout=SESSION_TIMEOUT_MS)
    failed = page.locator("#failed-takes .failed-take")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("p00/s00/l00/b0 FAILED")
    expect(failed).to_contain_text("cam03")
    expect(page.locator("#contact-sheet th.failed")).to_have_count(1)
    expect(page.locator("#contact-sheet td.failed")).to_have_count(CAMERAS)
    shot(page, "session-2-failed-take")

    # Re-shoot: the journal's missing takes are shot again; abort once the lights are on.
    failed.locator("button.reshoot").click()
    expect(page.locator("#run-state")).to_have_text("running", timeout=SESSION_TIMEOUT_MS)
    page.wait_for_function("document.querySelectorAll('#contact-sheet th.verified').length >= 1",
                           timeout=SESSION_TIMEOUT_MS)
    assert any(any(frame) for frame in studio.held_frames().values()), "a take's light should be on mid-session"
    page.click("#abort")
    expect(page.locator("#run-state")).to_have_text("aborted", timeout=SESSION_TIMEOUT_MS)
    expect(page.locator("#hold-cue")).to_have_class("cue relax")
    frames = studio.held_frames()
    assert frames
    assert all(not any(frame) for frame in frames.values()), "the simulator must receive blackout"
    assert live.panel.runs.wait(30.0)
    shot(page, "session-2-aborted-lights-safe")
