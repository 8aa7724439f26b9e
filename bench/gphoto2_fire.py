"""Software trigger spread through the gphoto2 driver: N virtual cameras, one worker process each.

The engine arms every camera, then calls trigger_capture on each in turn; the driver's fire barrier
writes "fire now" to all workers back to back when the last one is triggered. Printed per N:

- dispatch spread: first to last "fire now" write in the controller (time.perf_counter);
- receipt spread: first to last worker reading it (time.time stamped in each worker), which adds the
  scheduler: on a machine with fewer cores than cameras the workers cannot all run at once;
- take: arm + trigger + download of every camera, wall time.

Each worker takes at most 20 shots (libgphoto2's virtual camera runs out of memory after ~26 per process).
Hardware bound for comparison: a trigger box fires all outputs within microseconds; real bodies add their
own shutter latency jitter (~1-10 ms), so software dispatch should stay well under that.
Run: .venv/bin/python bench/gphoto2_fire.py [--cameras 4 16] [--takes 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from capturerig.config import load_rig
from capturerig.devices import DriverContext, create_camera
from capturerig.devices.gphoto2 import GPhoto2Camera
from capturerig_sim.vcamera import fill_vcameradir

TIMEOUT_S = 30.0


def _rig_text(count: int, root: Path) -> str:
    cameras = []
    for i in range(count):
        cameras.append(f"""  - id: c{i:02d}
    driver: gphoto2
    params: {{vcameradir: {root}/v{i:02d}}}
    serial: v{i:02d}
    body: nikon-d750
    group: all
    intrinsics: {{width: 640, height: 480, fx: 800.0, fy: 800.0, cx: 319.5, cy: 239.5}}
    pose: {{position: [2.0, {i * 0.1:.1f}, 1.0]}}""")
    return "name: bench\ncameras:\n" + "\n".join(cameras) + "\n"


def _quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1e3:7.3f} ms  p99 {p99 * 1e3:7.3f} ms"


def bench(count: int, takes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(count):
            fill_vcameradir(root / f"v{i:02d}", f"v{i:02d}", 2)
        (root / "rig.yaml").write_text(_rig_text(count, root))
        loaded = load_rig(root / "rig.yaml")
        context = DriverContext(loaded.config, root)
        cameras = [create_camera(c, context) for c in loaded.config.cameras]
        with ThreadPoolExecutor(max_workers=count) as pool:
            try:
                list(pool.map(lambda c: c.connect(TIMEOUT_S), cameras))
                walls = []
                for _ in range(takes):
                    started = time.perf_counter()
                    list(pool.map(lambda c: c.arm(TIMEOUT_S), cameras))
                    for camera in cameras:  # as the engine does without a trigger box
                        camera.trigger_capture(TIMEOUT_S)
                    files = list(pool.map(lambda c: c.wait_for_files(TIMEOUT_S), cameras))
                    walls.append(time.perf_counter() - started)
                    assert all(len(f) == 1 for f in files)
                    list(pool.map(lambda cf: cf[0].delete_files([f.name for f in cf[1]], TIMEOUT_S),
                                  zip(cameras, files, strict=True)))
            finally:
                for camera in cameras:
                    camera.close()
        first = cameras[0]
        assert isinstance(first, GPhoto2Camera)
        batches = list(first.fire_group.history)[-takes:]
        dispatch = [b.dispatch_spread_s for b in batches]
        receipt = [s for s in (b.receipt_spread_s for b in batches) if s is not None]
        print(f"{count:3d} cameras, {takes} takes: dispatch spread {_quantiles(dispatch)} | "
              f"receipt spread {_quantiles(receipt)} | take {_quantiles(walls)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--takes", type=int, default=20)
    args = parser.parse_args()
    if args.takes > 24:
        parser.error("--takes above 24 runs the virtual camera out of memory (it fails after ~26 per worker)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for count in args.cameras:
        bench(count, args.takes)


if __name__ == "__main__":
    main()
