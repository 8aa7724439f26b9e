"""Record the message stream of a short panel session: what the hub carries to every open page.

The panel's own work first (a camera check with one camera unplugged, the preflight button, a light scene),
then a session of two operator-confirmed poses of three lighting states each (8 cameras, test-card images):
the first take's file from cam03 arrives corrupt once (the take is retried), and the operator pauses after
the first verified take and resumes at once. Messages are JSON as a client receives them (``ViewPatch`` is the
server's answer to them, so it is not recorded).

Re-record the committed stream (tests/web/fixtures/panel-session.jsonl) with
``CAPTURERIG_SIM_TIME_SCALE=0 .venv/bin/python -m tests.web._stream tests/web/fixtures/panel-session.jsonl``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from capturerig.config import load_rig
from capturerig.subjects import DEMO_PURPOSE, enrol_demo_subject
from capturerig.web import Panel, WebSettings
from capturerig_sim import get_studio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sim-studio"
FIXTURE = Path(__file__).parent / "fixtures" / "panel-session.jsonl"
SUBJECT = "stream-subject"
PLAN = "panel-stream"
LIGHTS = ("l00", "l01", "l02")
POSES = ("p00", "p01")
CAMERAS = 8

_PLAN_YAML = f"""\
name: {PLAN}
consistency: take
retries: 2
poses:
  - {{id: p00, description: A-pose, operator_confirmed: true}}
  - {{id: p01, description: arms down, operator_confirmed: true}}
stations:
  - {{id: s00, angle_deg: 0}}
lighting:
  - {{id: l00, name: all white, levels: {{"*": {{intensity: 1.0, white: 1.0}}}}}}
  - {{id: l01, name: all white half, levels: {{"*": {{intensity: 0.5, white: 1.0}}}}}}
  - {{id: l02, name: key from +x, levels: {{fx0: {{intensity: 1.0, white: 1.0}}}}}}
brackets:
  - {{id: b0, ev: 0}}
camera_groups: [ring-low]
settle: {{lights_s: 0.05, turntable_s: 0.2}}
coverage: {{min_cameras: {CAMERAS}}}
"""


def studio_for_stream(root: Path) -> Path:
    """The example studio copied below ``root``, test-card images, with the stream's plan beside its rig."""
    studio = root / "studio"
    shutil.copytree(EXAMPLES, studio)
    rig = studio / "rig.yaml"
    text = rig.read_text(encoding="utf-8")
    rig.write_text(text.replace("\nsimulation:\n", "\nsimulation:\n  images: repeat\n", 1), encoding="utf-8")
    (studio / f"{PLAN}.yaml").write_text(_PLAN_YAML, encoding="utf-8")
    return rig


def record_session(root: Path, timeout_s: float = 120.0) -> list[dict[str, Any]]:
    """Run the panel's work and the session described above below ``root``; every message, in hub order.

    Needs the simulator's time scale 0 (``CAPTURERIG_SIM_TIME_SCALE``) to take a few seconds.
    """
    rig_path = studio_for_stream(root)
    loaded = load_rig(rig_path)
    studio = get_studio("default", loaded.config, loaded.path.parent)
    registry = enrol_demo_subject(root / "subjects.sqlite", SUBJECT).registry_path
    panel = Panel(WebSettings(rigs=(rig_path,), sessions_dir=root / "sessions", packages_dir=root / "packages",
                              registry=registry, purpose=DEMO_PURPOSE, cache_dir=root / "thumbs"))
    messages: list[dict[str, Any]] = []
    lock = threading.Lock()
    paused = threading.Event()

    def record(message: dict[str, Any]) -> None:  # no loop bound: runs in the publishing thread
        with lock:
            messages.append(json.loads(json.dumps(message, default=str)))
        kind = message["kind"]
        if kind == "PoseConfirmRequest":
            panel.runs.confirm_pose(True)  # the operator confirms (before the run starts waiting)
        elif kind == "TakeVerified" and not paused.is_set():
            paused.set()
            panel.runs.pause()  # the run pauses at the next take boundary ...
        elif kind == "StateChanged" and message["state"] == "paused":
            panel.runs.resume()  # ... and is resumed at once

    panel.hub.reducers.insert(0, record)
    studio.inject_fault("cam05", "disconnect")
    entry = panel.catalog.default_rig
    panel.devices.check_cameras(entry.loaded)
    panel.devices.preflight(entry.loaded)
    panel.lights.scene(entry.loaded, "blackout")
    studio.inject_fault("cam03", "corrupt_download", count=1)
    panel.runs.start(entry.id, PLAN, SUBJECT, confirm_poses=True)
    if not panel.runs.wait(timeout_s):
        panel.runs.abort()
        panel.runs.wait(30.0)
        raise TimeoutError(f"the recorded session did not end in {timeout_s:g} s")
    with lock:
        return list(messages)


def load_stream(path: Path = FIXTURE) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(out: str) -> int:
    with tempfile.TemporaryDirectory(prefix="capturerig-stream-") as scratch:
        messages = record_session(Path(scratch))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("".join(json.dumps(m, sort_keys=True) + "\n" for m in messages), encoding="utf-8")
    print(f"{out}: {len(messages)} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
