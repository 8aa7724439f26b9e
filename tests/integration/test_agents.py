"""One session over several capture hosts: the studio's cameras served by agents on 127.0.0.11 and .12.

The agents run in this process (threads), so their simulated cameras share the controller's virtual studio:
the trigger box, lights and turntable stay with the controller, and only cameras cross the agent link.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

import capturerig
from capturerig.agent import AgentRefused, AgentServer, serve_agent
from capturerig.devices.remote import API, BOOT_HEADER, Command
from capturerig.engine import Event, RunState, Session, TakeFailed, TakeVerified, capturerig_version
from capturerig_sim import get_studio
from tests._multihost import multihost_rig

pytestmark = pytest.mark.usefixtures("fast_sim")

HOSTS = {"agent1": "127.0.0.11", "agent2": "127.0.0.12"}
TOKEN = "agent-test-token-0123456789"


def _multihost(studio_files: Path, trigger_box: bool = True) -> Path:
    return multihost_rig(studio_files, HOSTS, TOKEN, trigger_box)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def _serve(rig_path: Path, spool: Path, host: str, version: str | None = None) -> AgentServer:
    rig = capturerig.load_rig(rig_path)
    return serve_agent(rig, host, TOKEN, spool, version or capturerig_version())


@pytest.fixture
def agents(studio_files: Path, spool: Path) -> Iterator[dict[str, AgentServer]]:
    rig_path = _multihost(studio_files)
    servers = {name: _serve(rig_path, spool, name) for name in HOSTS}
    yield servers
    for server in servers.values():
        server.close()


def _session(studio_files: Path, tmp_path: Path) -> Session:
    rig = capturerig.load_rig(studio_files / "rig.yaml")
    plan = capturerig.load_plan(studio_files / "plan.yaml", rig)
    return Session.create(rig, plan, subject="S-test", out=tmp_path / "session")


def test_a_session_over_two_agents_verifies_every_take_and_the_spools_end_empty(
        studio_files: Path, tmp_path: Path, agents: dict[str, AgentServer]) -> None:
    session = _session(studio_files, tmp_path)
    result = session.run()
    assert result.state == RunState.DONE, result.error
    assert result.takes_verified == 8
    files = session.folder.journal.files()
    assert len(files) == 8 * 16
    assert all((session.path / f.path).is_file() for f in files)
    for server in agents.values():  # every file acknowledged once journalled: nothing left to pull
        assert server.agent.spool.unacknowledged() == []


def test_cameras_on_agents_learn_which_take_each_exposure_is_so_plates_show_the_empty_rig(
        studio_files: Path, tmp_path: Path, agents: dict[str, AgentServer]) -> None:
    # The sim's technician clears the rig for exposures labelled for the plate pose: the labels the controller
    # sends with each arm must reach the agents' cameras as they reach a local one.
    plan = studio_files / "plan.yaml"
    plan.write_text(plan.read_text(encoding="utf-8") + "plates: after\n", encoding="utf-8")
    session = _session(studio_files, tmp_path)
    result = session.run()
    assert result.state == RunState.DONE, result.error
    assert result.takes_verified == 16
    rig = capturerig.load_rig(studio_files / "rig.yaml")
    log = get_studio("default", rig.config, rig.path.parent).exposure_log()
    labelled = {(r.take_id or "").split("/")[0]: set() for r in log}
    for record in log:
        labelled[(record.take_id or "").split("/")[0]].add(record.subject_present)
    assert labelled == {"p00": {True}, "plate": {False}}


def test_software_triggered_cameras_on_agents_fire_at_a_scheduled_time(
        studio_files: Path, spool: Path, tmp_path: Path) -> None:
    rig_path = _multihost(studio_files, trigger_box=False)
    servers = [_serve(rig_path, spool, name) for name in HOSTS]
    try:
        session = _session(studio_files, tmp_path)
        result = session.run()
    finally:
        for server in servers:
            server.close()
    assert result.state == RunState.DONE, result.error
    dispatched = session.folder.journal.events("TriggerDispatched")
    assert {d["mode"] for d in dispatched} == {"software"}
    assert len(session.folder.journal.files()) == 8 * 16


def test_a_command_sent_twice_acts_once(studio_files: Path, agents: dict[str, AgentServer]) -> None:
    agent = agents["agent1"].agent
    connect = Command(cmd_id="c1", camera_id="cam00", name="connect", timeout_s=5)
    arm = Command(cmd_id="a1", camera_id="cam00", name="arm", args={"exposures": 1, "wait_s": 0.5}, timeout_s=5)
    assert agent.command(connect).ok
    first, again = agent.command(arm), agent.command(arm)
    assert first.ok
    assert again == first
    time.sleep(0.8)  # the one download waits 0.5 s for an exposure that never comes
    failed = [e for e in agent.events.kept() if e.kind == "exposure_failed"]
    assert len(failed) == 1


def test_the_link_refuses_a_missing_or_wrong_token_and_an_old_boot(agents: dict[str, AgentServer]) -> None:
    server = agents["agent1"]
    hello = f"{server.url}{API}/hello"
    assert httpx.get(hello).status_code == 401
    assert httpx.get(hello, headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(hello, headers=good).json()["boot_id"] == server.agent.boot_id
    old_boot = httpx.get(hello, headers={**good, BOOT_HEADER: "a-boot-before-a-restart"})
    assert old_boot.status_code == 409
    assert "restarted" in old_boot.json()["detail"]


def test_preflight_refuses_a_host_of_another_release_or_unreachable_naming_it(
        studio_files: Path, spool: Path, tmp_path: Path) -> None:
    rig_path = _multihost(studio_files)
    old = _serve(rig_path, spool, "agent1", version="0.0.1")  # agent2 is not started at all
    try:
        result = _session(studio_files, tmp_path).run()
    finally:
        old.close()
    assert result.state == RunState.FAILED
    assert result.error is not None
    assert "host agent1 runs capturerig 0.0.1, the controller" in result.error
    assert "host agent2 at http://127.0.0.12:" in result.error
    assert "start `capturerig agent` on that host" in result.error


def test_an_agent_off_loopback_without_a_token_refuses_to_start(studio_files: Path, spool: Path) -> None:
    rig_path = _multihost(studio_files)
    text = rig_path.read_text().replace("address: 127.0.0.12", "address: 10.200.0.12")
    rig_path.write_text(text)
    rig = capturerig.load_rig(rig_path)
    with pytest.raises(AgentRefused, match="not loopback: an agent there needs a token"):
        serve_agent(rig, "agent2", None, spool, "test")


def test_an_agent_that_dies_mid_session_fails_its_take_at_once_naming_the_host_and_a_restart_carries_on(
        studio_files: Path, spool: Path, tmp_path: Path, agents: dict[str, AgentServer]) -> None:
    rig_path = studio_files / "rig.yaml"
    session = _session(studio_files, tmp_path)
    failures: list[tuple[float, str]] = []
    killed: list[float] = []

    def on_event(event: Event) -> None:
        if isinstance(event, TakeVerified) and event.ordinal == 2 and not killed:
            killed.append(time.monotonic())
            threading.Thread(target=_kill_and_restart, daemon=True).start()
        if isinstance(event, TakeFailed):
            failures.append((time.monotonic(), event.error))

    def _kill_and_restart() -> None:
        agents["agent2"].close()  # as if the host lost power: its spool stays on disk
        time.sleep(1.0)  # back while the take is shot again (a host away longer fails the session: resume)
        agents["agent2"] = _serve(rig_path, spool, "agent2")

    session.subscribe(on_event)
    result = session.run()
    assert result.state == RunState.DONE, result.error
    assert failures, "the take in flight when the agent died must fail"
    at, error = failures[0]
    assert "agent2" in error
    assert at - killed[0] < 3.0  # its port refuses at once; a silent one (cut, frozen) is dead after 3 s
    assert len({f.path for f in session.folder.journal.verified_files()}) == 8 * 16


def test_preflight_refuses_a_host_whose_clock_is_off(studio_files: Path, tmp_path: Path,
                                                     agents: dict[str, AgentServer],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # No second clock can exist in one process: the agent's module reads a clock 40 ms ahead.
    import capturerig.agent._agent as agent_module
    monkeypatch.setattr(agent_module, "time", SimpleNamespace(time=lambda: time.time() + 0.040))
    result = _session(studio_files, tmp_path).run()
    assert result.state == RunState.FAILED
    assert result.error is not None
    # Measured over a loopback round trip, to within half of it: a loaded machine's trip can be milliseconds.
    offset = re.search(r"host agent1's clock is \+(\d+\.\d) ms", result.error)
    assert offset is not None, result.error
    assert 30.0 <= float(offset.group(1)) <= 50.0, result.error
    assert "bound 5 ms" in result.error


def test_preflight_sets_up_each_hosts_cameras_in_two_requests_and_names_a_swapped_one(
        studio_files: Path, spool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig_path = _multihost(studio_files)
    text = rig_path.read_text(encoding="utf-8")
    swapped = "    params: {studio: default}\n    serial: SIM00002"
    assert swapped in text
    rig_path.write_text(text.replace(swapped, "    params: {studio: default, serial_reported: SIM99999}\n"
                                              "    serial: SIM00002"), encoding="utf-8")
    servers = {name: _serve(rig_path, spool, name) for name in HOSTS}
    asked: dict[str, list[tuple[int, str, str]]] = {name: [] for name in HOSTS}  # (request task, command, camera)
    for name, server in servers.items():
        submit = server.agent.submit

        def counted(command: Command, submit=submit, seen=asked[name]):  # type: ignore[no-untyped-def]
            seen.append((id(asyncio.current_task()), command.name, command.camera_id))
            return submit(command)

        monkeypatch.setattr(server.agent, "submit", counted)
    try:
        result = _session(studio_files, tmp_path).run()
    finally:
        for server in servers.values():
            server.close()
    assert result.state == RunState.FAILED
    assert "cam02: reports serial SIM99999 but the rig says SIM00002" in (result.error or "")
    rig = capturerig.load_rig(rig_path).config
    for name, seen in asked.items():
        cameras = rig.host(name).cameras
        connects = [(task, camera) for task, command, camera in seen if command == "connect"]
        settings = [(task, camera) for task, command, camera in seen if command == "apply_settings"]
        assert sorted(camera for _, camera in connects) == sorted(cameras)
        assert len({task for task, _ in connects}) == 1, f"{name}: connects in {connects}"
        assert sorted(camera for _, camera in settings) == sorted(c for c in cameras if c != "cam02")  # not the swapped
        assert len({task for task, _ in settings}) == 1, f"{name}: settings in {settings}"
