"""Sessions as their folders keep them: the list in start order, and one session read back whole from its journal.

A past session is read, never changed: its takes come from expanding its own rig and plan snapshots (what
was to be shot), their status and files from its journal (what was shot and proved), in the same shape as the
live run view (``RunStarted``'s takes, ``RunView.status``) so the page draws both with one contact sheet.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from capturerig.config import ConfigError
from capturerig.engine import FileRecord, JournalError, Session, TakeRecord, TakeStatus
from capturerig.plan import Take, expand_plan
from capturerig.web._problems import PanelProblem
from capturerig.web._qc_view import journal_qc
from capturerig.web._session_problems import require_readable

__all__ = ["journal_status", "session_order", "session_view", "take_rows"]


def session_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sessions newest start first; the name breaks ties, so the order never jumps between two readings.

    A folder whose start time cannot be read (unreadable, or not a number in its session.json) sorts after the
    readable ones, by name.
    """
    def key(row: dict[str, Any]) -> tuple[bool, float, str]:
        started = row.get("created_at")
        if isinstance(started, (int, float)) and not isinstance(started, bool):
            return True, float(started), str(row["name"])
        return False, 0.0, str(row["name"])

    return sorted(rows, key=key, reverse=True)


def _unreadable(path: Path, exc: Exception) -> PanelProblem:
    return PanelProblem(f"session {path.name} cannot be read: {exc}", where=str(path),
                        todo="copy the session folder somewhere safe and check its journal.sqlite, session.json, "
                             "rig.yaml and plan.yaml; the other sessions are not affected")


def session_view(path: Path) -> dict[str, Any]:
    """Session folder ``path`` read back: ``session`` (who, what, when, state), ``takes``, ``status`` and
    ``files`` (every file the journal holds, with size and sha256).

    Raises
    ------
    PanelProblem
        The folder cannot be read as a session (damaged journal, snapshot with an error), naming the folder.
    """
    require_readable(path)  # names the damaged file; a folder without its journal must not get an empty one
    try:
        session = Session.open(path)
    except (OSError, TypeError, ValueError, KeyError, sqlite3.Error, ConfigError, JournalError) as exc:
        raise _unreadable(path, exc) from exc
    try:
        return _read(path, session)
    except (sqlite3.Error, JournalError, ConfigError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    finally:
        session.close()


def take_rows(takes: Sequence[Take]) -> list[dict[str, Any]]:
    """The sheet's takes, as the live run view has them (``RunStarted``'s ``takes``)."""
    return [{"id": t.id, "ordinal": t.ordinal, "pose": t.pose.id, "station": t.station.id,
             "lighting": t.lighting.state_id, "lighting_name": t.lighting.name or t.lighting.state_id,
             "bracket": t.bracket.id, "cameras": list(t.cameras)} for t in takes]


def journal_status(takes: Sequence[Take], records: Mapping[str, TakeRecord], files: Sequence[FileRecord],
                   checks: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Each journalled take's status, as the live run view has it: the files shown are its verified attempt's
    (else its last attempt's), one per camera, with that attempt's per-image checks (``qc``) when ``checks``
    (the journal's ``TakeChecked`` events) hold them."""
    by_attempt: dict[tuple[str | None, int | None], dict[str, str]] = {}
    for f in files:  # grouped once: a studio day's session holds thousands of takes and files
        if f.camera_id:
            by_attempt.setdefault((f.take_id, f.attempt), {})[f.camera_id] = f.path
    status: dict[str, dict[str, Any]] = {}
    for take in takes:
        record = records.get(take.id)
        if record is None:
            continue
        attempt = record.verified_attempt or record.attempts
        status[take.id] = {"status": record.status, "attempt": attempt, "error": record.error,
                           "files": dict(by_attempt.get((take.id, attempt), {}))}
    for take_id, qc in journal_qc(checks, {t: s["attempt"] for t, s in status.items()}).items():
        status[take_id]["qc"] = qc
    return status


def _read(path: Path, session: Session) -> dict[str, Any]:
    folder = session.folder
    takes = expand_plan(folder.rig.config, folder.plan.config)
    records = folder.journal.takes()
    files = folder.journal.files()
    info = folder.info
    return {
        "session": {"name": path.name, "subject": info.subject_id, "rig": info.rig_name, "plan": info.plan_name,
                    "created_at": info.created_at, "state": session.state.value, "purpose": info.purpose,
                    "capturerig_version": info.capturerig_version,
                    "cameras": list(dict.fromkeys(c for t in takes for c in t.cameras)),
                    "takes_planned": len(takes),
                    "takes_verified": sum(1 for r in records.values() if r.status == TakeStatus.VERIFIED)},
        "takes": take_rows(takes),
        "status": journal_status(takes, records, files, folder.journal.events("TakeChecked")),
        "files": [{"path": f.path, "take_id": f.take_id, "attempt": f.attempt, "camera_id": f.camera_id,
                   "format": f.format, "size": f.size, "sha256": f.sha256, "origin": f.origin} for f in files],
    }
