"""Wall time of a whole simulated session against the hardware's own critical path, at 16, 64 and 128 cameras.

The simulator models trigger latency, exposure, card write, download and light/turntable settle at time
scale 1; `capturerig plan estimate` sums exactly those per take (the critical path). The engine's overhead is
the ratio of the session's wall time to that path (issue target: <= 1.05 at 64 cameras).

At 64 and 128 cameras the simulator would spend more of the host's 2 cores ray-casting images than the engine
spends on anything, so the rig's ``simulation.images: repeat`` makes every sim camera deliver its first
rendering again (a real camera renders nothing on the host); the 16-camera row is also run with full rendering.
Run: .venv/bin/python bench/session_walltime.py [--runs 3] [--cameras 16 64 128]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("CAPTURERIG_SIM_TIME_SCALE", "1")

from _figures import record  # bench/ is on sys.path when a script runs

import capturerig  # after the time scale is set: the simulator reads it at import
from capturerig.config import NominalPose, RigConfig
from capturerig.plan import estimate_plan
from capturerig.subjects import DEMO_PURPOSE, enrol_demo_subject
from capturerig_sim import reset_studios

OVERHEAD_TARGET = 1.05
RADIUS_M = 2.2


def rig_with_cameras(rig: RigConfig, count: int, images: str) -> RigConfig:
    """The simulated studio with ``count`` cameras on rings of 8 (the 16 bodies repeated)."""
    rings = math.ceil(count / 8)
    cameras = []
    for index in range(count):
        ring, k = divmod(index, 8)
        angle = math.radians(45.0 * k + 45.0 * ring / rings)
        height = 0.4 + 1.8 * ring / max(1, rings - 1)
        body = rig.cameras[index % len(rig.cameras)]
        pose = NominalPose(position=(RADIUS_M * math.cos(angle), RADIUS_M * math.sin(angle), height))
        cameras.append(body.model_copy(update={"id": f"cam{index:03d}", "serial": f"SIM{index:05d}", "pose": pose}))
    return rig.model_copy(update={"cameras": tuple(cameras), "simulation": {**rig.simulation, "images": images}})


def write_rig(rig: RigConfig, folder: Path) -> Path:
    path = folder / f"rig-{len(rig.cameras)}.yaml"
    path.write_text(yaml.safe_dump(rig.model_dump(mode="json", exclude_defaults=True), sort_keys=False))
    return path


def one_session(rig_path: Path, workdir: Path, index: int) -> tuple[float, float]:
    reset_studios()
    rig = capturerig.load_rig(rig_path)
    plan = capturerig.load_plan(None, rig)
    registry = enrol_demo_subject(workdir / "subjects.sqlite", "bench").registry_path
    session = capturerig.Session.create(rig, plan, subject="bench", out=workdir / f"session-{index}",
                                        purpose=DEMO_PURPOSE, registry=registry)
    started = time.perf_counter()
    result = session.run()
    session_s = time.perf_counter() - started
    session.close()
    assert result.state == capturerig.RunState.DONE, result.error
    started = time.perf_counter()
    capturerig.package_session(session.path, workdir / f"package-{index}", undistort=False)
    return session_s, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cameras", type=int, nargs="+", default=[16, 64, 128])
    args = parser.parse_args()
    base = capturerig.load_rig()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    cases = [(16, "rendered")] if 16 in args.cameras else []
    cases += [(count, "repeat") for count in args.cameras]
    for count, images in cases:
        with tempfile.TemporaryDirectory() as tmp:
            rig = capturerig.load_rig(write_rig(rig_with_cameras(base.config, count, images), Path(tmp)))
            plan = capturerig.load_plan(None, rig)
            bound = estimate_plan(rig.config, plan.config).session_s
            runs = [one_session(rig.path, Path(tmp), i) for i in range(args.runs)]
        session_median = statistics.median(r[0] for r in runs)
        package_median = statistics.median(r[1] for r in runs)
        ratio = session_median / bound
        label = f"{count} cameras, images {images}"
        print(f"{label:<30} critical path {bound:6.2f} s | session median {session_median:6.2f} s "
              f"(ratio {ratio:.2f}, target <= {OVERHEAD_TARGET}) | package median {package_median:6.2f} s"
              f" | {args.runs} runs")
        record("session_walltime", f"{label}: session wall time / critical path", ratio, "x",
               target=OVERHEAD_TARGET if images == "repeat" else None, bound=1.0,
               note=f"critical path {bound:.2f} s, wall {session_median:.2f} s")
        record("session_walltime", f"{label}: packaging wall time", package_median, "s")


if __name__ == "__main__":
    main()
