"""The studio bus across processes: two capture hosts' processes with sim cameras, one controller (this test).

The controller's trigger box pulses once and both hosts' armed cameras expose at that pulse, showing the
controller's table angle; the real sACN driver's multicast frame lights the studio of every process.
"""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import capturerig
from capturerig.devices import DriverContext, TriggerBox, create_light_output, create_trigger
from capturerig_sim import TIME_SCALE_ENV, get_studio
from capturerig_sim.wire import stop_wire_simulators

REPO = Path(__file__).resolve().parents[2]
HOSTS = {"agent1": ("cam00", "cam01"), "agent2": ("cam08", "cam09")}
UNIVERSE = 1


class Host:
    """A capture host's process (tests/integration/_studio_bus_agent.py): one JSON line per command."""

    def __init__(self, rig_path: Path, name: str, cameras: tuple[str, ...]) -> None:
        env = {**os.environ, TIME_SCALE_ENV: "0"}
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration._studio_bus_agent", str(rig_path), name, *cameras],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def answer(self, timeout_s: float = 20.0) -> Any:
        try:
            return json.loads(self._lines.get(timeout=timeout_s))
        except queue.Empty:
            self.process.kill()
            _, errors = self.process.communicate(timeout=5)
            raise AssertionError(f"host {self.name} did not answer within {timeout_s:g} s: {errors[-2000:]}") from None

    def ask(self, command: str, timeout_s: float = 20.0) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.answer(timeout_s)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _rig(folder: Path) -> Path:
    """examples/sacn on two capture hosts (8 cameras each), its light on multicast, a port and bus of its own,
    test-card images."""
    folder.mkdir(parents=True)
    rig_path = folder / "rig.yaml"
    text = (REPO / "examples" / "sacn" / "rig.yaml").read_text()
    unicast = "params: {host: 127.0.0.2, port: 5568, priority: 100, rate_hz: 44, keepalive_s: 0.8}"
    assert unicast in text
    sacn_port, bus_port = random.sample(range(20000, 60000), 2)
    text = text.replace(unicast, f"params: {{multicast: true, multicast_interface: 127.0.0.1, multicast_ttl: 1, "
                                 f"port: {sacn_port}, cid: {uuid.uuid4()}, rate_hz: 44, keepalive_s: 0.8}}")
    bus = f"{{key: bus-test-{uuid.uuid4().hex[:8]}, port: {bus_port}}}"
    text = text.replace("\nsimulation:\n", f"\nsimulation:\n  images: repeat\n  studio_bus: {bus}\n", 1)
    hosts = "".join(f"  - {{name: agent{h + 1}, address: 127.0.0.{11 + h}, cameras: [{cameras}]}}\n"
                    for h, cameras in enumerate([", ".join(f"cam{c:02d}" for c in range(8 * h, 8 * h + 8))
                                                 for h in range(2)]))
    rig_path.write_text(text + "hosts:\n" + hosts)
    return rig_path


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Host]]]:
    rig_path = _rig(tmp_path_factory.mktemp("studio-bus") / "studio")
    started = {name: Host(rig_path, name, cameras) for name, cameras in HOSTS.items()}
    try:
        for host in started.values():
            assert host.answer() == {"ready": host.name, "role": "mirror"}
        yield rig_path, started
    finally:
        for host in started.values():
            host.close()


@pytest.fixture
def controller(hosts: tuple[Path, dict[str, Host]],
               fast_sim: None) -> Iterator[tuple[capturerig.LoadedRig, TriggerBox]]:
    """This process as the controller: on a rig with hosts, its sim trigger box makes its studio the publisher."""
    rig = capturerig.load_rig(hosts[0])
    assert rig.config.trigger is not None
    trigger = create_trigger(rig.config.trigger, DriverContext(rig.config, rig.path.parent))
    assert get_studio("default", rig.config, rig.path.parent).bus_role == "publisher"
    trigger.open(5.0)
    yield rig, trigger
    trigger.close()
    stop_wire_simulators()


def test_one_trigger_pulse_exposes_the_armed_cameras_of_both_hosts(
        hosts: tuple[Path, dict[str, Host]], controller: tuple[capturerig.LoadedRig, TriggerBox]) -> None:
    rig, trigger = controller
    for host in hosts[1].values():
        assert host.ask("arm") == {"armed": list(HOSTS[host.name])}
    get_studio("default", rig.config, rig.path.parent).turntable_deg = 135.0
    pulse_at = trigger.fire([camera.id for camera in rig.config.cameras], 5.0)

    for host in hosts[1].values():
        exposures = host.ask("exposures 5")
        assert set(exposures) == set(HOSTS[host.name])
        for camera_id, exposure in exposures.items():
            assert "error" not in exposure, f"{host.name} {camera_id}: {exposure}"
            assert exposure["files"] == 1  # jpeg
            assert abs(exposure["fired_at"] - pulse_at) < 0.002, f"{host.name} {camera_id} exposed at another time"
            assert exposure["deg"] == 135.0


def test_a_multicast_sacn_frame_from_the_real_driver_lights_the_studio_of_every_process(
        hosts: tuple[Path, dict[str, Host]], controller: tuple[capturerig.LoadedRig, TriggerBox]) -> None:
    rig, _ = controller
    output_config = rig.config.light_outputs[0]
    assert output_config.driver == "sacn"
    assert output_config.params["multicast"] is True
    output = create_light_output(output_config, DriverContext(rig.config, rig.path.parent))
    levels = bytes([200, 10, 20, 30, 40, 50, 60, 70]) + bytes(504)
    output.open(5.0)
    try:
        output.set_universe(UNIVERSE, levels)
        output.wait_sent(5.0)
        answers = {name: host.ask(f"light {output_config.id} {UNIVERSE} 5") for name, host in hosts[1].items()}
        here = get_studio("default", rig.config, rig.path.parent)
        deadline = time.monotonic() + 5.0
        while not any(here.held_frame(output_config.id, UNIVERSE)) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        output.close()
    for name, answer in answers.items():
        assert answer == {"levels": list(levels[:8])}, f"host {name}'s studio did not receive the frame"
    assert here.held_frame(output_config.id, UNIVERSE)[:8] == levels[:8]  # and the controller's own still does

