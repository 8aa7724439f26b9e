"""Multihost chaos: one controller, N capture agents behind fault proxies, and a seeded nemesis.

Per session the runner starts ``capturerig agent`` for every host (child processes, each with its own spool
under the session's work folder), each behind an in-process :class:`~capturerig_sim.faultproxy.FaultProxy`
(the rig the controller reads points every host at its proxy; the agent listens on another port, given by
``--port``). Then ``capturerig run`` in a child process while a nemesis thread plays the run's schedule, one
fault after the other: an agent SIGKILLed (restarted later on the same spool), SIGSTOPped (then SIGCONT), cut
off by a partition at its proxy (then healed), or its spool disk filled (then freed: see
:mod:`capturerig_sim._chaos_multihost_agent`); and the controller may be SIGKILLed once some takes are
verified, then ``capturerig resume``. The last run of a session is left alone. Afterwards
:func:`~capturerig_sim._chaos_multihost_checks.check_multihost_session` checks the journal, the spools and the
sim cameras' ledger. The schedule derives from the seed alone; where a fault lands depends on the machine.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import yaml

from capturerig.config import default_rig_path
from capturerig.subjects import REGISTRY_ENV
from capturerig_sim._chaos_multihost_agent import SPOOL_DISK_ENV
from capturerig_sim._chaos_multihost_checks import MultihostCheck, check_multihost_session
from capturerig_sim._ledger import LEDGER_ENV, read_ledger
from capturerig_sim.chaos import SUBJECT, _registry, _session_state, _verified, write_rig_and_plan
from capturerig_sim.faultproxy import FaultProxy
from capturerig_sim.studio import TIME_SCALE_ENV

__all__ = ["FAULT_KINDS", "MultihostOutcome", "MultihostSettings", "MultihostSummary", "Nemesis",
           "nemesis_schedule", "run_multihost_chaos", "session_plan"]

NemesisKind = Literal["agent_kill", "agent_stop", "partition", "agent_disk_full"]
FAULT_KINDS: tuple[str, ...] = ("agent_kill", "agent_stop", "partition", "agent_disk_full", "controller_kill")
_WEIGHTS: tuple[tuple[NemesisKind, float], ...] = (("agent_kill", 0.32), ("partition", 0.32), ("agent_stop", 0.18),
                                                   ("agent_disk_full", 0.18))
SPOOL_RESERVE_BYTES = 20_000_000
AGENT_START_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 240.0
_POLL_S = 0.02


@dataclass(frozen=True)
class MultihostSettings:
    """How hard a multihost chaos run shakes the rig (see the module docstring)."""

    seed: int = 0
    sessions: int = 3
    agents: int = 4
    cameras_per_agent: int = 4
    time_scale: float = 0.2
    stations: int = 3
    lights: int = 2
    image_scale: float = 0.15
    controller_kill_probability: float = 0.5
    faults_per_run: tuple[int, int] = (1, 3)
    max_runs: int = 5
    dead_after_s: float = 3.0
    partition_survival_s: float = 1.0


@dataclass(frozen=True)
class Nemesis:
    """One fault: ``kind`` on agent ``agent`` (index) from ``at_s`` after the run starts, for ``duration_s``."""

    at_s: float
    kind: NemesisKind
    agent: int
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {"at_s": round(self.at_s, 3), "kind": self.kind, "agent": self.agent,
                "duration_s": round(self.duration_s, 3)}


@dataclass(frozen=True)
class RunPlan:
    """What one controller run of a session gets: its nemesis and whether (and when) the controller dies."""

    faults: tuple[Nemesis, ...]
    kill_after: int | None  # verified takes (more than at the run's start) before the controller is killed
    kill_delay_s: float


@dataclass
class MultihostOutcome:
    """One session: what was done to it and what the checks found."""

    index: int
    runs: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    check: MultihostCheck = field(default_factory=MultihostCheck)
    end: str = ""
    problems: list[str] = field(default_factory=list)  # the harness's own trouble (an agent that would not start)


@dataclass
class MultihostSummary:
    """Every session of a multihost chaos run and the totals."""

    settings: MultihostSettings
    outcomes: list[MultihostOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def faults(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for outcome in self.outcomes:
            total.update(outcome.faults)
        return total

    def _lines(self, pick: Callable[[MultihostOutcome], list[str]]) -> list[str]:
        return [f"session {o.index}: {line}" for o in self.outcomes for line in pick(o)]

    @property
    def lost(self) -> list[str]:
        return self._lines(lambda o: o.check.lost)

    @property
    def duplicates(self) -> list[str]:
        return self._lines(lambda o: o.check.duplicates)

    @property
    def reshot(self) -> list[str]:
        return self._lines(lambda o: o.check.reshot)

    @property
    def unreported(self) -> list[str]:
        return self._lines(lambda o: o.check.unreported)

    @property
    def incomplete(self) -> list[str]:
        return self._lines(lambda o: [f"{take}: {why}" for take, why in o.check.incomplete.items()])

    @property
    def ok(self) -> bool:
        """Nothing lost or duplicated, no verified take re-shot, every incomplete take with its reason."""
        return not (self.lost or self.duplicates or self.reshot or self.unreported)


# -- the schedule ------------------------------------------------------------------------------------------------

def nemesis_schedule(rng: random.Random, agents: int, how_many: int) -> list[Nemesis]:
    """``how_many`` faults, one after the other (a pause between), each on one agent."""
    faults: list[Nemesis] = []
    at = rng.uniform(1.5, 3.5)  # a controller takes ~1.5 s to start: most faults land while it captures
    kinds, weights = zip(*_WEIGHTS, strict=True)
    for _ in range(how_many):
        kind: NemesisKind = rng.choices(kinds, weights)[0]
        duration = {"agent_kill": rng.uniform(0.2, 2.0), "agent_stop": rng.uniform(0.5, 5.0),
                    "partition": rng.uniform(0.5, 5.0), "agent_disk_full": rng.uniform(1.0, 4.0)}[kind]
        faults.append(Nemesis(at, kind, rng.randrange(agents), duration))
        at += duration + rng.uniform(0.5, 3.0)
    return faults


def session_plan(settings: MultihostSettings, index: int, takes: int) -> list[RunPlan]:
    """Every run's faults and controller kill for session ``index``, from the seed alone; the last run none."""
    rng = random.Random(f"multihost:{settings.seed}:{index}")
    plans = []
    for run in range(settings.max_runs):
        last = run == settings.max_runs - 1
        faults = () if last else tuple(nemesis_schedule(rng, settings.agents,
                                                        rng.randint(*settings.faults_per_run) if run == 0 else
                                                        rng.randint(0, 1)))
        kill = not last and rng.random() < settings.controller_kill_probability / (2**run)
        kill_after = rng.randint(0, max(0, takes - 2)) if kill else None
        plans.append(RunPlan(faults, kill_after, rng.uniform(0.0, 0.5)))
    return plans


# -- the rig -----------------------------------------------------------------------------------------------------

def _free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def write_multihost_studio(work_dir: Path, settings: MultihostSettings,
                           proxy_ports: list[int]) -> tuple[Path, Path, list[str]]:
    """The simulated studio with small rendered cameras on ``settings.agents`` hosts, each host at its proxy."""
    rig: dict[str, Any] = yaml.safe_load(default_rig_path().read_text(encoding="utf-8"))
    templates = rig["cameras"]
    cameras = []
    for n in range(settings.agents * settings.cameras_per_agent):
        camera = yaml.safe_load(yaml.safe_dump(templates[n % len(templates)]))  # a deep copy
        camera["id"], camera["serial"], camera["group"] = f"cam{n:03d}", f"CHAOS{n:05d}", "chaos"
        intrinsics = camera["intrinsics"]
        for key in ("width", "height"):
            intrinsics[key] = max(16, round(intrinsics[key] * settings.image_scale))
        for key in ("fx", "fy", "cx", "cy"):
            intrinsics[key] = float(intrinsics[key]) * settings.image_scale
        cameras.append(camera)
    rig["name"] = f"chaos-multihost-{settings.seed}"
    rig["cameras"] = cameras
    rig["storage"] = {"root": str(work_dir / "sessions"), "min_free_bytes": 50_000_000,
                      "reserve_bytes": 100_000_000}
    per = settings.cameras_per_agent
    rig["hosts"] = [{"name": f"agent{h + 1}", "address": f"127.0.0.{11 + h}", "port": proxy_ports[h],
                     "cameras": [c["id"] for c in cameras[h * per:(h + 1) * per]]} for h in range(settings.agents)]
    rig["agent_link"] = {"heartbeat_s": 1.0, "dead_after_s": settings.dead_after_s, "max_clock_offset_ms": 50.0,
                         "spool_reserve_bytes": SPOOL_RESERVE_BYTES}
    # Our own bus: another test's controller on this machine must not fire our agents' cameras.
    rig.setdefault("simulation", {})["studio_bus"] = {"key": f"chaos-multihost-{os.getpid()}-{time.time_ns()}"}
    return write_rig_and_plan(rig, "chaos-multihost", settings.stations, settings.lights, work_dir)


# -- the agents --------------------------------------------------------------------------------------------------

class AgentProcess:
    """One host's ``capturerig agent`` child: started, killed, stopped and restarted on the same spool."""

    def __init__(self, host: str, rig: Path, port: int, spool: Path, budget_file: Path, env: dict[str, str],
                 log: Path) -> None:
        self.host, self.rig, self.port, self.spool = host, rig, port, spool
        self.budget_file, self.env, self.log = budget_file, env, log
        self.child: subprocess.Popen[bytes] | None = None
        self.killed_pids: list[int] = []
        self.stopped = False
        self._output: IO[bytes] | None = None

    @property
    def folder(self) -> Path:
        return self.spool / self.host

    def start(self) -> None:
        """Start the agent and wait until it listens; raises RuntimeError if it does not within the timeout."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        self._output = self.log.open("ab")
        env = dict(self.env)
        env[SPOOL_DISK_ENV] = f"{self.folder}={self.budget_file}"
        self.child = subprocess.Popen(
            [sys.executable, "-m", "capturerig_sim._chaos_multihost_agent", "agent", "--rig", str(self.rig),
             "--host", self.host, "--spool", str(self.spool), "--port", str(self.port)],
            env=env, stdout=self._output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + AGENT_START_TIMEOUT_S
        while True:
            with self.log.open("rb") as log:
                log.seek(offset)
                if f"agent {self.host}:".encode() in log.read():
                    return
            if self.child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"agent {self.host} did not start (exit {self.child.poll()}); see {self.log}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGKILL)
            self.child.wait(timeout=10)
            self.killed_pids.append(self.child.pid)
        self.stopped = False

    def stop(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGSTOP)
            self.stopped = True

    def cont(self) -> None:
        if self.child is not None and self.stopped:
            self.child.send_signal(signal.SIGCONT)
        self.stopped = False

    def alive(self) -> bool:
        return self.child is not None and self.child.poll() is None

    def close(self) -> None:
        """SIGTERM (a technician's Ctrl-C), SIGKILL if it does not go."""
        if self.child is not None and self.child.poll() is None:
            self.cont()
            self.child.send_signal(signal.SIGTERM)
            try:
                self.child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.child.send_signal(signal.SIGKILL)
                self.child.wait(timeout=10)
        if self._output is not None:
            self._output.close()
            self._output = None


# -- the nemesis -------------------------------------------------------------------------------------------------

class NemesisThread(threading.Thread):
    """Plays one run's faults against the agents and proxies until the schedule ends or ``finish`` is called."""

    def __init__(self, faults: tuple[Nemesis, ...], agents: list[AgentProcess], proxies: list[FaultProxy]) -> None:
        super().__init__(name="chaos-nemesis", daemon=True)
        self.faults, self.agents, self.proxies = faults, agents, proxies
        self.fired: Counter[str] = Counter()
        self.problems: list[str] = []
        self._done = threading.Event()

    def finish(self) -> None:
        """Stop playing; the fault in progress is ended now (the agent restarted, the partition healed ...)."""
        self._done.set()
        self.join(timeout=AGENT_START_TIMEOUT_S + 15)

    def run(self) -> None:
        started = time.monotonic()
        for fault in self.faults:
            if self._done.wait(max(0.0, started + fault.at_s - time.monotonic())):
                return
            self._begin(fault)
            self.fired[fault.kind] += 1
            self._done.wait(fault.duration_s)
            try:
                self._end(fault)
            except (RuntimeError, OSError) as exc:
                self.problems.append(f"{fault.kind} on agent{fault.agent + 1}: {exc}")
            if self._done.is_set():
                return

    def _begin(self, fault: Nemesis) -> None:
        agent, proxy = self.agents[fault.agent], self.proxies[fault.agent]
        if fault.kind == "agent_kill":
            agent.kill()
        elif fault.kind == "agent_stop":
            agent.stop()
        elif fault.kind == "partition":
            proxy.partition()
        else:  # the disk is full: nothing above the reserve is left
            agent.budget_file.write_text(str(SPOOL_RESERVE_BYTES), encoding="utf-8")

    def _end(self, fault: Nemesis) -> None:
        agent, proxy = self.agents[fault.agent], self.proxies[fault.agent]
        if fault.kind == "agent_kill":
            agent.start()
        elif fault.kind == "agent_stop":
            agent.cont()
        elif fault.kind == "partition":
            proxy.heal()
        else:
            agent.budget_file.write_text("", encoding="utf-8")


# -- one session -------------------------------------------------------------------------------------------------

def _run_controller(command: list[str], env: dict[str, str], journal: Path, log: Path, plan: RunPlan,
                    nemesis: NemesisThread) -> tuple[int, bool]:
    """Run one controller under ``nemesis``; SIGKILL it once ``plan.kill_after`` more takes are verified."""
    with log.open("ab") as output:
        child = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        nemesis.start()
        deadline = time.monotonic() + RUN_TIMEOUT_S
        target = None if plan.kill_after is None else _verified(journal) + plan.kill_after
        killed = False
        try:
            while child.poll() is None and time.monotonic() < deadline:
                if target is not None and journal.exists() and _verified(journal) >= target:
                    time.sleep(plan.kill_delay_s)  # land the kill inside the next take
                    if child.poll() is None:
                        child.send_signal(signal.SIGKILL)
                        killed = True
                    break
                time.sleep(_POLL_S)
            if child.poll() is None and not killed:  # a hung controller: the chaos run must end
                child.send_signal(signal.SIGKILL)
            rc = child.wait(timeout=30)
        finally:
            nemesis.finish()
    return rc, killed


def run_multihost_session(index: int, settings: MultihostSettings, work_dir: Path, rig: Path, plan_path: Path,
                          take_ids: list[str], registry: Path, proxies: list[FaultProxy],
                          agent_ports: list[int]) -> MultihostOutcome:
    """One session: agents up, runs under the nemesis (kills, resumes), agents down, then the checks."""
    outcome = MultihostOutcome(index)
    started = time.monotonic()
    name = f"s{index:03d}"
    session_dir = work_dir / "sessions" / name
    ledger = work_dir / "ledgers" / f"{name}.jsonl"
    spool = work_dir / "spools" / name
    logs = work_dir / "logs"
    for folder in (ledger.parent, spool, logs):
        folder.mkdir(parents=True, exist_ok=True)
    plans = session_plan(settings, index, len(take_ids))
    (work_dir / "schedules").mkdir(exist_ok=True)
    (work_dir / "schedules" / f"{name}.yaml").write_text(yaml.safe_dump(
        [{"faults": [f.to_json() for f in p.faults], "controller_kill_after": p.kill_after} for p in plans],
        sort_keys=False), encoding="utf-8")
    env = dict(os.environ)
    env.update({TIME_SCALE_ENV: str(settings.time_scale), LEDGER_ENV: str(ledger), REGISTRY_ENV: str(registry)})
    agents = [AgentProcess(f"agent{h + 1}", rig, agent_ports[h], spool, spool / f"agent{h + 1}.budget", env,
                           logs / f"{name}-agent{h + 1}.log") for h in range(settings.agents)]
    try:
        for agent in agents:
            agent.start()
        for run, plan in enumerate(plans):
            for agent in agents:  # a crashed agent (not ours to kill) is started again, and said
                if not agent.alive():
                    outcome.problems.append(f"{agent.host} was not running before run {run + 1}; restarted")
                    agent.start()
            if run == 0:
                command = [sys.executable, "-m", "capturerig", "run", "--rig", str(rig), "--plan", str(plan_path),
                           "--subject", SUBJECT, "--out", str(session_dir), "--yes"]
            else:
                command = [sys.executable, "-m", "capturerig", "resume", str(session_dir), "--yes"]
            nemesis = NemesisThread(plan.faults, agents, proxies)
            rc, killed = _run_controller(command, env, session_dir / "journal.sqlite", logs / f"{name}.log", plan,
                                         nemesis)
            outcome.runs += 1
            outcome.faults.update(nemesis.fired)
            outcome.problems += nemesis.problems
            if killed:
                outcome.faults["controller_kill"] += 1
            if not (session_dir / "session.json").is_file():
                outcome.end = f"the first run ended (exit {rc}) before the session folder existed"
                break
            if rc == 0 and not killed:
                outcome.end = "done"
                break
            outcome.end = f"{_session_state(session_dir / 'journal.sqlite')} after run {run + 1} (exit {rc})"
    except RuntimeError as exc:
        outcome.problems.append(str(exc))
        outcome.end = f"harness: {exc}"
    finally:
        for agent in agents:
            agent.close()
        for proxy in proxies:
            proxy.clear()
    killed_pids = {pid for agent in agents for pid in agent.killed_pids}
    outcome.check = check_multihost_session(session_dir, take_ids, read_ledger(ledger),
                                            {agent.host: agent.folder for agent in agents}, killed_pids)
    outcome.seconds = time.monotonic() - started
    return outcome


def run_multihost_chaos(settings: MultihostSettings, work_dir: Path,
                        progress: Callable[[MultihostOutcome], None] | None = None) -> MultihostSummary:
    """Run ``settings.sessions`` multihost chaos sessions in ``work_dir`` (created; must be empty or absent)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    if any(work_dir.iterdir()):
        raise FileExistsError(f"{work_dir} is not empty; chaos needs a fresh folder")
    started = time.monotonic()
    addresses = [f"127.0.0.{11 + h}" for h in range(settings.agents)]
    agent_ports = [_free_port(address) for address in addresses]
    proxies = [FaultProxy((address, 0), (address, port), seed=settings.seed * 100 + h,
                          partition_survival=settings.partition_survival_s)
               for h, (address, port) in enumerate(zip(addresses, agent_ports, strict=True))]
    summary = MultihostSummary(settings)
    try:
        for proxy in proxies:
            proxy.start()
        rig, plan, take_ids = write_multihost_studio(work_dir, settings, [p.address[1] for p in proxies])
        registry = _registry(work_dir)
        for index in range(settings.sessions):
            outcome = run_multihost_session(index, settings, work_dir, rig, plan, take_ids, registry, proxies,
                                            agent_ports)
            summary.outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
    finally:
        for proxy in proxies:
            proxy.close()
    summary.seconds = time.monotonic() - started
    return summary
