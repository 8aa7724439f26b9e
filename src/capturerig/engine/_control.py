"""The public session object: create or reopen a session, run it, steer it, watch its events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from capturerig.config import LoadedPlan, LoadedRig
from capturerig.engine._events import EventBus, ReshootRequested, RunState, Subscriber, Subscription
from capturerig.engine._journal import TakeStatus
from capturerig.engine._runner import PoseConfirmer, Runner, RunResult
from capturerig.engine._session import SessionFolder, new_session_id
from capturerig.engine._version import capturerig_version
from capturerig.plan import expand_plan
from capturerig.subjects import CAPTURE_PURPOSE, ConsentGate, RegistryConsentGate, default_registry_path

__all__ = ["Session", "capturerig_version"]


def _consent_request(plan: LoadedPlan, session_id: str) -> dict[str, Any]:
    """What the gate weighs besides subject and purpose: is a person in the rig, is their flash limit raised."""
    subject = plan.config.subject
    return {"session_id": session_id, "person": subject.kind == "person",
            "flash_override": subject.photosensitivity_override}


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
        self.events.subscribe(folder.journal.record, critical=True, batch=folder.journal.record_many)
        self._runner: Runner | None = None

    @classmethod
    def create(cls, rig: LoadedRig, plan: LoadedPlan, subject: str, out: str | Path | None = None,
               consent_gate: ConsentGate | None = None, purpose: str = CAPTURE_PURPOSE,
               registry: str | Path | None = None) -> Session:
        """Check consent, then make the session folder (default: the rig's storage root / a new id).

        The default gate is the subject registry at ``registry`` (default: ``$CAPTURERIG_REGISTRY``, else
        ``<storage root>/subjects.sqlite``): a person needs a consent valid today whose scope covers
        ``purpose`` (ConsentRefused says why not and what to do).
        """
        gate = consent_gate or RegistryConsentGate(registry or default_registry_path(rig.config))
        session_id = new_session_id(subject)
        decision = gate.authorise(subject, purpose, **_consent_request(plan, session_id))
        path = Path(out) if out is not None else Path(rig.config.storage.root) / session_id
        folder = SessionFolder.create(path, rig, plan, decision, capturerig_version(), session_id)
        gate.record_session(decision, session_id, folder.path)
        return cls(folder, gate)

    @classmethod
    def open(cls, path: str | Path, consent_gate: ConsentGate | None = None,
             registry: str | Path | None = None) -> Session:
        """Reopen an interrupted session; ``run`` then redoes only what the journal cannot prove done.

        Consent is checked again in ``run``, by default in the registry the session was created with.
        """
        folder = SessionFolder.open(Path(path))
        where = registry or folder.info.consent_registry or default_registry_path(folder.rig.config)
        return cls(folder, consent_gate or RegistryConsentGate(where))

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
        info = self.folder.info
        self.consent_gate.authorise(info.subject_id, info.purpose, **_consent_request(self.folder.plan,
                                                                                    info.session_id))
        self._runner = Runner(self.folder, self.events, confirm_pose)
        return self._runner.run()

    def pause(self) -> None:
        if self._runner:
            self._runner.pause()

    def resume(self) -> None:
        if self._runner:
            self._runner.resume()

    def reshoot_take(self, take_id: str, reason: str = "the operator asked") -> bool:
        """Shoot verified take ``take_id`` again (e.g. after a failed check, ``TakeChecked.action`` awaiting the
        operator): during a run, as a new attempt while the subject is in the rig (True); otherwise the take is
        marked superseded, so the next ``run`` of this session (a re-shoot) shoots it (False). A take that is not
        verified (failed, or superseded already) is shot by the next run anyway: False, nothing changed.

        Raises
        ------
        ValueError
            The plan has no such take, or it was never shot (running the session shoots it).
        """
        folder = self.folder
        if take_id not in {t.id for t in expand_plan(folder.rig.config, folder.plan.config)}:
            raise ValueError(f"take '{take_id}' is not in the plan of session {folder.info.session_id}")
        record = folder.journal.takes().get(take_id)
        if record is None:
            raise ValueError(f"take '{take_id}' of session {folder.info.session_id} was never shot: running the "
                             "session shoots it")
        if record.status != TakeStatus.VERIFIED:
            return False
        queued = self._runner is not None and self._runner.request_reshoot(take_id, reason)
        if not queued:
            folder.journal.supersede([take_id])
        self.events.publish(ReshootRequested(take_id=take_id, reason=reason, queued=queued))
        return queued

    def abort(self) -> None:
        if self._runner:
            self._runner.abort()

    def close(self) -> None:
        self.folder.journal.close()
