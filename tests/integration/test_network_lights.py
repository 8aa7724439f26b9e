"""Sessions through examples/artnet and examples/sacn: the images are lit by what crossed the UDP wire."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import capturerig
from capturerig.engine import RunState, Session
from capturerig.lighting import frames_for_condition
from capturerig_sim import get_studio
from capturerig_sim.artnet_node import ArtNetNode
from capturerig_sim.sacn_receiver import SacnReceiver
from capturerig_sim.wire import served, stop_wire_simulators
from tests._lit import assert_lit_as_planned

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "examples" / "sim-studio" / "plan.yaml"


@pytest.fixture
def wire(fast_sim: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh studio, the sACN CID kept out of the real home, and the served simulators closed afterwards."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    yield
    stop_wire_simulators()


@pytest.mark.parametrize(("kind", "simulator"), [("artnet", ArtNetNode), ("sacn", SacnReceiver)])
def test_a_session_over_the_wire_is_lit_by_the_frames_the_simulator_received(
        kind: str, simulator: type, wire: None, tmp_path: Path) -> None:
    rig = capturerig.load_rig(REPO / "examples" / kind / "rig.yaml")
    text = PLAN.read_text()
    one_station = tmp_path / "plan.yaml"  # the example plan at its first station only: 4 takes, not 8
    one_station.write_text(text.replace("  - {id: s01, angle_deg: 90}\n", ""))
    assert one_station.read_text() != text
    plan = capturerig.load_plan(one_station, rig)
    session = Session.create(rig, plan, subject="S-wire", out=tmp_path / "session")
    try:
        result = session.run()
    finally:
        session.close()
    assert result.state == RunState.DONE
    assert result.takes_verified == 4

    receiver = served("dmx0")
    assert isinstance(receiver, simulator)
    assert receiver.violations == []
    assert receiver.malformed == []
    # Every lighting state of the plan crossed the wire as a whole frame.
    received = {bytes(r.packet.data[:512]) for r in receiver.packets(1)}
    for condition in plan.config.lighting:
        frame = frames_for_condition(rig.config, condition, rig.path.parent)[("dmx0", 1)]
        assert frame in received, f"{kind}: lighting {condition.id} never reached the wire"
    assert receiver.frame(1) == bytes(512)  # the engine's blackout at the end went out too

    # Key light from +x: cam00 faces it, cam04 not.
    assert_lit_as_planned(session, rig, ("cam00", "cam04", "cam10"), f"{kind} ", key_light=("cam00", "cam04"))


def test_serving_an_output_the_rig_does_not_have_is_a_clear_error(wire: None, tmp_path: Path) -> None:
    text = (REPO / "examples" / "artnet" / "rig.yaml").read_text()
    rig_path = tmp_path / "rig.yaml"
    rig_path.write_text(text.replace("serve: [dmx0]", "serve: [dmx9]"))
    rig = capturerig.load_rig(rig_path)
    with pytest.raises(ValueError, match=r"rig 'sim-studio-artnet' simulation.serve: no light output.* 'dmx9'"):
        get_studio("default", rig.config, rig.path.parent)


def test_a_taken_address_is_a_clear_error_naming_the_output(wire: None, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))  # another program already listens where the node should
        port = taken.getsockname()[1]
        text = (REPO / "examples" / "artnet" / "rig.yaml").read_text()
        rig_path = tmp_path / "rig.yaml"
        rig_path.write_text(text.replace("port: 6454", f"port: {port}"))
        rig = capturerig.load_rig(rig_path)
        with pytest.raises(OSError, match=r"simulation.serve: cannot start the artnet simulator for 'dmx0'"):
            get_studio("default", rig.config, rig.path.parent)
