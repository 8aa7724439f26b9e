"""The studio bus in one process: a controller's studio (publisher) and an agent's (mirror) as two studios.

Each test gets its own bus port and key, so tests running side by side never hear each other.
"""

from __future__ import annotations

import random
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import capturerig
from capturerig.config import RigConfig
from capturerig.devices import DriverContext, create_camera
from capturerig_sim import SimCamera, VirtualStudio, get_studio
from capturerig_sim._bus_messages import MotionMessage, PulseMessage, bus_settings
from capturerig_sim.studio_bus import REPEAT_AFTER_S, BusMirror
from capturerig_sim.wire import served, stop_wire_simulators

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {"iso": "100", "shutter": "1/125", "aperture": "8", "whitebalance": "daylight"}

pytestmark = pytest.mark.usefixtures("fast_sim")


def _rig(folder: Path, example: str = "sim-studio", bus: str | None = None) -> capturerig.LoadedRig:
    """The example's rig with a studio bus of its own (a random port, a unique key)."""
    shutil.copytree(REPO / "examples" / example, folder, dirs_exist_ok=True)
    rig_path = folder / "rig.yaml"
    bus = bus or f"{{key: test-{uuid.uuid4().hex[:8]}, port: {random.randint(20000, 60000)}}}"
    text = rig_path.read_text().replace("\nsimulation:\n", f"\nsimulation:\n  studio_bus: {bus}\n", 1)
    rig_path.write_text(text.replace("/tmp/capturerig-sim/", f"{folder}/"))
    return capturerig.load_rig(rig_path)


@pytest.fixture
def rig(tmp_path: Path) -> capturerig.LoadedRig:
    return _rig(tmp_path / "studio")


@pytest.fixture
def pair(rig: capturerig.LoadedRig) -> Iterator[tuple[VirtualStudio, VirtualStudio]]:
    """The controller's studio and an agent's, apart as if in two processes (two names, one bus)."""
    publisher = get_studio("controller", rig.config, rig.path.parent, role="publisher")
    mirror = get_studio("agent", rig.config, rig.path.parent, role="mirror")
    yield publisher, mirror
    stop_wire_simulators()


def _until(check: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _mirror(studio: VirtualStudio) -> BusMirror:
    assert isinstance(studio.mirror, BusMirror)
    return studio.mirror


def test_a_pulse_exposes_the_agents_armed_camera_at_the_pulse_time_and_the_turning_tables_angle(
        pair: tuple[VirtualStudio, VirtualStudio]) -> None:
    publisher, mirror = pair
    assert (publisher.bus_role, mirror.bus_role) == ("publisher", "mirror")
    mirror.arm("cam03", SETTINGS, 0)
    publisher.start_turntable_motion(90.0, 0.6)  # wall seconds: 150 deg/s
    time.sleep(0.3)
    assert abs(mirror.turntable_deg - publisher.turntable_deg) < 3.0, "the agent's table follows the controller's"
    # The box timed the pulse 50 ms before its thread got here: the exposure is at the pulse, not at its news.
    fired_at, exposed = publisher.pulse(["cam03", "cam04"], at=time.monotonic() - 0.05)
    assert exposed == []  # the controller holds no armed camera: the agent's exposes

    record = mirror.wait_for_exposure("cam03", 2.0)
    assert record is not None, "the agent's armed camera did not expose on the controller's pulse"
    assert abs(record.fired_at - fired_at) < 0.002
    assert 20.0 < record.turntable_deg < 80.0  # mid-turn, as the controller's table was at the pulse
    start_deg, target_deg, start, end = publisher.turntable_motion()
    pulse_monotonic = time.monotonic() - (time.time() - fired_at)
    at_pulse = start_deg + (target_deg - start_deg) * (pulse_monotonic - start) / (end - start)
    assert record.turntable_deg == pytest.approx(at_pulse, abs=0.5)
    assert [r.camera_id for r in mirror.exposure_log()] == ["cam03"]  # cam04 was not armed there
    assert _until(lambda: mirror.turntable_deg == 90.0), "the agent's table did not stop where the controller's did"


def test_a_pulse_arriving_twice_exposes_once(pair: tuple[VirtualStudio, VirtualStudio]) -> None:
    publisher, mirror = pair
    mirror.arm("cam00", SETTINGS, 0, exposures=2)  # a burst: a second copy acted on would expose again
    publisher.pulse(["cam00"])
    time.sleep(REPEAT_AFTER_S + 0.2)
    assert len(mirror.exposure_log()) == 1, "the pulse's second copy exposed the camera again"
    assert _mirror(mirror).stats.duplicates >= 1  # it did arrive
    assert mirror.armed() == {"cam00"}  # one exposure of the burst left
    assert _mirror(mirror).stats.pulses == 1


def test_the_stage_the_operator_sets_reaches_the_agent(pair: tuple[VirtualStudio, VirtualStudio]) -> None:
    publisher, mirror = pair
    publisher.subject_present = False
    publisher.room_light = 0.25
    assert _until(lambda: not mirror.subject_present and mirror.room_light == 0.25)
    publisher.turntable_deg = 45.0
    assert _until(lambda: mirror.turntable_deg == 45.0)


def test_a_late_copy_of_an_older_motion_does_not_undo_a_newer_one(pair: tuple[VirtualStudio, VirtualStudio]) -> None:
    _, mirror = pair
    bus = _mirror(mirror)
    key, now = bus.settings.key, time.time()
    bus.apply(MotionMessage(key=key, src="boot-a", n=3, from_deg=10.0, to_deg=10.0, start=now, duration=0.0))
    bus.apply(MotionMessage(key=key, src="boot-a", n=2, from_deg=99.0, to_deg=99.0, start=now, duration=0.0))
    assert mirror.turntable_deg == 10.0
    assert bus.stats.stale == 1
    assert bus.stats.missing == 0  # number 2 came after all


def test_an_exposure_shows_the_controllers_table_even_when_the_motion_message_was_lost(
        pair: tuple[VirtualStudio, VirtualStudio]) -> None:
    _, mirror = pair
    bus = _mirror(mirror)
    mirror.arm("cam02", SETTINGS, 0)
    assert mirror.turntable_deg == 0.0  # it never heard the table turn
    bus.apply(PulseMessage(key=bus.settings.key, src="boot-b", n=7, cameras=("cam02",), at=time.time(), deg=77.0,
                           subject=True, room=0.0))
    record = mirror.wait_for_exposure("cam02", 1.0)
    assert record is not None
    assert record.turntable_deg == 77.0


def test_another_studios_bus_on_the_same_port_is_ignored(tmp_path: Path, rig: capturerig.LoadedRig) -> None:
    port = bus_settings(rig.config, "controller").port
    other = _rig(tmp_path / "other", bus=f"{{key: someone-else, port: {port}}}")
    publisher = get_studio("controller", rig.config, rig.path.parent, role="publisher")
    stranger = get_studio("stranger", other.config, other.path.parent, role="mirror")
    stranger.arm("cam00", SETTINGS, 0)
    publisher.pulse(["cam00"])
    assert _until(lambda: _mirror(stranger).stats.foreign >= 2)  # both copies heard, neither acted on
    assert stranger.exposure_log() == []


def test_a_malformed_datagram_is_counted_not_fatal(pair: tuple[VirtualStudio, VirtualStudio]) -> None:
    publisher, mirror = pair
    bus = _mirror(mirror)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        sock.sendto(b'{"kind": "pulse", "n": "x"}', (bus.settings.group, bus.settings.port))
    assert _until(lambda: bus.stats.malformed == 1)
    mirror.arm("cam01", SETTINGS, 0)
    publisher.pulse(["cam01"])
    assert mirror.wait_for_exposure("cam01", 2.0) is not None


def test_on_a_single_host_rig_the_sim_devices_keep_one_local_studio(rig: capturerig.LoadedRig) -> None:
    camera = create_camera(rig.config.camera("cam00"), DriverContext(rig.config, rig.path.parent))
    assert isinstance(camera, SimCamera)
    assert camera.studio.bus_role == "local"
    assert camera.studio.publisher is None
    assert camera.studio.mirror is None


def test_an_agents_camera_in_the_controllers_process_uses_the_controllers_studio(rig: capturerig.LoadedRig) -> None:
    controller = get_studio("default", rig.config, rig.path.parent, role="publisher")
    camera = create_camera(rig.config.camera("cam00"), DriverContext(rig.config, rig.path.parent, host="agent1"))
    assert isinstance(camera, SimCamera)
    assert camera.studio is controller
    assert controller.bus_role == "publisher"


def test_an_agents_studio_leaves_the_controllers_trigger_box_alone_until_the_controller_shares_its_process(
        tmp_path: Path) -> None:
    rig = _rig(tmp_path / "triggerbox", example="triggerbox")
    box_link = tmp_path / "triggerbox" / "trig0"
    assert rig.config.trigger is not None
    assert rig.config.trigger.params["port"] == str(box_link)
    camera = create_camera(rig.config.camera("cam00"), DriverContext(rig.config, rig.path.parent, host="agent1"))
    assert isinstance(camera, SimCamera)
    status = camera.connect(5.0)  # an agent's sim camera works without the controller's simulators
    assert status.serial == rig.config.camera("cam00").serial
    assert camera.studio.bus_role == "mirror"
    assert served("trig0") is None
    assert not box_link.exists()  # the box's pty is the controller's to serve, never an agent's
    try:
        # The controller's devices made later in the same process: one studio, now publishing and serving.
        assert get_studio("default", rig.config, rig.path.parent, role="publisher") is camera.studio
        assert camera.studio.bus_role == "publisher"
        assert served("trig0") is not None
        assert box_link.exists()
    finally:
        stop_wire_simulators()


@pytest.mark.parametrize(("bus", "message"), [
    ("{group: 10.0.0.1}", r"studio_bus.group: 10.0.0.1 is not a multicast address"),
    ("{port: 70000}", r"studio_bus.port: must be a whole number 1..65535, got 70000"),
    ("{interface: lo}", r"studio_bus: Expected 4 octets in 'lo'"),
    ("{groups: 239.1.1.1}", r"studio_bus: unknown key 'groups'"),
])
def test_a_malformed_studio_bus_is_refused_naming_the_field(tmp_path: Path, bus: str, message: str) -> None:
    rig = _rig(tmp_path / "studio", bus=bus)
    with pytest.raises(ValueError, match=message):
        get_studio("controller", rig.config, rig.path.parent, role="publisher")


def test_a_bus_interface_that_is_not_this_machines_is_refused_naming_the_setting(tmp_path: Path) -> None:
    rig = _rig(tmp_path / "studio", bus="{interface: 203.0.113.7}")  # TEST-NET-3: never a local address
    with pytest.raises(OSError, match=r"cannot send the studio bus via 203.0.113.7: .*studio_bus.interface"):
        get_studio("controller", rig.config, rig.path.parent, role="publisher")


def test_the_default_bus_key_tells_rigs_and_studios_apart(rig: capturerig.LoadedRig) -> None:
    config: RigConfig = rig.config.model_copy(update={"simulation": {}})
    default = bus_settings(config, "default")
    assert (default.group, default.port, default.interface) == ("239.255.90.1", 5690, "127.0.0.1")
    assert default.key != bus_settings(config, "other").key
    renamed = config.model_copy(update={"name": "another-rig"})
    assert bus_settings(renamed, "default").key != default.key
