"""Serial light transports at 44 Hz on a pty: frames/s, inter-frame jitter p99, apply-to-wire latency p99.

Each transport (ENTTEC DMX USB Pro, Open DMX, capturerig-leds) streams one universe through its real driver
to its simulator on a pty for a few seconds, idle and while other threads keep the CPUs busy (a stand-in for
a capture session's rendering and hashing). Jitter is the spread of the simulator's receive intervals around
the clock period, on the sender side (when each write completed, as the clock's history records it);
latency runs from ``set_universe`` to the end of the first write of that frame; frames/s counts what the
simulator received.

A pty has no baud rate: a real FTDI line takes 22.6 ms for a full Open DMX frame and a 115200 baud
controller 12 ms for 64 slots, so on hardware latency adds those wire times (printed beside the figures).
Run: .venv/bin/python bench/serial_lights.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
from _figures import record as record_figure  # bench/ is on sys.path when a script runs

from capturerig.config import LightOutputConfig, default_rig_path, load_rig
from capturerig.devices import DriverContext, create_light_output
from capturerig.devices._serial_output import SerialLightOutput
from capturerig_sim._serial_pty import PtySimulator
from capturerig_sim.enttec_widget import EnttecWidgetSim
from capturerig_sim.opendmx_sim import OpenDmxSim
from capturerig_sim.serial_lights_sim import SerialLightsSim

RATE_HZ = 44.0
TRANSPORTS: dict[str, tuple[Callable[[], PtySimulator], dict[str, Any], str]] = {
    "enttec-pro": (lambda: EnttecWidgetSim("out0", universe=1), {}, "USB; widget refreshes the line itself"),
    "opendmx": (lambda: OpenDmxSim("out0", universe=1), {"break_marker": True}, "+22.6 ms wire time per frame"),
    "serial-lights": (lambda: SerialLightsSim("out0", channels=64), {}, "+12.3 ms wire time at 115200 baud"),
}


def _busy(stop: threading.Event) -> None:
    """What a capture session's controller does besides the lights: hash and compress image-sized buffers
    (both release the GIL for most of the work, as hashlib, zlib and OpenCV do)."""
    data = np.random.default_rng(0).integers(0, 256, 8_000_000, dtype=np.uint8).tobytes()
    while not stop.is_set():
        hashlib.sha256(data).digest()
        zlib.compress(data[:1_000_000], 1)


def _run(driver: str, seconds: float, context: DriverContext) -> dict[str, float]:
    make_sim, params, _ = TRANSPORTS[driver]
    with make_sim() as sim:
        config = LightOutputConfig(id="out0", driver=driver, universes=(1,),
                                   params={"port": sim.path, "rate_hz": RATE_HZ, **params})
        output = create_light_output(config, context)
        assert isinstance(output, SerialLightOutput)
        output.open(2.0)
        try:
            first = len(sim.frames)
            started = time.perf_counter()
            end = started + seconds
            k = 0
            while time.perf_counter() < end:
                k += 1
                output.set_universe(1, bytes([k % 256]) * 512)
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            history = [record for record in output.send_history if record.sent_at >= started]
            received = len(sim.frames) - first
        finally:
            output.close()
    sent = np.array([record.sent_at for record in history])
    jitter = np.abs(np.diff(sent) - 1.0 / RATE_HZ)
    first_sent: dict[int, float] = {}
    applied: dict[int, float] = {}
    for record in history:
        first_sent.setdefault(record.generation, record.sent_at)
        applied[record.generation] = record.applied_at
    latencies = [first_sent[g] - applied[g] for g in first_sent if applied[g] >= started]
    return {"fps": received / elapsed, "jitter_p99_ms": float(np.percentile(jitter, 99) * 1000),
            "interval_median_ms": float(np.median(np.diff(sent)) * 1000),
            "latency_p99_ms": float(np.percentile(latencies, 99) * 1000),
            "latency_median_ms": statistics.median(latencies) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    loaded = load_rig(default_rig_path())
    context = DriverContext(loaded.config, loaded.path.parent)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; one universe at {RATE_HZ:g} Hz for {args.seconds:g} s each")
    print(f"{'transport':<14} {'load':<5} {'frames/s':>8} {'interval med':>12} {'jitter p99':>10} "
          f"{'latency med':>11} {'latency p99':>11}  hardware bound")
    for driver, (_, _, bound) in TRANSPORTS.items():
        for load in ("idle", "busy"):
            stop = threading.Event()
            workers = [threading.Thread(target=_busy, args=(stop,), daemon=True) for _ in range(2)]
            if load == "busy":
                for worker in workers:
                    worker.start()
            try:
                r = _run(driver, args.seconds, context)
            finally:
                stop.set()
            print(f"{driver:<14} {load:<5} {r['fps']:8.1f} {r['interval_median_ms']:9.2f} ms "
                  f"{r['jitter_p99_ms']:7.2f} ms {r['latency_median_ms']:8.2f} ms {r['latency_p99_ms']:8.2f} ms  "
                  f"{bound}")
            where = f"{driver}, {load}"
            record_figure("serial_lights", f"{where}: frames/s", r["fps"], "Hz", target=RATE_HZ * 0.95,
                          better="higher")
            record_figure("serial_lights", f"{where}: inter-frame jitter p99 (sender)", r["jitter_p99_ms"], "ms",
                          note=f"hardware bound {bound}")
            record_figure("serial_lights", f"{where}: apply-to-wire latency p99", r["latency_p99_ms"], "ms",
                          target=1000.0 / RATE_HZ)


if __name__ == "__main__":
    main()
