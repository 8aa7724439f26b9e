"""Capture hosts on their own network, as in a studio: each `capturerig agent` runs in a Linux network namespace,
reached by the controller (this process) over a rate-limited veth link (tests/_netns.py).

The example studio's 16 cameras (lights on sACN multicast, examples/sacn) on two hosts at the namespaces'
addresses, with tokens as off loopback. The agents' simulated studios see the controller's trigger pulses and
table over the studio bus and the lights' sACN frames, both multicast across the links, and render what they
see. Skipped, with the reason, where the machine does not allow namespaces (not root, no `ip netns` ...).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import capturerig
from capturerig.engine import Event, RunState, Session, TakeFailed, TakeVerified
from capturerig.plan import expand_plan
from capturerig_sim._chaos_multihost_checks import check_multihost_session
from capturerig_sim._ledger import LEDGER_ENV, read_ledger
from capturerig_sim.wire import stop_wire_simulators
from tests._lit import assert_lit_as_planned
from tests._netns import StudioLan, netns_unavailable_reason, studio_lan
from tests.conftest import child_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "examples" / "sim-studio" / "plan.yaml"
HOSTS = {"agent1": [f"cam{c:02d}" for c in range(8)], "agent2": [f"cam{c:02d}" for c in range(8, 16)]}
TOKEN = "netns-test-token-0123456789"
TAKES, CAMERAS = 8, 16
LINK_CUT_S = 1.5
AGENT_START_S = 30.0


@pytest.fixture(scope="module")
def lan() -> Iterator[StudioLan]:
    """One namespace per host on a 200 mbit link each, shared by the module's tests."""
    reason = netns_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with studio_lan(list(HOSTS)) as made:
        print(f"\ntest LAN 10.250.{made.index}.0/24 on {made.bridge}: " + "; ".join(made.shaping))
        yield made


def _write_rig(lan: StudioLan, folder: Path, test_card_images: bool) -> Path:
    """examples/sacn with its light on multicast and its cameras on the LAN's hosts (``test_card_images``: the
    cameras deliver a fixed card instead of rendering, for tests where the pixels do not matter).

    Multicast sockets name no interface (0.0.0.0), as on a real LAN where one rig file serves every host: the
    routes pick the bridge (controller) or the host's link (agents). Groups, universe and ports are this LAN's
    own, so a parallel worker's LAN never hears this one.
    """
    universe = 1000 + lan.index  # its group 239.255.3.x/239.255.4.x: one per LAN
    text = (REPO / "examples" / "sacn" / "rig.yaml").read_text()
    unicast = "params: {host: 127.0.0.2, port: 5568, priority: 100, rate_hz: 44, keepalive_s: 0.8}"
    assert unicast in text
    text = text.replace(unicast, f"params: {{multicast: true, multicast_interface: 0.0.0.0, multicast_ttl: 1, "
                                 f"port: {20000 + lan.index}, cid: {uuid.uuid4()}, priority: 100, rate_hz: 44, "
                                 "keepalive_s: 0.8}")
    text = text.replace("universes: [1]\n", f"universes: [{universe}]\n")
    text = text.replace("    universe: 1\n", f"    universe: {universe}\n")
    bus = f"{{group: {_bus_group(lan)}, port: {21000 + lan.index}, interface: 0.0.0.0}}"
    images = "  images: repeat\n" if test_card_images else ""
    text = text.replace("\nsimulation:\n", f"\nsimulation:\n{images}  studio_bus: {bus}\n", 1)
    lines = ["hosts:"]
    for name, cameras in HOSTS.items():
        (folder / f"{name}.token").write_text(TOKEN + "\n")
        lines.append(f"  - {{name: {name}, address: {lan.hosts[name].address}, cameras: [{', '.join(cameras)}], "
                     f"token_file: {name}.token}}")
    path = folder / ("rig-test-card.yaml" if test_card_images else "rig.yaml")
    path.write_text(text + "\n".join(lines) + "\n")
    return path


def _bus_group(lan: StudioLan) -> str:
    return f"239.192.{lan.index}.1"


def _sacn_group(lan: StudioLan) -> str:
    universe = 1000 + lan.index
    return f"239.255.{universe >> 8}.{universe & 0xFF}"


@pytest.fixture(scope="module")
def rigs(lan: StudioLan, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The studio on the LAN: "rendered" (what the lights lit) and "test card" images; the multicast groups
    of both routed over the bridge."""
    for group in (_bus_group(lan), _sacn_group(lan)):
        lan.route_multicast(group)
    folder = tmp_path_factory.mktemp("netns-studio")
    return {"rendered": _write_rig(lan, folder, test_card_images=False),
            "test card": _write_rig(lan, folder, test_card_images=True)}


class AgentProcess:
    """One host's `capturerig agent`, run in its namespace; its output is read all along (a full pipe would
    stop it) and kept for the test's messages."""

    def __init__(self, lan: StudioLan, host: str, rig_path: Path, spool: Path, env: dict[str, str]) -> None:
        command = lan.command_in(host, [sys.executable, "-m", "capturerig", "agent", "--rig", str(rig_path),
                                        "--host", host, "--spool", str(spool)])
        self.host = host
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        self._first_line = threading.Event()
        self._terminated = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self._first_line.set()
        self._first_line.set()

    def wait_listening(self, address: str) -> None:
        """Until the agent says where it listens (its first line), which must be ``address``."""
        self._first_line.wait(AGENT_START_S)
        said = "".join(self.output)
        assert said.startswith(f"agent {self.host}: http://{address}:"), said or "(nothing)"

    def terminate(self) -> None:
        """SIGTERM, as Ctrl-C (once: a second one would interrupt its shutdown)."""
        if self.process.poll() is None and not self._terminated:
            self._terminated = True
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self) -> None:
        """Until it exits; killed if it does not within 15 s."""
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@dataclass
class Agents:
    """The hosts' agents, their spool folder and the sim cameras' ledger."""

    processes: dict[str, AgentProcess]
    spool: Path
    ledger: Path

    def stop(self) -> None:
        for agent in self.processes.values():  # all at once, then wait for each
            agent.terminate()
        for agent in self.processes.values():
            agent.wait_stopped()


@pytest.fixture
def start_agents(lan: StudioLan, tmp_path: Path) -> Iterator[Callable[[Path], Agents]]:
    """Starts each host's agent of a rig in its namespace (no modelled latencies), with a fresh spool and sim
    ledger; stopped at the end of the test."""
    started: list[Agents] = []

    def start(rig_path: Path) -> Agents:
        agents = Agents({}, tmp_path / "spool", tmp_path / "sim-ledger.jsonl")
        started.append(agents)
        env = {**child_env(0.0), LEDGER_ENV: str(agents.ledger)}
        for host in HOSTS:
            agents.processes[host] = AgentProcess(lan, host, rig_path, agents.spool, env)
        for host, agent in agents.processes.items():
            agent.wait_listening(lan.hosts[host].address)
        return agents

    yield start
    for agents in started:
        agents.stop()


@pytest.fixture
def controller(fast_sim: None) -> Iterator[None]:
    """This process as the controller: a fresh studio, and its sACN receiver closed afterwards."""
    yield
    stop_wire_simulators()


def _session(rig_path: Path, out: Path) -> tuple[Session, list[str]]:
    """A new session of the example plan (8 takes of 16 cameras), and its take ids."""
    rig = capturerig.load_rig(rig_path)
    plan = capturerig.load_plan(PLAN, rig)
    take_ids = [take.id for take in expand_plan(rig.config, plan.config)]
    return Session.create(rig, plan, subject="S-test", out=out), take_ids


def _whole(session: Session, take_ids: list[str], agents: Agents) -> None:
    """Every take verified; every file journalled once, on disk with its hash, and acknowledged by its host;
    no file a sim camera delivered lost, none duplicated, no verified take shot again."""
    agents.stop()  # their ledgers complete
    check = check_multihost_session(session.path, take_ids, read_ledger(agents.ledger),
                                    {host: agents.spool / host for host in HOSTS}, killed_agent_pids=())
    assert check.lost == []
    assert check.duplicates == []
    assert check.reshot == []
    assert check.verified == TAKES, check.incomplete
    assert check.left_in_spools == 0
    verified = session.folder.journal.verified_files()
    assert len(verified) == TAKES * CAMERAS
    assert len({(f.take_id, f.camera_id) for f in verified}) == TAKES * CAMERAS
    assert len({f.path for f in session.folder.journal.files()}) == len(session.folder.journal.files())


def _failed_takes(failures: list[str]) -> str:
    return f"{len(failures)} take(s) failed and were shot again" + (f": {failures[0][:200]}" if failures else "")


@pytest.mark.usefixtures("controller")
def test_two_hosts_on_their_own_rate_limited_links_capture_a_whole_session_lit_by_the_lights(
        rigs: dict[str, Path], start_agents: Callable[[Path], Agents], tmp_path: Path) -> None:
    rig_path = rigs["rendered"]
    agents = start_agents(rig_path)
    session, take_ids = _session(rig_path, tmp_path / "session")
    failures: list[str] = []

    def on_event(event: Event) -> None:
        if isinstance(event, TakeFailed):
            failures.append(event.error)

    session.subscribe(on_event)
    try:
        started = time.monotonic()
        result = session.run()
        print(f"\nsession over the namespaced LAN: {time.monotonic() - started:.1f} s; {_failed_takes(failures)}")
        assert result.state == RunState.DONE, result.error
        _whole(session, take_ids, agents)
    finally:
        session.close()

    # The lights' sACN frames crossed the links: each host's cameras render the levels the plan set.
    rig = capturerig.load_rig(rig_path)
    # cam00, cam04 on agent1, cam10 on agent2; the key light from +x: cam00 faces it, cam04 not.
    assert_lit_as_planned(session, rig, ("cam00", "cam04", "cam10"), key_light=("cam00", "cam04"))


@pytest.mark.usefixtures("controller")
def test_a_host_cut_off_its_link_for_a_moment_mid_session_loses_duplicates_and_reshoots_nothing(
        lan: StudioLan, rigs: dict[str, Path], start_agents: Callable[[Path], Agents], tmp_path: Path) -> None:
    agents = start_agents(rigs["test card"])  # the pixels do not matter here: no rendering to wait for
    session, take_ids = _session(rigs["test card"], tmp_path / "session")
    cut: list[tuple[float, float]] = []  # (down, up) times of the cut
    carrier: list[str] = []  # the link's state while cut
    verified_at: list[float] = []
    failures: list[str] = []

    def cut_link() -> None:
        down = time.monotonic()
        lan.set_link("agent2", up=False)  # a pulled cable: the controller's and the host's ends lose carrier
        carrier.append(lan.operstate("agent2"))
        time.sleep(LINK_CUT_S)
        lan.set_link("agent2", up=True)
        cut.append((down, time.monotonic()))

    cutter = threading.Thread(target=cut_link, daemon=True)

    def on_event(event: Event) -> None:
        if isinstance(event, TakeVerified):
            verified_at.append(time.monotonic())
            if event.ordinal == 2:  # a verified take is never verified again: one cut
                cutter.start()
        if isinstance(event, TakeFailed):
            failures.append(event.error)

    session.subscribe(on_event)
    try:
        result = session.run()
        ended = time.monotonic()
        if cutter.ident is not None:
            cutter.join(timeout=LINK_CUT_S + 10)
        assert cut, "the link was never cut: the session ended before its third take was verified"
        down, up = cut[0]
        assert carrier == ["down"]
        assert up < ended, "the link came back after the session ended: the cut was not mid-session"
        print(f"\nlink cut for {up - down:.1f} s; takes verified at {[round(t - down, 1) for t in verified_at]} s "
              f"from the cut; {_failed_takes(failures)}")
        assert result.state == RunState.DONE, result.error
        _whole(session, take_ids, agents)
    finally:
        session.close()
        if cutter.ident is not None:
            cutter.join(timeout=LINK_CUT_S + 10)
        lan.set_link("agent2", up=True)  # whatever happened, the module's LAN is whole again
