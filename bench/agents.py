"""Capture agents (issue 19): the agent link's latency, death detection, file pulls, and a multihost session.

Every agent is a separate ``capturerig agent`` process on a loopback address 127.0.0.11.. (a free port each),
as examples/multihost/README.md runs them; the controller (this process) reaches them through ``AgentLink``
and ``RemoteCamera``, as a session does. Figures:

1. Command round trip controller -> agent (``AgentLink.command(camera, "apply_settings", ...)``, the
   camera's own settings again, round robin over every agent from one thread), p50 / p99, at 4 and at 8
   agents: idle, and from a thread while 64-camera multihost sessions run (two in a full run, pooled, after one
   untimed session on the same agents; only the samples taken between a session's first TakeStarted and its
   end count). Targets: p99 <= 10 ms idle, <= 25 ms in a session.
2. Agent-death detection: a RemoteCamera armed and waiting for its exposure; the agent is SIGKILLed (at a
   random phase of its 1 s heartbeat); the time until the wait raises (target <= 3 s).
3. File pulls: 25 MB files stored straight into each agent's spool (``Spool.store``, before the agent starts:
   it offers what its ledger holds), pulled with ``AgentLink.fetch`` (Range-resumable; as a session pulls:
   the engine checks the agent's SHA-256 as it stores the file) and with a plain ``curl`` (Authorization
   header, output to /dev/null, its own ``time_total``) of the same files from the same agent; per agent
   (one at a time) and in aggregate (all agents at once: the link from one thread per agent in this
   process, curl as one process per agent). Target: link >= 0.8x curl.
4. Bytes re-sent after a partition in the middle of a file: the pull goes through ``FaultProxy`` (capped at
   50 MB/s so the middle can be caught), partitioned at half the file, healed 0.5 s later with
   ``partition_survival=0`` (every connection reset on heal); the pull resumes with Range. Figure: bytes the
   proxy forwarded beyond the file's size (~0 target; a pull restarted from zero would re-send half the file).
5. examples/multihost (64 cameras, ``simulation.images: repeat``, its plan) on 4 agents against the same 64
   cameras without ``hosts:`` (all in this process), time scale 1, runs alternated, medians: Session.run()
   and capture (first TakeStarted to last TakeVerified) wall-time ratios (target <= 1.10x).

Run: .venv/bin/python bench/agents.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import yaml

os.environ["CAPTURERIG_SIM_TIME_SCALE"] = "1"  # before capturerig_sim is imported: it reads it at import

from _figures import record  # bench/ is on sys.path when a script runs
from _sessions import bench_session

import capturerig
from capturerig.agent import Spool
from capturerig.devices import CameraFile, DeviceError
from capturerig.devices.remote import AgentLink, RemoteCamera, SpooledFile
from capturerig.engine import Event, TakeStarted
from capturerig_sim.faultproxy import FaultProxy

BENCH = "agents"
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "multihost"
TOKEN = "bench-agents-token-0123456789abcdef"
RTT_IDLE_TARGET_MS = 10.0
RTT_SESSION_TARGET_MS = 25.0
DEATH_TARGET_S = 3.0
PULL_TARGET = 0.8
WALL_TARGET = 1.10
FILE_MB = 25
START_TIMEOUT_S = 60.0


# -- rigs and agent processes --------------------------------------------------------------------------------------
def free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def example_rig() -> dict[str, Any]:
    return cast(dict[str, Any], yaml.safe_load((EXAMPLE / "rig.yaml").read_text(encoding="utf-8")))


def write_rig(folder: Path, name: str, hosts: int, cameras_per_host: int | None = None,
              token: bool = False) -> Path:
    """The example's rig with its cameras on ``hosts`` agents at 127.0.0.11.. (0: no hosts, all local); with
    ``cameras_per_host`` only that many cameras per host are kept. Free ports; tokens in files beside it."""
    rig = example_rig()
    cameras = rig["cameras"]
    if hosts == 0:
        rig.pop("hosts", None)
        rig.pop("agent_link", None)
    else:
        per_host = cameras_per_host or len(cameras) // hosts
        cameras = cameras[:hosts * per_host]
        rig["cameras"] = cameras
        rig["hosts"] = []
        for h in range(hosts):
            address = f"127.0.0.{11 + h}"
            entry = {"name": f"agent{h + 1}", "address": address, "port": free_port(address),
                     "cameras": [c["id"] for c in cameras[h * per_host:(h + 1) * per_host]]}
            if token:
                (folder / f"agent{h + 1}.token").write_text(TOKEN + "\n", encoding="utf-8")
                entry["token_file"] = f"agent{h + 1}.token"
            rig["hosts"].append(entry)
        rig["agent_link"]["spool_reserve_bytes"] = 100_000_000
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(rig, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Agents:
    """``capturerig agent`` processes for every host of a rig (``stop`` ends them all)."""

    rig_path: Path
    spool: Path
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, hosts: Sequence[str]) -> None:
        env = {**os.environ, "CAPTURERIG_SIM_TIME_SCALE": "1"}
        for host in hosts:
            log = (self.logs / f"{self.rig_path.stem}-{host}.log").open("wb")
            self.procs[host] = subprocess.Popen(
                [sys.executable, "-m", "capturerig", "agent", "--rig", str(self.rig_path), "--host", host,
                 "--spool", str(self.spool)], env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        for host, proc in self.procs.items():
            path = self.logs / f"{self.rig_path.stem}-{host}.log"
            while f"agent {host}:" not in path.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"agent {host} did not start:\n{path.read_text(errors='replace')[-2000:]}")
                time.sleep(0.05)

    def kill(self, host: str) -> None:
        """SIGKILL: the host loses power."""
        proc = self.procs[host]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def host_entries(rig_path: Path) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], yaml.safe_load(rig_path.read_text(encoding="utf-8"))["hosts"])


def open_links(rig_path: Path, token: str | None = None) -> list[tuple[AgentLink, str]]:
    """One link per host (not the session's registry: they stay the bench's), and a camera of each."""
    links = []
    for entry in host_entries(rig_path):
        link = AgentLink(entry["name"], f"http://{entry['address']}:{entry['port']}", token, 3.0)
        link.open(10)
        links.append((link, entry["cameras"][0]))
    return links


# -- 1. command round trip -------------------------------------------------------------------------------------
PROBE_CAMERA = "bench-probe"
SETTINGS = {"iso": "100", "shutter": "1/125", "aperture": "8", "whitebalance": "daylight"}


def probe(links: list[tuple[AgentLink, str]], count: int | None, pause_s: float,
          stop: threading.Event | None = None, camera_id: str | None = None) -> list[tuple[float, float, bool]]:
    """Round trips (time.monotonic() at the start, seconds, ok) of apply_settings, round robin over the links;
    ``camera_id`` instead of each host's first camera (one the agent has not: answered before any camera)."""
    samples: list[tuple[float, float, bool]] = []
    i = 0
    while (count is None or i < count) and not (stop is not None and stop.is_set()):
        link, camera = links[i % len(links)]
        camera = camera_id or camera
        started = time.monotonic()
        ok = True
        try:
            link.command(camera, "apply_settings", {"settings": SETTINGS}, 5.0)
        except DeviceError:  # a camera not (yet) connected answers too: a whole round trip all the same
            ok = False
        samples.append((started, time.monotonic() - started, ok))
        i += 1
        if pause_s:
            time.sleep(pause_s)
    return samples


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def report_rtt(label: str, times: Sequence[float], target: float, errors: int, what: str = "") -> None:
    p50, p99 = percentile(times, 50) * 1e3, percentile(times, 99) * 1e3
    worst = max(times) * 1e3
    print(f"  command round trip, {label:<26} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {worst:7.2f} ms  "
          f"({len(times)} commands{f', {errors} answered as errors' if errors else ''}; target p99 <= {target:g})")
    note = f"{len(times)} apply_settings commands, round robin, max {worst:.1f} ms" + (f"; {what}" if what else "")
    record(BENCH, f"command round trip p50, {label}", p50, "ms", note=note)
    record(BENCH, f"command round trip p99, {label}", p99, "ms", target=target, note=note)


def idle_rtt(rig_path: Path, agents: int, count: int) -> None:
    links = open_links(rig_path)
    try:
        for link, camera in links:
            link.command(camera, "connect", {}, 10)
        probe(links, 50, 0.0)  # warm the connections
        samples = probe(links, count, 0.001)
        for link, camera in links:  # as found: the session connects its cameras itself
            link.command(camera, "close", {}, 10)
    finally:
        for link, _ in links:
            link.close()
    report_rtt(f"{agents} agents, idle", [s[1] for s in samples], RTT_IDLE_TARGET_MS,
               sum(not s[2] for s in samples))


# -- sessions --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionRun:
    run_s: float
    capture_s: float
    started_at: float  # time.monotonic() of the first TakeStarted
    ended_at: float
    error: str | None = None  # why the session failed (None: every take verified)


def run_session(rig_path: Path, workdir: Path, index: int, must_finish: bool = True) -> SessionRun:
    session = bench_session(rig_path, EXAMPLE / "plan.yaml", workdir, index)
    first: list[float] = []

    def on_event(event: Event) -> None:
        if isinstance(event, TakeStarted) and not first:
            first.append(time.monotonic())

    session.subscribe(on_event)
    started = time.perf_counter()
    result = session.run()
    run_s = time.perf_counter() - started
    ended = time.monotonic()
    journal = session.folder.journal
    verified = [e["at"] for e in journal.events("TakeVerified")]
    capture_s = max(verified) - min(e["at"] for e in journal.events("TakeStarted")) if verified else float("nan")
    session.close()
    error = None if result.state == capturerig.RunState.DONE else str(result.error)
    if error is not None and must_finish:
        raise RuntimeError(f"session {rig_path.name} #{index} did not finish: {error}")
    return SessionRun(run_s, capture_s, first[0] if first else time.monotonic(), ended, error)


def _probe_into(samples: list[tuple[float, float, bool]], links: list[tuple[AgentLink, str]],
                stop: threading.Event) -> None:
    samples.extend(probe(links, None, 0.01, stop, PROBE_CAMERA))


def session_rtt(rig_path: Path, workdir: Path, index: int, agents: int, sessions: int) -> None:
    """Round trips while ``sessions`` sessions run one after the other, pooled: a p99 of one session's ~250
    probes is its third-worst sample, so one slow moment of a shared machine would decide it."""
    inside: list[tuple[float, float, bool]] = []
    failures: list[str] = []
    for k in range(sessions):
        links = open_links(rig_path)
        stop = threading.Event()
        samples: list[tuple[float, float, bool]] = []
        # Not one of the session's cameras: a command for one waits behind that camera's own work (arm,
        # download), which is the camera's time, not the link's. The link's own round trip (HTTP, the agent's app
        # and Agent.command) is what is measured here, while the session loads both ends.
        thread = threading.Thread(target=_probe_into, args=(samples, links, stop), daemon=True)
        thread.start()
        try:
            run = run_session(rig_path, workdir, index + k, must_finish=False)
        finally:
            stop.set()
            thread.join(timeout=30)
            for link, _ in links:
                link.close()
        inside += [s for s in samples if run.started_at <= s[0] <= run.ended_at]
        if run.error is not None:
            failure = run.error.split(";")[0]
            hosts = sorted(set(re.findall(r"from host (\w+)", run.error)))
            print(f"  !! the session under the probes FAILED: {failure}; ... (hosts {', '.join(hosts)})")
            failures.append(f"{failure[:80]}..., hosts {', '.join(hosts)}")
    what = (f"{sessions} sessions pooled; a camera id the agent has not (answered by Agent.command before any "
            "camera)")
    if failures:
        what += f"; {len(failures)} sessions FAILED under the probes ({failures[0]})"
    report_rtt(f"{agents} agents, in a session", [s[1] for s in inside], RTT_SESSION_TARGET_MS, 0, what)
    record(BENCH, f"session under command probes, {agents} agents: failed", float(len(failures)), "",
           target=0, note=what if failures else "every take verified")


# -- 2. agent-death detection ----------------------------------------------------------------------------------
def death_detection(rig_path: Path, agents: Agents, hosts: Sequence[str], rng: random.Random) -> None:
    rig = capturerig.load_rig(rig_path)
    entries = {e["name"]: e for e in host_entries(rig_path)}
    times: list[float] = []
    for host in hosts:
        entry = entries[host]
        link = AgentLink(host, f"http://{entry['address']}:{entry['port']}", None, rig.config.agent_link.dead_after_s)
        camera = RemoteCamera(rig.config.camera(entry["cameras"][0]), link, rig.path.parent,
                              software_trigger=False, max_clock_offset_s=0.005)
        raised: list[float] = []
        errors: list[str] = []

        def wait(camera: RemoteCamera = camera, raised: list[float] = raised, errors: list[str] = errors) -> None:
            try:
                camera.wait_for_files(60)
            except DeviceError as exc:
                raised.append(time.monotonic())
                errors.append(str(exc))

        try:
            camera.connect(10)
            camera.arm(10)
            waiter = threading.Thread(target=wait, daemon=True)
            waiter.start()
            time.sleep(0.5 + rng.random())  # a random phase of the agent's heartbeat
            killed = time.monotonic()
            agents.kill(host)
            waiter.join(timeout=30)
        finally:
            camera.close()
            link.close()
        if not raised:
            print(f"  agent death: {host}: the wait did not raise within 30 s")
            times.append(float("inf"))
            continue
        times.append(raised[0] - killed)
        print(f"  agent death: {host} SIGKILLed, the armed camera's wait raised after {times[-1]:.2f} s: "
              f"{errors[0][:90]}")
    worst, median = max(times), statistics.median(times)
    print(f"  agent-death detection: median {median:.2f} s, worst {worst:.2f} s over {len(times)} kills "
          f"(target <= {DEATH_TARGET_S:g} s)")
    record(BENCH, "agent-death detection (SIGKILL -> armed camera's wait raises), worst", worst, "s",
           target=DEATH_TARGET_S, note=f"{len(times)} kills, median {median:.2f} s; heartbeat 1 s, dead after 3 s")


# -- 3. file pulls ---------------------------------------------------------------------------------------------
def fill_spools(rig_path: Path, spool: Path, files_per_host: int) -> dict[str, list[SpooledFile]]:
    """``files_per_host`` files of FILE_MB MB in each host's spool, stored as an exposure would be."""
    stored: dict[str, list[SpooledFile]] = {}
    data = os.urandom(FILE_MB * 1_000_000)
    for entry in host_entries(rig_path):
        box = Spool(spool / entry["name"], 0)
        try:
            stored[entry["name"]] = [
                box.store(CameraFile(f"IMG_{i:04d}.CR3", "raw", data[i:] + data[:i], time.time()),
                          entry["cameras"][0], f"bench-{entry['name']}", i) for i in range(files_per_host)]
        finally:
            box.close()
    return stored


def link_pull(link: AgentLink, files: Sequence[SpooledFile], check: bool = False) -> tuple[int, float]:
    """As a session pulls: ``fetch`` (the engine checks the agent's hash as it stores the file); ``check``: the
    link's own ``pull``, hashing as the bytes arrive."""
    started = time.perf_counter()
    # Each let go after its pull, as a session lets a file go once stored: its memory serves the next one.
    total = sum(len(link.pull(f, 120) if check else link.fetch(f, 120)) for f in files)
    return total, time.perf_counter() - started


def curl_command(url: str, files: Sequence[SpooledFile]) -> list[str]:
    command = ["curl", "-s", "-S", "--fail", "-H", f"Authorization: Bearer {TOKEN}",
               "-w", "%{size_download} %{time_total}\\n"]
    for f in files:
        command += ["-o", "/dev/null", f"{url}/v1/files/{f.file_id}"]
    return command


def curl_pull(url: str, files: Sequence[SpooledFile]) -> tuple[int, float]:
    """Bytes and curl's own time_total summed (its start-up left out: the kindest baseline)."""
    done = subprocess.run(curl_command(url, files), capture_output=True, text=True, check=True, timeout=120)
    pairs = [line.split() for line in done.stdout.splitlines() if line.strip()]
    return sum(int(p[0]) for p in pairs), sum(float(p[1]) for p in pairs)


def in_parallel(jobs: Sequence[Callable[[], tuple[int, float]]]) -> tuple[int, float]:
    results: list[tuple[int, float]] = []
    threads = [threading.Thread(target=lambda job=job: results.append(job())) for job in jobs]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(r[0] for r in results), time.perf_counter() - started


def curl_parallel(urls: Sequence[str], files: Sequence[Sequence[SpooledFile]]) -> tuple[int, float]:
    started = time.perf_counter()
    procs = [subprocess.Popen(curl_command(u, f), stdout=subprocess.PIPE, text=True)
             for u, f in zip(urls, files, strict=True)]
    total = 0
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"curl failed ({proc.returncode})")
        total += sum(int(line.split()[0]) for line in out.splitlines() if line.strip())
    return total, time.perf_counter() - started


def pulls(rig_path: Path, stored: dict[str, list[SpooledFile]], rounds: int) -> None:
    entries = host_entries(rig_path)
    urls = [f"http://{e['address']}:{e['port']}" for e in entries]
    links = [AgentLink(e["name"], u, TOKEN) for e, u in zip(entries, urls, strict=True)]
    per_link: list[float] = []
    per_checked: list[float] = []
    per_curl: list[float] = []
    agg_link: list[float] = []
    agg_curl: list[float] = []
    try:
        link_pull(links[0], stored[entries[0]["name"]][:1])  # warm up (page cache, connection)
        for r in range(rounds):
            order = ("link", "curl") if r % 2 == 0 else ("curl", "link")
            for e, url, link in zip(entries, urls, links, strict=True):
                files = stored[e["name"]]
                for side in order:
                    n, s = link_pull(link, files) if side == "link" else curl_pull(url, files)
                    (per_link if side == "link" else per_curl).append(n / s / 1e6)
                n, s = link_pull(link, files, check=True)
                per_checked.append(n / s / 1e6)
            for side in order:
                if side == "link":
                    n, s = in_parallel([partial(link_pull, link, stored[e["name"]])
                                        for e, link in zip(entries, links, strict=True)])
                    agg_link.append(n / s / 1e6)
                else:
                    n, s = curl_parallel(urls, [stored[e["name"]] for e in entries])
                    agg_curl.append(n / s / 1e6)
    finally:
        for link in links:
            link.close()
    files_note = f"{len(next(iter(stored.values())))} x {FILE_MB} MB per agent, {rounds} rounds, medians"
    for label, mine, theirs in (("per agent", per_link, per_curl),
                                (f"aggregate, {len(entries)} agents at once", agg_link, agg_curl)):
        m, c = statistics.median(mine), statistics.median(theirs)
        print(f"  file pull {label:<24} AgentLink.pull {m:7.0f} MB/s  curl {c:7.0f} MB/s  ratio {m / c:.2f}x "
              f"(target >= {PULL_TARGET}x)")
        record(BENCH, f"file pull throughput, {label}: AgentLink.pull", m, "MB/s", better="higher", note=files_note)
        record(BENCH, f"file pull throughput, {label}: curl of the same files", c, "MB/s", better="higher",
               note=files_note)
        record(BENCH, f"file pull throughput, {label}: AgentLink.pull / curl", m / c, "x", target=PULL_TARGET,
               better="higher", note=f"{files_note}; AgentLink.fetch, as a session pulls (into memory; the "
               "agent's SHA-256 is checked by the engine as it stores the file, the one hash it takes anyway)")
    checked = statistics.median(per_checked)
    print(f"  file pull per agent, hashing as it receives (AgentLink.pull) {checked:7.0f} MB/s (SHA-256 on this "
          "machine: one core's worth)")
    record(BENCH, "file pull throughput, per agent: AgentLink.pull hashing as it receives", checked, "MB/s",
           better="higher", note=f"{files_note}; SHA-256 in the receiving thread")


# -- 4. partition mid-file -------------------------------------------------------------------------------------
def partition_resend(rig_path: Path, stored: dict[str, list[SpooledFile]], trials: int) -> None:
    entry = host_entries(rig_path)[0]
    files = stored[entry["name"]]
    resent: list[int] = []
    for trial in range(trials):
        spooled = files[trial % len(files)]
        with FaultProxy(("127.0.0.1", 0), (entry["address"], entry["port"]), seed=trial,
                        partition_survival=0.0) as proxy:
            proxy.set_bandwidth(50e6, direction="downstream")
            host, port = proxy.address
            link = AgentLink(entry["name"], f"http://{host}:{port}", TOKEN)
            outcome: list[object] = []

            def pull(link: AgentLink = link, spooled: SpooledFile = spooled, outcome: list[object] = outcome) -> None:
                try:
                    outcome.append(len(link.pull(spooled, 60)))
                except DeviceError as exc:  # reported below
                    outcome.append(exc)

            try:
                thread = threading.Thread(target=pull, daemon=True)
                thread.start()
                deadline = time.monotonic() + 30
                while proxy.counters.bytes_downstream < spooled.size // 2 and time.monotonic() < deadline:
                    time.sleep(0.002)
                proxy.partition()
                at = proxy.counters.bytes_downstream
                time.sleep(0.5)
                survived = proxy.heal()
                thread.join(timeout=60)
                counters = proxy.counters
            finally:
                link.close()
        if outcome != [spooled.size]:
            raise RuntimeError(f"the pull through the partition did not complete: {outcome}")
        resent.append(counters.bytes_downstream - spooled.size)
        print(f"  partition at {at / 1e6:.1f} of {spooled.size / 1e6:.0f} MB, healed (connections "
              f"{'survived' if survived else 'reset'}, {counters.connections_opened} opened): "
              f"{counters.bytes_downstream - spooled.size} bytes beyond the file's size")
    median = statistics.median(resent)
    record(BENCH, "bytes re-sent after a partition mid-file (Range resume)", median, "bytes", target=0,
           bound=0, note=f"{FILE_MB} MB file, median of {trials}, max {max(resent)}; includes HTTP headers and "
           f"what was in flight at the reset; restarting from zero would re-send ~{FILE_MB // 2} MB")


# -- main ------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer probes, one run of each")
    args = parser.parse_args()
    probes = 400 if args.quick else 2000
    runs = 1 if args.quick else 2
    files_per_host = 2 if args.quick else 4
    rounds = 1 if args.quick else 3
    kills = 1 if args.quick else 3
    rng = random.Random(19)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; {'quick' if args.quick else 'full'} run")
    have_curl = subprocess.run(["sh", "-c", "command -v curl"], capture_output=True).returncode == 0
    with tempfile.TemporaryDirectory(prefix="bench-agents-") as tmp:
        folder = Path(tmp)
        logs = Path(tempfile.mkdtemp(prefix="bench-agents-logs-"))  # kept when something fails
        ok = False
        running: list[Agents] = []
        try:
            # 1 + 5: examples/multihost on 4 agents against all local; round trips idle and in a session.
            four = write_rig(folder, "rig-4-agents", 4)
            local = write_rig(folder, "rig-local", 0)
            agents4 = Agents(four, folder / "spool4", logs)
            running.append(agents4)
            agents4.start([e["name"] for e in host_entries(four)])
            print("examples/multihost: 64 cameras on 4 agents (127.0.0.11-14)")
            idle_rtt(four, 4, probes)
            multi: list[SessionRun] = []
            alone: list[SessionRun] = []
            for i in range(runs):  # alternated, so a drift in the machine's load falls on both
                pair = ((alone, local), (multi, four)) if i % 2 == 0 else ((multi, four), (alone, local))
                for into, rig_path in pair:
                    into.append(run_session(rig_path, folder / "sessions", len(multi) + len(alone)))
                    print(f"  session on {'4 agents' if rig_path is four else 'one host'}: run() "
                          f"{into[-1].run_s:.2f} s, capture {into[-1].capture_s:.2f} s")
            session_rtt(four, folder / "sessions", 100, 4, runs)
            agents4.stop()
            for label, attr in (("Session.run()", "run_s"), ("capture", "capture_s")):
                m = statistics.median(getattr(r, attr) for r in multi)
                a = statistics.median(getattr(r, attr) for r in alone)
                print(f"  {label} wall time: 4 agents {m:.2f} s, one host {a:.2f} s, ratio {m / a:.3f} "
                      f"(target <= {WALL_TARGET})")
                record(BENCH, f"64-camera multihost session, {label} wall time: 4 agents / one host", m / a, "x",
                       target=WALL_TARGET, bound=1.0, note=f"{m:.2f} s against {a:.2f} s, medians of {runs} runs, "
                       "examples/multihost plan, images repeat, time scale 1")

            # 1 + 2: the same 64 cameras on 8 agents; round trips idle and in a session; then kills.
            eight = write_rig(folder, "rig-8-agents", 8)
            agents8 = Agents(eight, folder / "spool8", logs)
            running.append(agents8)
            agents8.start([e["name"] for e in host_entries(eight)])
            print("64 cameras on 8 agents (127.0.0.11-18)")
            idle_rtt(eight, 8, probes)
            # One session first, untimed, as the 4-agent figure comes after the wall-time runs: an agent's first
            # session also pays its start-up once (imports, the web app's routes, the simulator's test card).
            run_session(eight, folder / "sessions", 199)
            session_rtt(eight, folder / "sessions", 200, 8, runs)
            death_detection(eight, agents8, [f"agent{k + 1}" for k in range(kills)], rng)
            agents8.stop()

            # 3 + 4: pulls from 4 agents whose spools hold 25 MB files; curl of the same; a partition mid-file.
            pull_rig = write_rig(folder, "rig-pull", 4, cameras_per_host=1, token=True)
            stored = fill_spools(pull_rig, folder / "spool-pull", files_per_host)
            agents_pull = Agents(pull_rig, folder / "spool-pull", logs)
            running.append(agents_pull)
            agents_pull.start([e["name"] for e in host_entries(pull_rig)])
            print(f"file pulls: 4 agents, {files_per_host} x {FILE_MB} MB spooled each")
            if have_curl:
                pulls(pull_rig, stored, rounds)
            else:
                print("  curl is not installed: the pull ratio is left for later (no baseline here)")
            partition_resend(pull_rig, stored, 1 if args.quick else 3)
            ok = True
        finally:
            for agents in running:
                agents.stop()
            if ok:
                shutil.rmtree(logs, ignore_errors=True)
            else:
                print(f"the agents' logs are kept in {logs}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
