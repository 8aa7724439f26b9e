"""A session folder: rig and plan snapshots, session.json, the journal and the images."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capturerig.config import LoadedPlan, LoadedRig, load_plan, load_rig
from capturerig.devices import installed_drivers
from capturerig.engine._journal import Journal
from capturerig.files import fsync_dir
from capturerig.subjects import ConsentDecision

__all__ = ["SessionFolder", "SessionInfo", "new_session_id"]

SESSION_FILE = "session.json"
RIG_SNAPSHOT = "rig.yaml"
PLAN_SNAPSHOT = "plan.yaml"


def new_session_id(subject_id: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{subject_id}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    subject_id: str
    created_at: float
    rig_name: str
    plan_name: str
    rig_source: str
    plan_source: str
    rig_base_dir: str  # where relative profile paths in the rig resolve
    consent_basis: str
    capturerig_version: str
    purpose: str = "capture"  # what the subject consented to this capture being for
    consent_id: str = ""
    consent_registry: str = ""  # the registry file resume checks consent in again

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _write_durably(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


class SessionFolder:
    """Creates or reopens a session folder; holds its snapshots and journal."""

    def __init__(self, path: Path, info: SessionInfo, rig: LoadedRig, plan: LoadedPlan, journal: Journal) -> None:
        self.path = path
        self.info = info
        self.rig = rig
        self.plan = plan
        self.journal = journal

    @classmethod
    def create(cls, path: Path, rig: LoadedRig, plan: LoadedPlan, consent: ConsentDecision,
               version: str, session_id: str | None = None) -> SessionFolder:
        if path.exists() and any(path.iterdir()):
            raise FileExistsError(f"{path} already holds files; choose an empty folder or resume that session")
        path.mkdir(parents=True, exist_ok=True)
        info = SessionInfo(
            session_id=session_id or new_session_id(consent.subject_id), subject_id=consent.subject_id,
            created_at=time.time(),
            rig_name=rig.config.name, plan_name=plan.config.name, rig_source=str(rig.path.resolve()),
            plan_source=str(plan.path.resolve()), rig_base_dir=str(rig.path.resolve().parent),
            consent_basis=consent.basis, capturerig_version=version, purpose=consent.purpose,
            consent_id=consent.consent_id, consent_registry=str(Path(consent.registry).resolve())
            if consent.registry else "")
        _write_durably(path / RIG_SNAPSHOT, rig.text)
        _write_durably(path / PLAN_SNAPSHOT, plan.text)
        _write_durably(path / SESSION_FILE, json.dumps(info.to_json(), indent=2) + "\n")
        fsync_dir(path)
        journal = Journal(path)
        journal.set_meta("session", info.to_json())
        return cls(path, info, rig, plan, journal)

    @classmethod
    def open(cls, path: Path) -> SessionFolder:
        """Reopen a session to resume it; the snapshots, not today's rig files, say what to shoot."""
        session_file = path / SESSION_FILE
        if not session_file.is_file():
            raise FileNotFoundError(f"{path} is not a capturerig session (no {SESSION_FILE})")
        info = SessionInfo(**json.loads(session_file.read_text(encoding="utf-8")))
        rig = load_rig(path / RIG_SNAPSHOT, drivers=installed_drivers())
        # Relative profile paths in the snapshot still mean the studio's folder.
        rig = LoadedRig(rig.config, Path(info.rig_base_dir) / RIG_SNAPSHOT, rig.text)
        plan = load_plan(path / PLAN_SNAPSHOT, rig)
        return cls(path, info, rig, plan, Journal(path))
