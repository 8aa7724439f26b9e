"""examples/multihost: 64 simulated cameras on 4 capture hosts load with their plan, each camera on one host,
and the lights' sACN multicast reaches every host's studio at once."""

from __future__ import annotations

import collections
import contextlib
import io
import runpy
import time
from pathlib import Path

import pytest

import capturerig
from capturerig.config import LoadedRig, selected_cameras
from capturerig.devices import DriverContext, create_light_output
from capturerig_sim.sacn_receiver import SacnReceiver

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multihost"


@pytest.fixture(scope="module")
def rig() -> LoadedRig:
    return capturerig.load_rig(EXAMPLE / "rig.yaml")  # with the installed drivers: every device's params checked


def test_the_example_rig_and_plan_load_with_64_cameras_fired_in_every_take(rig: LoadedRig) -> None:
    plan = capturerig.load_plan(EXAMPLE / "plan.yaml", rig)
    config = rig.config
    assert [c.id for c in config.cameras] == [f"cam{i:03d}" for i in range(64)]
    assert len({c.serial for c in config.cameras}) == 64
    assert len(selected_cameras(config, plan.config)) == 64
    assert plan.config.coverage.min_cameras == 64
    assert config.trigger is not None  # the trigger box and the turntable stay with the controller
    assert config.turntable is not None


def test_every_camera_is_on_exactly_one_of_four_loopback_hosts_of_16(rig: LoadedRig) -> None:
    config = rig.config
    assert [(h.name, h.url) for h in config.hosts] == [(f"agent{n}", f"http://127.0.0.{10 + n}:8650")
                                                       for n in range(1, 5)]
    assert all(h.loopback and len(h.cameras) == 16 for h in config.hosts)
    listed = collections.Counter(camera_id for host in config.hosts for camera_id in host.cameras)
    assert listed == collections.Counter(c.id for c in config.cameras)  # each once, none missing, none extra
    assert config.host_of("cam017") == config.host("agent2")


def test_the_committed_rig_is_what_make_rig_prints() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(EXAMPLE / "make_rig.py"), run_name="__main__")
    assert out.getvalue() == (EXAMPLE / "rig.yaml").read_text(encoding="utf-8"), (
        "examples/multihost/rig.yaml is stale: run python examples/multihost/make_rig.py > examples/multihost/rig.yaml")


def test_the_lights_multicast_reaches_two_hosts_studios_at_once(
        rig: LoadedRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # the sACN source's CID file stays out of the real home
    (output_config,) = rig.config.light_outputs
    assert output_config.params["multicast"] is True
    # Two receivers joined to the example's group on one free port, as two agents' studios join it on 5568.
    with (SacnReceiver("239.255.0.1", 0, multicast_universes=(1,), multicast_interface="127.0.0.1") as first,
          SacnReceiver("239.255.0.1", first.port, multicast_universes=(1,),
                       multicast_interface="127.0.0.1") as second):
        config = output_config.model_copy(update={"params": {**output_config.params, "port": first.port}})
        output = create_light_output(config, DriverContext(rig.config, EXAMPLE))
        output.open(2.0)
        try:
            frame = bytes([200]) * 512
            output.set_universe(1, frame)
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and not (first.frame(1) == second.frame(1) == frame):
                time.sleep(0.01)
        finally:
            output.close()
        assert first.frame(1) == frame, "the first host's studio never saw the lights' frame"
        assert second.frame(1) == frame, "the second host's studio never saw the lights' frame"
