"""Sessions through examples/enttec, examples/opendmx and examples/serial-lights: images lit by what crossed the pty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import capturerig
from capturerig.engine import RunState, Session
from capturerig.lighting import frames_for_condition
from capturerig_sim import get_studio
from capturerig_sim._serial_pty import PtySimulator
from capturerig_sim.enttec_widget import EnttecWidgetSim
from capturerig_sim.opendmx_sim import OpenDmxSim
from capturerig_sim.serial_lights_sim import SerialLightsSim
from capturerig_sim.wire import served, stop_wire_simulators
from tests._lit import assert_lit_as_planned

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "examples" / "sim-studio" / "plan.yaml"
PORTS = {"enttec": "/tmp/capturerig-sim/enttec0", "opendmx": "/tmp/capturerig-sim/opendmx0",
         "serial-lights": "/tmp/capturerig-sim/leds0"}


@pytest.fixture
def wire(fast_sim: None) -> Iterator[None]:
    """A fresh studio; the served pty simulators are stopped (and their links removed) afterwards."""
    yield
    stop_wire_simulators()


def _short_plan(tmp_path: Path) -> Path:
    """The example plan cut to station s00, lights l00 (full) and l01 (half) and the low ring: 2 takes, 16 images.

    The lights settle 0.3 s: the in-process simulator parses frames in its own thread, which on a loaded
    machine can lag the driver's write the way a real fixture lags its DMX input.
    """
    text = PLAN.read_text()
    edits = [("  - {id: s01, angle_deg: 90}\n", ""),
             ("camera_groups: [ring-low, ring-high]", "camera_groups: [ring-low]"),
             ("min_cameras: 16", "min_cameras: 8"), ("lights_s: 0.05", "lights_s: 0.3")]
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    text = text[: text.index("  - id: l02")] + text[text.index("brackets:"):]
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("kind", "simulator"), [("enttec", EnttecWidgetSim), ("opendmx", OpenDmxSim),
                                                 ("serial-lights", SerialLightsSim)])
def test_a_session_over_a_serial_port_is_lit_by_the_frames_the_simulator_received(
        kind: str, simulator: type[PtySimulator], wire: None, tmp_path: Path) -> None:
    rig = capturerig.load_rig(REPO / "examples" / kind / "rig.yaml")
    plan = capturerig.load_plan(_short_plan(tmp_path), rig)
    session = Session.create(rig, plan, subject="S-serial", out=tmp_path / "session")
    try:
        result = session.run()
    finally:
        session.close()
    assert result.state == RunState.DONE
    assert result.takes_verified == 2

    sim = served("dmx0")
    assert isinstance(sim, simulator)
    assert sim.link == Path(PORTS[kind])
    assert sim.errors == []
    received = {frame.levels for frame in sim.frames}
    for condition in plan.config.lighting:
        frame = frames_for_condition(rig.config, condition, rig.path.parent)[("dmx0", 1)]
        assert frame in received, f"{kind}: lighting {condition.id} never reached the wire"
    assert sim.frames[-1].levels == bytes(512)  # the engine's blackout at the end went out too
    if isinstance(sim, EnttecWidgetSim | SerialLightsSim):
        assert all(frames_before == 0 for _, frames_before in sim.queries), "a query came while frames streamed"

    assert_lit_as_planned(session, rig, ("cam00", "cam03", "cam06"), f"{kind} ")


def test_a_served_port_never_replaces_a_real_device(wire: None, tmp_path: Path) -> None:
    real = tmp_path / "ttyUSB0"
    real.write_text("not a symlink")
    text = (REPO / "examples" / "enttec" / "rig.yaml").read_text().replace(PORTS["enttec"], str(real))
    rig_path = tmp_path / "rig.yaml"
    rig_path.write_text(text)
    rig = capturerig.load_rig(rig_path)
    with pytest.raises(ValueError, match=r"refusing to replace .*ttyUSB0 with a link to the simulator's pty"):
        get_studio("default", rig.config, rig.path.parent)
    assert real.read_text() == "not a symlink"
