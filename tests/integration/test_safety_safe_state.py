"""The lights reach the safe state within 100 ms on abort, an exception, SIGTERM and exit; light timing is
journalled; the governor paces a person's sequence; a screening override is logged."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import capturerig
from capturerig.engine import Event, LightsApplied, RunState, Session
from capturerig_sim import VirtualStudio, get_studio
from tests.conftest import child_env, with_test_card_images

SAFE_WITHIN_S = 0.1
WAIT_LIMIT_S = 90


def write_plan(folder: Path, lighting: str, extra: str = "", cameras: str = "[cam00]") -> Path:
    path = folder / "plan.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: safety
        poses: [{{id: p0}}]
        stations: [{{id: s0, angle_deg: 0}}, {{id: s1, angle_deg: 90}}]
        camera_groups: {cameras}
        lighting:
        """) + textwrap.indent(textwrap.dedent(lighting).lstrip("\n"), "  ") + textwrap.dedent(extra),
        encoding="utf-8")
    return path


DEMO_LIGHTS = """
    - {id: l00, levels: {'*': {intensity: 1, color: [1, 1, 1, 1]}}}
    - {id: l01, levels: {fx0: {intensity: 1, white: 1}}}
"""


def _dark(studio: VirtualStudio) -> bool:
    return all(not any(frame) for frame in studio.held_frames().values())


@contextmanager
def watch_dark(studio: VirtualStudio, armed: threading.Event) -> Iterator[list[float]]:
    """Yields a list that gets the monotonic time at which the lights were first dark after ``armed`` was set."""
    seen: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set() and not seen:
            if armed.is_set() and _dark(studio):
                seen.append(time.monotonic())
            time.sleep(0.0005)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(5)


def _session(studio_files: Path, tmp_path: Path, plan: Path) -> tuple[Session, VirtualStudio]:
    rig = capturerig.load_rig(with_test_card_images(studio_files / "rig.yaml"))
    session = Session.create(rig, capturerig.load_plan(plan, rig), "S-safe", tmp_path / "session")
    return session, get_studio("default", rig.config, rig.path.parent)


@pytest.mark.usefixtures("fast_sim")
def test_abort_puts_the_lights_safe_at_once_not_at_the_take_boundary(studio_files: Path, tmp_path: Path) -> None:
    session, studio = _session(studio_files, tmp_path, write_plan(tmp_path, DEMO_LIGHTS))
    armed = threading.Event()
    asked: list[float] = []

    def abort_when_lit(event: Event) -> None:
        if isinstance(event, LightsApplied) and not armed.is_set():
            asked.append(time.monotonic())
            armed.set()
            session.abort()

    session.subscribe(abort_when_lit)
    with watch_dark(studio, armed) as dark:
        result = session.run()
    assert result.state == RunState.ABORTED
    assert dark, "the lights never went dark"
    assert dark[0] - asked[0] < SAFE_WITHIN_S
    assert result.takes_verified == 0  # the take under way saw the light go: it is not counted
    assert _dark(studio)


@pytest.mark.usefixtures("fast_sim")
def test_an_exception_puts_the_lights_safe(studio_files: Path, tmp_path: Path) -> None:
    session, studio = _session(studio_files, tmp_path, write_plan(tmp_path, DEMO_LIGHTS))
    armed = threading.Event()
    raised: list[float] = []

    def fail_when_lit(event: Event) -> None:
        if isinstance(event, LightsApplied) and event.lighting_id == "l01":
            raised.append(time.monotonic())
            armed.set()
            raise RuntimeError("controller bug")

    session.events.subscribe(fail_when_lit, critical=True)
    with watch_dark(studio, armed) as dark:
        result = session.run()
    assert result.state == RunState.FAILED
    assert result.error == "controller bug"
    assert dark
    assert dark[0] - raised[0] < SAFE_WITHIN_S


@pytest.mark.usefixtures("fast_sim")
def test_a_work_light_safe_state_and_the_journalled_light_timing(studio_files: Path, tmp_path: Path) -> None:
    rig_path = studio_files / "rig.yaml"
    rig_path.write_text(rig_path.read_text(encoding="utf-8") + textwrap.dedent("""\
        scenes:
          - {id: worklight, levels: {fx3: {intensity: 0.2, white: 1}}}
        safe_state: worklight
        """), encoding="utf-8")
    session, studio = _session(studio_files, tmp_path, write_plan(tmp_path, DEMO_LIGHTS))
    assert session.run().state == RunState.DONE
    assert studio.fixture_levels("fx3")["intensity"] == pytest.approx(0.2, abs=0.003)
    assert studio.fixture_levels("fx3")["white"] == 1.0
    assert studio.fixture_levels("fx0")["intensity"] == 0.0
    applied = session.folder.journal.events("LightsApplied")
    # Stations s0 and s1, two states each; l00 -> l01 -> (turn) l00 -> l01.
    assert [(e["take_id"], e["lighting_id"]) for e in applied] == [
        ("p0/s0/l00/b0", "l00"), ("p0/s0/l01/b0", "l01"), ("p0/s1/l00/b0", "l00"), ("p0/s1/l01/b0", "l01")]
    for event in applied:
        assert event["commanded_at"] <= event["wire_at"] <= event["settled_at"]
        assert event["settled_at"] - event["commanded_at"] >= 0.05 - 1e-6  # the plan's settle.lights_s


@pytest.mark.usefixtures("fast_sim")
def test_polarisation_and_levels_are_in_the_package_metadata(studio_files: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path, """
        - {id: cross, polarisation: cross, levels: {'*': {intensity: 1, white: 1}}}
        - {generator: gradient, axes: [z], polarisation: parallel}
    """, extra="subject: {kind: object}\n")
    session, _ = _session(studio_files, tmp_path, plan)
    assert session.run().state == RunState.DONE
    session.close()
    summary = capturerig.package_session(session.path, tmp_path / "package")
    states = json.loads((summary.data_dir / "lighting" / "states.json").read_text())["states"]
    lighting = {state["id"]: state for state in states}
    images = json.loads((summary.data_dir / "lighting" / "images.json").read_text())["images"]
    assert {(image["light_id"], image["polarisation"]) for image in images} == {("cross", "cross"),
                                                                                ("grad-z", "parallel")}
    assert lighting["cross"]["polarisation"] == "cross"
    assert lighting["cross"]["levels"] == {"*": {"intensity": 1.0, "white": 1.0}}
    assert lighting["grad-z"]["polarisation"] == "parallel"
    assert lighting["grad-z"]["levels"]["fx0"]["color"] == [1.0, 1.0, 1.0, 1.0]


@pytest.mark.usefixtures("fast_sim")
def test_the_governor_paces_a_fast_olat_and_the_screening_override_is_logged(studio_files: Path,
                                                                               tmp_path: Path) -> None:
    # The cameras' profile says 400 ms per take (card write), so the plan is estimated at under 3 changes a
    # second and accepted; the sim at time scale 0 skips that latency and shoots several takes a second, so the
    # engine must hold the light changes back. The override (at the default limit) must be journalled.
    (studio_files / "slow-body.yaml").write_text(textwrap.dedent("""\
        name: slow-sim
        formats:
          jpeg: {extension: jpg, bytes_estimate: 90000}
        download_mbytes_per_s: 35
        trigger_latency_ms: 0
        card_write_ms: 400
        """), encoding="utf-8")
    rig_path = studio_files / "rig.yaml"
    rig_path.write_text(rig_path.read_text(encoding="utf-8").replace("body: sim-studio", "body: ./slow-body.yaml"),
                        encoding="utf-8")
    plan = write_plan(tmp_path, """
        - {generator: olat, fixtures: [fx0, fx1, fx2, fx3, fx4, fx5]}
    """, extra="""\
        settle: {lights_s: 0.0}
        subject:
          photosensitivity_override: {screened_by: Dr Who, screened_on: 2026-11-01, max_flashes_per_s: 3}
        """)
    session, studio = _session(studio_files, tmp_path, plan)
    assert session.run().state == RunState.DONE
    journal = session.folder.journal
    (override,) = journal.events("PhotosensitivityOverrideUsed")
    assert override["screened_by"] == "Dr Who"
    assert override["max_flashes_per_s"] == 3
    applied = journal.events("LightsApplied")
    assert len(applied) == 12  # 6 states at each of 2 stations
    assert sum(e["governor_wait_s"] for e in applied) > 0
    # What the subject saw at the first station: the frame changes the fixtures got. Every step after the first
    # state is a flash (one light off, the next on): never more than 3 in a second.
    seen = studio.frame_changes()
    assert len(seen) >= 12  # 6 states at each station
    flashes = seen[1:6]
    assert all(sum(1 for t in flashes if start <= t < start + 1.0) <= 3 for start in flashes)


CHILD = """
import sys, threading, time
from pathlib import Path
import capturerig
from capturerig.cli._app import app
from capturerig_sim import get_studio

rig_file, plan_file, out, marks = sys.argv[1:5]
rig = capturerig.load_rig(rig_file)
studio = get_studio("default", rig.config, rig.path.parent)

def watch():
    lit = False
    while True:
        dark = all(not any(frame) for frame in studio.held_frames().values())
        if not lit and not dark:
            lit = True
            Path(marks, "lit").write_text(repr(time.time()))
        elif lit and dark:
            Path(marks, "dark").write_text(repr(time.time()))
            return
        time.sleep(0.0005)

threading.Thread(target=watch, daemon=True).start()
app(["run", "--rig", rig_file, "--plan", plan_file, "--subject", "S-term", "--out", out, "--yes"])
"""


def _wait_for(path: Path, child: subprocess.Popen[bytes]) -> float:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not path.exists() or not path.read_text():
        assert child.poll() is None, child.stdout.read().decode() if child.stdout else "child ended early"
        assert time.monotonic() < deadline, f"no {path.name} mark in time"
        time.sleep(0.005)
    return float(path.read_text())


def test_sigterm_puts_the_lights_safe_within_100_ms(studio_files: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    plan = write_plan(tmp_path, DEMO_LIGHTS, extra="settle: {lights_s: 1.0}\n")  # lit for a while
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(studio_files / "rig.yaml"), str(plan),
                              str(tmp_path / "session"), str(marks)],
                             env=child_env(1.0), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for(marks / "lit", child)
        sent = time.time()
        child.send_signal(signal.SIGTERM)
        dark = _wait_for(marks / "dark", child)
        output = child.communicate(timeout=WAIT_LIMIT_S)[0].decode()
    finally:
        if child.poll() is None:
            child.kill()
    assert dark - sent < SAFE_WITHIN_S, output
    assert child.returncode == 1
    assert "aborting at the next take boundary" in output


EXIT_CHILD = """
import atexit, json, sys, time
from pathlib import Path
import capturerig
from capturerig_sim import get_studio

rig = capturerig.load_rig(sys.argv[1])
studio = get_studio("default", rig.config, rig.path.parent)

def report():  # registered first, so it runs after capturerig's own exit handler
    frames = studio.held_frames()
    Path(sys.argv[2]).write_text(json.dumps({"dark": all(not any(f) for f in frames.values())}))

atexit.register(report)
from capturerig.config import LightingCondition
from capturerig.engine._rigdevices import RigDevices
from tests.conftest import with_test_card_images

devices = RigDevices(rig.config, rig.path.parent)
for output in devices.lights.values():
    output.open(1.0)
light = LightingCondition.model_validate({"id": "on", "levels": {"*": {"intensity": 1, "white": 1}}})
devices.finish_lighting(devices.begin_lighting(light, 0.0))
assert any(any(f) for f in studio.held_frames().values())
sys.exit(0)  # the script forgets to close the rig
"""


def test_process_exit_with_a_rig_still_open_puts_the_lights_safe(studio_files: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-c", EXIT_CHILD, str(studio_files / "rig.yaml"), str(report)],
                          env=child_env(0.0), capture_output=True, text=True, timeout=WAIT_LIMIT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(report.read_text()) == {"dark": True}
