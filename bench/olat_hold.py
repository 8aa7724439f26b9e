"""How long a person holds still for a 16-state one-light-at-a-time (OLAT) pose, with the trigger box.

The serial trigger box studio (examples/triggerbox: 16 cameras on the box's 16 outputs, the real driver on
the box simulator's pty) with its 8 fixtures doubled to 16 (each one sixteenth of the rig's light, below the
flash threshold, so the photosensitivity governor never has to wait), a person subject, ``consistency:
pose``: all 16 states in one hold, shot as one burst. First the technician's routine: ``trigger test``,
its suggested per-output delays set in the rig, ``trigger test`` again (the engine then knows each body's
shutter lag). The hold runs from PoseStarted (the technician has confirmed the pose) to the close of the
last shutter (its pulse + the latest flash-sync edge + the shutter), when the subject may relax.

Printed beside it:
- the issue's bound, 16 x (settle + exposure): what a rig that overlapped everything else would need;
- the hardware's critical path on the engine's schedule (``estimate_plan(..., engine_overhead_s=0)``).
Run: .venv/bin/python bench/olat_hold.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import textwrap
from pathlib import Path

import yaml
from typer.testing import CliRunner

os.environ.setdefault("CAPTURERIG_SIM_TIME_SCALE", "1")

from _figures import record  # bench/ is on sys.path when a script runs
from _sessions import bench_session

import capturerig  # after the time scale is set: the simulator reads it at import
from capturerig.cli import app
from capturerig.config import RigConfig
from capturerig.plan import estimate_plan, shutter_seconds

STATES = 16
TARGET_RATIO = 1.05
SETTLE_S = 0.05
PLAN = textwrap.dedent(f"""\
    name: olat-hold-bench
    consistency: pose
    retries: 2
    poses:
      - {{id: p00, description: relaxed A-pose}}
    stations:
      - {{id: s00, angle_deg: 0}}
    lighting:
      - {{generator: olat, id: olat}}
    brackets:
      - {{id: b0, ev: 0}}
    camera_groups: [ring-low, ring-high]
    settle: {{lights_s: {SETTLE_S}, turntable_s: 0.2}}
    """)


REPO = Path(__file__).resolve().parents[1]
PULSE_US = 5000  # the box holds each shutter pulse 5 ms: shorter than a state, so FIRE is never refused busy


def rig_with_sixteen_fixtures(rig: RigConfig) -> RigConfig:
    """The studio's fixtures doubled (a second ring, 22.5 deg round) and repeat images."""
    fixtures = list(rig.fixtures)
    for index, fixture in enumerate(rig.fixtures):
        x, y, z = fixture.position
        turn = math.radians(22.5)
        position = (x * math.cos(turn) - y * math.sin(turn), x * math.sin(turn) + y * math.cos(turn), z)
        address = max(f.address for f in rig.fixtures) + 8 * (index + 1)
        fixtures.append(fixture.model_copy(update={"id": f"fx{len(rig.fixtures) + index}", "address": address,
                                                   "position": position}))
    return rig.model_copy(update={"fixtures": tuple(fixtures), "simulation": {**rig.simulation, "images": "repeat"}})


def box_rig(folder: Path) -> Path:
    """The trigger box studio with 16 fixtures, its box on a pty in ``folder``, its delays equalised by two
    trigger tests (as a technician sets up the box)."""
    config = rig_with_sixteen_fixtures(capturerig.load_rig(REPO / "examples" / "triggerbox" / "rig.yaml").config)
    document = config.model_dump(mode="json", exclude_defaults=True)
    document["trigger"]["params"].update({"port": str(folder / "trig0"), "pulse_us": PULSE_US})
    rig_path = folder / "rig.yaml"
    rig_path.write_text(yaml.safe_dump(document, sort_keys=False))
    for round_index in range(2):
        result = CliRunner().invoke(app, ["trigger", "test", "--rig", str(rig_path), "--fires", "10"])
        assert result.exit_code == 0, result.output
        if round_index == 0:
            measured = json.loads((folder / "rig.sync.json").read_text())
            document["trigger"]["params"]["delays_us"] = measured["suggested_delays_us"]
            rig_path.write_text(yaml.safe_dump(document, sort_keys=False))
    spread = json.loads((folder / "rig.sync.json").read_text())["spread_p99_s"]
    print(f"trigger test after equalising the delays: exposure spread p99 {spread * 1e3:.3f} ms")
    return rig_path


def one_hold(rig_path: Path, plan_path: Path, workdir: Path, index: int) -> float:
    session = bench_session(rig_path, plan_path, workdir, index)
    rig = session.folder.rig
    result = session.run()
    journal = session.folder.journal
    (pose,) = journal.events("PoseStarted")
    assert result.state == capturerig.RunState.DONE, result.error
    for failure in journal.events("TakeFailed")[:2]:  # the person held the pose again: counted in the hold
        print(f"  run {index}: re-shot the hold: {failure['error'][:160]}")
    exposure = max(shutter_seconds(c.settings.get("shutter", "1/125")) for c in rig.config.cameras)
    closed = max(e["fired_at"] + max(e["latency_s"].values()) for e in journal.events("TriggerDispatched"))
    session.close()
    return float(closed + exposure - pose["at"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rig_path = box_rig(folder)
        plan_path = folder / "plan.yaml"
        plan_path.write_text(PLAN, encoding="utf-8")
        rig = capturerig.load_rig(rig_path)
        plan = capturerig.load_plan(plan_path, rig)
        assert rig.config.trigger is not None, "the bench needs the studio's trigger box"
        modelled = estimate_plan(rig.config, plan.config, rig.path.parent, engine_overhead_s=0.0).hold_s_by_pose["p00"]
        exposure = max(shutter_seconds(c.settings.get("shutter", "1/125")) for c in rig.config.cameras)
        holds = [one_hold(rig_path, plan_path, folder, i) for i in range(args.runs)]
    bound = STATES * (SETTLE_S + exposure)
    hold = statistics.median(holds)
    print(f"16-state OLAT hold, 16 cameras, trigger box: median {hold:.3f} s over {args.runs} runs "
          f"({', '.join(f'{h:.3f}' for h in holds)})")
    print(f"  bound 16 x (settle {SETTLE_S * 1e3:.0f} ms + exposure {exposure * 1e3:.0f} ms) = {bound:.3f} s: "
          f"ratio {hold / bound:.2f} (target <= {TARGET_RATIO})")
    print(f"  hardware critical path on our schedule {modelled:.3f} s (per state the light change or the bodies' "
          f"burst interval, then the exposure): ratio {hold / modelled:.3f}")
    record("olat_hold", "16-state OLAT hold / 16 x (settle + exposure)", hold / bound, "x", target=TARGET_RATIO,
           bound=1.0, note=f"hold {hold:.3f} s, bound {bound:.3f} s, {args.runs} runs")
    record("olat_hold", "16-state OLAT hold / hardware critical path on our schedule", hold / modelled, "x",
           bound=1.0, note=f"critical path {modelled:.3f} s (one burst, downloads after the hold)")


if __name__ == "__main__":
    main()
