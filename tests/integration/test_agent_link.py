"""The agent link end to end for one camera: arm, expose, spool, pull (checked), acknowledge, delete.

An agent serving the example studio's cam00 on a loopback port, and a RemoteCamera reaching it; the
simulated trigger box of the same (in-process) studio fires it, as the box's cable would.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

import capturerig
from capturerig.agent import Agent, AgentSettings, agent_app
from capturerig.config import LoadedRig
from capturerig.devices import CameraFile, CameraStatus, DeviceError, DeviceTimeout, GroupArming, GroupSetup
from capturerig.devices.remote import AgentEvent, AgentLink, Command, RemoteCamera, SpooledFile
from capturerig.devices.remote._pulls import Puller
from capturerig_sim import VirtualStudio, get_studio
from capturerig_sim.faultproxy import FaultProxy
from tests.conftest import with_test_card_images

pytestmark = pytest.mark.usefixtures("fast_sim")
TOKEN = "link-test-token-0123456789"


@dataclass
class Served:
    rig: LoadedRig
    agent: Agent
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    studio: VirtualStudio

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.agent.close()


def _serve(rig: LoadedRig, spool: Path, port: int = 0) -> Served:
    agent = Agent(rig, AgentSettings(host="h1", cameras=("cam00", "cam01"), spool_dir=spool, reserve_bytes=0,
                                     heartbeat_s=0.2), "test")
    if port == 0:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(agent_app(agent, TOKEN), host="127.0.0.1", port=port,
                                           log_level="warning", ws_ping_interval=None,
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    return Served(rig, agent, f"http://127.0.0.1:{port}", server, thread,
                  get_studio("default", rig.config, rig.path.parent))


@pytest.fixture
def served(studio_files: Path, tmp_path: Path) -> Iterator[Served]:
    rig = capturerig.load_rig(with_test_card_images(studio_files / "rig.yaml"))
    running = _serve(rig, tmp_path / "spool")
    yield running
    running.stop()


@contextmanager
def _link_through_proxy(served: Served, seed: int) -> Iterator[tuple[FaultProxy, AgentLink]]:
    """An open link to the served agent through a fault proxy (closed afterwards)."""
    port = int(served.url.rsplit(":", 1)[1])
    with FaultProxy(("127.0.0.1", 0), ("127.0.0.1", port), seed=seed) as proxy:
        host, proxy_port = proxy.address
        link = AgentLink("h1", f"http://{host}:{proxy_port}", TOKEN)
        try:
            link.open(5)
            yield proxy, link
        finally:
            link.close()


def _camera(served: Served, link: AgentLink) -> RemoteCamera:
    return RemoteCamera(served.rig.config.camera("cam00"), link, served.rig.path.parent, software_trigger=False,
                        max_clock_offset_s=0.005)


def test_an_exposure_travels_spool_to_controller_checked_and_is_deleted_only_once_acknowledged(
        served: Served) -> None:
    link = AgentLink("h1", served.url, TOKEN, dead_after_s=1.0)
    camera = _camera(served, link)
    try:
        status = camera.connect(5)
        assert status.serial == "SIM00000"
        assert abs(link.clock_offset_s) < 0.005  # one machine, one clock
        camera.arm(5)
        served.studio.fire(["cam00"])  # the trigger box's cable
        files = camera.wait_for_files(10)
        assert [f.format for f in files] == ["jpeg"]
        assert files[0].data[:2] == b"\xff\xd8"
        assert files[0].sha256 == hashlib.sha256(files[0].data).hexdigest()  # the agent's, for the engine to check
        spooled = served.agent.spool.unacknowledged()
        assert [s.file_id for s in spooled] == [files[0].name]  # kept on the agent until acknowledged
        assert served.agent.spool.path(files[0].name).is_file()
        camera.delete_files([f.name for f in files], 5)
        assert link.flush_acknowledgements(5)
        assert served.agent.spool.unacknowledged() == []
        assert not served.agent.spool.path(files[0].name).exists()
    finally:
        camera.close()
        link.close()


def test_a_hosts_cameras_are_armed_in_one_request_and_each_exposure_still_finds_its_camera(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    link = AgentLink("h1", served.url, TOKEN, dead_after_s=1.0)
    cameras = [RemoteCamera(served.rig.config.camera(c), link, served.rig.path.parent, software_trigger=False,
                            max_clock_offset_s=0.005) for c in ("cam00", "cam01")]
    requests: list[tuple[int, str, str]] = []  # (the request's task, command, camera) as the agent is asked
    submit = served.agent.submit

    def counted(command: Command):  # type: ignore[no-untyped-def]
        requests.append((id(asyncio.current_task()), command.name, command.camera_id))
        return submit(command)

    try:
        for camera in cameras:
            camera.connect(5)
        monkeypatch.setattr(served.agent, "submit", counted)
        assert all(isinstance(c, GroupArming) for c in cameras)
        assert cameras[0].arm_group == cameras[1].arm_group
        assert cameras[0].arm_together(cameras, 5, 1) == {"cam00": None, "cam01": None}
        arms = [r for r in requests if r[1] == "arm"]
        assert sorted(camera_id for _, _, camera_id in arms) == ["cam00", "cam01"]
        assert len({task for task, _, _ in arms}) == 1  # one request
        served.studio.fire(["cam00", "cam01"])
        for camera in cameras:
            assert [f.format for f in camera.wait_for_files(10)] == ["jpeg"]
    finally:
        for camera in cameras:
            camera.close()
        link.close()


def test_connecting_a_hosts_cameras_together_answers_each_and_names_one_the_host_has_not(served: Served) -> None:
    link = AgentLink("h1", served.url, TOKEN, dead_after_s=1.0)
    cameras = [RemoteCamera(served.rig.config.camera(c), link, served.rig.path.parent, software_trigger=False,
                            max_clock_offset_s=0.005) for c in ("cam00", "cam01", "cam02")]  # h1 serves 00, 01
    try:
        assert all(isinstance(c, GroupSetup) for c in cameras)
        statuses = cameras[0].connect_together(cameras, 5)
        assert {c: s.serial for c, s in statuses.items() if isinstance(s, CameraStatus)} == {
            "cam00": served.rig.config.camera("cam00").serial, "cam01": served.rig.config.camera("cam01").serial}
        assert isinstance(statuses["cam02"], DeviceError)
        assert "cam02: not a camera of host h1" in str(statuses["cam02"])
        read = cameras[0].apply_settings_together([(c, {"iso": "400"}) for c in cameras[:2]], 5)
        assert {c: r["iso"] for c, r in read.items() if isinstance(r, dict)} == {"cam00": "400", "cam01": "400"}
    finally:
        for camera in cameras:
            camera.close()
        link.close()


def test_a_wrong_token_is_refused_naming_the_host(served: Served) -> None:
    link = AgentLink("h1", served.url, "not-the-token-0123456789")
    try:
        with pytest.raises(DeviceError, match="host h1 refused the link's token"):
            link.open(2)
    finally:
        link.close()


def test_a_malformed_command_is_refused_with_422_naming_the_field_and_nothing_runs(served: Served) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    bad = {"commands": [{"cmd_id": "c1", "camera_id": "cam00", "name": "explode", "timeout_s": 5}]}
    answer = httpx.post(f"{served.url}/v1/commands/batch", json=bad, headers=headers, timeout=5)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["commands", 0, "name"]
    not_json = httpx.post(f"{served.url}/v1/commands", content=b"{", headers=headers, timeout=5)
    assert not_json.status_code == 422
    assert "json" in not_json.text.lower()
    no_ids = httpx.post(f"{served.url}/v1/files/ack", json={"file_ids": []}, headers=headers, timeout=5)
    assert no_ids.status_code == 422
    assert no_ids.json()["detail"][0]["loc"] == ["file_ids"]
    assert served.agent.workers["cam00"].view().connected is False  # nothing reached the camera


def test_a_dead_agent_fails_the_wait_within_its_dead_time_and_its_restart_is_adopted(
        served: Served, tmp_path: Path) -> None:
    link = AgentLink("h1", served.url, TOKEN, dead_after_s=1.0)
    camera = _camera(served, link)
    try:
        camera.connect(5)
        camera.arm(5)
        port = int(served.url.rsplit(":", 1)[1])
        first_boot = served.agent.boot_id
        served.stop()  # the host dies before the exposure
        started = time.monotonic()
        with pytest.raises(DeviceError, match=r"host h1: (the agent stopped|agent silent)") as raised:
            camera.wait_for_files(30)
        assert not isinstance(raised.value, DeviceTimeout)
        assert time.monotonic() - started < 3.0
        restarted = _serve(served.rig, tmp_path / "spool", port)  # same spool, new boot
        try:
            camera.arm(5)  # the link takes up the new boot and sets the camera up there again
            assert link.hello is not None
            assert link.hello.boot_id == restarted.agent.boot_id != first_boot
            restarted.studio.fire(["cam00"])
            assert len(camera.wait_for_files(10)) == 1
        finally:
            restarted.stop()
    finally:
        camera.close()
        link.close()


def test_a_pull_cut_again_and_again_resumes_with_range_and_arrives_whole(served: Served) -> None:
    data = random.Random(7).randbytes(3_000_000)  # a full-size RAW's worth of bytes
    spooled = served.agent.spool.store(CameraFile("IMG_0001.CR3", "jpeg", data, time.time()), "cam00", "arm-x", 0)
    with _link_through_proxy(served, seed=3) as (proxy, link):
        proxy.reset_after(400_000, direction="downstream")  # every connection cut after 400 kB
        pulled = link.pull(spooled, 30)
        resets = proxy.counters.connections_reset
        sent = proxy.counters.bytes_downstream
    assert pulled == data
    assert resets >= 6  # it really was cut mid-file, again and again
    # That it arrived at all is the proof that each pull resumed where the last stopped: every connection carries
    # at most 400 kB of a 3 MB file, so a pull restarted from zero would never finish. (What each cut costs is
    # what was in flight, which the kernel drops with a reset socket's unread bytes: it depends on the load.)
    print(f"{sent - len(data)} bytes sent beyond the file over {resets} cuts")


def test_an_event_the_socket_skipped_is_replayed_so_the_exposure_still_arrives(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    events = served.agent.events
    subscribe = events.subscribe
    skipped: list[int] = []

    def skip_the_second_once(since: int):  # type: ignore[no-untyped-def]
        if not skipped:  # three events come after the link's hello, before its socket: the socket's backlog
            for exposure in range(3):
                events.publish(kind="exposure_failed", camera_id="cam00", arm_id="arm-gap", exposure=exposure,
                               error=f"test event {exposure}")
        backlog, queue = subscribe(since)
        if not skipped:  # the first socket loses event 2, as a reordered or dropped send would
            skipped.append(backlog[1].seq)
            backlog = backlog[:1] + backlog[2:]
        return backlog, queue

    monkeypatch.setattr(events, "subscribe", skip_the_second_once)
    link = AgentLink("h1", served.url, TOKEN, dead_after_s=2.0)
    try:
        link.open(5)
        got = [link.wait_exposure("cam00", "arm-gap", exposure, 5) for exposure in range(3)]
    finally:
        link.close()
    assert skipped == [2]
    assert [e.error for e in got] == ["test event 0", "test event 1", "test event 2"]


def test_a_new_link_follows_the_agents_events_from_its_hello_not_from_the_boots_first(served: Served) -> None:
    events = served.agent.events
    for exposure in range(3):  # an earlier session's (or another controller's) arm
        events.publish(kind="exposure_failed", camera_id="cam00", arm_id="arm-earlier", exposure=exposure,
                       error="earlier")
    link = AgentLink("h1", served.url, TOKEN, dead_after_s=2.0)
    try:
        last = events.last_seq
        hello = link.open(5)
        assert hello.last_seq == last >= 3
        events.publish(kind="exposure_failed", camera_id="cam00", arm_id="arm-now", exposure=0, error="now")
        assert link.wait_exposure("cam00", "arm-now", 0, 5).error == "now"
        with pytest.raises(DeviceTimeout):  # not replayed to this link: nothing of it is held or decoded
            link.wait_exposure("cam00", "arm-earlier", 0, 0.3)
    finally:
        link.close()


@pytest.mark.parametrize(("size", "cut"), [(300_000, 1_000_000), (1_500_000, 4_000_000)],
                         ids=["jpegs-read-whole", "raws-streamed"])
def test_sixteen_files_pulled_at_once_through_cuts_arrive_whole_without_fetching_again_what_arrived(
        served: Served, size: int, cut: int) -> None:
    rng = random.Random(11)
    stored = [served.agent.spool.store(CameraFile(f"IMG_{k:04d}.JPG", "jpeg", rng.randbytes(size), time.time()),
                                       "cam00", "arm-many", k) for k in range(16)]
    with _link_through_proxy(served, seed=5) as (proxy, link):
        proxy.reset_after(cut, direction="downstream")  # every connection cut after that much
        with ThreadPoolExecutor(16) as pool:  # as a take's sixteen cameras of one host deliver
            pulled = list(pool.map(lambda s: link.pull(s, 30), stored))
        resets = proxy.counters.connections_reset
        sent = proxy.counters.bytes_downstream
    total = sum(s.size for s in stored)
    assert [hashlib.sha256(p).hexdigest() for p in pulled] == [s.sha256 for s in stored]
    assert resets >= 3  # the batch was cut, and the rest came file by file
    # A batch restarted from zero would send what came before each cut again and again.
    assert sent - total < total, f"{sent - total} bytes sent again over {resets} cuts"


def test_an_exposure_a_live_host_delivers_after_the_engines_wait_still_arrives(served: Served) -> None:
    link = AgentLink("h1", served.url, TOKEN, dead_after_s=1.0)
    camera = _camera(served, link)
    try:
        camera.connect(5)
        camera.arm(5)
        late = threading.Timer(1.0, served.studio.fire, args=(["cam00"],))  # after the 0.5 s the engine gave
        late.start()
        started = time.monotonic()
        files = camera.wait_for_files(0.5)
        waited = time.monotonic() - started
        late.join()
    finally:
        camera.close()
        link.close()
    assert [f.format for f in files] == ["jpeg"]
    assert 0.9 < waited < 5.0


def test_a_small_file_comes_on_the_event_socket_ahead_of_its_event_and_is_not_asked_for_again(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    link = AgentLink("h1", served.url, TOKEN, dead_after_s=2.0)
    camera = _camera(served, link)
    asked: list[str] = []
    pull = Puller.pull

    def counted(self: Puller, spooled: SpooledFile, timeout_s: float, check: bool) -> bytes:
        asked.append(spooled.file_id)
        return pull(self, spooled, timeout_s, check)

    monkeypatch.setattr(Puller, "pull", counted)
    try:
        camera.connect(5)
        deadline = time.monotonic() + 10  # the link's socket follows live: an event before it would be a replay
        while served.agent.events.live_subscribers < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        camera.arm(5)
        served.studio.fire(["cam00"])
        files = camera.wait_for_files(10)
        spooled = served.agent.spool.unacknowledged()
        replayed = link.pull(spooled[0], 5)  # pushed bytes are taken once: a second ask is a pull
    finally:
        camera.close()
        link.close()
    assert files[0].sha256 == hashlib.sha256(files[0].data).hexdigest() == spooled[0].sha256
    assert asked == [spooled[0].file_id]  # only the second ask went over HTTP
    assert replayed == files[0].data


def test_a_file_of_the_largest_pushed_size_comes_on_the_event_socket_without_a_reconnect(
        served: Served, caplog: pytest.LogCaptureFixture) -> None:
    link = AgentLink("h1", served.url, TOKEN, dead_after_s=2.0)
    data = bytes(range(256)) * 4096  # 1 MiB: the agent's largest push, 32 bytes of id more on the wire
    spooled = SpooledFile(file_id="f" * 32, camera_id="cam00", card_name="IMG_0001.JPG", format="jpeg",
                          size=len(data), sha256=hashlib.sha256(data).hexdigest(), exposed_at=time.time(),
                          arm_id="arm-big", exposure=0)
    try:
        link.open(5)
        deadline = time.monotonic() + 10
        while served.agent.events.live_subscribers < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        served.agent.events.publish({spooled.file_id: data}, kind="exposure", camera_id="cam00", arm_id="arm-big",
                                    exposure=0, files=[spooled])
        event = link.wait_exposure("cam00", "arm-big", 0, 5)
        pushed = link._take_pushed(event.files[0])  # the bytes that came with it (None: they would be pulled)
    finally:
        link.close()
    assert pushed == data
    assert "replaying" not in caplog.text


def test_more_acknowledgements_than_one_request_holds_all_reach_the_agent(served: Served) -> None:
    link = AgentLink("h1", served.url, TOKEN, dead_after_s=2.0)
    try:
        link.open(5)
        link.acknowledge([f"{k:032x}" for k in range(12_000)])  # a host away for a long session: the wire takes 10,000
        assert link.flush_acknowledgements(10)
    finally:
        link.close()


def test_an_event_the_controller_cannot_read_fails_the_waits_at_once_naming_the_host(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    link = AgentLink("h1", served.url, TOKEN, dead_after_s=3.0)
    try:
        link.open(5)
        deadline = time.monotonic() + 10
        while served.agent.events.live_subscribers < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        # What an agent of another release might send: the agent's every event (heartbeats too) from now on.
        monkeypatch.setattr(AgentEvent, "model_dump_json", lambda self, **_: '{"kind": "exposure", "seq": "x"}')
        started = time.monotonic()
        with pytest.raises(DeviceError, match="host h1 sent an event this controller cannot read"):
            link.wait_exposure("cam00", "arm-x", 0, 10)
        assert time.monotonic() - started < 2.5  # at the next heartbeat (0.2 s), not after 3 s of silence
    finally:
        link.close()  # the follower ended on its own: closing does not raise
