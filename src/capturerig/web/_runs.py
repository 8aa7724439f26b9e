"""Sessions run from the panel: one at a time, in a thread of the server process.

The engine's events go to the hub from the engine's own threads (never blocking it); the manager adds a
few messages of its own (``RunStarted``, ``PoseConfirmRequest``, ``PoseConfirmAnswered``, ``RunFinished``:
:mod:`capturerig.web._messages`) so the panel can draw the contact sheet before the first file lands, ask the
operator to confirm a pose, and show how a run ended.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capturerig.config import ConfigError, LoadedPlan, Pose
from capturerig.engine import (
    Event,
    Journal,
    JournalError,
    RunResult,
    Session,
    SessionMessage,
    TakeStatus,
    pose_prompt,
)
from capturerig.plan import expand_plan
from capturerig.subjects import CAPTURE_PURPOSE
from capturerig.web._catalog import Catalog
from capturerig.web._estimates import RunHistory, journal_stamp
from capturerig.web._hub import EventHub, event_message
from capturerig.web._messages import PoseConfirmAnswered, PoseConfirmRequest, RunFinished, RunStarted
from capturerig.web._past_sessions import journal_status
from capturerig.web._problems import PanelProblem
from capturerig.web._session_problems import require_readable
from capturerig.web._timeline import PANEL_STOPPED, PanelStopped, PoseConfirmation, session_timeline

__all__ = ["Busy", "Hardware", "RunManager", "SessionNotFound", "UnknownTake"]

log = logging.getLogger(__name__)
POSE_CONFIRM_TIMEOUT_S = 30 * 60.0  # a subject is not kept waiting longer; the run aborts instead
SERVER_STOPPED = "the panel's server stopped"
_UNFINISHED = ("preflight", "running", "paused", "aborting")  # a journal left so: its process ended mid-run
_SESSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Busy(RuntimeError):
    """The rig is in use (a session runs, or a check or light change holds it); try again when it is free."""


class SessionNotFound(LookupError):
    """No session of that name in the storage root."""


class UnknownTake(LookupError):
    """A request named a take its session's plan does not have, or one never shot (nothing to shoot again)."""

    def __str__(self) -> str:
        return str(self.args[0])


class Hardware:
    """Who uses the rig's devices now: one session, check or light change at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.owner: str | None = None

    def claim(self, owner: str) -> None:
        with self._lock:
            if self.owner is not None:
                raise Busy(f"the rig is busy ({self.owner}); wait until it finishes")
            self.owner = owner

    def release(self, owner: str) -> None:
        with self._lock:
            if self.owner == owner:
                self.owner = None


def _note(session: Session, event: Event) -> None:
    """Journal a record of the panel's own beside the engine's events. A journal that refuses it is logged:
    the note is history, and the run it describes goes on (or has already ended)."""
    try:
        session.folder.journal.record(event)
    except sqlite3.Error:
        log.exception("could not journal %s in session %s", event.kind, session.path.name)


def _session_stamp(subject: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{subject}-{uuid.uuid4().hex[:6]}"


class RunManager:
    """Starts, steers and re-shoots sessions; publishes everything they do to the hub."""

    def __init__(self, catalog: Catalog, sessions_dir: Path, hub: EventHub, hardware: Hardware,
                 registry: Path | None = None, purpose: str = CAPTURE_PURPOSE) -> None:
        self.catalog = catalog
        self.sessions_dir = sessions_dir
        self.hub = hub
        self.hardware = hardware
        self.registry = registry  # None: the engine's default (the rig's storage root / $CAPTURERIG_REGISTRY)
        self.purpose = purpose
        self.session: Session | None = None
        self.thread: threading.Thread | None = None
        self._confirm = threading.Event()
        self._confirm_answer = False
        self._lock = threading.Lock()
        self.history = RunHistory(sessions_dir)
        self._interruptions: dict[Path, tuple[tuple[int, int, int], dict[str, Any] | None]] = {}
        # Sessions to re-shoot once the run now ending has ended (a take's re-shoot asked as it finished): name ->
        # confirm_poses. None while no run is under way, so a late request re-shoots at once instead.
        self._after_run: dict[str, bool] | None = None

    # -- queries ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def session_dir(self, name: str) -> Path:
        """The folder of session ``name`` (a plain folder name below the storage root)."""
        if not _SESSION_NAME.match(name):
            raise SessionNotFound(f"'{name}' is not a session name")
        path = self.sessions_dir / name
        if not (path / "session.json").is_file() or path.resolve().parent != self.sessions_dir.resolve():
            raise SessionNotFound(f"no session '{name}' in {self.sessions_dir}")
        return path

    def estimate(self, rig_id: str | None, plan_id: str | None) -> dict[str, Any]:
        """What a session of the plan will cost on this rig, and what the figure rests on (see _estimates)."""
        rig, plan = self.catalog.plan(rig_id, plan_id)
        return {"rig": rig.id, "plan": plan.config.name, **self.history.estimate(rig.loaded, plan).as_dict()}

    # -- starting --------------------------------------------------------------------------------------
    def start(self, rig_id: str | None, plan_id: str | None, subject: str, confirm_poses: bool) -> str:
        """Create a session and run it in the background; returns its name.

        Raises Busy, UnknownChoice, ConfigError, ConsentRefused or FileExistsError with what is wrong.
        """
        rig, plan = self.catalog.plan(rig_id, plan_id)
        self.hardware.claim(f"session for {subject}")
        try:
            self.sessions_dir.mkdir(parents=True, exist_ok=True)
            session = Session.create(rig.loaded, plan, subject, self.sessions_dir / _session_stamp(subject),
                                     purpose=self.purpose, registry=self.registry)
        except BaseException:
            self.hardware.release(f"session for {subject}")
            raise
        self._launch(session, f"session for {subject}", rig.id, plan, confirm_poses, resumed=False)
        return session.path.name

    def reshoot(self, name: str, confirm_poses: bool) -> str:
        """Run session ``name`` again: only the takes its journal cannot prove done (failed, missing)."""
        path = self.session_dir(name)
        owner = f"re-shoot of {name}"
        self.hardware.claim(owner)
        try:
            session = Session.open(path, registry=self.registry)
        except BaseException:
            self.hardware.release(owner)
            raise
        self._launch(session, owner, session.folder.info.rig_name, session.folder.plan, confirm_poses, resumed=True)
        return name

    def reshoot_take(self, name: str, take_id: str, reason: str, confirm_poses: bool) -> str:
        """Shoot take ``take_id`` of session ``name`` again (the operator's answer to a failed check); returns when.

        While that session runs, a new attempt in this run, while the subject is in the rig
        (``Session.reshoot_take``). Once its run has ended the take is marked and the session re-shot at once (the
        re-shoot path: only what the journal cannot prove done); a request that reaches a run as it finishes is
        re-shot as soon as that run has ended.

        Raises SessionNotFound, UnknownTake (not in the plan, or never shot), or Busy when another session or
        device work holds the rig.
        """
        path = self.session_dir(name)
        live = self.session if self.running and self.session is not None and self.session.path.name == name else None
        if live is not None:
            try:
                if live.reshoot_take(take_id, reason):
                    return "in this run, while the subject is in the rig"
            except ValueError as exc:
                raise UnknownTake(str(exc)) from exc
            with self._lock:  # the run is finishing: the take is marked; shoot it once the run has ended
                if self._after_run is not None:
                    self._after_run[name] = confirm_poses
                    return "as soon as this run has ended"
        owner = f"re-shoot of {name}"
        self.hardware.claim(owner)
        try:
            session = Session.open(path, registry=self.registry)
            try:
                session.reshoot_take(take_id, reason)  # journalled; the take superseded, so the run shoots it
            except ValueError as exc:
                session.close()
                raise UnknownTake(str(exc)) from exc
        except BaseException:
            self.hardware.release(owner)
            raise
        self._launch(session, owner, session.folder.info.rig_name, session.folder.plan, confirm_poses, resumed=True)
        return "now, in a re-shoot of the session"

    def launch(self, session: Session, owner: str, rig_id: str, confirm_poses: bool) -> None:
        """Run a session made elsewhere (the calibration page's, on a staged rig) like any other: the caller has
        claimed the rig for ``owner``; the run releases it when it ends."""
        self._launch(session, owner, rig_id, session.folder.plan, confirm_poses, resumed=False)

    def _launch(self, session: Session, owner: str, rig_id: str, plan: LoadedPlan, confirm_poses: bool,
                resumed: bool) -> None:
        name = session.path.name
        rig = session.folder.rig
        takes = expand_plan(rig.config, plan.config)
        estimate = self.history.estimate(rig, plan)
        status: dict[str, Any] = {}
        if resumed:  # what the journal already says of each take, its checks' verdicts too
            journal = session.folder.journal
            status = journal_status(takes, journal.takes(), journal.files(), journal.events("TakeChecked"))
        info = {"name": name, "subject": session.folder.info.subject_id, "rig": rig_id, "plan": plan.config.name,
                "consent_basis": session.folder.info.consent_basis, "hold_expected_s": estimate.hold_s_by_pose,
                "session_s": estimate.session_s, "resumed": resumed,
                "estimate": {k: v for k, v in estimate.as_dict().items() if k not in ("take_s", "hold_s_by_pose")},
                "cameras": list(takes[0].cameras) if takes else []}
        take_rows = [{"id": t.id, "ordinal": t.ordinal, "pose": t.pose.id, "station": t.station.id,
                      "lighting": t.lighting.state_id, "lighting_name": t.lighting.name or t.lighting.state_id,
                      "bracket": t.bracket.id, "cameras": list(t.cameras), "estimate_s": estimate.take_s[t.id]}
                     for t in takes]
        self.hub.publish_threadsafe(RunStarted(session=name, info=info, takes=take_rows, status=status).message())
        session.subscribe(lambda event: self._forward(name, event))
        with self._lock:
            self.session = session
            self._confirm.clear()
            self._after_run = {}
        self.thread = threading.Thread(target=self._run, args=(session, owner, confirm_poses),
                                       name=f"capturerig-panel-{name}", daemon=True)
        self.thread.start()

    def _forward(self, name: str, event: Event) -> None:
        self.hub.publish_threadsafe(event_message(event, name))

    def _run(self, session: Session, owner: str, confirm_poses: bool) -> None:
        name = session.path.name
        result: RunResult | None = None
        error: str | None = None
        try:
            result = session.run(self._pose_confirmer(session) if confirm_poses else None)
        except Exception as exc:  # consent withdrawn, config gone: the panel shows why
            log.exception("panel session %s did not run", name)
            error = str(exc) or type(exc).__name__
        finally:
            session.close()
            self.hardware.release(owner)
        if result is not None:
            finished = RunFinished(session=name, state=result.state.value, takes_total=result.takes_total,
                                   takes_verified=result.takes_verified, takes_shot_now=result.takes_shot_now,
                                   error=result.error)
        else:
            finished = RunFinished(session=name, state="failed", takes_total=0, takes_verified=0, takes_shot_now=0,
                                   error=error)
        self.hub.publish_threadsafe(finished.message())
        with self._lock:
            after, self._after_run = self._after_run or {}, None
        for again, confirm in after.items():  # takes marked as the run finished: shoot them now
            try:
                self.reshoot(again, confirm)
            except Exception as exc:  # the rig taken meanwhile, the folder gone: the sessions list offers it
                log.exception("could not re-shoot session %s after its run", again)
                self.hub.publish_threadsafe(event_message(SessionMessage(
                    level="error", text=f"the takes marked to shoot again were not shot: {exc}; re-shoot the "
                    "session from the sessions list"), again))

    def _pose_confirmer(self, session: Session) -> Callable[[Pose], bool]:
        name = session.path.name
        previous: list[str] = []  # the poses asked so far: the first subject pose after the plates asks for it back

        def confirm(pose: Pose) -> bool:
            with self._lock:
                self._confirm.clear()
                self._confirm_answer = False
            asked = time.time()
            prompt = pose_prompt(pose, previous[-1] if previous else None)
            previous.append(pose.id)
            self.hub.publish_threadsafe(PoseConfirmRequest(
                session=name, pose_id=pose.id, description=pose.description, prompt_kind=prompt.kind.value,
                title=prompt.title, question=prompt.question).message())
            answered = self._confirm.wait(POSE_CONFIRM_TIMEOUT_S)
            confirmed = answered and self._confirm_answer
            self.hub.publish_threadsafe(PoseConfirmAnswered(session=name, pose_id=pose.id,
                                                            confirmed=confirmed).message())
            # Journalled beside the engine's events: the timeline shows the wait, the estimates leave it out.
            _note(session, PoseConfirmation(pose_id=pose.id, confirmed=confirmed, asked_at=asked))
            return confirmed
        return confirm

    # -- steering --------------------------------------------------------------------------------------
    def _active(self) -> Session:
        session = self.session
        if session is None or not self.running:
            raise SessionNotFound("no session is running")
        return session

    def pause(self) -> None:
        self._active().pause()

    def resume(self) -> None:
        self._active().resume()

    def abort(self) -> None:
        session = self._active()
        session.abort()
        with self._lock:  # a run waiting for a pose confirmation stops waiting
            self._confirm_answer = False
            self._confirm.set()

    def stop_for_server(self) -> None:
        """The server stops: journal why (so the session reads as interrupted, not aborted by the operator),
        then abort the run at its take boundary, lights safe. Nothing to do when no session runs."""
        session = self.session
        if session is None or not self.running:
            return
        _note(session, PanelStopped(reason=SERVER_STOPPED))
        self.abort()

    def confirm_pose(self, confirmed: bool) -> None:
        self._active()
        with self._lock:
            self._confirm_answer = confirmed
            self._confirm.set()

    def wait(self, timeout_s: float) -> bool:
        """Wait for the running session's thread (tests, shutdown); True when none is running any more."""
        thread = self.thread
        if thread is not None:
            thread.join(timeout_s)
        return not self.running

    # -- what the journals say -------------------------------------------------------------------------
    def timeline(self, name: str) -> dict[str, Any]:
        """Session ``name``'s timeline from its journal (see _timeline); a journal that cannot be read is a
        PanelProblem naming it."""
        path = self.session_dir(name)
        require_readable(path)  # a folder without its journal must not get an empty one here
        try:
            journal = Journal(path)
            try:
                entries = session_timeline(journal)
            finally:
                journal.close()
        except (JournalError, sqlite3.Error) as exc:
            raise PanelProblem(f"the journal of session {name} cannot be read: {exc}", str(path / "journal.sqlite"),
                               "its images are intact files: copy the session folder somewhere safe before "
                               "anything else; the rest of the panel works meanwhile") from exc
        return {"session": name, "entries": entries}

    def interrupted(self) -> list[dict[str, Any]]:
        """Sessions whose run the panel's server did not see to its end (it stopped, or its process ended),
        newest first. One the operator aborted, or that failed, is not listed: that was an answer, not a loss."""
        if not self.sessions_dir.is_dir():
            return []
        live = self.session.path.name if self.session is not None and self.running else None
        found = []
        for path in self.sessions_dir.iterdir():
            if path.name != live and not path.is_symlink() and (path / "session.json").is_file():
                try:
                    stamp = journal_stamp(path / "journal.sqlite")
                    cached = self._interruptions.get(path)
                    row = cached[1] if cached is not None and cached[0] == stamp else self._interruption(path)
                    self._interruptions[path] = (stamp, row)  # each journal read again only once it changes
                except (OSError, TypeError, ValueError, KeyError, sqlite3.Error, ConfigError, JournalError) as exc:
                    log.info("not judging %s: %s", path, exc)  # the sessions list shows it as unreadable
                    continue
                if row is not None:
                    found.append(row)
        return sorted(found, key=lambda r: r["created_at"] or 0.0, reverse=True)

    def _interruption(self, path: Path) -> dict[str, Any] | None:
        row = self._describe(path)
        return None if row["interrupted"] is None else {**row, **row["interrupted"]}

    def _interrupted(self, name: str, journal: Journal, planned: int, verified: int) -> dict[str, Any] | None:
        """How session ``name``'s run ended if the server did not see it to its end, else None."""
        if self.running and self.session is not None and self.session.path.name == name:
            return None  # running here and now
        state = str(journal.meta("state", "idle"))
        if state in _UNFINISHED:
            how = "when the program running it stopped without finishing (killed, crashed or the power went)"
        else:
            stopped = journal.events(PANEL_STOPPED)
            preflights = [e for e in journal.events("StateChanged") if e["state"] == "preflight"]
            if state != "aborted" or not stopped or not preflights or stopped[-1]["at"] < preflights[-1]["at"]:
                return None
            how = "when the panel's server stopped"
        at = min(planned, verified + 1)
        return {"cause": "killed" if state in _UNFINISHED else "stopped", "journal_state": state, "at_take": at,
                "text": f"session {name} was interrupted at take {at}/{planned} {how} ({verified} of {planned} "
                        f"takes verified); resume it"}

    def describe(self, path: Path) -> dict[str, Any]:
        """What the sessions list shows of one session folder (read from its journal, not the live run).

        A folder that cannot be read as a session is listed as ``unreadable`` with the reason, not skipped.
        """
        try:
            return self._describe(path)
        except (OSError, TypeError, ValueError, KeyError, sqlite3.Error, ConfigError) as exc:
            return {"name": path.name, "subject": "?", "rig": "?", "plan": "?", "created_at": None,
                    "state": "unreadable", "error": str(exc), "takes_planned": 0, "takes_verified": 0,
                    "takes_failed": [], "interrupted": None}

    def _describe(self, path: Path) -> dict[str, Any]:
        session = Session.open(path)
        try:
            info = session.folder.info
            takes = session.folder.journal.takes()
            planned = len(expand_plan(session.folder.rig.config, session.folder.plan.config))
            verified = sum(1 for t in takes.values() if t.status == TakeStatus.VERIFIED)
            return {"name": path.name, "subject": info.subject_id, "rig": info.rig_name, "plan": info.plan_name,
                    "created_at": info.created_at, "state": session.state.value, "takes_planned": planned,
                    "takes_verified": verified,
                    "takes_failed": [{"take_id": t.take_id, "error": t.error} for t in takes.values()
                                     if t.status == TakeStatus.FAILED],
                    # the server did not see this run to its end: {cause, journal_state, at_take, text}, else None
                    "interrupted": self._interrupted(path.name, session.folder.journal, planned, verified)}
        finally:
            session.close()
