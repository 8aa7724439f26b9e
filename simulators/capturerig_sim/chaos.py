"""Chaos sessions: the real controller, in child processes, against a simulated studio that misbehaves.

Each of K sessions runs ``capturerig run`` in a child process with a seeded schedule of device faults (busy
storms, disconnects mid-download, corrupt and truncated files, slow USB, full cards, a silent light node, a
trigger-box reset, a host disk that fills) and may SIGKILL it mid-session; then ``capturerig resume`` until
the plan is done or the session is given up. Afterwards :func:`capturerig_sim._chaos_checks.check_session`
compares the journal and the files with the ledger the sim cameras kept (no image lost, no verified take
re-shot, every missing take with its reason). Everything derives from ``seed``: the same seed gives the
same schedule (where a kill lands still depends on the machine's speed).

The host disk is simulated in the child: ``$CAPTURERIG_SIM_HOST_DISK`` (``<folder>=<bytes>``) makes the
file system of ``<folder>`` look as if only ``<bytes>`` minus what the folder holds were free, so the
engine's storage reserve meets a disk that fills; a later run gets a larger budget (the technician freed
space).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from capturerig.config import default_rig_path
from capturerig.subjects import REGISTRY_ENV, SubjectRegistry
from capturerig_sim._chaos_checks import SessionCheck, check_session
from capturerig_sim._faults import FAULTS_ENV, FaultKind, ScheduledFault
from capturerig_sim._ledger import LEDGER_ENV, read_ledger
from capturerig_sim.studio import TIME_SCALE_ENV

__all__ = [
    "HOST_DISK_ENV",
    "ChaosSettings",
    "ChaosSummary",
    "SessionOutcome",
    "fault_schedule",
    "host_disk_usage",
    "run_chaos",
    "run_session",
    "write_rig_and_plan",
    "write_studio",
]

HOST_DISK_ENV = "CAPTURERIG_SIM_HOST_DISK"
SUBJECT = "chaos"
CAMERA_KINDS: tuple[FaultKind, ...] = ("busy", "slow_download", "corrupt_download", "truncated_download", "disconnect",
                "disconnect_mid_download", "slow_usb", "card_full")
RESERVE_BYTES = 200_000_000
RUN_TIMEOUT_S = 300.0
_POLL_S = 0.02


@dataclass(frozen=True)
class ChaosSettings:
    """How hard a chaos run shakes the studio.

    ``kill_probability`` applies to a session's first run and halves for each resume; ``max_runs`` bounds
    the runs of one session (the last is never killed); ``disk_full_probability`` is the chance a session's
    host disk fills up before the plan is done.
    """

    seed: int = 0
    sessions: int = 3
    time_scale: float = 0.02
    kill_probability: float = 0.6
    disk_full_probability: float = 0.15
    faults_per_run: tuple[int, int] = (1, 4)
    max_runs: int = 5
    stations: int = 3
    lights: int = 2
    cameras: int = 8
    image_scale: float = 0.25


@dataclass
class SessionOutcome:
    """One chaos session: what was done to it and what the checks found."""

    index: int
    runs: int = 0
    kills: int = 0
    disk_full: bool = False
    seconds: float = 0.0
    check: SessionCheck = field(default_factory=SessionCheck)
    end: str = ""


@dataclass
class ChaosSummary:
    """Every session of a chaos run, and the totals the acceptance looks at."""

    settings: ChaosSettings
    outcomes: list[SessionOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def kills(self) -> int:
        return sum(o.kills for o in self.outcomes)

    @property
    def lost(self) -> list[str]:
        return [f"session {o.index}: {line}" for o in self.outcomes for line in o.check.lost]

    @property
    def reshot(self) -> list[str]:
        return [f"session {o.index}: {take}" for o in self.outcomes for take in o.check.reshot]

    @property
    def incomplete(self) -> list[str]:
        return [f"session {o.index}: {take}: {why}" for o in self.outcomes for take, why in o.check.incomplete.items()]

    @property
    def faults(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for outcome in self.outcomes:
            total.update(outcome.check.faults)
        return total

    @property
    def ok(self) -> bool:
        """No image lost and no verified take re-shot (incomplete takes are allowed when reported)."""
        return not self.lost and not self.reshot


# -- the studio a chaos run uses ---------------------------------------------------------------------------

def write_studio(work_dir: Path, settings: ChaosSettings) -> tuple[Path, Path, list[str]]:
    """A small copy of the simulated studio (fewer, smaller cameras) and a plan; returns paths and take ids."""
    rig: dict[str, Any] = yaml.safe_load(default_rig_path().read_text(encoding="utf-8"))
    scale = settings.image_scale
    for camera in rig["cameras"]:
        intrinsics = camera["intrinsics"]
        for key in ("width", "height"):
            intrinsics[key] = max(16, round(intrinsics[key] * scale))
        for key in ("fx", "fy", "cx", "cy"):
            intrinsics[key] = float(intrinsics[key]) * scale
        camera["group"] = "chaos" if rig["cameras"].index(camera) < settings.cameras else "idle"
    rig["storage"] = {"root": str(work_dir / "sessions"), "min_free_bytes": 50_000_000,
                      "reserve_bytes": RESERVE_BYTES}
    return write_rig_and_plan(rig, "chaos", settings.stations, settings.lights, work_dir)


def write_rig_and_plan(rig: dict[str, Any], name: str, stations: int, lights: int,
                       work_dir: Path) -> tuple[Path, Path, list[str]]:
    """``rig`` and the chaos plan (a mannequin's one pose, ``stations`` x ``lights`` takes, group ``chaos``)
    written to ``work_dir``; returns their paths and the plan's take ids."""
    station_list = [{"id": f"s{i:02d}", "angle_deg": round(360.0 * i / stations, 3)} for i in range(stations)]
    light_list = [{"id": f"l{i:02d}", "name": f"white at {1.0 - 0.3 * i:.1f}",
                   "levels": {"*": {"intensity": round(1.0 - 0.3 * i, 2), "red": 1.0, "green": 1.0, "blue": 1.0,
                                    "white": 1.0}}} for i in range(lights)]
    plan = {"name": name, "consistency": "take", "retries": 2,
            "poses": [{"id": "p00", "description": "mannequin", "operator_confirmed": False}],
            "stations": station_list, "lighting": light_list, "brackets": [{"id": "b0", "ev": 0}],
            "camera_groups": ["chaos"], "settle": {"lights_s": 0.01, "turntable_s": 0.01}}
    rig_path, plan_path = work_dir / "rig.yaml", work_dir / "plan.yaml"
    rig_path.write_text(yaml.safe_dump(rig, sort_keys=False), encoding="utf-8")
    plan_path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return rig_path, plan_path, [f"p00/{s['id']}/{light['id']}/b0" for s in station_list for light in light_list]


def _registry(work_dir: Path) -> Path:
    path = work_dir / "subjects.sqlite"
    if not path.exists():
        today = datetime.date.today()
        with SubjectRegistry.open(path, create=True, actor="chaos") as registry:
            registry.add_subject(SUBJECT, "25-34")
            registry.add_consent(SUBJECT, hashlib.sha256(b"a mannequin's consent").hexdigest(), ["capture"],
                                 today - datetime.timedelta(days=1), today + datetime.timedelta(days=30))
    return path


# -- the schedule ------------------------------------------------------------------------------------------

def fault_schedule(rng: random.Random, cameras: list[str], lights: list[str], trigger: str | None,
                   table: str | None, how_many: int) -> list[ScheduledFault]:
    """``how_many`` random faults spread over a run (a busy storm counts as one)."""
    faults: list[ScheduledFault] = []
    for _ in range(how_many):
        roll = rng.random()
        if roll < 0.12:  # a busy storm: many cameras at once, several times each
            storm = rng.sample(cameras, k=max(1, len(cameras) // 2))
            after, count = rng.randint(0, 12), rng.randint(1, 3)
            faults += [ScheduledFault(camera, "busy", after, count) for camera in storm]
        elif roll < 0.2 and lights:
            faults.append(ScheduledFault(rng.choice(lights), "light_silent", rng.randint(0, 20), 1))
        elif roll < 0.28 and trigger is not None:
            faults.append(ScheduledFault(trigger, "trigger_reset", rng.randint(0, 8), rng.randint(1, 2)))
        elif roll < 0.31 and table is not None:
            faults.append(ScheduledFault(table, "disconnect", rng.randint(1, 12), 1))
        else:
            kind = rng.choice(CAMERA_KINDS)
            faults.append(ScheduledFault(rng.choice(cameras), kind, rng.randint(0, 30), rng.randint(1, 2)))
    return faults


# -- one controller run --------------------------------------------------------------------------------------

def _verified(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM takes WHERE status='verified'").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet, or busy: ask again at the next poll
        return 0


def _run_controller(command: list[str], env: dict[str, str], journal: Path,
                    kill_after: int | None, kill_delay_s: float) -> tuple[int, bool, int]:
    """Run one controller; SIGKILL it once ``kill_after`` more takes are verified. (rc, killed, pid)."""
    log = journal.parent.parent.parent / "logs" / f"{journal.parent.name}.log"  # <work>/logs/sNNN.log
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        child = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        target = None if kill_after is None else _verified(journal) + kill_after
        killed = False
        while child.poll() is None and time.monotonic() < deadline:
            if target is not None and journal.exists() and _verified(journal) >= target:
                time.sleep(kill_delay_s)  # land the kill inside the next take, not only between takes
                if child.poll() is None:
                    child.send_signal(signal.SIGKILL)
                    killed = True
                break
            time.sleep(_POLL_S)
        if child.poll() is None and not killed:  # a hung controller: the chaos run must end
            child.send_signal(signal.SIGKILL)
        rc = child.wait(timeout=30)
    return rc, killed, child.pid


def _session_state(journal: Path) -> str:
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT value FROM meta WHERE key='state'").fetchone()
    except sqlite3.OperationalError:
        return "unknown"
    return "unknown" if row is None else str(json.loads(row[0]))


def run_session(index: int, settings: ChaosSettings, work_dir: Path, rig: Path, plan: Path,
                take_ids: list[str], registry: Path) -> SessionOutcome:
    """One chaos session: runs, kills and resumes it, then checks it."""
    rng = random.Random(f"{settings.seed}:{index}")
    outcome = SessionOutcome(index)
    started = time.monotonic()
    session_dir = work_dir / "sessions" / f"s{index:03d}"
    ledger = work_dir / "ledgers" / f"s{index:03d}.jsonl"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    rig_config = yaml.safe_load(rig.read_text(encoding="utf-8"))
    cameras = [c["id"] for c in rig_config["cameras"] if c["group"] == "chaos"]
    lights = [o["id"] for o in rig_config.get("light_outputs", [])]
    trigger = (rig_config.get("trigger") or {}).get("id")
    table = (rig_config.get("turntable") or {}).get("id")
    outcome.disk_full = rng.random() < settings.disk_full_probability
    killed_pids: set[int] = set()
    for run in range(settings.max_runs):
        schedule = fault_schedule(rng, cameras, lights, trigger, table, rng.randint(*settings.faults_per_run))
        schedule_path = work_dir / "schedules" / f"s{index:03d}-run{run}.json"
        schedule_path.parent.mkdir(parents=True, exist_ok=True)
        schedule_path.write_text(json.dumps({"faults": [f.to_json() for f in schedule]}, indent=1),
                                 encoding="utf-8")
        env = dict(os.environ)
        env.update({TIME_SCALE_ENV: str(settings.time_scale), FAULTS_ENV: str(schedule_path),
                    LEDGER_ENV: str(ledger), REGISTRY_ENV: str(registry)})
        if outcome.disk_full and run == 0:  # room for a few takes above the reserve, then the disk is full
            env[HOST_DISK_ENV] = f"{session_dir}={RESERVE_BYTES + 1_500_000 + rng.randint(0, 400_000)}"
        last = run == settings.max_runs - 1
        kill = not last and rng.random() < settings.kill_probability / (2**run)
        kill_after = rng.randint(0, max(0, len(take_ids) - 2)) if kill else None
        if run == 0:
            command = [sys.executable, "-m", "capturerig_sim.chaos", "run", "--rig", str(rig), "--plan", str(plan),
                       "--subject", SUBJECT, "--out", str(session_dir), "--yes"]
        else:
            command = [sys.executable, "-m", "capturerig_sim.chaos", "resume", str(session_dir), "--yes"]
        rc, killed, pid = _run_controller(command, env, session_dir / "journal.sqlite", kill_after,
                                          rng.uniform(0.0, 0.3))
        outcome.runs += 1
        if killed:
            outcome.kills += 1
            killed_pids.add(pid)
        if not (session_dir / "session.json").is_file():
            outcome.end = f"the first run ended (exit {rc}) before the session folder existed"
            break
        if rc == 0 and not killed:
            outcome.end = "done"
            break
        outcome.end = f"{_session_state(session_dir / 'journal.sqlite')} after run {run + 1} (exit {rc})"
    if (session_dir / "journal.sqlite").is_file():
        outcome.check = check_session(session_dir, take_ids, read_ledger(ledger), killed_pids)
    else:
        outcome.check = SessionCheck(takes=len(take_ids), incomplete=dict.fromkeys(take_ids, outcome.end))
    outcome.seconds = time.monotonic() - started
    return outcome


def run_chaos(settings: ChaosSettings, work_dir: Path,
              progress: Callable[[SessionOutcome], None] | None = None) -> ChaosSummary:
    """Run ``settings.sessions`` chaos sessions in ``work_dir`` (created; must be empty or absent)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    if any(work_dir.iterdir()):
        raise FileExistsError(f"{work_dir} is not empty; chaos needs a fresh folder")
    started = time.monotonic()
    rig, plan, take_ids = write_studio(work_dir, settings)
    registry = _registry(work_dir)
    summary = ChaosSummary(settings)
    for index in range(settings.sessions):
        outcome = run_session(index, settings, work_dir, rig, plan, take_ids, registry)
        summary.outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    summary.seconds = time.monotonic() - started
    return summary


# -- the child: the controller with a simulated host disk ------------------------------------------------------

def _bytes_held(folder: Path) -> int:
    """Bytes of the files under ``folder``; a file renamed or removed during the walk (the engine stores one
    take while it shoots the next: ``.part`` files become images) is counted under its new name or not at all."""
    held = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                held += path.stat().st_size
        except FileNotFoundError:
            continue  # gone between listing and stat: its bytes are under its new name, if any
    return held


def host_disk_usage(folder: Path, budget_bytes: int,
                    real: Callable[[Any], Any] = shutil.disk_usage) -> Callable[[Any], Any]:
    """A ``shutil.disk_usage`` for a simulated host disk: ``folder`` has ``budget_bytes`` minus what it holds.

    Paths outside ``folder`` see the real disk; inside it, free space is the smaller of the real free space and
    the budget left, so a session filling the folder fills the simulated disk.
    """
    folder = folder.resolve()

    def disk_usage(path: str | os.PathLike[str]) -> Any:
        usage = real(path)
        resolved = Path(path).resolve()
        if resolved != folder and folder not in resolved.parents:
            return usage
        free = max(0, min(usage.free, budget_bytes - _bytes_held(folder)))
        return type(usage)(usage.total, usage.total - free, free)

    return disk_usage


def _child_main(argv: list[str]) -> None:
    spec = os.environ.get(HOST_DISK_ENV, "").strip()
    if spec:  # <folder>=<bytes>: the host disk this controller writes the session to is nearly full
        folder, _, budget = spec.rpartition("=")
        shutil.disk_usage = host_disk_usage(Path(folder), int(budget))  # type: ignore[assignment]
    from capturerig.cli import main  # the real command line, in this process with the simulated disk

    sys.argv = ["capturerig", *argv]
    main()


if __name__ == "__main__":
    _child_main(sys.argv[1:])
