"""The public session object: create or reopen a session, run it, steer it, watch its events."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from capturerig.config import LoadedPlan, LoadedRig
from capturerig.engine._events import EventBus, RunState, Subscriber, Subscription
from capturerig.engine._runner import PoseConfirmer, Runner, RunResult
from capturerig.engine._session import SessionFolder, new_session_id
from capturerig.subjects import ConsentGate, SubjectIdOnly

__all__ = ["Session", "capturerig_version"]

CAPTURE_PURPOSE = "capture"


def capturerig_version() -> str:
    try:
        return version("capturerig")
    except PackageNotFoundError:
        return "unknown"


class Session:
    """One capture session: a subject, a rig and plan snapshot, and a journal of takes.

    ``run`` blocks until the session is done, failed or aborted; ``pause``, ``resume`` and ``abort`` may be
    called from any thread and act at the next take boundary. Lights are in the safe state whenever
    ``run`` returns or raises.
    """

    def __init__(self, folder: SessionFolder, consent_gate: ConsentGate) -> None:
        self.folder = folder
        self.consent_gate = consent_gate
        self.events = EventBus()
        self.events.subscribe(folder.journal.record, critical=True)
        self._runner: Runner | None = None

    @classmethod
    def create(cls, rig: LoadedRig, plan: LoadedPlan, subject: str, out: str | Path | None = None,
               consent_gate: ConsentGate | None = None) -> Session:
        """Check consent, then make the session folder (default: the rig's storage root / a new id)."""
        gate = consent_gate or SubjectIdOnly()
        decision = gate.authorise(subject, CAPTURE_PURPOSE)
        path = Path(out) if out is not None else Path(rig.config.storage.root) / new_session_id(subject)
        folder = SessionFolder.create(path, rig, plan, decision, capturerig_version())
        return cls(folder, gate)

    @classmethod
    def open(cls, path: str | Path, consent_gate: ConsentGate | None = None) -> Session:
        """Reopen an interrupted session; ``run`` then redoes only what the journal cannot prove done."""
        return cls(SessionFolder.open(Path(path)), consent_gate or SubjectIdOnly())

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def state(self) -> RunState:
        return self._runner.state if self._runner else RunState(self.folder.journal.meta("state", "idle"))

    def subscribe(self, callback: Subscriber) -> Subscription:
        """Receive every event; a callback that raises is logged and never breaks the run."""
        return self.events.subscribe(callback)

    def run(self, confirm_pose: PoseConfirmer | None = None) -> RunResult:
        """Shoot every take the journal cannot prove done. ``confirm_pose(pose)`` False aborts."""
        # Consent is checked again on every run: it may have been withdrawn since the session began.
        self.consent_gate.authorise(self.folder.info.subject_id, CAPTURE_PURPOSE)
        self._runner = Runner(self.folder, self.events, confirm_pose)
        return self._runner.run()

    def pause(self) -> None:
        if self._runner:
            self._runner.pause()

    def resume(self) -> None:
        if self._runner:
            self._runner.resume()

    def abort(self) -> None:
        if self._runner:
            self._runner.abort()

    def close(self) -> None:
        self.folder.journal.close()
