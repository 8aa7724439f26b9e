"""The live socket carries the server's views: a snapshot on connecting, then numbered patches; a client that
reads too slowly is told so and sent a fresh snapshot; one that reconnects starts from a snapshot. Whatever
the path, an open page ends up holding exactly what ``/api/state`` says."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
import websockets.sync.client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from capturerig.web._messages import message_kinds
from capturerig.web._views import apply_changes
from capturerig_sim import VirtualStudio
from tests.web._stream import load_stream
from tests.web.conftest import SUBJECT, LivePanel, card_rig, start_panel

QUEUE = 64  # per client; a session sends several hundred messages
TAKES, CAMERAS = 8, 16


class _Client:
    """A page's socket handling (static/panel.js:onMessage), in Python."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.views: dict[str, Any] = {}
        self.seq: int | None = None
        self.kinds: list[str] = []

    def handle(self, message: dict[str, Any]) -> None:
        kind = message["kind"]
        self.kinds.append(kind)
        if kind == "Snapshot":
            self.views, self.seq = message, message["seq"]
        elif kind == "ViewPatch" and self.seq is not None and message["seq"] > self.seq:
            assert message["seq"] == self.seq + 1, "a gap without a fresh snapshot before it"
            apply_changes(self.views, message["changes"])
            self.seq = self.views["seq"] = message["seq"]

    def read_until_closed(self) -> None:
        try:
            while True:
                self.handle(json.loads(self.socket.recv()))
        except ConnectionClosed:
            return


def _connect(live: LivePanel, stack: ExitStack, query: str = "") -> _Client:
    """A page's socket, read along in a thread of its own."""
    url = live.url.replace("http", "ws") + "/ws" + query
    client = _Client(stack.enter_context(websockets.sync.client.connect(
        url, origin=live.url, open_timeout=10, max_size=None)))  # type: ignore[arg-type]
    threading.Thread(target=client.read_until_closed, daemon=True).start()
    return client


def _state(live: LivePanel) -> dict[str, Any]:
    state: dict[str, Any] = requests.get(f"{live.url}/api/state", timeout=30).json()
    assert state["kind"] == "Snapshot"
    return state


def _shown(views: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in views.items() if key not in ("kind", "at", "clients")}


def _caught_up(live: LivePanel, *clients: _Client) -> dict[str, Any]:
    """The server's views once every client holds the same sequence number (and so the same views)."""
    deadline = time.monotonic() + 30.0
    state = _state(live)
    while any(client.seq != state["seq"] for client in clients):
        assert time.monotonic() < deadline, f"clients at {[c.seq for c in clients]}, the server at {state['seq']}"
        time.sleep(0.05)
        state = _state(live)
    for client in clients:
        assert _shown(client.views) == _shown(state)
        assert set(client.kinds) <= message_kinds()
    return state


@pytest.fixture
def small_queues(tmp_path: Path, studio: VirtualStudio) -> Iterator[LivePanel]:
    # Test cards: the views and messages of a session are checked, not its images.
    handle = start_panel(tmp_path, queue_size=QUEUE, rig=card_rig(tmp_path / "studio"))
    try:
        yield handle
    finally:
        handle.server.stop()
        assert handle.panel.runs.wait(30.0)


def test_pages_that_read_along_lag_or_reconnect_all_hold_the_servers_views(small_queues: LivePanel) -> None:
    live = small_queues
    with ExitStack() as stack:
        first, second = _connect(live, stack), _connect(live, stack, "?events=false")  # second: as the page asks
        response = requests.post(f"{live.url}/api/sessions", headers={"Origin": live.url}, timeout=60,
                                 json={"subject": SUBJECT, "plan": "sim-demo", "confirm_poses": False})
        assert response.status_code == 202, response.text
        assert live.panel.runs.wait(120.0)
        state = _caught_up(live, first, second)
        run = state["run"]
        assert run["state"] == "done"
        assert [entry["status"] for entry in run["status"].values()] == ["verified"] * TAKES
        assert sum(len(entry["files"]) for entry in run["status"].values()) == TAKES * CAMERAS
        assert {"RunStarted", "TakeStarted", "FileStored", "ViewPatch", "RunFinished"} <= set(first.kinds)
        # the views, without the events reduced into them
        assert "ViewPatch" in second.kinds
        assert set(second.kinds) <= {"Snapshot", "ViewPatch", "ClientLagged"}

        # A burst far beyond a client's queue, all on the loop at once (a recorded session, replayed): every
        # client loses messages, is told so, gets a fresh snapshot, and goes on from there.
        hub = live.panel.hub
        stream = load_stream()
        loop = hub._loop
        assert loop is not None
        loop.call_soon_threadsafe(lambda: [hub.publish(message) for message in stream])
        state = _caught_up(live, first, second)
        assert state["run"]["session"]["name"] == stream[[m["kind"] for m in stream].index("RunStarted")]["session"]
        assert state["run"]["result"]["takes_verified"] == 6
        for client in (first, second):
            lagged = client.kinds.index("ClientLagged")
            assert client.kinds[lagged + 1] == "Snapshot"

        # A page that (re)connects starts from the same views.
        again = _connect(live, stack)
        assert _shown(_caught_up(live, again)) == _shown(state)
        assert again.kinds == ["Snapshot"]
