"""The rig at a glance: the dashboard's rig map, trigger box and turntable tiles, camera tiles with their bars."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from capturerig_sim import VirtualStudio
from tests.conftest import with_test_card_images
from tests.unit.test_web_rigmap import shifted_geometry
from tests.web.conftest import SUBJECT, LivePanel, rig_of, shot, start_panel

TIMEOUT_MS = 120_000  # a loaded 2-core machine; the fast simulator shoots the demo in ~10 s
FAILED_RGB = "rgb(229, 72, 77)"  # panel.css --bad
OK_RGB = "rgb(43, 182, 115)"  # panel.css --ok


def _start_session(page: Page) -> None:
    """Start the demo plan from the page's own API client, as the Start button does, without pose questions."""
    page.evaluate("(subject) => api('POST', '/api/sessions', {subject, plan: 'sim-demo', confirm_poses: false})",
                  SUBJECT)


def _screen(page: Page) -> str:
    """The screenshot's suffix: the page's width (1280 laptop, 1920 desk)."""
    return str(page.evaluate("() => window.innerWidth"))


def _fill(page: Page, selector: str) -> str:
    return str(page.eval_on_selector(selector, "node => getComputedStyle(node).fill"))


def test_rig_map_shows_a_failed_camera_in_the_failed_colour_with_its_last_image(
        paced_cards: LivePanel, screens: dict[str, Page], studio: VirtualStudio) -> None:
    # Test cards: the map shows states, colours and the last image's name and thumbnail, not what it shows; paced
    # (each take settles its lights 0.6 s) so a take is still being shot when the pages look for busy cameras.
    # One session watched at both screens (laptop, desk): the session is the same, only the screen differs.
    live = paced_cards
    top, side = "#rig-map-top", "#rig-map-side"
    for page in screens.values():
        page.goto(f"{live.url}/#dashboard")
        expect(page.locator(f"{top} g.dev.camera")).to_have_count(16)
        expect(page.locator(f"{side} g.dev.camera")).to_have_count(16)
        expect(page.locator(f"{top} g.dev.fixture")).to_have_count(8)
        expect(page.locator(f'{top} g.dev.turntable[data-device="tt0"]')).to_have_count(1)
        # The rig file gives the trigger box no position: drawn on the outer ring, dashed, and it says so.
        trigger = page.locator(f'{top} g.dev.trigger[data-device="trig0"]')
        expect(trigger).to_have_class(re.compile(r"\bunplaced\b"))
        expect(trigger.locator("title")).to_contain_text("position not in the rig file")
        expect(page.locator(f'{side} g.dev[data-device="trig0"]')).to_have_count(0)
        expect(page.locator("#rig-map-note")).to_contain_text("no geometry calibration accepted")
        expect(page.locator(f'{top} g.dev[data-device="cam05"]')).to_have_attribute("data-state", "not checked")

    # A session: once cam05 has stored an image, its card fills up for good (every attempt of a take fails).
    # Scheduled before the start: injected after the page saw the image, a loaded machine may have shot the
    # last take by then.
    studio.faults.schedule("cam05", "card_full", after=1, count=3)
    _start_session(screens["laptop"])
    # While a take is being shot, its cameras that have not delivered yet are busy (blue), not ok or failed.
    for page in screens.values():
        page.wait_for_function("() => document.querySelector('#rig-map-top g.dev.camera[data-state=\"busy\"]')",
                               timeout=TIMEOUT_MS)
    for page in screens.values():
        page.wait_for_function("() => S.board.tiles.cam05 && S.board.tiles.cam05.last_image", timeout=TIMEOUT_MS)
        page.wait_for_function("() => S.run && S.run.result !== null", timeout=TIMEOUT_MS)
    for page in screens.values():
        failed = page.locator(f'{top} g.dev[data-device="cam05"]')
        expect(failed).to_have_attribute("data-state", "failed")
        expect(page.locator(f'{side} g.dev[data-device="cam05"]')).to_have_attribute("data-state", "failed")
        assert _fill(page, f'{top} g.dev[data-device="cam05"] .mark') == FAILED_RGB
        assert _fill(page, f'{top} g.dev[data-device="cam00"] .mark') == OK_RGB
        expect(page.locator('#camera-tiles .tile[data-device="cam05"]')).to_contain_text("card full")

        # Hover: its last image (the one the board holds), what failed; click: the image viewer gets that image.
        image: dict[str, Any] = page.evaluate("() => S.board.tiles.cam05.last_image")
        failed.locator(".mark").hover()
        peek = page.locator("#rig-map-peek")
        expect(peek).to_be_visible()
        expect(peek).to_contain_text("cam05: failed")
        expect(peek).to_contain_text("card full")
        expect(peek).to_contain_text(f"take {image['take']}")
        thumb = peek.locator("img")
        expect(thumb).to_have_attribute("src", re.compile(re.escape(image["path"].split("/")[-1])))
        page.wait_for_function("() => { const i = document.querySelector('#rig-map-peek img');"
                               " return i && i.complete && i.naturalWidth > 0; }", timeout=TIMEOUT_MS)
        shot(page, f"rigmap-failed-camera-{_screen(page)}")
        page.evaluate("() => { window.openImageViewer = (args) => { window.viewerOpened = args; }; }")
        failed.locator(".mark").click()
        opened = page.evaluate("() => window.viewerOpened")
        assert opened == {"session": image["session"], "path": image["path"], "camera": "cam05",
                          "take": image["take"]}


@pytest.fixture
def worn_studio(studio_files: Path, tmp_path: Path, fast_sim: None) -> Iterator[LivePanel]:
    """The panel on the example studio (trigger box and turntable) where three bodies need attention: cam03's
    battery is nearly flat, cam04's low, and cam06's card is small. Its cameras deliver a fixed test card: the
    tiles show what the devices report, not the pixels, and rendering would be most of its session's time."""
    rig = with_test_card_images(studio_files / "rig.yaml")
    text = rig.read_text(encoding="utf-8")
    for camera, params in (("cam03", "battery_percent: 15"), ("cam04", "battery_percent: 30"),
                           ("cam06", "card_bytes: 2000000000")):
        old = f"- id: {camera}\n    driver: sim\n    params: {{studio: default}}"
        assert old in text, f"{rig} no longer lists {camera} as the test expects"
        text = text.replace(old, f"- id: {camera}\n    driver: sim\n    params: {{studio: default, {params}}}")
    rig.write_text(text, encoding="utf-8")
    handle = start_panel(tmp_path / "panel", rig=rig)
    try:
        yield handle
    finally:
        handle.server.stop()
        assert handle.panel.runs.wait(30.0)


def test_trigger_box_turntable_and_camera_tiles_show_links_settings_bars_and_checks(
        worn_studio: LivePanel, screen_page: Page) -> None:
    live, page = worn_studio, screen_page
    page.goto(f"{live.url}/#dashboard")
    expect(page.locator("#camera-thresholds")).to_contain_text("battery warns below 40 %, bad below 20 %")
    trigger = page.locator('#motion-tiles .tile.trigger[data-device="trig0"]')
    table = page.locator('#motion-tiles .tile.turntable[data-device="tt0"]')
    expect(trigger).to_contain_text("link")
    expect(trigger).to_contain_text("not checked")
    expect(table).to_contain_text("homed")

    page.click("#check-cameras")
    cam00 = page.locator('#camera-tiles .tile[data-device="cam00"]')
    expect(cam00).to_have_class("tile camera ok", timeout=TIMEOUT_MS)
    for label, value in (("ISO", "100"), ("shutter", "1/125"), ("aperture", "8"), ("white balance", "daylight")):
        expect(cam00.locator(f'dt:text-is("{label}") + dd')).to_have_text(value)
    expect(cam00.locator('dt:text-is("last check") + dd')).not_to_have_text("never")
    expect(cam00.locator(".meter").first).to_have_class("meter ok")
    battery = '#camera-tiles .tile[data-device="{}"] dt:text-is("battery") + dd .meter'
    card = '#camera-tiles .tile[data-device="{}"] dt:text-is("card") + dd .meter'
    expect(page.locator(battery.format("cam03"))).to_have_class("meter bad")
    expect(page.locator(battery.format("cam03"))).to_contain_text("15 %")
    expect(page.locator(battery.format("cam04"))).to_have_class("meter warn")
    expect(page.locator(card.format("cam06"))).to_have_class("meter warn")
    expect(page.locator(card.format("cam06"))).to_contain_text("2.0 GB free")
    shot(page, f"rigmap-camera-tiles-{_screen(page)}")

    page.click("#run-preflight")
    expect(page.locator("#preflight-summary")).to_contain_text("preflight", timeout=TIMEOUT_MS)
    expect(page.locator("#preflight-summary")).not_to_contain_text("running", timeout=TIMEOUT_MS)
    expect(trigger.locator('dt:text-is("link") + dd')).to_have_text("open")
    expect(table.locator('dt:text-is("homed") + dd')).to_have_text("yes")
    expect(table.locator('dt:text-is("angle") + dd')).to_have_text("0.0°")
    # Never "ok" beside "not measured yet": the sync row has a verdict of its own, and the trigger tile says it.
    sync = page.locator('#preflight-results tr[data-device="sync"]')
    expect(sync.locator("td").nth(1)).to_have_text("not measured")
    expect(sync).to_contain_text("not measured yet")
    rig_sync = trigger.locator('dt:text-is("rig sync") + dd')
    expect(rig_sync).to_contain_text("not measured yet: run `capturerig trigger test")

    # A session turns the table and fires the trigger: the tiles follow.
    _start_session(page)
    page.wait_for_function("() => S.run && S.run.result !== null", timeout=TIMEOUT_MS)
    expect(table.locator('dt:text-is("station") + dd')).to_have_text("s01")
    expect(table.locator('dt:text-is("angle") + dd')).to_have_text("90.0°")
    expect(trigger.locator('dt:text-is("last fire") + dd')).to_contain_text("take p00/s01")
    expect(trigger.locator('dt:text-is("take sync") + dd')).to_contain_text("ms")
    expect(page.locator('#rig-map-top g.dev[data-device="tt0"]')).to_have_attribute("data-state", "ok")
    expect(cam00.locator("img.last-image")).to_be_visible()
    shot(page, f"rigmap-trigger-turntable-{_screen(page)}")


def test_rig_map_draws_the_accepted_calibration_and_an_unreadable_one_is_a_problem_not_a_blank_map(
        live: LivePanel, page: Page) -> None:
    loaded = rig_of(live)
    folder = live.panel.calibration_dir / loaded.config.name
    folder.mkdir(parents=True)
    (folder / "geometry.json").write_text(shifted_geometry(loaded).to_json(), encoding="utf-8")
    page.goto(f"{live.url}/#dashboard")
    expect(page.locator("#rig-map-note")).to_contain_text("camera poses from the accepted calibration sim-studio-test")
    solved = page.locator('#rig-map-top g.dev[data-device="cam00"] title')
    expect(solved).to_contain_text("calibration: calibrated pose")
    expect(page.locator('#rig-map-top g.dev[data-device="cam01"] title')).to_contain_text(
        "nominal pose (not in the accepted calibration)")
    shot(page, "rigmap-accepted-calibration")

    (folder / "geometry.json").write_text('{"schema": "capturerig.geometry/1", "cameras": 7', encoding="utf-8")
    page.reload()
    problem = page.locator("#problems .problem")
    expect(problem).to_contain_text("the rig's accepted geometry calibration cannot be read")
    expect(problem.locator(".where")).to_contain_text(str(folder / "geometry.json"))
    expect(problem.locator(".todo")).to_contain_text("Calibration page")
    expect(page.locator("#rig-map-top g.dev.camera")).to_have_count(16)  # still drawn, from the rig file
    expect(page.locator('#rig-map-top g.dev[data-device="cam00"] title')).to_contain_text("rig file: nominal pose")
    shot(page, "rigmap-unreadable-calibration")
    unknown = page.request.get(f"{live.url}/api/rigs/no-such-rig/map")
    assert unknown.status == 404
    assert "this panel offers: sim-studio" in unknown.json()["detail"]
