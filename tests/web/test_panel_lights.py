"""The lights page as a technician reads it: plan states by name with the one on now marked, each fixture's
colour as a swatch (red after "all red", not a white 100 %), and the governor's history with the time of each
change, kept by the server so a page opened later shows it too."""

from __future__ import annotations

import itertools
import re

import requests
from playwright.sync_api import Page, expect

from capturerig_sim import VirtualStudio
from tests.web.conftest import SUBJECT, LivePanel, shot

TIMEOUT_MS = 60_000
CLOCK = re.compile(r"^\d\d:\d\d:\d\d$")


def test_all_red_is_marked_on_its_named_button_the_swatches_turn_red_and_the_history_says_when(
        live: LivePanel, screen_page: Page, studio: VirtualStudio) -> None:
    page = screen_page
    size = page.viewport_size
    assert size is not None
    page.goto(f"{live.url}/#lights")
    page.select_option("#lights-plan", "sim-demo")
    red = page.locator('#plan-states button[data-scene="l03"]')
    expect(red.locator(".scene-name")).to_have_text("all red")  # the name on the button, the id beside it
    expect(red.locator(".scene-id")).to_have_text("l03")
    expect(page.locator('#fixtures .slider[data-fixture="fx0"] .colour')).to_have_text("not set")

    page.click('#plan-states button[data-scene="l00"]')
    expect(page.locator('#plan-states button[data-scene="l00"]')).to_have_class(re.compile(r"\bactive\b"),
                                                                                 timeout=TIMEOUT_MS)
    expect(page.locator('#fixtures .slider[data-fixture="fx0"] .colour')).to_have_text("white 100 %")

    red.click()
    expect(red).to_have_class(re.compile(r"\bactive\b"), timeout=TIMEOUT_MS)
    expect(red).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#plan-states button.active")).to_have_count(1)  # white is no longer marked
    expect(page.locator("#lights-active")).to_have_text("all red (l03)")
    for fixture in ("fx0", "fx5"):
        row = page.locator(f'#fixtures .slider[data-fixture="{fixture}"]')
        expect(row.locator(".colour")).to_have_text("red 100 %")
        expect(row.locator(".swatch")).to_have_css("background-color", "rgb(255, 0, 0)")
        expect(row.locator("input")).to_have_value("100")  # the intensity is full: the colour says it is red
    assert studio.fixture_levels("fx0")["red"] == 1.0
    assert studio.fixture_levels("fx0")["green"] == 0.0

    history = page.locator("#governor-history li")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("all red (l03): within 3 flashes per second")
    assert CLOCK.match(history.first.locator("time.clock").inner_text())
    expect(history.nth(1)).to_contain_text("all white, full (l00)")
    shot(page, f"lights-all-red-{size['width']}x{size['height']}")

    # A page opened later (another technician's laptop) reads the same history from the server.
    later = page.context.new_page()
    later.goto(f"{live.url}/#lights")
    expect(later.locator("#governor-history li")).to_have_count(2, timeout=TIMEOUT_MS)
    expect(later.locator("#governor-history li").first).to_contain_text("all red (l03)")
    expect(later.locator('#plan-states button[data-scene="l03"]')).to_have_class(re.compile(r"\bactive\b"))
    expect(later.locator('#fixtures .slider[data-fixture="fx3"] .swatch')).to_have_css(
        "background-color", "rgb(255, 0, 0)")
    shot(later, f"lights-opened-later-{size['width']}x{size['height']}")
    later.close()


def test_the_lights_api_carries_each_fixtures_colour_and_the_history_with_times(live: LivePanel) -> None:
    origin = {"Origin": live.url}
    response = requests.post(f"{live.url}/api/lights/scene", json={"name": "l03", "plan": "sim-demo"},
                             headers=origin, timeout=60)
    assert response.status_code == 200, response.text
    sent = response.json()
    assert sent["name"] == "all red"
    assert sent["levels"]["fx0"]["red"] == 1.0  # the channels as sent
    assert sent["levels"]["fx0"]["white"] == 0.0
    assert sent["swatches"]["fx0"] == {"hex": "#ff0000", "text": "red 100 %", "cct": None}

    response = requests.post(f"{live.url}/api/lights/fixtures", headers=origin, timeout=60,
                             json={"levels": {"fx2": {"intensity": 0.5, "blue": 1.0}}})
    assert response.status_code == 200, response.text
    lights = requests.get(f"{live.url}/api/lights", params={"plan": "sim-demo"}, timeout=30).json()
    assert lights["active"] == "fixture levels"
    assert lights["swatches"]["fx2"]["text"] == "blue 50 %"
    assert lights["swatches"]["fx0"]["text"] == "red 100 %"  # the others keep what they had
    assert [h["scene"] for h in lights["history"]] == ["fixture levels", "l03"]
    assert lights["history"][1]["name"] == "all red"
    assert lights["history"][0]["at"] >= lights["history"][1]["at"]
    assert lights["history"][1]["verdict"].startswith("within")


def test_a_sessions_light_changes_join_the_history_with_the_governors_verdict(live_cards: LivePanel,
                                                                              page: Page) -> None:
    live = live_cards  # the lights' history is checked, not the images
    response = requests.post(f"{live.url}/api/sessions", json={"subject": SUBJECT, "confirm_poses": False},
                             headers={"Origin": live.url}, timeout=60)
    assert response.status_code == 202, response.text
    session = response.json()["session"]
    assert live.panel.runs.wait(120.0), "the demo session did not finish"
    lights = requests.get(f"{live.url}/api/lights", params={"plan": "sim-demo"}, timeout=30).json()
    history = lights["history"]
    assert len(history) == 9  # one per take (2 stations x 4 lighting states), then the safe state at the end
    assert history[0]["scene"] == "blackout"
    assert history[0]["verdict"] == f"session {session} ended (done), the lights in the rig's safe state"
    assert lights["active"] == "blackout"
    assert [h["scene"] for h in history[1:5]] == ["l03", "l02", "l01", "l00"]  # newest first
    assert history[1]["name"] == "all red"
    assert history[1]["verdict"].startswith("session take p00/s01/l03/b0: ")
    assert all(h["at"] >= later["at"] for h, later in itertools.pairwise(history))

    page.goto(f"{live.url}/#lights")  # opened after the session: its light changes are there, with times
    entries = page.locator("#governor-history li")
    expect(entries).to_have_count(9, timeout=TIMEOUT_MS)
    expect(entries.first).to_contain_text(f"blackout: session {session} ended (done)")
    expect(entries.nth(1)).to_contain_text("all red (l03): session take p00/s01/l03/b0")
    assert CLOCK.match(entries.nth(1).locator("time.clock").inner_text())
    expect(page.locator("#blackout")).to_have_class(re.compile(r"\bactive\b"))  # what is on now: the safe state
    expect(page.locator("#plan-states button.active")).to_have_count(0)
    shot(page, "lights-session-history")
