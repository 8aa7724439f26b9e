"""What a session really costs on this rig: measured from the journals of earlier sessions, modelled otherwise.

The plan's own estimate (:func:`capturerig.plan.estimate_plan`) adds up the hardware's modelled latencies: the
exposure chain, light settles, turntable moves. A real session also pays for preflight, the engine's
pipeline, storing and hashing, which the model leaves out, so on a real (or simulated) rig it reads a fraction
of the time the session takes. Each finished session's journal says what it really cost; this module reads
those costs back (:func:`measure_run`) and estimates the next session from them (:class:`RunHistory`):

- earlier sessions of the same plan on the same rig: each take's own measured seconds (the median over the
  sessions), the time before the first take (preflight) and after the last one (finishing up);
- else earlier sessions of other plans on the same rig: their median seconds per take of each kind (what a take
  changes from the one before: pose, turntable station, light, bracket);
- else the model, and the estimate says so.

Time the operator spent answering a pose confirmation and time paused are not the rig's and are not counted.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capturerig.config import LoadedPlan, LoadedRig
from capturerig.engine import Journal, JournalError
from capturerig.plan import estimate_plan, expand_plan, take_durations
from capturerig.web._timeline import POSE_CONFIRMATION

__all__ = ["MeasuredRun", "RunHistory", "SessionEstimate", "journal_stamp", "measure_run"]

log = logging.getLogger(__name__)
SESSIONS_USED = 5  # the latest few: the rig's pace today, not last year's


@dataclass(frozen=True)
class MeasuredRun:
    """What one finished session cost, from its journal (seconds; pauses and operator waits taken out)."""

    session: str
    rig: str
    plan: str
    created_at: float
    head_s: float  # preflight until the first take started
    tail_s: float  # the last take verified until the session was done
    take_s: dict[str, float]  # take id -> since the take before it was verified (the engine pipelines takes)

    @property
    def total_s(self) -> float:
        return self.head_s + sum(self.take_s.values()) + self.tail_s


@dataclass(frozen=True)
class SessionEstimate:
    """The estimate of one plan on one rig and what it rests on (``source``: measured, similar or modelled)."""

    takes: int
    images: int
    disk_bytes: int
    head_s: float
    tail_s: float
    take_s: dict[str, float]  # in shooting order
    hold_s_by_pose: dict[str, float]
    source: str
    sessions: int
    basis: str
    modelled_s: float  # the hardware model's figure, for comparison
    measured_from: list[str] = field(default_factory=list)

    @property
    def session_s(self) -> float:
        return self.head_s + sum(self.take_s.values()) + self.tail_s

    def as_dict(self) -> dict[str, Any]:
        return {"takes": self.takes, "images": self.images, "disk_bytes": self.disk_bytes,
                "session_s": self.session_s, "head_s": self.head_s, "tail_s": self.tail_s, "take_s": self.take_s,
                "hold_s_by_pose": self.hold_s_by_pose, "source": self.source, "sessions": self.sessions,
                "basis": self.basis, "modelled_s": self.modelled_s, "measured_from": self.measured_from}


def _spans(starts: Iterable[tuple[float, bool]]) -> list[tuple[float, float]]:
    """(begin, end) spans from a time-ordered list of (time, opens) marks."""
    spans, opened = [], None
    for at, opens in starts:
        if opens and opened is None:
            opened = at
        elif not opens and opened is not None:
            spans.append((opened, at))
            opened = None
    return spans


def _overlap(spans: list[tuple[float, float]], begin: float, end: float) -> float:
    return sum(max(0.0, min(end, b) - max(begin, a)) for a, b in spans)


def measure_run(name: str, info: dict[str, Any], journal: Journal) -> MeasuredRun | None:
    """The costs of a session that ran once from preflight to done; None for any other (unfinished, failed,
    aborted, resumed: its times are not one run's)."""
    states = journal.events("StateChanged")
    preflights = [s for s in states if s["state"] == "preflight"]
    if len(preflights) != 1 or not states or states[-1]["state"] != "done" or journal.event_count("TakeSkipped"):
        return None
    begin, end = float(preflights[0]["at"]), float(states[-1]["at"])
    pauses = _spans((float(s["at"]), s["state"] == "paused") for s in states if s["state"] in ("paused", "running"))
    waits = [(float(c["asked_at"]), float(c["at"])) for c in journal.events(POSE_CONFIRMATION)]
    idle = sorted(pauses + waits)
    started = [float(t["at"]) for t in journal.events("TakeStarted")]
    verified = sorted(journal.events("TakeVerified"), key=lambda v: float(v["at"]))
    if not started or not verified:
        return None
    previous = min(started)
    head = previous - begin - _overlap(idle, begin, previous)
    take_s: dict[str, float] = {}
    for event in verified:
        at = float(event["at"])
        take_s[event["take_id"]] = take_s.get(event["take_id"], 0.0) + at - previous - _overlap(idle, previous, at)
        previous = at
    tail = end - previous - _overlap(idle, previous, end)
    return MeasuredRun(name, str(info.get("rig_name", "")), str(info.get("plan_name", "")),
                       float(info.get("created_at", 0.0)), max(0.0, head), max(0.0, tail), take_s)


class RunHistory:
    """The measured runs of the sessions below ``sessions_dir``, each journal read once (until it changes)."""

    def __init__(self, sessions_dir: Path) -> None:
        self.sessions_dir = sessions_dir
        self._cache: dict[Path, tuple[tuple[int, int, int], MeasuredRun | None]] = {}

    def runs(self, rig: str) -> list[MeasuredRun]:
        """Finished single runs on rig ``rig``, newest first."""
        if not self.sessions_dir.is_dir():
            return []
        found = []
        for path in self.sessions_dir.iterdir():
            run = self._run(path, rig)
            if run is not None:
                found.append(run)
        return sorted(found, key=lambda r: r.created_at, reverse=True)

    def _run(self, path: Path, rig: str) -> MeasuredRun | None:
        session_file, journal_file = path / "session.json", path / "journal.sqlite"
        if path.is_symlink() or not session_file.is_file() or not journal_file.is_file():
            return None
        try:
            info = json.loads(session_file.read_text(encoding="utf-8"))
            if not isinstance(info, dict) or info.get("rig_name") != rig:
                return None
            stamp = journal_stamp(journal_file)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            journal = Journal(path)
            try:
                run = measure_run(path.name, info, journal)
            finally:
                journal.close()
        except (OSError, ValueError, KeyError, TypeError, sqlite3.Error, JournalError) as exc:
            # One unreadable session must not take the estimate down; the sessions list names what is wrong.
            log.info("estimate: not using %s: %s", path, exc)
            return None
        self._cache[path] = (stamp, run)
        return run

    def estimate(self, rig: LoadedRig, plan: LoadedPlan) -> SessionEstimate:
        """The estimate of ``plan`` on ``rig``: measured where there are earlier sessions, else modelled."""
        config, base = rig.config, rig.path.parent
        model = estimate_plan(config, plan.config, base)
        takes = expand_plan(config, plan.config)
        ids = [t.id for t in takes]
        runs = self.runs(config.name)
        same = [r for r in runs if r.plan == plan.config.name and set(ids) <= set(r.take_s)][:SESSIONS_USED]
        others = [r for r in runs if r not in same][:SESSIONS_USED]
        if same:
            take_s = {i: statistics.median(r.take_s[i] for r in same) for i in ids}
            used, source = same, "measured"
            basis = f"from {_sessions(len(same))} on this rig"
        elif others:
            take_s = _by_kind(ids, others)
            used, source = others, "similar"
            basis = f"from {_sessions(len(others))} of other plans on this rig (their time per take of each kind)"
        else:
            take_s = {t.id: seconds for t, seconds in take_durations(config, plan.config, base)}
            used, source = [], "modelled"
            basis = "modelled: no session on this rig yet (devices' latencies only, no preflight)"
        head = statistics.median(r.head_s for r in used) if used else 0.0
        tail = statistics.median(r.tail_s for r in used) if used else 0.0
        hold: dict[str, float] = {}
        for take in takes:
            hold[take.pose.id] = hold.get(take.pose.id, 0.0) + take_s[take.id]
        if source == "modelled":
            hold = dict(model.hold_s_by_pose)  # the model knows which seconds of a burst the subject holds still
        return SessionEstimate(model.takes, model.images, model.disk_bytes, head, tail, take_s, hold, source,
                               len(used), basis, model.session_s, [r.session for r in used])


def _kinds(ids: list[str]) -> list[tuple[bool, ...]]:
    """What each take changes from the one before, from its id ``pose/station/light/bracket``: a new pose (the
    subject is asked), a turntable move, a light change, a new bracket (the first take changes all)."""
    kinds: list[tuple[bool, ...]] = []
    previous: list[str] | None = None
    for take_id in ids:
        parts = [*take_id.split("/"), "", "", ""][:4]  # pose, station, light, bracket
        kinds.append(tuple(previous is None or a != b for a, b in zip(parts, previous or parts, strict=True)))
        previous = parts
    return kinds


def _by_kind(ids: list[str], runs: list[MeasuredRun]) -> dict[str, float]:
    """Each take of ``ids`` at the median measured time of takes of its kind in ``runs`` (what they changed: a
    turntable move costs more than a light change), or of all their takes when none was of its kind."""
    samples: dict[tuple[bool, ...], list[float]] = {}
    for run in runs:
        for kind, seconds in zip(_kinds(list(run.take_s)), run.take_s.values(), strict=True):
            samples.setdefault(kind, []).append(seconds)
    overall = statistics.median(s for group in samples.values() for s in group)
    return {take_id: statistics.median(samples[kind]) if kind in samples else overall
            for take_id, kind in zip(ids, _kinds(ids), strict=True)}


def journal_stamp(journal_file: Path) -> tuple[int, int, int]:
    """Changes whenever the journal does (its file or its write-ahead log)."""
    wal = journal_file.with_name(journal_file.name + "-wal")
    logged = wal.stat() if wal.exists() else None
    return (journal_file.stat().st_mtime_ns, logged.st_mtime_ns if logged else 0, logged.st_size if logged else 0)


def _sessions(count: int) -> str:
    return f"{count} earlier session{'s' if count != 1 else ''}"
