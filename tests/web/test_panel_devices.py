"""The dashboard's device tiles and preflight, and the lights page with its photosensitivity governor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from capturerig.config import LightingCondition, load_plan
from capturerig.lighting import frames_for_condition
from capturerig_sim import VirtualStudio
from tests.web.conftest import LivePanel, rig_of, shot, start_panel

TIMEOUT_MS = 60_000


def test_dashboard_shows_each_camera_and_light_and_runs_the_preflight(
        live: LivePanel, page: Page, studio: VirtualStudio) -> None:
    studio.inject_fault("cam05", "disconnect")  # unplugged at the first check, back for the preflight
    page.goto(f"{live.url}/#dashboard")
    expect(page.locator("#camera-tiles .tile")).to_have_count(16)
    expect(page.locator("#light-tiles .tile.fixture")).to_have_count(8)
    page.click("#check-cameras")
    ok_tile = page.locator('#camera-tiles .tile[data-device="cam00"]')
    expect(ok_tile).to_have_class("tile camera ok", timeout=TIMEOUT_MS)
    for text in ("connected", "yes", "SIM00000", "100 %", "32.0 GB", "settings drift", "none"):
        expect(ok_tile).to_contain_text(text)
    bad_tile = page.locator('#camera-tiles .tile[data-device="cam05"]')
    expect(bad_tile).to_have_class("tile camera bad")
    expect(bad_tile).to_contain_text("camera not found on USB")
    shot(page, "dashboard-camera-check")

    page.click("#run-preflight")
    expect(page.locator("#preflight-summary")).to_contain_text("preflight passed", timeout=TIMEOUT_MS)
    expect(page.locator('#preflight-results tr[data-device="storage"]')).to_contain_text("ok")
    expect(page.locator('#preflight-results tr[data-device="tt0"]')).to_contain_text("homed")
    expect(page.locator('#light-tiles .tile.output[data-device="dmx0"]')).to_have_class("tile output ok")
    expect(bad_tile).to_have_class("tile camera ok")  # plugged back in: green again, the error kept as history
    expect(bad_tile).to_contain_text("camera not found on USB")
    shot(page, "dashboard-preflight")


@pytest.fixture
def strict_studio(studio_files: Path, tmp_path: Path, studio: VirtualStudio) -> Iterator[LivePanel]:
    """The panel on a studio whose light_safety allows 1 flash per second (a cautious studio's setting), with
    the demo plan slowed down to keep within it (else it is refused for a person, and not offered)."""
    rig = studio_files / "rig.yaml"
    rig.write_text(rig.read_text() + "light_safety: {max_flashes_per_s: 1}\n")
    plan = studio_files / "plan.yaml"
    plan.write_text(plan.read_text().replace("lights_s: 0.05", "lights_s: 0.85"))
    handle = start_panel(tmp_path / "panel", rig=rig)
    try:
        yield handle
    finally:
        handle.server.stop()


def test_lights_page_sets_scenes_and_fixtures_and_shows_the_governor_holding_back_flashes(
        strict_studio: LivePanel, page: Page, studio: VirtualStudio) -> None:
    live = strict_studio
    loaded = rig_of(live)
    plan = load_plan(loaded.path.parent / "plan.yaml", loaded).config
    page.goto(f"{live.url}/#lights")
    page.select_option("#lights-plan", "sim-demo")
    expect(page.locator("#governor-limit")).to_contain_text("at most 1 flashes per 1 s (the studio's light_safety)")
    page.click('#plan-states button[data-scene="l03"]')
    expect(page.locator("#governor-verdict")).to_contain_text("l03: within 1 flashes per second", timeout=TIMEOUT_MS)
    red = next(c for c in plan.lighting if c.id == "l03")
    assert studio.held_frames() == frames_for_condition(loaded.config, red, loaded.path.parent)

    slider = page.locator('#fixtures input[data-fixture="fx2"]')
    slider.fill("40")  # a range input: sets the value and fires input + change
    expect(page.locator("#governor-verdict")).to_contain_text("fixture levels", timeout=TIMEOUT_MS)
    assert abs(studio.fixture_levels("fx2")["intensity"] - 0.4) < 0.01

    # Light on, light off, ... back to back (the page's own requests, as fast as the server answers): a second
    # flash within a second would exceed the studio's limit, so the governor holds it back and the page says so.
    page.evaluate("""async () => {
        const post = (path, body) => fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                                  body: JSON.stringify(body)});
        for (let i = 0; i < 4; i++) {
            await post("/api/lights/scene", {name: "l00"});
            await post("/api/lights/blackout");
        }
    }""")
    history = page.locator("#governor-history li")
    expect(page.locator("#governor-history li.held").first).to_contain_text("held back", timeout=TIMEOUT_MS)
    expect(history).to_have_count(10, timeout=TIMEOUT_MS)  # l03, the slider, then 8 changes, newest first
    expect(history.first).to_contain_text("blackout:")
    assert all(not any(frame) for frame in studio.held_frames().values())
    assert frames_for_condition(loaded.config, LightingCondition(id="dark"), loaded.path.parent) == \
        studio.held_frames()
    shot(page, "lights-governor")
