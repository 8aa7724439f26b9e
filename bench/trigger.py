"""Trigger sync figures: software dispatch spread at 16 and 64 cameras, and the trigger box through its pty.

Software trigger (rigs without a box): drivers that implement ``prepare_trigger`` (sim and gphoto2) are
prepared in parallel, then the engine's ``dispatch_prepared`` fires them back to back from one thread; other
drivers fall back to ``dispatch_together``, one pool thread per camera released from a barrier. The spread is
the last minus the first moment a fire call began. Both are measured with

- stand-in cameras whose ``trigger_capture`` writes one byte to a pipe (what the gphoto2 driver does: a
  message to the camera's worker process), at 16 and 64 cameras;
- stand-ins batched as the gphoto2 driver batches (each call only marks its camera; the last call writes
  every camera's "fire now" message back to back): the spread of those writes is what reaches the cameras;
- the virtual studio's sim cameras (``SimCamera.trigger_capture``: arm + fire under the studio lock), at 16
  cameras (the example rig).

Trigger box: the real driver (``trigger.serial-box``) fires the 16 sim cameras through the box simulator on a
pty; the exposure spread comes from the flash-sync timestamps (the modelled per-body latency, +-3 ms), raw and
with the suggested per-output delays applied, plus the FIRE round trip over the pty and the wall-clock
spread of the simulated exposures (the simulator's timer precision, at time scale 1).

Target: software dispatch p99 <= 2 ms at 64 cameras. Run: .venv/bin/python bench/trigger.py [--fires 200];
on a machine shared with other work, `chrt -f 10 .venv/bin/python bench/trigger.py` approximates a dedicated
controller (the figures then measure our code, not the neighbours' load).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

os.environ.setdefault("CAPTURERIG_SIM_TIME_SCALE", "0")  # sim cameras: no modelled sleeps inside the calls

from _figures import record  # bench/ is on sys.path when a script runs

import capturerig
from capturerig.config import DeviceConfig
from capturerig.devices import DriverContext, create_camera
from capturerig.devices.triggerbox import SerialTriggerBox
from capturerig.engine import dispatch_prepared, dispatch_together, sync_statistics
from capturerig_sim import get_studio, reset_studios
from capturerig_sim._latency import trigger_latency_ms
from capturerig_sim.triggerbox_sim import TriggerBoxSimulator

TARGET_P99_S = 0.002


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * q / 100))]


def spreads(calls: dict[str, Callable[[], None]], fires: int) -> list[float]:
    result = []
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:  # the runner's pool has one thread per camera
        for _ in range(fires):
            dispatched = dispatch_together(calls, pool, timeout_s=5.0)
            assert not dispatched.errors, dispatched.errors
            result.append(dispatched.spread_s)
            time.sleep(0.002)
    return result


def prepared_spreads(calls: dict[str, Callable[[], None]], fires: int) -> list[float]:
    """The engine's fast path: each camera's prepare returns its (already instant) fire call."""
    preparers = {camera_id: partial(lambda call: call, call) for camera_id, call in calls.items()}
    result = []
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        for _ in range(fires):
            dispatched = dispatch_prepared(preparers, pool, timeout_s=5.0)
            assert not dispatched.errors, dispatched.errors
            result.append(dispatched.spread_s)
            time.sleep(0.002)
    return result


def pipe_cameras(count: int) -> tuple[dict[str, Callable[[], None]], list[int]]:
    fds: list[int] = []
    calls: dict[str, Callable[[], None]] = {}
    for index in range(count):
        read_fd, write_fd = os.pipe()
        fds += [read_fd, write_fd]
        os.set_blocking(read_fd, False)

        def fire(write_fd: int = write_fd, read_fd: int = read_fd) -> None:
            os.write(write_fd, b"F")
            os.read(read_fd, 1)  # keep the pipe empty (the worker would read it)
        calls[f"cam{index:02d}"] = fire
    return calls, fds


def batched_cameras(count: int) -> tuple[dict[str, Callable[[], None]], list[int], list[float]]:
    """Stand-ins batched like the gphoto2 driver: each call marks its camera, the last one writes every
    camera's "fire now" message back to back. Returns the calls, the fds and a list that collects, per fire,
    the spread of those writes."""
    fds: list[int] = []
    pipes: list[tuple[int, int]] = []
    for _ in range(count):
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        fds += [read_fd, write_fd]
        pipes.append((read_fd, write_fd))
    lock = threading.Lock()
    marked: set[str] = set()
    fanout: list[float] = []

    def call(camera_id: str) -> None:
        with lock:
            marked.add(camera_id)
            if len(marked) < count:
                return
            marked.clear()
            times = []
            for _, write_fd in pipes:
                os.write(write_fd, b"F")
                times.append(time.perf_counter())
            fanout.append(max(times) - min(times))
            for read_fd, _ in pipes:
                os.read(read_fd, 1)

    return {f"cam{i:02d}": partial(call, f"cam{i:02d}") for i in range(count)}, fds, fanout


def report(label: str, values: list[float], target_ms: float | None = None) -> None:
    ms = [v * 1e3 for v in values]
    record("trigger", f"{label}: spread p99", pct(ms, 99), "ms", target=target_ms)
    print(f"  {label:<50} p50 {pct(ms, 50):7.3f} ms   p99 {pct(ms, 99):7.3f} ms   max {max(ms):7.3f} ms")


def software(fires: int) -> None:
    print(f"software dispatch spread, engine fast path (prepared in parallel, fired from one thread; "
          f"{fires} fires each; target p99 <= {TARGET_P99_S * 1e3:g} ms at 64):")
    for count in (16, 64):
        calls, fds = pipe_cameras(count)
        values = prepared_spreads(calls, fires)
        for fd in fds:
            os.close(fd)
        report(f"{count} stand-in cameras (pipe write per call)", values,
               TARGET_P99_S * 1e3 if count == 64 else None)
        if count == 64:
            verdict = "meets" if pct(values, 99) <= TARGET_P99_S else "MISSES"
            print(" " * 52 + f"-> {verdict} the p99 <= {TARGET_P99_S * 1e3:g} ms target")
    print(f"software dispatch spread, barrier fallback (one pool thread per camera; {fires} fires each):")
    for count in (16, 64):
        calls, fds = pipe_cameras(count)
        values = spreads(calls, fires)
        for fd in fds:
            os.close(fd)
        report(f"{count} stand-in cameras (pipe write per call)", values)
    calls, fds, fanout = batched_cameras(64)
    spreads(calls, fires)
    for fd in fds:
        os.close(fd)
    report("64 batched: spread of the fire messages", fanout)
    reset_studios()
    rig = capturerig.load_rig()
    context = DriverContext(rig.config, rig.path.parent)
    cameras = {c.id: create_camera(c, context) for c in rig.config.cameras}
    for camera in cameras.values():
        camera.connect(5.0)
    values = spreads({c: partial(cam.trigger_capture, 5.0) for c, cam in cameras.items()}, fires)
    report("16 virtual-studio sim cameras, barrier", values)
    for camera in cameras.values():
        camera.close()
    for count in (16, 64):
        report(f"{count} virtual-studio sim cameras, fast path", sim_fast_path(count, fires))


def sim_fast_path(count: int, fires: int) -> list[float]:
    """The engine's fast path on ``count`` sim cameras (the 16-camera studio's bodies repeated)."""
    reset_studios()
    rig = capturerig.load_rig().config
    bodies = [rig.cameras[i % len(rig.cameras)] for i in range(count)]
    rig = rig.model_copy(update={"cameras": tuple(
        body.model_copy(update={"id": f"cam{i:02d}", "serial": f"SIM{i:05d}"}) for i, body in enumerate(bodies))})
    context = DriverContext(rig, capturerig.config.default_rig_path().parent)
    cameras = {c.id: create_camera(c, context) for c in rig.cameras}
    for camera in cameras.values():
        camera.connect(5.0)
    values = []
    with ThreadPoolExecutor(max_workers=count) as pool:
        for _ in range(fires):  # re-arming drops the undownloaded exposure, so no rendering is needed
            dispatched = dispatch_prepared({c: partial(cam.prepare_trigger, 5.0) for c, cam in cameras.items()},
                                           pool, timeout_s=5.0)
            assert not dispatched.errors, dispatched.errors
            values.append(dispatched.spread_s)
            time.sleep(0.002)
    for camera in cameras.values():
        camera.close()
    return values


def box(fires: int) -> None:
    print(f"trigger box through the pty simulator (16 sim cameras, {fires} fires each):")
    reset_studios()
    rig = capturerig.load_rig()
    studio = get_studio("default", rig.config, rig.path.parent)
    studio.time_scale = 1.0
    outputs = {c.id: i for i, c in enumerate(rig.config.cameras)}
    with tempfile.TemporaryDirectory() as tmp, TriggerBoxSimulator(studio, outputs, link=Path(tmp) / "trig0") as sim:
        driver = SerialTriggerBox(DeviceConfig(id="trig0", driver="serial-box", params={
            "port": sim.path, "outputs": outputs, "pulse_us": 1000}), DriverContext(rig.config, rig.path.parent))
        driver.open(5.0)
        round_trips: list[float] = []

        def run(count: int) -> tuple[list[dict[str, float]], list[float]]:
            samples, wall = [], []
            for _ in range(count):
                for camera_id in outputs:
                    studio.arm(camera_id, {}, 0)
                started = time.perf_counter()
                driver.fire(list(outputs), 5.0)
                round_trips.append(time.perf_counter() - started)
                samples.append(driver.read_sync(5.0))
                time.sleep(0.04)  # every delayed output has fired
                records = studio.exposure_log()[-len(outputs):]
                exposed = [r.fired_at + trigger_latency_ms(rig.config.camera(r.camera_id).serial, 40.0) / 1e3
                           for r in records]
                wall.append(max(exposed) - min(exposed))
            return samples, wall

        raw, raw_wall = run(fires)
        suggestion = sync_statistics(raw).suggested_delays_us
        driver.set_delays(suggestion, 5.0)
        equalised, wall = run(fires)
        driver.close()
    raw_report, eq_report = sync_statistics(raw), sync_statistics(equalised)
    print(f"  {'exposure spread, no delays (flash-sync)':<50} p50 {raw_report.spread_p50_s * 1e3:7.3f} ms   "
          f"p99 {raw_report.spread_p99_s * 1e3:7.3f} ms")
    print(f"  {'exposure spread, suggested delays (flash-sync)':<50} p50 {eq_report.spread_p50_s * 1e3:7.3f} ms   "
          f"p99 {eq_report.spread_p99_s * 1e3:7.3f} ms")
    report("sim exposures in wall time, no delays", raw_wall)
    report("sim exposures in wall time, suggested delays", wall)
    report("FIRE round trip over the pty", round_trips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fires", type=int, default=200)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
          f"load {load[0]:.2f}, Python {platform.python_version()} ({platform.python_implementation()}), "
          f"GIL switch interval {sys.getswitchinterval() * 1e3:g} ms")
    software(args.fires)
    box(max(10, args.fires // 4))


if __name__ == "__main__":
    main()
