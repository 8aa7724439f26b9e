"""Wall time of whole simulated sessions against the hardware's own critical path, at 16, 64 and 128 cameras.

The simulator models trigger latency, exposure, card write, USB download, the DMX frame time and the light and
turntable settle times at time scale 1. ``estimate_plan(..., engine_overhead_s=0)`` sums exactly those on the
engine's schedule (the lights change only when the state does, beside any turntable move; then the exposure
chain of the slowest camera): the critical path. The engine's overhead is the ratio of the session's wall
time to that path (issue 10 target: <= 1.05 at 64 cameras).

Two plans: the demo plan (8 takes) and a light-stage session (4 turntable stations x 8 one-light-at-a-time
states + all white = 36 takes, mannequin subject so the flash governor's waits, a safety limit and not
engine overhead, stay out). Two figures per run: the whole ``Session.run()`` (connecting and checking every
device, preflight, then the capture) and the capture alone (first TakeStarted to the last TakeVerified).
Preflight homes the turntable just before the capture, so the capture's critical path also holds what is left
of the table's settle after that homing (``estimate_plan(..., table_settling_s=...)``, from the journalled
homing; printed beside).

At 64 and 128 cameras the simulator would spend more of the host's 2 cores ray-casting images than the engine
spends on anything, so the rig's ``simulation.images: repeat`` makes every sim camera deliver a fixed test
card (a real camera renders nothing on the host); the 16-camera demo row is also run with full rendering.
Run: .venv/bin/python bench/session_walltime.py [--runs 3] [--cameras 16 64 128] [--plans demo light-stage]

``--qc-compare [--images repeat|rendered|cached]``: the demo plan on 16 cameras with the per-image checks on
(``qc.enabled: true``, the default) and off, runs alternating, the capture's wall time medians compared (issue
22: on / off <= 1.02x). With ``repeat`` (default) the cameras deliver the test card, as a real rig's render
nothing on the host, and the checks (which judge every card stale: no matter, nothing is re-shot under ``ask``)
compete only with the engine; with ``rendered`` they also compete with the simulator ray-casting every image
on the same two cores, which a real rig does not have. ``cached`` is the fair one: every camera delivers its
own real rendered images (the checks decode and judge each in full), read from a render cache
(``simulation.render_cache``, :mod:`capturerig_sim.render_cache`) that one untimed warm-up session of the same
plan (checks off) filled, so nothing is ray-cast during the timed captures; the cache's file count before and
after them is printed (no new file: every exposure was served from disk).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

os.environ.setdefault("CAPTURERIG_SIM_TIME_SCALE", "1")

from _figures import record  # bench/ is on sys.path when a script runs
from _sessions import bench_session

import capturerig  # after the time scale is set: the simulator reads it at import
from capturerig.config import NominalPose, RigConfig
from capturerig.plan import estimate_plan

OVERHEAD_TARGET = 1.05
RADIUS_M = 2.2
LIGHT_STAGE_PLAN = textwrap.dedent("""\
    name: light-stage-bench
    consistency: pose
    retries: 2
    subject: {kind: object}
    poses:
      - {id: p00, description: mannequin}
    stations:
      - {id: s00, angle_deg: 0}
      - {id: s01, angle_deg: 90}
      - {id: s02, angle_deg: 180}
      - {id: s03, angle_deg: 270}
    lighting:
      - {id: white, levels: {"*": {intensity: 1.0, white: 1.0}}}
      - {generator: olat, id: olat}
    brackets:
      - {id: b0, ev: 0}
    camera_groups: [ring-low, ring-high]
    settle: {lights_s: 0.05, turntable_s: 0.2}
    """)


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


@dataclass(frozen=True)
class Run:
    session_s: float  # Session.run(): devices, preflight, capture
    capture_s: float  # first TakeStarted to the last TakeVerified
    package_s: float
    table_settling_s: float  # what was left of the turntable's settle after preflight homed it, at the first take


def one_session(rig_path: Path, plan_path: Path | None, workdir: Path, index: int) -> Run:
    session = bench_session(rig_path, plan_path, workdir, index)
    started = time.perf_counter()
    result = session.run()
    session_s = time.perf_counter() - started
    journal = session.folder.journal
    first = min(e["at"] for e in journal.events("TakeStarted"))
    last = max(e["at"] for e in journal.events("TakeVerified"))
    settling = 0.0
    table = session.folder.rig.config.turntable
    if table is not None:  # the table stands still plan.settle.turntable_s after preflight's homing reported
        (homed,) = [e["at"] for e in journal.events("PreflightResult") if e["device_id"] == table.id]
        settling = max(0.0, homed + session.folder.plan.config.settle.turntable_s - first)
    session.close()
    assert result.state == capturerig.RunState.DONE, result.error
    started = time.perf_counter()
    capturerig.package_session(session.path, workdir / f"package-{index}", undistort=False)
    return Run(session_s, last - first, time.perf_counter() - started, settling)


QC_TARGET = 1.02


def qc_compare(base: capturerig.LoadedRig, runs: int, images: str) -> None:
    """The capture's wall time with the per-image checks on against off (demo plan, 16 cameras)."""
    from capturerig.config import default_plan_path

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = rig_with_cameras(base.config, 16, "rendered" if images == "cached" else images)
        cache = folder / "render-cache"
        if images == "cached":
            config = config.model_copy(update={"simulation": {**config.simulation, "render_cache": str(cache)}})
        rig = capturerig.load_rig(write_rig(config, folder))
        plans = {}
        for enabled in (True, False):
            plans[enabled] = folder / f"plan-qc-{'on' if enabled else 'off'}.yaml"
            plans[enabled].write_text(default_plan_path().read_text(encoding="utf-8")
                                      + f"qc: {{enabled: {str(enabled).lower()}}}\n", encoding="utf-8")
        if images == "cached":  # untimed: renders every exposure of the plan once, into the cache
            started = time.perf_counter()
            one_session(rig.path, plans[False], folder, 2 * runs)
            filled = len(list(cache.iterdir()))
            print(f"render cache: warm-up session (checks off) wrote {filled} files in "
                  f"{time.perf_counter() - started:.1f} s")
        captures: dict[bool, list[float]] = {True: [], False: []}
        whole: dict[bool, list[float]] = {True: [], False: []}
        for index in range(runs):
            for enabled in (index % 2 == 0, index % 2 != 0):  # alternate which goes first
                run = one_session(rig.path, plans[enabled], folder, 2 * index + int(enabled))
                captures[enabled].append(run.capture_s)
                whole[enabled].append(run.session_s)
        if images == "cached":  # a new file is an exposure the timed runs had to render (a cache miss)
            print(f"render cache: {len(list(cache.iterdir()))} files after the timed runs, {filled} before "
                  f"(new files = exposures rendered during them)")
    on, off = statistics.median(captures[True]), statistics.median(captures[False])
    # Session.run() also holds the wait for the last take's checks before it reports done (not the capture's).
    print(f"Session.run() medians: checks on {statistics.median(whole[True]):.3f} s, off "
          f"{statistics.median(whole[False]):.3f} s")
    print(f"checks on: capture median {on:.3f} s {sorted(round(c, 3) for c in captures[True])}; off: {off:.3f} s "
          f"{sorted(round(c, 3) for c in captures[False])}; on/off {on / off:.3f} (target <= {QC_TARGET}), "
          f"{runs} runs each, load {os.getloadavg()[0]:.1f}")
    best = min(captures[True]) / min(captures[False])
    print(f"best of {runs}: on {min(captures[True]):.3f} s, off {min(captures[False]):.3f} s, on/off {best:.3f}")
    record("session_walltime", f"demo plan, 16 cameras, images {images}: capture with checks on / off", on / off,
           "x", target=QC_TARGET, note=f"capture medians {on:.3f} s on, {off:.3f} s off, {runs} runs each; best "
           f"of each {best:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cameras", type=int, nargs="+", default=[16, 64, 128])
    parser.add_argument("--plans", nargs="+", choices=["demo", "light-stage"], default=["demo", "light-stage"])
    parser.add_argument("--qc-compare", action="store_true", help="only: the capture with the checks on vs off")
    parser.add_argument("--images", choices=["repeat", "rendered", "cached"], default="repeat",
                        help="--qc-compare: the cameras' images (repeat: a test card, nothing rendered on the host; "
                             "cached: rendered images read from a render cache a warm-up session filled)")
    args = parser.parse_args()
    base = capturerig.load_rig()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.qc_compare:
        qc_compare(base, args.runs, args.images)
        return
    cases = [(16, "rendered", "demo")] if 16 in args.cameras and "demo" in args.plans else []
    cases += [(count, "repeat", plan) for plan in args.plans for count in args.cameras]
    for count, images, plan_name in cases:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            rig = capturerig.load_rig(write_rig(rig_with_cameras(base.config, count, images), folder))
            plan_path = None
            if plan_name == "light-stage":
                plan_path = folder / "light-stage.yaml"
                plan_path.write_text(LIGHT_STAGE_PLAN, encoding="utf-8")
            plan = capturerig.load_plan(plan_path, rig)
            bound = estimate_plan(rig.config, plan.config, rig.path.parent, engine_overhead_s=0.0).session_s
            runs = [one_session(rig.path, plan_path, folder, i) for i in range(args.runs)]
            # The capture's critical path starts with what is left of the table's settle after homing.
            capture_ratios = [r.capture_s / estimate_plan(rig.config, plan.config, rig.path.parent,
                                                          engine_overhead_s=0.0,
                                                          table_settling_s=r.table_settling_s).session_s
                              for r in runs]
        session_median = statistics.median(r.session_s for r in runs)
        capture_median = statistics.median(r.capture_s for r in runs)
        capture_ratio = statistics.median(capture_ratios)
        settling = statistics.median(r.table_settling_s for r in runs)
        package_median = statistics.median(r.package_s for r in runs)
        label = f"{plan_name} plan, {count} cameras, images {images}"
        print(f"{label:<44} critical path {bound:6.2f} s (+ table settling after homing, median "
              f"{settling * 1e3:.0f} ms) | run() median {session_median:6.2f} s (ratio {session_median / bound:.3f}) "
              f"| capture median {capture_median:6.2f} s (ratio {capture_ratio:.3f}, target <= {OVERHEAD_TARGET}; "
              f"{capture_median / bound:.3f} without the settling) | package {package_median:5.2f} s"
              f" | {args.runs} runs, load {os.getloadavg()[0]:.1f}")
        target = OVERHEAD_TARGET if images == "repeat" else None
        note = f"critical path {bound:.2f} s, {args.runs} runs"
        record("session_walltime", f"{label}: capture wall time / critical path", capture_ratio, "x",
               target=target, bound=1.0, note=f"{note} + {settling * 1e3:.0f} ms of table settling left after "
               f"homing, capture {capture_median:.2f} s")
        record("session_walltime", f"{label}: Session.run() wall time / critical path", session_median / bound,
               "x", bound=1.0, note=f"{note}, run() {session_median:.2f} s (devices and preflight included)")
        record("session_walltime", f"{label}: packaging wall time", package_median, "s")


if __name__ == "__main__":
    main()
