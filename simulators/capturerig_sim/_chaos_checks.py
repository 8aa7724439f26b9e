"""What a chaos run checks after each session, from the journal, the files and the simulator's ledger.

- No image lost: every file a camera erased from its card (after that only the host has it) is in the
  session with its hash; so is every intact file a camera delivered to a controller that was not killed.
  Files handed to a controller killed before it stored them stay on the card; they are counted, not lost.
- No verified take re-shot: no take starts again after the journal recorded it verified.
- Every take is verified, or listed with the reason the journal (or the stop) gives.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capturerig.packaging import sha256_file

__all__ = ["SessionCheck", "check_session"]

JOURNAL_NAME = "journal.sqlite"


@dataclass
class SessionCheck:
    """The verdict on one chaos session."""

    takes: int = 0
    verified: int = 0
    files: int = 0
    lost: list[str] = field(default_factory=list)  # what was lost and why, one line each
    reshot: list[str] = field(default_factory=list)  # take ids re-shot after being verified
    incomplete: dict[str, str] = field(default_factory=dict)  # take id -> reason
    in_flight_at_kill: int = 0  # delivered to a killed controller before it stored them; still on the card
    damaged_in_transit: int = 0  # delivered corrupt or truncated; the card copy is whole
    faults: dict[str, int] = field(default_factory=dict)  # kind -> times fired
    reserve_stop: bool = False  # the engine stopped once at its storage reserve (journal meta disk_reserve)


def _rows(db: sqlite3.Connection, query: str) -> list[tuple[Any, ...]]:
    return db.execute(query).fetchall()


def _journal(session_dir: Path) -> sqlite3.Connection:
    path = session_dir / JOURNAL_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{session_dir}: no journal ({JOURNAL_NAME}); the session never started")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def _reshot(events: Iterable[tuple[str, str]]) -> list[str]:
    verified: set[str] = set()
    reshot: list[str] = []
    for kind, payload in events:
        take_id = json.loads(payload).get("take_id")
        if kind == "TakeVerified":
            verified.add(take_id)
        elif kind == "TakeStarted" and take_id in verified and take_id not in reshot:
            reshot.append(take_id)
    return reshot


def check_session(session_dir: Path, planned: Collection[str], ledger: list[dict[str, Any]],
                  killed_pids: Collection[int]) -> SessionCheck:
    """Check one session folder against the plan's take ids and the simulator's ledger of that session."""
    check = SessionCheck(takes=len(planned))
    with _journal(session_dir) as db:
        takes = {row[0]: (row[1], row[2]) for row in _rows(db, "SELECT take_id, status, error FROM takes")}
        files = _rows(db, "SELECT path, sha256, size FROM files")
        events = _rows(db, "SELECT kind, payload FROM events WHERE kind IN ('TakeStarted', 'TakeVerified') "
                           "ORDER BY id")
        states = _rows(db, "SELECT payload FROM events WHERE kind='StateChanged' ORDER BY id")
        check.reserve_stop = bool(_rows(db, "SELECT 1 FROM meta WHERE key='disk_reserve'"))
    # Files the journal vouches for must be on disk, whole; those are the session's hashes.
    kept: set[str] = set()
    for path, sha256, size in files:
        on_disk = session_dir / path
        if not on_disk.is_file() or on_disk.stat().st_size != size or sha256_file(on_disk) != sha256:
            check.lost.append(f"{path}: journalled but missing or changed on disk")
        else:
            kept.add(sha256)
    journalled = {row[0] for row in files}
    images = session_dir / "images"
    for path in sorted(images.iterdir()) if images.is_dir() else ():
        relative = str(path.relative_to(session_dir))
        if relative not in journalled:
            check.lost.append(f"{relative}: on disk but never journalled (no hash recorded)")
    check.files = len(kept)
    for record in ledger:
        if record.get("event") == "fault":
            kind = str(record.get("kind"))
            check.faults[kind] = check.faults.get(kind, 0) + 1
        elif record.get("event") == "erased" and record["card_sha256"] not in kept:
            check.lost.append(f"{record['camera']} {record['card_name']}: erased from the card but not in the "
                              "session")
        elif record.get("event") == "delivered":
            intact = record["sha256"] == record["card_sha256"]
            if not intact:
                check.damaged_in_transit += 1
            elif record["sha256"] not in kept:
                if record.get("pid") in killed_pids:
                    check.in_flight_at_kill += 1
                else:
                    check.lost.append(f"{record['camera']} {record['card_name']}: delivered whole to a controller "
                                      "that ran on, but not in the session")
    check.reshot = _reshot(events)
    last_reason = ""
    for (payload,) in states:
        reason = json.loads(payload).get("reason") or ""
        if reason and reason != "resumed":
            last_reason = reason
    for take_id in planned:
        status, error = takes.get(take_id, ("never started", None))
        if status == "verified":
            check.verified += 1
        else:
            check.incomplete[take_id] = f"{status}: {error or last_reason or 'no reason recorded'}"
    return check
