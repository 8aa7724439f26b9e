"""The append-only audit log: every row's hash covers the previous row's hash and the row itself.

An edited row no longer matches its hash; a deleted row breaks the chain at the next one (its ``prev_hash``
names a hash that is gone, and its ``seq`` skips). SQLite triggers refuse UPDATE and DELETE on the table, so
only someone who drops them (a deliberate act) can change history, and :func:`verify_audit_chain` finds it.
Cutting rows off the end leaves a shorter valid chain: write the head hash down outside the studio (the
``capturerig subjects audit`` output prints it) to catch that too.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditProblem",
    "append_audit",
    "audit_entries",
    "canonical_json",
    "create_audit_table",
    "row_digest",
    "verify_audit_chain",
]

GENESIS_HASH = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def canonical_json(value: Any) -> str:
    """One text per value (sorted keys, no spaces), so a hash of it is stable across runs and machines."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def row_digest(row: Mapping[str, Any]) -> str:
    """sha256 of a registry row's columns: logged when the row is written, compared by the audit check."""
    return hashlib.sha256(canonical_json(dict(row)).encode()).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One audit row. ``detail`` holds ids, hashes and paths, never a person's name."""

    seq: int
    at: str
    actor: str
    action: str
    subject_id: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditProblem:
    """A place where the log or a record no longer matches what was logged."""

    seq: int | None
    message: str


def _entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, subject_id: str, detail: str) -> str:
    body = canonical_json([seq, at, actor, action, subject_id, detail])
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def create_audit_table(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def append_audit(db: sqlite3.Connection, action: str, subject_id: str, detail: Mapping[str, Any],
                 actor: str) -> AuditEntry:
    """Append one entry chained to the last; the caller's transaction makes the change and its entry atomic."""
    last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev_hash = (1, GENESIS_HASH) if last is None else (int(last[0]) + 1, str(last[1]))
    at = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
    detail_text = canonical_json(dict(detail))
    digest = _entry_hash(prev_hash, seq, at, actor, action, subject_id, detail_text)
    db.execute("INSERT INTO audit (seq, at, actor, action, subject_id, detail, prev_hash, hash) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (seq, at, actor, action, subject_id, detail_text, prev_hash, digest))
    return AuditEntry(seq, at, actor, action, subject_id, dict(detail), prev_hash, digest)


def audit_entries(db: sqlite3.Connection, subject_id: str | None = None) -> list[AuditEntry]:
    """Every entry in order (only ``subject_id``'s when given)."""
    query = "SELECT seq, at, actor, action, subject_id, detail, prev_hash, hash FROM audit"
    rows = (db.execute(query + " WHERE subject_id = ? ORDER BY seq", (subject_id,)) if subject_id is not None
            else db.execute(query + " ORDER BY seq"))
    entries = []
    for seq, at, actor, action, subject, detail, prev_hash, digest in rows:
        try:
            parsed = json.loads(detail)
        except json.JSONDecodeError:
            parsed = {"unreadable": detail}
        entries.append(AuditEntry(int(seq), at, actor, action, subject, parsed, prev_hash, digest))
    return entries


def verify_audit_chain(db: sqlite3.Connection) -> tuple[list[AuditProblem], str]:
    """Recompute the chain: the problems found (empty when intact) and the head hash."""
    problems: list[AuditProblem] = []
    expected_prev, expected_seq = GENESIS_HASH, 1
    rows = db.execute("SELECT seq, at, actor, action, subject_id, detail, prev_hash, hash FROM audit ORDER BY seq")
    for seq, at, actor, action, subject_id, detail, prev_hash, digest in rows:
        if seq != expected_seq:
            problems.append(AuditProblem(seq, f"entries {expected_seq}..{seq - 1} are missing (deleted rows)"))
        if prev_hash != expected_prev:
            problems.append(AuditProblem(seq, f"entry {seq} does not follow the entry before it (prev_hash "
                                              f"{prev_hash[:12]} != {expected_prev[:12]}): a row was removed or "
                                              "replaced"))
        if _entry_hash(prev_hash, seq, at, actor, action, subject_id, detail) != digest:
            problems.append(AuditProblem(seq, f"entry {seq} ({action}, subject {subject_id}) was edited after it "
                                              "was written: its contents no longer match its hash"))
        expected_prev, expected_seq = digest, seq + 1
    return problems, expected_prev
