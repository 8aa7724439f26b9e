"""A technician's page tells the truth when the panel's server goes away mid-session: "connection lost" at once,
no running hold cue, no controls that would only fail; and when the server is back it names the interrupted
session and resumes it to the end, shooting only what the journal cannot prove done."""

from __future__ import annotations

import re
import threading
import time

import requests
from playwright.sync_api import Page, expect

from capturerig.engine import Journal
from tests.web.conftest import SUBJECT, LivePanel, shot, start_panel

SESSION_TIMEOUT_MS = 120_000
TAKES = 8
STALE = re.compile(r"\bstale\b")
VERIFIED = "() => S.run && Object.values(S.run.status).filter((s) => s.status === 'verified').length"


def _screen(page: Page) -> str:
    size = page.viewport_size or {"width": 0, "height": 0}
    return f"{size['width']}x{size['height']}"


def _open_demo(page: Page, live: LivePanel) -> None:
    """The session page with the demo plan chosen, no pose questions."""
    page.goto(f"{live.url}/#session")
    page.fill("#subject", SUBJECT)
    page.select_option("#session-plan", "sim-demo")
    page.uncheck("#confirm-poses")


def _start_demo(page: Page, live: LivePanel) -> str:
    """Start the demo plan from the session page (no pose questions); the screen's size as a name."""
    _open_demo(page, live)
    page.click("#start")
    return _screen(page)


def test_the_server_stopping_mid_session_shows_connection_lost_and_after_a_restart_the_session_resumes_to_the_end(
        slow_cards: LivePanel, screens: dict[str, Page]) -> None:
    # One session watched at both screens (laptop 1280x800, desk 1920x1080): the laptop starts it, the desk resumes
    # it; each page is checked at every step (the session is the same for both, only the screen differs).
    live = slow_cards
    for page in screens.values():
        _open_demo(page, live)
    screens["laptop"].click("#start")
    for page in screens.values():
        page.wait_for_function(f"{VERIFIED} >= 2", timeout=SESSION_TIMEOUT_MS)
    names = {page.evaluate("() => S.run.session.name") for page in screens.values()}
    assert len(names) == 1, names
    name = names.pop()
    for page in screens.values():
        expect(page.locator("#hold-cue")).to_have_class("cue hold")
        expect(page.locator("#abort")).to_be_enabled()
    for page in screens.values():
        shot(page, f"honest-1-running-{_screen(page)}")

    # The server stops (cleanly: it aborts the run at its take boundary, lights safe) while the pages watch.
    stopping = threading.Thread(target=live.server.stop, name="stop-the-panel")
    stopping.start()
    for page in screens.values():
        expect(page.locator("#link-lost")).to_be_visible(timeout=2_000)
    for page in screens.values():
        expect(page.locator("#link-lost")).to_contain_text("Connection lost")
        expect(page.locator("#link")).to_have_text("offline")
        expect(page.locator("#busy")).to_have_text("rig: unknown")
        expect(page.locator("#hold-cue")).to_have_class("cue lost")
        expect(page.locator("#hold-word")).to_have_text("CONNECTION LOST")
    timers = [page.locator("#hold-timer").text_content() for page in screens.values()]
    screens["laptop"].wait_for_timeout(600)
    for page, timer in zip(screens.values(), timers, strict=True):
        assert page.locator("#hold-timer").text_content() == timer == "the cue is stopped", "no running HOLD timer"
        expect(page.locator("#run-state")).not_to_have_text("running")
        expect(page.locator("#run-state")).to_contain_text("unknown")
        for button in ("#start", "#pause", "#resume", "#abort"):
            expect(page.locator(button)).to_be_disabled()
        expect(page.locator("#session")).to_have_class(STALE)  # the last known state, dimmed
        shot(page, f"honest-2-connection-lost-{_screen(page)}")
    stopping.join(60)
    assert not stopping.is_alive()
    assert live.panel.runs.wait(30.0)

    # The server comes back over the same studio folder and port: the pages reconnect and name the session.
    restarted = start_panel(live.root, port=live.server.port, rig=live.rig)
    try:
        for page in screens.values():
            expect(page.locator("#link")).to_have_text("live", timeout=10_000)
            expect(page.locator("#link-lost")).to_be_hidden()
            expect(page.locator(f'#interrupted .interrupted[data-session="{name}"]')).to_be_visible(timeout=10_000)
        done_before = _verified(live, name)
        assert 2 <= done_before < TAKES
        for page in screens.values():
            notice = page.locator(f'#interrupted .interrupted[data-session="{name}"]')
            expect(notice).to_contain_text(f"Session {name} was interrupted at take {done_before + 1}/{TAKES} when "
                                           f"the panel's server stopped ({done_before} of {TAKES} takes verified); "
                                           "resume it.")
            expect(page.locator("#session")).not_to_have_class(STALE)
            expect(page.locator("#start")).to_be_enabled()
            shot(page, f"honest-3-interrupted-named-{_screen(page)}")

        screens["desk"].locator(f'#interrupted .interrupted[data-session="{name}"]').get_by_role(
            "button", name="Resume").click()
        for page in screens.values():
            expect(page.locator("#run-state")).to_have_text("done", timeout=SESSION_TIMEOUT_MS)
            expect(page.locator("#progress")).to_have_text(f"{TAKES}/{TAKES}")
            expect(page.locator("#interrupted")).to_be_hidden(timeout=10_000)
        assert requests.get(f"{restarted.url}/api/sessions/interrupted", timeout=30).json() == []
        for page in screens.values():
            shot(page, f"honest-4-resumed-to-the-end-{_screen(page)}")
    finally:
        restarted.server.stop()
        assert restarted.panel.runs.wait(30.0)

    journal = Journal(live.root / "sessions" / name)
    try:
        takes = journal.takes()
        assert len(takes) == TAKES
        assert all(t.status == "verified" for t in takes.values())
        resumed_at = [e["at"] for e in journal.events("StateChanged") if e["state"] == "preflight"][-1]
        verified_before = {e["take_id"] for e in journal.events("TakeVerified") if e["at"] < resumed_at}
        shot_again = {e["take_id"] for e in journal.events("TakeStarted") if e["at"] > resumed_at}
        assert len(verified_before) == done_before
        assert not verified_before & shot_again, "a verified take was shot again"
    finally:
        journal.close()


def _verified(live: LivePanel, name: str) -> int:
    journal = Journal(live.root / "sessions" / name)
    try:
        return sum(1 for t in journal.takes().values() if t.status == "verified")
    finally:
        journal.close()


def test_a_session_the_technician_aborted_is_not_reported_as_interrupted(paced_cards: LivePanel,
                                                                        screen_page: Page) -> None:
    live = paced_cards
    page, screen = screen_page, _start_demo(screen_page, live)
    page.wait_for_function(f"{VERIFIED} >= 1", timeout=SESSION_TIMEOUT_MS)
    page.click("#abort")
    expect(page.locator("#run-state")).to_have_text("aborted", timeout=SESSION_TIMEOUT_MS)
    page.reload()
    expect(page.locator("#link")).to_have_text("live", timeout=10_000)
    time.sleep(0.5)  # the page has asked for interrupted sessions by now
    expect(page.locator("#interrupted")).to_be_hidden()
    assert requests.get(f"{live.url}/api/sessions/interrupted", timeout=30).json() == []
    shot(page, f"honest-5-aborted-is-not-interrupted-{screen}")
