"""The calibration page's background work: shooting a calibration plan (board or chart) and solving a session,
each a job the page polls for its stage, fraction done, ETA, live coaching, report or problem.

A shoot is an ordinary panel session (:class:`~capturerig.web._runs.RunManager` runs it, so the rig is claimed
and the Session page, pause and abort work as for any session); this module adds what a calibration needs: the
simulated studio staged for it (a board-carrying technician, or chart stands) when the rig is simulated, and
the board coach. A solve runs in a thread of its own, never on the server's event loop.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

import capturerig
from capturerig.calibration import load_board
from capturerig.config import ConfigError, LoadedPlan, LoadedRig, PlanKind
from capturerig.engine import Event, RunState, Session, StateChanged, TakeFailed, TakeVerified
from capturerig.plan import expand_plan
from capturerig.web._calibration import CalibrationDesk, CalibrationUnavailable
from capturerig.web._calibration_coach import BoardCoach
from capturerig.web._catalog import Catalog
from capturerig.web._problems import PanelProblem
from capturerig.web._runs import Hardware, RunManager, SessionNotFound

__all__ = ["CalibrationJob", "CalibrationJobs", "Target", "staged_rig"]

log = logging.getLogger(__name__)
Target = Literal["board", "chart"]
_STAGES: dict[str, str] = {"board": "calibration", "colour-chart": "colour-chart", "chart": "colour-chart"}
_FINAL = {RunState.DONE, RunState.FAILED, RunState.ABORTED}
KEEP_JOBS = 20


def staged_rig(rig: LoadedRig, target: Target, frames: int, folder: Path) -> LoadedRig:
    """``rig`` with its simulated studio set for ``target`` (an empty stage and a technician walking the board
    through ``frames`` positions, or a chart on a stand before every camera), written to ``folder``: the session
    snapshots that file, so it can be resumed as shot. A rig without a ``simulation`` section (a real studio)
    is returned as it is: there the technician stages the studio."""
    if not rig.config.simulation:
        return rig
    document = yaml.safe_load(rig.text)
    simulation = dict(document.get("simulation") or {})
    simulation["stage"] = _STAGES[target]
    if target == "board":
        simulation["operator"] = {**dict(simulation.get("operator") or {}), "frames": frames}
    document["simulation"] = simulation
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{rig.path.stem}-{target}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return capturerig.load_rig(path)


def _eta(elapsed: float, fraction: float | None) -> float | None:
    if fraction is None or fraction < 0.03 or fraction >= 1.0:
        return None
    return round(elapsed / fraction * (1.0 - fraction), 1)


@dataclass
class CalibrationJob:
    """One shoot or solve as the page sees it."""

    id: str
    what: Literal["shoot", "solve"]
    kind: str  # board | chart (shoot); geometry | colour (solve)
    session: str
    started: float = field(default_factory=time.monotonic)
    stage: str = "starting"
    fraction: float | None = 0.0
    state: Literal["running", "done", "failed"] = "running"
    report: dict[str, Any] | None = None
    problem: dict[str, str] | None = None
    finished: float | None = None
    coach: BoardCoach | None = None
    takes_total: int = 0
    takes_done: int = 0
    run_state: RunState | None = None
    run_reason: str = ""
    # The stages it went through, each with when it began (s after the start): a fast stage is shown too,
    # however seldom the page polls.
    stages: list[tuple[str, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- updates, from the solve thread or the session's event threads --------------------------------
    def progress(self, stage: str, fraction: float | None) -> None:
        """A solve's progress; fractions of the stages weigh as the solver's time does (detection about a third)."""
        with self._lock:
            done = self.fraction or 0.0
            if stage.startswith("finding the board") and fraction is not None:
                done = 0.3 * fraction
            elif stage.startswith("solving"):
                done = max(done, 0.3) + (0.85 - max(done, 0.3)) * 0.35  # each solver stage: a step closer
            elif stage.startswith("writing"):
                done = max(done, 0.85)
            elif fraction is not None:
                done = fraction
            self.stage, self.fraction = stage, round(min(done, 0.99), 3)
            step = stage.split(":")[0]
            if not self.stages or self.stages[-1][0] != step:
                self.stages.append((step, round(time.monotonic() - self.started, 1)))

    def finish(self, report: dict[str, Any] | None = None, problem: PanelProblem | None = None) -> None:
        """End the job once (two polls may both see its run end)."""
        with self._lock:
            if self.finished is not None:
                return
            self.finished = time.monotonic()
            self.report = report
            self.problem = None if problem is None else problem.as_dict()
            self.state = "failed" if problem is not None else "done"
            self.stage = "finished" if problem is None else "stopped"
            self.fraction = 1.0 if problem is None else self.fraction

    def on_event(self, event: Event) -> None:
        """Session subscriber of a shoot: count the takes, keep the run's state."""
        with self._lock:
            if isinstance(event, TakeVerified) or (isinstance(event, TakeFailed) and not event.will_retry):
                self.takes_done += 1
            elif isinstance(event, StateChanged):
                self.run_state, self.run_reason = event.state, event.reason

    # -- the page's view ---------------------------------------------------------------------------------
    def view(self, run_alive: bool) -> dict[str, Any]:
        if self.what == "shoot" and self.state == "running":
            self._follow_shoot(run_alive)
        with self._lock:
            elapsed = (self.finished or time.monotonic()) - self.started
            return {"id": self.id, "what": self.what, "kind": self.kind, "session": self.session,
                    "state": self.state, "stage": self.stage, "fraction": self.fraction,
                    "elapsed_s": round(elapsed, 1),
                    "eta_s": _eta(elapsed, self.fraction) if self.state == "running" else None,
                    "stages": [{"stage": name, "at_s": at} for name, at in self.stages],
                    "coaching": None if self.coach is None else self.coach.snapshot(),
                    "report": self.report, "problem": self.problem}

    def _follow_shoot(self, run_alive: bool) -> None:
        """A shoot's stage and end, from its session's events and whether its run still goes."""
        with self._lock:
            total, done, state, reason = self.takes_total, self.takes_done, self.run_state, self.run_reason
            self.fraction = round(done / total, 3) if total else None
            noun = "board position" if self.kind == "board" else "chart shot"
            if state == RunState.PAUSED:
                self.stage = f"paused after {noun} {done} of {total}"
            elif state not in _FINAL and run_alive:
                self.stage = f"{noun} {min(done + 1, total)} of {total}"
        if state == RunState.DONE and not run_alive:
            if self.coach is not None and self.coach.searching:
                with self._lock:
                    self.stage = "looking for the board in the last images"
                return
            if self.coach is not None:
                self.coach.close()
            self.finish({"session": self.session, "takes": total})
        elif (state in _FINAL or not run_alive) and state != RunState.DONE:
            if self.coach is not None:
                self.coach.close()
            said = f"{state.value}: {reason}" if state and reason else state.value if state else "it did not start"
            self.finish(problem=PanelProblem(
                f"the {self.kind} shoot stopped at position {min(done + 1, total)} of {total} ({said})",
                f"session {self.session}, {done} of {total} takes shot",
                "Re-shoot its missing takes from the Session page (Re-shoot missing), or shoot it again from this "
                "page; solving needs every position."))


class CalibrationJobs:
    """Starts shoots and solves, and keeps the last :data:`KEEP_JOBS` jobs for the page to poll."""

    def __init__(self, catalog: Catalog, runs: RunManager, hardware: Hardware, desk: CalibrationDesk,
                 staging_dir: Path) -> None:
        self.catalog = catalog
        self.runs = runs
        self.hardware = hardware
        self.desk = desk
        self.staging_dir = staging_dir
        self.jobs: dict[str, CalibrationJob] = {}
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}  # a shoot's session, to know whether its run still goes

    # -- what the page offers ----------------------------------------------------------------------------
    def plans(self, rig_id: str | None) -> dict[str, list[dict[str, Any]]]:
        """The rig's plans a calibration shoots: board plans (kind calibration), and chart plans (an object
        on the stage; those named for a chart first)."""
        rig = self.catalog.rig(rig_id)
        board: list[dict[str, Any]] = []
        chart: list[dict[str, Any]] = []
        for plan_id in rig.plans:
            try:
                _, plan = self.catalog.plan(rig.id, plan_id)
            except (ConfigError, OSError, ValueError) as exc:  # offered at start-up, broken since: not offered
                log.info("calibration page: plan %s not offered: %s", plan_id, exc)
                continue
            takes = len(expand_plan(rig.loaded.config, plan.config))
            section = plan.config.calibration
            if plan.config.kind == PlanKind.CALIBRATION and section is not None:
                board.append({"id": plan_id, "name": plan.config.name, "takes": takes, "board": section.board,
                              "frames": section.frames, "min_views": section.min_views})
            elif plan.config.subject.kind == "object":
                chart.append({"id": plan_id, "name": plan.config.name, "takes": takes})
        chart.sort(key=lambda p: "chart" not in p["name"].lower())
        board.sort(key=lambda p: p["takes"])  # the quickest first
        return {"board": board, "chart": chart}

    # -- shooting ----------------------------------------------------------------------------------------
    def shoot(self, rig_id: str | None, plan_id: str, target: Target, confirm_positions: bool) -> CalibrationJob:
        """Shoot ``plan_id`` for ``target`` as a panel session, with the board coach for a board.

        Raises PanelProblem (the plan is not a ``target`` plan), Busy (the rig is in use), UnknownChoice.
        The rig stays claimed until the run ends (RunManager releases it).
        """
        rig, plan = self.catalog.plan(rig_id, plan_id)
        section = plan.config.calibration
        if target == "board" and (plan.config.kind != PlanKind.CALIBRATION or section is None):
            raise PanelProblem(f"plan '{plan.config.name}' is not a board plan", f"rig {rig.id}, plan {plan_id}",
                               "Choose a plan from the board list (a plan of kind calibration).")
        if target == "chart" and plan.config.kind == PlanKind.CALIBRATION:
            raise PanelProblem(f"plan '{plan.config.name}' is a board plan, not a chart plan",
                               f"rig {rig.id}, plan {plan_id}", "Choose a plan from the chart list.")
        frames = section.frames if section is not None else 0
        staged = staged_rig(rig.loaded, target, frames, self.staging_dir / rig.id)
        plan = capturerig.load_plan(plan.path, staged)
        board = load_board(section.board) if section is not None else None
        subject = f"board-{board.name}" if board is not None else "colorchecker24"
        owner = f"calibration: shooting the {target} ({plan.config.name})"
        self.hardware.claim(owner)
        try:
            session = self._create(staged, plan, subject)
        except BaseException:
            self.hardware.release(owner)
            raise
        takes = expand_plan(staged.config, plan.config)
        job = CalibrationJob(f"shoot-{uuid.uuid4().hex[:8]}", "shoot", target, session.path.name,
                             takes_total=len(takes))
        try:
            if board is not None and section is not None:
                cameras = sorted({camera for take in takes for camera in take.cameras})
                job.coach = BoardCoach(session.path, board, staged.config, cameras, section.min_views, len(takes))
                session.subscribe(job.coach)
            session.subscribe(job.on_event)
            self.runs.launch(session, owner, rig.id, confirm_positions)
        except BaseException:  # the run never started: nothing else will free the rig or close the session
            if job.coach is not None:
                job.coach.close()
            session.close()
            self.hardware.release(owner)
            raise
        self._remember(job, session)  # after the launch: a job seen before its run began would read as stopped
        return job

    def _create(self, rig: LoadedRig, plan: LoadedPlan, subject: str) -> Session:
        self.runs.sessions_dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{subject}-{uuid.uuid4().hex[:6]}"
        return Session.create(rig, plan, subject, self.runs.sessions_dir / name, purpose=self.runs.purpose,
                              registry=self.runs.registry)

    # -- solving -----------------------------------------------------------------------------------------
    def solve(self, kind: str, session_name: str, rig_id: str | None) -> CalibrationJob:
        """Solve ``kind`` from a session in a background thread. Raises PanelProblem while another solve runs,
        SessionNotFound, UnknownChoice, CalibrationUnavailable."""
        session_dir = self.runs.session_dir(session_name)
        rig = self.catalog.rig(rig_id).loaded
        if kind not in self.desk.backends:
            raise CalibrationUnavailable(f"no calibration of kind '{kind}' (kinds: {', '.join(self.desk.backends)})")
        with self._lock:
            running = [j for j in self.jobs.values() if j.what == "solve" and j.state == "running"]
            if running:
                raise PanelProblem(f"a {running[0].kind} solve of session {running[0].session} is running",
                                   "Calibration page", "Wait until it finishes (its progress bar is on this page).",
                                   status=409)
            job = CalibrationJob(f"solve-{uuid.uuid4().hex[:8]}", "solve", kind, session_name)
            self._keep(job)
        threading.Thread(target=self._solve, args=(job, session_dir, rig), daemon=True,
                         name=f"capturerig-panel-solve-{kind}").start()
        return job

    def _solve(self, job: CalibrationJob, session_dir: Path, rig: LoadedRig) -> None:
        try:
            report = self.desk.run(job.kind, session_dir, rig, job.progress)
        except PanelProblem as problem:
            job.finish(problem=problem)
        except (ConfigError, FileNotFoundError, CalibrationUnavailable, SessionNotFound) as exc:
            text = str(exc).replace(str(session_dir.resolve()), f"session {session_dir.name}")
            text = text.replace(str(session_dir), f"session {session_dir.name}")
            job.finish(problem=PanelProblem(f"the {job.kind} solve stopped: {text.splitlines()[0][:200]}",
                                            f"session {session_dir.name}", "Choose another session, or shoot "
                                            "the calibration again from this page."))
        except Exception as exc:  # a bug: the page says so briefly, the log keeps the traceback
            log.exception("calibration solve %s of %s failed", job.kind, session_dir.name)
            job.finish(problem=PanelProblem(f"the {job.kind} solve failed unexpectedly ({type(exc).__name__})",
                                            f"session {session_dir.name}", "Try again; if it fails again, send "
                                            "the panel server's log to whoever maintains the rig."))
        else:
            job.finish(report=report)

    # -- the page's view ---------------------------------------------------------------------------------
    def _keep(self, job: CalibrationJob) -> None:
        self.jobs[job.id] = job
        for old in list(self.jobs)[:-KEEP_JOBS]:
            if self.jobs[old].state != "running":
                del self.jobs[old]
                self._sessions.pop(old, None)

    def _remember(self, job: CalibrationJob, session: Session) -> None:
        with self._lock:
            self._keep(job)
            self._sessions[job.id] = session

    def _alive(self, job: CalibrationJob) -> bool:
        session = self._sessions.get(job.id)
        return session is not None and self.runs.session is session and self.runs.running

    def view(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise CalibrationUnavailable(f"no calibration job '{job_id}' (the panel keeps the last {KEEP_JOBS})")
        return job.view(self._alive(job))

    def active(self) -> list[dict[str, Any]]:
        """The jobs still running, for a page opened (or reloaded) while one goes."""
        return [job.view(self._alive(job)) for job in list(self.jobs.values()) if job.state == "running"]

