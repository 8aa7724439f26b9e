"""The dashboard over a rig whose cameras sit on two capture hosts (agents in this process on 127.0.0.11 and
.12): a tile per host above the cameras with its cameras, clock offset and spool, and a host that goes away
named on its tile and on its cameras' tiles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

import capturerig
from capturerig.agent import AgentServer, serve_agent
from capturerig.engine import capturerig_version
from capturerig_sim import VirtualStudio
from tests._multihost import multihost_rig
from tests.web.conftest import LivePanel, shot, start_panel

TIMEOUT_MS = 60_000
HOSTS = {"agent1": "127.0.0.11", "agent2": "127.0.0.12"}
TOKEN = "panel-agent-token-0123456789"


@pytest.fixture
def multihost(studio_files: Path, tmp_path: Path,
              studio: VirtualStudio) -> Iterator[tuple[LivePanel, dict[str, AgentServer]]]:
    rig_path = multihost_rig(studio_files, HOSTS, TOKEN)
    rig = capturerig.load_rig(rig_path)
    agents = {name: serve_agent(rig, name, TOKEN, tmp_path / "spool", capturerig_version()) for name in HOSTS}
    handle = start_panel(tmp_path / "panel", rig=rig_path)
    try:
        yield handle, agents
    finally:
        handle.server.stop()
        for agent in agents.values():
            agent.close()


def test_dashboard_shows_each_capture_host_as_a_tile_with_its_cameras_and_clock(
        multihost: tuple[LivePanel, dict[str, AgentServer]], page: Page) -> None:
    live, agents = multihost
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live.url}/#dashboard")
    hosts = page.locator("#host-tiles .tile.host")
    expect(hosts).to_have_count(2)
    agent1 = page.locator('#host-tiles .tile[data-host="agent1"]')
    expect(agent1).to_have_class("tile host unknown")
    expect(agent1).to_contain_text("0/8 ok: cam00 cam01 cam02 cam03 cam04 cam05 cam06 cam07")
    expect(page.locator('#camera-tiles .tile[data-device="cam09"] h3')).to_have_text("cam09 @ agent2")

    page.click("#check-cameras")
    for name, cameras in (("agent1", "cam00 cam01"), ("agent2", "cam08 cam09")):
        tile = page.locator(f'#host-tiles .tile[data-host="{name}"]')
        expect(tile).to_have_class("tile host ok", timeout=TIMEOUT_MS)
        expect(tile).to_contain_text("8/8 ok", timeout=TIMEOUT_MS)
        expect(tile).to_contain_text(cameras)
        expect(tile).to_contain_text("0 files / 0.0 MB")  # nothing spooled yet
        expect(tile).to_contain_text(" ms (rtt ")  # the clock offset and the round trip, measured
        expect(tile).to_contain_text(capturerig_version())
    clock = page.locator('#host-tiles .tile[data-host="agent1"] dd').nth(3).inner_text()
    assert abs(float(clock.split(" ms")[0])) < 50, clock  # one process: the same clock
    # Compact: both host tiles sit above the cameras and within the first screen at 1280x800.
    first_camera = page.locator("#camera-tiles .tile").first.bounding_box()
    assert first_camera is not None
    for index in range(2):
        box = hosts.nth(index).bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= min(800, first_camera["y"])
    shot(page, "dashboard-hosts")

    agents["agent2"].close()  # the host went away: its tile and its cameras' tiles say so, naming it
    page.click("#check-cameras")
    agent2 = page.locator('#host-tiles .tile[data-host="agent2"]')
    expect(agent2).to_have_class("tile host bad", timeout=TIMEOUT_MS)
    expect(agent2).to_contain_text("host agent2 at http://127.0.0.12:")
    camera = page.locator('#camera-tiles .tile[data-device="cam08"]')
    expect(camera).to_have_class("tile camera bad", timeout=TIMEOUT_MS)
    expect(camera).to_contain_text("agent2")
    expect(page.locator('#host-tiles .tile[data-host="agent1"]')).to_have_class("tile host ok")
    shot(page, "dashboard-host-down")
