"""Wall time of a whole simulated session against the hardware's own critical path.

The simulator models trigger latency, exposure, card write, download and light/turntable settle at time
scale 1; `capturerig plan estimate` sums exactly those per take. The engine's overhead is the gap between
the two. Run: .venv/bin/python bench/session_walltime.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("CAPTURERIG_SIM_TIME_SCALE", "1")

import capturerig  # after the time scale is set: the simulator reads it at import
from capturerig.plan import estimate_plan
from capturerig_sim import reset_studios


def one_session(workdir: Path, index: int) -> tuple[float, float]:
    reset_studios()
    rig = capturerig.load_rig()
    plan = capturerig.load_plan(None, rig)
    session = capturerig.Session.create(rig, plan, subject="bench", out=workdir / f"session-{index}")
    started = time.perf_counter()
    result = session.run()
    session_s = time.perf_counter() - started
    session.close()
    assert result.state == capturerig.RunState.DONE, result.error
    started = time.perf_counter()
    capturerig.package_session(session.path, workdir / f"package-{index}")
    return session_s, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rig = capturerig.load_rig()
    plan = capturerig.load_plan(None, rig)
    bound = estimate_plan(rig.config, plan.config).session_s
    with tempfile.TemporaryDirectory() as tmp:
        runs = [one_session(Path(tmp), i) for i in range(args.runs)]
    session_median = statistics.median(r[0] for r in runs)
    package_median = statistics.median(r[1] for r in runs)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"plan {plan.config.name}: 16 cameras x 8 takes = 128 images, {args.runs} runs")
    print(f"hardware critical path (modelled latencies + settle): {bound:6.2f} s")
    print(f"session wall time, median:                          {session_median:6.2f} s "
          f"(ratio {session_median / bound:.2f}x the hardware bound)")
    print(f"packaging wall time, median:                        {package_median:6.2f} s")


if __name__ == "__main__":
    main()
