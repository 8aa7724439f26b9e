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
from capturerig.engine import Event, RunResult, Session, TakeStatus
from capturerig.plan import estimate_plan, expand_plan
from capturerig.subjects import CAPTURE_PURPOSE
from capturerig.web._catalog import Catalog
from capturerig.web._hub import EventHub, event_message
from capturerig.web._messages import PoseConfirmAnswered, PoseConfirmRequest, RunFinished, RunStarted

__all__ = ["Busy", "Hardware", "RunManager", "SessionNotFound"]

log = logging.getLogger(__name__)
POSE_CONFIRM_TIMEOUT_S = 30 * 60.0  # a subject is not kept waiting longer; the run aborts instead
_SESSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Busy(RuntimeError):
    """The rig is in use (a session runs, or a check or light change holds it); try again when it is free."""


class SessionNotFound(LookupError):
    """No session of that name in the storage root."""


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

    def _launch(self, session: Session, owner: str, rig_id: str, plan: LoadedPlan, confirm_poses: bool,
                resumed: bool) -> None:
        name = session.path.name
        rig = session.folder.rig
        takes = expand_plan(rig.config, plan.config)
        estimate = estimate_plan(rig.config, plan.config, rig.path.parent)
        status: dict[str, Any] = {}
        if resumed:
            records = session.folder.journal.takes()
            for take in takes:
                record = records.get(take.id)
                if record is None:
                    continue
                attempt = record.verified_attempt or record.attempts
                files = {f.camera_id: f.path for f in session.folder.journal.files(take.id, attempt) if f.camera_id}
                status[take.id] = {"status": record.status, "attempt": attempt, "error": record.error, "files": files}
        info = {"name": name, "subject": session.folder.info.subject_id, "rig": rig_id, "plan": plan.config.name,
                "consent_basis": session.folder.info.consent_basis, "hold_expected_s": estimate.hold_s_by_pose,
                "session_s": estimate.session_s, "resumed": resumed,
                "cameras": list(takes[0].cameras) if takes else []}
        take_rows = [{"id": t.id, "ordinal": t.ordinal, "pose": t.pose.id, "station": t.station.id,
                      "lighting": t.lighting.state_id, "lighting_name": t.lighting.name or t.lighting.state_id,
                      "bracket": t.bracket.id, "cameras": list(t.cameras)} for t in takes]
        self.hub.publish_threadsafe(RunStarted(session=name, info=info, takes=take_rows, status=status).message())
        session.subscribe(lambda event: self._forward(name, event))
        with self._lock:
            self.session = session
            self._confirm.clear()
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
            result = session.run(self._pose_confirmer(name) if confirm_poses else None)
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

    def _pose_confirmer(self, name: str) -> Callable[[Pose], bool]:
        def confirm(pose: Pose) -> bool:
            with self._lock:
                self._confirm.clear()
                self._confirm_answer = False
            self.hub.publish_threadsafe(PoseConfirmRequest(session=name, pose_id=pose.id,
                                                           description=pose.description).message())
            answered = self._confirm.wait(POSE_CONFIRM_TIMEOUT_S)
            self.hub.publish_threadsafe(PoseConfirmAnswered(session=name, pose_id=pose.id,
                                                            confirmed=answered and self._confirm_answer).message())
            return answered and self._confirm_answer
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

    def describe(self, path: Path) -> dict[str, Any]:
        """What the sessions list shows of one session folder (read from its journal, not the live run).

        A folder that cannot be read as a session is listed as ``unreadable`` with the reason, not skipped.
        """
        try:
            return self._describe(path)
        except (OSError, TypeError, ValueError, KeyError, sqlite3.Error, ConfigError) as exc:
            return {"name": path.name, "subject": "?", "rig": "?", "plan": "?", "created_at": None,
                    "state": "unreadable", "error": str(exc), "takes_planned": 0, "takes_verified": 0,
                    "takes_failed": []}

    def _describe(self, path: Path) -> dict[str, Any]:
        session = Session.open(path)
        try:
            info = session.folder.info
            takes = session.folder.journal.takes()
            planned = len(expand_plan(session.folder.rig.config, session.folder.plan.config))
            return {"name": path.name, "subject": info.subject_id, "rig": info.rig_name, "plan": info.plan_name,
                    "created_at": info.created_at, "state": session.state.value, "takes_planned": planned,
                    "takes_verified": sum(1 for t in takes.values() if t.status == TakeStatus.VERIFIED),
                    "takes_failed": [{"take_id": t.take_id, "error": t.error} for t in takes.values()
                                     if t.status == TakeStatus.FAILED]}
        finally:
            session.close()
