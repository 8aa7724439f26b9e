"""Capture hosts on the panel's device board: a tile per host (state, its cameras and how many are ok, spool
backlog, free disk against the reserve, clock offset), fed by the host's preflight result, a host check and
failed takes that name the host; and every failure names the host it happened on."""

from __future__ import annotations

from typing import Any

from capturerig.web._messages import HostStatus, message_kinds
from capturerig.web._views import DeviceBoard, PanelViews, RunView, apply_changes, hosts_named

HOSTS = {"agent1": ("cam00", "cam01"), "agent2": ("cam02", "cam03")}


def _status(host: str, problem: str | None = None, **fields: Any) -> dict[str, Any]:
    numbers: dict[str, Any] = dict(capturerig_version="0.9.0", agent_cameras=list(HOSTS[host]), clock_offset_ms=0.4,
                                   round_trip_ms=1.2, spool_files=3, spool_bytes=12_000_000,
                                   free_bytes=50_000_000_000, reserve_bytes=2_000_000_000)
    numbers.update(fields)
    return HostStatus(host=host, url=f"http://127.0.0.1{host[-1]}:9100", cameras=list(HOSTS[host]), problem=problem,
                      at=10.0, **numbers).message()


def test_every_host_has_a_tile_from_the_start_and_its_preflight_result_sets_its_state() -> None:
    board = DeviceBoard(HOSTS)
    assert {name: (t["state"], t["cameras"], t["cameras_ok"]) for name, t in board.hosts.items()} == {
        "agent1": ("unknown", ["cam00", "cam01"], 0), "agent2": ("unknown", ["cam02", "cam03"], 0)}
    touched = board.apply({"kind": "PreflightResult", "session": "panel", "device_id": "agent1", "ok": True,
                           "detail": "http://127.0.0.11:9100, capturerig 0.9.0, clock +0.3 ms"})
    assert touched == [("hosts", "agent1"), ("preflight", "results")]
    problem = "host agent2 at http://127.0.0.12:9100: connection refused"
    board.apply({"kind": "PreflightResult", "session": "s1", "device_id": "agent2", "ok": False, "detail": problem})
    assert board.hosts["agent1"]["state"] == "ok"
    assert board.hosts["agent1"]["preflight"] == {"ok": True,
                                                 "detail": "http://127.0.0.11:9100, capturerig 0.9.0, clock +0.3 ms"}
    assert board.hosts["agent2"]["state"] == "bad"
    assert board.hosts["agent2"]["last_error"] == problem
    assert set(board.tiles).isdisjoint(HOSTS)  # hosts are not camera tiles
    assert [r["device_id"] for r in board.preflight["results"]] == ["agent1"]  # only the panel's own preflight


def test_a_host_status_fills_the_tile_and_counts_the_hosts_cameras_that_are_ok() -> None:
    board = DeviceBoard(HOSTS)
    assert board.apply(_status("agent1")) == [("hosts", "agent1")]
    tile = board.hosts["agent1"]
    assert tile["state"] == "ok"
    assert (tile["clock_offset_ms"], tile["round_trip_ms"], tile["spool_files"], tile["spool_bytes"]) == (
        0.4, 1.2, 3, 12_000_000)
    assert (tile["free_bytes"], tile["reserve_bytes"], tile["checked_at"]) == (50_000_000_000, 2_000_000_000, 10.0)
    assert board.apply({"kind": "DeviceStatus", "id": "cam01", "connected": True}) == [
        ("tiles", "cam01"), ("hosts", "agent1")]
    assert board.tiles["cam01"]["host"] == "agent1"  # a camera tile names its host
    assert board.hosts["agent1"]["cameras_ok"] == 1
    board.apply({"kind": "FileStored", "camera_id": "cam00", "path": "images/x.jpg", "at": 11.0, "take_id": "t"})
    assert board.hosts["agent1"]["cameras_ok"] == 2

    low = "host agent1's spool disk is low: 1.0 GB free, 2.0 GB kept in reserve (it would refuse to arm)"
    board.apply(_status("agent1", low, free_bytes=1_000_000_000))
    assert board.hosts["agent1"]["state"] == "bad"
    assert board.hosts["agent1"]["problem"] == low
    board.apply(_status("agent1"))
    assert board.hosts["agent1"]["state"] == "ok"
    assert board.hosts["agent1"]["problem"] is None
    assert board.hosts["agent1"]["last_error"] == low  # kept as history

    unreachable = HostStatus(host="agent9", url="http://127.0.0.19:9100", cameras=["cam09"],
                             problem="host agent9 at http://127.0.0.19:9100: connection refused").message()
    board.apply(unreachable)  # a host the board was not told of gets a tile too
    assert board.hosts["agent9"]["state"] == "bad"
    assert board.hosts["agent9"]["clock_offset_ms"] is None


def test_a_failed_take_naming_a_host_marks_its_tile_bad_with_the_take() -> None:
    board = DeviceBoard(HOSTS)
    for host in HOSTS:
        board.apply(_status(host))
    for camera in ("cam00", "cam02", "cam03"):
        board.apply({"kind": "DeviceStatus", "id": camera, "connected": True})
    error = ("take p00/s00/l01/b0: cam02: host agent2: agent silent for 3.1 s (dead, or the network is down); "
             "cam03: no exposure from host agent2 within 5 s; cam00: download timed out (on host agent1)")
    touched = board.apply({"kind": "TakeFailed", "take_id": "p00/s00/l01/b0", "error": error})
    assert set(touched) >= {("hosts", "agent1"), ("hosts", "agent2"), ("tiles", "cam02"), ("tiles", "cam00")}
    assert board.hosts["agent2"]["state"] == "bad"
    assert board.hosts["agent2"]["last_error"] == (
        "p00/s00/l01/b0: cam02: host agent2: agent silent for 3.1 s (dead, or the network is down)")
    assert board.hosts["agent2"]["failed_take"] == "p00/s00/l01/b0"
    assert board.hosts["agent2"]["cameras_ok"] == 0
    assert board.tiles["cam00"]["last_error"] == "p00/s00/l01/b0: download timed out (on host agent1)"
    assert board.hosts["agent1"]["last_error"] == "p00/s00/l01/b0: cam00: download timed out (on host agent1)"

    other = DeviceBoard({"agent1": ("cam00",), "agent10": ("cam10",)})
    other.apply({"kind": "TakeFailed", "take_id": "t", "error": "take t: cam10: host agent10: link not open"})
    assert other.hosts["agent10"]["state"] == "bad"
    assert other.hosts["agent1"]["state"] == "unknown"  # agent1 is not agent10


def test_a_failed_take_names_the_hosts_it_concerns_on_the_session_page() -> None:
    assert hosts_named("take t: cam03: corrupt download", HOSTS) == ["agent2"]  # by its camera
    assert hosts_named("take t: host agent1's clock is +40.1 ms off", HOSTS) == ["agent1"]
    assert hosts_named("take t: cam07: corrupt download", HOSTS) == []
    view = RunView(HOSTS)
    takes = [{"id": "t", "pose": "p00", "cameras": ["cam00", "cam03"]}]
    view.apply({"kind": "RunStarted", "session": "s", "at": 1.0, "takes": takes, "status": {},
                "info": {"name": "s"}})
    view.apply({"kind": "TakeFailed", "session": "s", "take_id": "t", "attempt": 1, "will_retry": True,
                "error": "take t: cam03: corrupt download"})
    assert view.status["t"]["hosts"] == ["agent2"]
    view.apply({"kind": "TakeVerified", "session": "s", "take_id": "t", "ordinal": 0, "total": 1, "attempt": 2})
    assert "hosts" not in view.status["t"]


def test_host_tiles_reach_the_page_in_the_snapshot_and_its_patches() -> None:
    assert "HostStatus" in message_kinds()
    views = PanelViews(hosts=HOSTS)
    page = views.snapshot()
    assert set(page["board"]["hosts"]) == {"agent1", "agent2"}
    for message in (_status("agent1"), _status("agent2", "host agent2 runs capturerig 0.0.1"),
                    {"kind": "DeviceStatus", "id": "cam00", "connected": True}):
        patch = views.apply(message)
        assert patch is not None
        apply_changes(page, patch["changes"])
    assert page["board"] == views.snapshot()["board"]
    assert page["board"]["hosts"]["agent1"]["cameras_ok"] == 1
    assert page["board"]["hosts"]["agent2"]["state"] == "bad"
