"""Network DMX cadence: 4 universes at 44 Hz over Art-Net and sACN, idle and during a simulated capture session.

For each sender (our Art-Net and sACN outputs, and the `sacn` package's own sACNsender as the reference) it
prints frames/s per universe, inter-frame jitter p99 and apply-to-wire latency p99. A separate receiver
process timestamps every packet on 127.0.0.5 (time.perf_counter is CLOCK_MONOTONIC, shared across
processes), so the figures are what a node on the wire would see:

- jitter: |interval between two packets of a universe - that universe's median interval|, p99 over all;
  "tx" is the same from our sender clock's own send times (FrameClock.history);
- latency: from set_universe() of a new frame (changed every 2-3 periods at random) to its first arrival;
  "handover" is the same from the moment set_frame wrote the frame into the sender's shared memory
  (SendRecord.applied_at), i.e. without the time the calling thread waited for the GIL.

Every sender refreshes every tick here (keepalive_s 0; the reference's 1 s keep-alive is set to 0 too), so
each universe carries 44 packets/s and a new frame waits for the next tick (latency up to one period).
The "keep-alive" rows run our outputs with their default keep-alive instead: a changed frame leaves at once
when its universe has been quiet for a period, so latency drops well below a period (jitter is not
meaningful there: frames go out when they change). Our senders run in their own process under SCHED_FIFO
(priority 10) by default; --realtime also puts the receiver and the reference's thread under SCHED_FIFO.
Targets: jitter p99 <= 0.5 ms under load, latency <= one period (22.7 ms); each figure is printed beside
its bound. Load = capturerig.Session on the simulated studio at time scale 1, in a thread of this process.
Run: .venv/bin/python bench/lights.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

os.environ.setdefault("CAPTURERIG_SIM_TIME_SCALE", "1")

import itertools

from _figures import record  # bench/ is on sys.path when a script runs

import capturerig  # after the time scale is set: the simulator reads it at import
from capturerig.config import LightOutputConfig
from capturerig.devices import DriverContext, SendRecord
from capturerig.devices._artnet_packets import ArtDmx, parse_artnet
from capturerig.devices._sacn_packets import parse_e131
from capturerig.devices.artnet import ArtNetOutput
from capturerig.devices.sacn import SacnOutput
from capturerig.subjects import DEMO_PURPOSE, enrol_demo_subject

RATE_HZ = 44.0
PERIOD_S = 1.0 / RATE_HZ
UNIVERSES = (1, 2, 3, 4)
RECEIVER_HOST = "127.0.0.5"
ARTNET_PORT = 6454
SACN_PORT = 5568  # the reference sender can only send to 5568
JITTER_BOUND_MS = 0.5
LATENCY_BOUND_MS = PERIOD_S * 1000


# -- receiver process ---------------------------------------------------------------------------------------
def _realtime(thread_id: int) -> None:
    """SCHED_FIFO for one thread (0: the calling one); needs root or CAP_SYS_NICE."""
    try:
        os.sched_setscheduler(thread_id, os.SCHED_FIFO, os.sched_param(10))
    except OSError as exc:
        print(f"cannot make thread {thread_id} real-time: {exc}", file=sys.stderr)


def _receive(kind: str, port: int, seconds: float, conn: Connection, realtime: bool) -> None:
    """Timestamp every packet for ``seconds``; send back (time, universe, marker) rows."""
    if realtime:
        _realtime(0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((RECEIVER_HOST, port))
    sock.settimeout(0.2)
    rows: list[tuple[float, int, int]] = []
    conn.send("ready")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        try:
            data = sock.recv(1500)
        except TimeoutError:
            continue
        now = time.perf_counter()
        if kind == "artnet":
            packet = parse_artnet(data)
            if isinstance(packet, ArtDmx):
                rows.append((now, packet.port_address, int.from_bytes(packet.data[:4], "big")))
        else:
            e131 = parse_e131(data)
            rows.append((now, e131.universe, int.from_bytes(e131.data[:4], "big")))
    sock.close()
    conn.send(rows)


# -- the machine's floor -------------------------------------------------------------------------------------
def _timer_floor(seconds: float, conn: Connection) -> None:
    """A bare SCHED_FIFO loop ticking at the rate (sleep, then spin the last 0.3 ms, as our sender does)."""
    import gc
    import select

    _realtime(0)
    gc.disable()
    ticks: list[float] = []
    next_tick = time.perf_counter()
    end = next_tick + seconds
    while next_tick < end:
        next_tick += PERIOD_S
        select.select([], [], [], max(0.0, next_tick - time.perf_counter() - 0.0003))
        while time.perf_counter() < next_tick:
            pass
        ticks.append(time.perf_counter())
    conn.send(ticks)


def timer_floor_ms(seconds: float) -> float:
    """Inter-tick jitter p99 of a bare real-time loop: what this machine allows any sender at best."""
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_timer_floor, args=(seconds, child))
    process.start()
    ticks: list[float] = parent.recv()
    process.join(timeout=10)
    return _p99(_jitter(ticks)) * 1000


# -- senders ------------------------------------------------------------------------------------------------
@dataclass
class Sender:
    set_frame: Callable[[int, bytes], None]
    stop: Callable[[], None]
    history: Callable[[], list[SendRecord]]


def _our_sender(kind: str, rig: capturerig.LoadedRig, config_home: Path, realtime: bool,
                refresh: bool = True) -> Sender:
    os.environ["XDG_CONFIG_HOME"] = str(config_home)
    port = ARTNET_PORT if kind == "artnet" else SACN_PORT
    params: dict[str, object] = {"host": RECEIVER_HOST, "port": port, "rate_hz": RATE_HZ,
                                 "realtime_priority": 10 if realtime else None}
    if refresh:
        params["keepalive_s"] = 0.0
    config = LightOutputConfig(id=f"{kind}-bench", driver=kind, universes=UNIVERSES, params=params)
    context = DriverContext(rig.config, rig.path.parent)
    output = ArtNetOutput(config, context) if kind == "artnet" else SacnOutput(config, context)
    output.open(1.0)
    return Sender(output.set_universe, output.close, lambda: list(output.history))


def _reference_sender(realtime: bool) -> Sender:
    import sacn  # test-only dependency: the independent reference
    import sacn.sending.sender_handler as handler

    handler.SEND_OUT_INTERVAL = 0  # resend every tick, as ours do with keepalive_s 0 (its default is 1 s)
    sender = sacn.sACNsender(bind_address="127.0.0.1", bind_port=0, source_name="sacn reference",
                             fps=int(RATE_HZ), universeDiscovery=False)
    for universe in UNIVERSES:
        sender.activate_output(universe)
        sender[universe].destination = RECEIVER_HOST
    sender.start()
    if realtime:  # the same scheduling as ours, applied from outside to its sender thread
        _realtime(sender._sender_handler.socket._thread.native_id)

    def set_frame(universe: int, frame: bytes) -> None:
        sender[universe].dmx_data = tuple(frame)

    return Sender(set_frame, sender.stop, lambda: [])


# -- load ---------------------------------------------------------------------------------------------------
class SessionLoad:
    """Simulated capture sessions back to back in a thread (time scale 1), until stopped."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.stop = threading.Event()
        self.sessions = 0
        self.session: capturerig.Session | None = None
        self.thread = threading.Thread(target=self._run, name="session-load", daemon=True)

    def _run(self) -> None:
        rig = capturerig.load_rig()
        plan = capturerig.load_plan(None, rig)
        registry = enrol_demo_subject(self.workdir / "subjects.sqlite", "bench").registry_path
        while not self.stop.is_set():
            self.session = capturerig.Session.create(rig, plan, subject="bench",
                                                     out=self.workdir / f"session-{self.sessions}",
                                                     purpose=DEMO_PURPOSE, registry=registry)
            self.session.run()
            self.session.close()
            self.sessions += 1

    def __enter__(self) -> SessionLoad:
        self.thread.start()
        time.sleep(2.0)  # past preflight: takes are being shot
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.session is not None:
            self.session.abort()
        self.thread.join(timeout=60)


# -- one measurement ----------------------------------------------------------------------------------------
@dataclass
class Figures:
    fps: list[float]
    jitter_rx_ms: float
    jitter_tx_ms: float | None
    latency_ms: float
    latency_samples: int
    handover_ms: float | None


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else float("nan")


def _jitter(times: list[float]) -> list[float]:
    intervals = [b - a for a, b in itertools.pairwise(times)]
    median = statistics.median(intervals)
    return [abs(i - median) for i in intervals]


def measure(kind: str, make_sender: Callable[[], Sender], seconds: float, realtime: bool) -> Figures:
    parent, child = multiprocessing.get_context("spawn").Pipe()
    port = ARTNET_PORT if kind == "artnet" else SACN_PORT
    process = multiprocessing.get_context("spawn").Process(target=_receive, args=(kind, port, seconds + 1.0, child,
                                                                                   realtime))
    process.start()
    assert parent.recv() == "ready"
    sender = make_sender()
    applied: dict[tuple[int, int], float] = {}
    rng = random.Random(1)
    marker = {u: 0 for u in UNIVERSES}
    due = {u: time.perf_counter() + rng.uniform(0, 2 * PERIOD_S) for u in UNIVERSES}
    started = time.perf_counter()
    while (now := time.perf_counter()) < started + seconds:
        for universe in UNIVERSES:
            if now >= due[universe]:
                marker[universe] += 1
                frame = marker[universe].to_bytes(4, "big") + bytes(508)
                applied[(universe, marker[universe])] = time.perf_counter()
                sender.set_frame(universe, frame)
                due[universe] = now + rng.uniform(2 * PERIOD_S, 3 * PERIOD_S)
        time.sleep(0.002)
    history = sender.history()
    sender.stop()
    rows: list[tuple[float, int, int]] = parent.recv()
    process.join(timeout=10)
    window = (started + 1.0, started + seconds)  # skip the first second (start-up)
    fps, jitter_rx, latency = [], [], []
    first_arrival: dict[tuple[int, int], float] = {}
    for t, universe, mark in rows:
        first_arrival.setdefault((universe, mark), t)
    for universe in UNIVERSES:
        times = [t for t, u, _ in rows if u == universe and window[0] <= t <= window[1]]
        fps.append((len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0)
        jitter_rx += _jitter(times)
    for key, at in applied.items():
        if key in first_arrival and window[0] <= at <= window[1]:
            latency.append(first_arrival[key] - at)
    handover: list[float] = []
    applied_in_clock = {(r.universe, r.generation): r.applied_at for r in history}
    for key, at in applied_in_clock.items():
        if key in first_arrival and window[0] <= at <= window[1]:
            handover.append(first_arrival[key] - at)
    jitter_tx = None
    if history:
        tx: list[float] = []
        for universe in UNIVERSES:
            tx += _jitter([r.sent_at for r in history if r.universe == universe and window[0] <= r.sent_at])
        jitter_tx = _p99(tx) * 1000
    return Figures(fps, _p99(jitter_rx) * 1000, jitter_tx, _p99(latency) * 1000, len(latency),
                   _p99(handover) * 1000 if handover else None)


def _against(value: float | None, bound: float, width: int = 6) -> str:
    """A figure beside its bound: '  0.21 ms (<=0.5 ok)'."""
    if value is None:
        return f"{'-':>{width}} ms {'':11}"
    verdict = "ok" if value <= bound else "OVER"
    return f"{value:{width}.2f} ms (<={bound:g} {verdict:<4})"


def _record(label: str, load: str, refresh: bool, figures: Figures) -> None:
    """The rows bench/all.py reports: receiver-side jitter (refresh mode) and apply-to-wire latency."""
    where = f"{label}, {load}"
    if refresh and figures.jitter_rx_ms is not None:
        record("lights", f"{where}: inter-frame jitter p99 at the receiver", figures.jitter_rx_ms, "ms",
               target=JITTER_BOUND_MS)
    if figures.latency_ms is not None:
        record("lights", f"{where}: apply-to-wire latency p99", figures.latency_ms, "ms",
               target=round(LATENCY_BOUND_MS, 1), bound=PERIOD_S * 1000 if refresh else None,
               note="a new frame waits for the next tick" if refresh else "sent on change")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per sender and load")
    parser.add_argument("--switch-interval-ms", type=float, default=None,
                        help="sys.setswitchinterval for this process (how long a sender may wait for the GIL)")
    parser.add_argument("--only", default="", help="run only the senders whose label contains this text")
    parser.add_argument("--realtime", action="store_true",
                        help="run every sender thread and the receiver under SCHED_FIFO (params.realtime_priority)")
    args = parser.parse_args()
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1000)
    rig = capturerig.load_rig()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; switch interval {sys.getswitchinterval() * 1000:g} ms")
    print(f"{len(UNIVERSES)} universes at {RATE_HZ:g} Hz (period {PERIOD_S * 1000:.1f} ms), "
          f"{args.seconds:g} s each; receiver in its own process on {RECEIVER_HOST}; "
          f"{'SCHED_FIFO senders and receiver' if args.realtime else 'normal scheduling'}")
    print(f"machine floor: a bare SCHED_FIFO sleep+spin loop at {RATE_HZ:g} Hz, no sending: inter-tick jitter p99 "
          f"{timer_floor_ms(min(args.seconds, 10.0)):.2f} ms (idle)", flush=True)
    print(f"{'sender':<29}{'load':<8}{'frames/s per universe':<25}{'jitter p99 rx':<26}{'tx':<26}"
          f"{'latency p99':<28}{'handover':<26}")
    with tempfile.TemporaryDirectory() as tmp:
        senders: list[tuple[str, str, bool, Callable[[], Sender]]] = [
            ("capturerig artnet", "artnet", True, lambda: _our_sender("artnet", rig, Path(tmp), args.realtime)),
            ("capturerig sacn", "sacn", True, lambda: _our_sender("sacn", rig, Path(tmp), args.realtime)),
            ("sacn.sACNsender (ref)", "sacn", True, lambda: _reference_sender(args.realtime)),
            ("capturerig artnet keep-alive", "artnet", False,
             lambda: _our_sender("artnet", rig, Path(tmp), args.realtime, refresh=False)),
            ("capturerig sacn keep-alive", "sacn", False,
             lambda: _our_sender("sacn", rig, Path(tmp), args.realtime, refresh=False)),
        ]
        for load in ("idle", "session"):
            for label, kind, refresh, make in [s for s in senders if args.only in s[0]]:
                if load == "idle":
                    figures = measure(kind, make, args.seconds, args.realtime)
                else:
                    with SessionLoad(Path(tmp) / f"{label.replace(' ', '-')}-{kind}"):
                        figures = measure(kind, make, args.seconds, args.realtime)
                fps = " ".join(f"{f:5.1f}" for f in figures.fps)
                if refresh:
                    jitter = _against(figures.jitter_rx_ms, JITTER_BOUND_MS)
                    tx = _against(figures.jitter_tx_ms, JITTER_BOUND_MS)
                else:
                    jitter = tx = f"{'(sent on change)':<26}"
                print(f"{label:<29}{load:<8}{fps:<25}{jitter}  {tx}  "
                      f"{_against(figures.latency_ms, round(LATENCY_BOUND_MS, 1))}  "
                      f"{_against(figures.handover_ms, round(LATENCY_BOUND_MS, 1))}  (n={figures.latency_samples})",
                      flush=True)
                _record(label, load, refresh, figures)
    print(f"targets: jitter p99 <= 0.5 ms under load; latency p99 <= one period ({PERIOD_S * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
