"""The session journal: SQLite in WAL mode with synchronous=FULL, one row per take and per file.

The journal is the proof of what was captured. It is written by the first (critical) subscriber of the
event bus, so a journal failure stops the run instead of letting captures go unrecorded.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from capturerig.engine._events import (
    Event,
    FileStored,
    StateChanged,
    TakeFailed,
    TakeStarted,
    TakeVerified,
)

__all__ = ["FileRecord", "Journal", "JournalError", "TakeRecord", "TakeStatus"]

JOURNAL_NAME = "journal.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS takes (
    take_id TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL,
    status TEXT NOT NULL,              -- running | verified | failed | superseded
    attempts INTEGER NOT NULL DEFAULT 0,
    verified_attempt INTEGER,
    started_at REAL, finished_at REAL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,             -- relative to the session folder
    take_id TEXT,                      -- NULL for files found on disk that no event recorded
    attempt INTEGER,
    camera_id TEXT,
    format TEXT,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    exposed_at REAL,
    stored_at REAL NOT NULL,
    card_name TEXT,
    origin TEXT NOT NULL DEFAULT 'capture'   -- capture | recovered
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL
);
"""


def _not_damage(exc: Exception) -> bool:
    """A locked, busy or unopenable database is not a damaged one (a damaged header reads as an
    'unsupported file format', bad text as a decode error)."""
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in text for word in ("locked", "busy", "unable to open", "readonly", "disk I/O"))


def _json_default(value: Any) -> Any:
    """Nested dataclasses as their fields, anything else (enums, paths) as its string."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


class JournalError(RuntimeError):
    """A journal file that SQLite cannot read back whole (truncated, overwritten, not a database)."""


class TakeStatus:
    RUNNING = "running"
    VERIFIED = "verified"
    FAILED = "failed"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class TakeRecord:
    take_id: str
    ordinal: int
    status: str
    attempts: int
    verified_attempt: int | None
    error: str | None


@dataclass(frozen=True)
class FileRecord:
    path: str
    take_id: str | None
    attempt: int | None
    camera_id: str | None
    format: str | None
    size: int
    sha256: str
    origin: str


class Journal:
    """Append-mostly record of a session; safe to read while another process writes (WAL)."""

    def __init__(self, session_dir: Path) -> None:
        self.path = session_dir / JOURNAL_NAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            # A damaged journal must stop a resume here, before any take is judged done or not from it.
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("; ".join(str(p) for p in problems[:3]))
            self._db.executescript(_SCHEMA)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # damaged names come back as bad UTF-8
            self._db.close()
            if _not_damage(exc):
                raise
            raise self._damaged(exc) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def record(self, event: Event) -> None:
        """Bus subscriber: turn an event into rows. Raises on any database failure (stops the run)."""
        self.record_many([event])

    def record_many(self, events: Sequence[Event]) -> None:
        """Record a burst of events (a take's files) in one transaction: one fsync instead of one each."""
        with self._transaction() as db:
            for event in events:
                self._insert(db, event)

    @staticmethod
    def _insert(db: sqlite3.Connection, event: Event) -> None:
        payload = json.dumps(vars(event), default=_json_default)  # vars(): asdict() deep-copies, 4x slower
        db.execute("INSERT INTO events (at, kind, payload) VALUES (?, ?, ?)", (event.at, event.kind, payload))
        if isinstance(event, TakeStarted):
            db.execute(
                "INSERT INTO takes (take_id, ordinal, status, attempts, started_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(take_id) DO UPDATE SET status=excluded.status, attempts=excluded.attempts, "
                "started_at=excluded.started_at, verified_attempt=NULL, error=NULL",
                (event.take_id, event.ordinal, TakeStatus.RUNNING, event.attempt, event.at))
        elif isinstance(event, FileStored):
            db.execute(
                "INSERT INTO files (path, take_id, attempt, camera_id, format, size, sha256, exposed_at, "
                "stored_at, card_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event.path, event.take_id, event.attempt, event.camera_id, event.file_format, event.size,
                 event.sha256, event.exposed_at, event.at, event.card_name))
        elif isinstance(event, TakeVerified):
            db.execute("UPDATE takes SET status=?, verified_attempt=?, finished_at=? WHERE take_id=?",
                       (TakeStatus.VERIFIED, event.attempt, event.at, event.take_id))
        elif isinstance(event, TakeFailed):
            db.execute("UPDATE takes SET status=?, error=?, finished_at=? WHERE take_id=?",
                       (TakeStatus.FAILED, event.error, event.at, event.take_id))
        elif isinstance(event, StateChanged):
            db.execute("INSERT OR REPLACE INTO meta VALUES ('state', ?)", (json.dumps(event.state.value),))

    def supersede(self, take_ids: list[str]) -> None:
        """Mark verified takes to be shot again (pose consistency); their files stay on disk and in here."""
        with self._transaction() as db:
            db.executemany("UPDATE takes SET status=? WHERE take_id=?",
                           [(TakeStatus.SUPERSEDED, take_id) for take_id in take_ids])

    def add_recovered_file(self, path: str, size: int, sha256: str, stored_at: float) -> None:
        """Record a file found on disk that no event recorded (e.g. written just before a crash)."""
        with self._transaction() as db:
            db.execute("INSERT INTO files (path, size, sha256, stored_at, origin) VALUES (?, ?, ?, ?, 'recovered')",
                       (path, size, sha256, stored_at))

    # -- reading ---------------------------------------------------------------------------------------
    def _damaged(self, exc: Exception) -> JournalError:
        return JournalError(
            f"{self.path}: the session journal is damaged ({exc}); nothing was changed. The images in "
            f"{self.path.parent / 'images'} are intact files: copy the session folder somewhere safe, then "
            f"restore the journal from a backup (or re-shoot into a new session)")

    def _fetch(self, query: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of a read; a record damaged in place (bytes that are not text) raises JournalError."""
        with self._lock:
            try:
                return self._db.execute(query, args).fetchall()
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
                if _not_damage(exc):
                    raise  # locked or unreadable: not damage
                raise self._damaged(exc) from exc

    def _loads(self, text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise self._damaged(exc) from exc

    def meta(self, key: str, default: Any = None) -> Any:
        rows = self._fetch("SELECT value FROM meta WHERE key=?", (key,))
        return default if not rows else self._loads(rows[0][0])

    def takes(self) -> dict[str, TakeRecord]:
        rows = self._fetch("SELECT take_id, ordinal, status, attempts, verified_attempt, error "
                           "FROM takes ORDER BY ordinal")
        return {row[0]: TakeRecord(*row) for row in rows}

    def files(self, take_id: str | None = None, attempt: int | None = None) -> list[FileRecord]:
        query = "SELECT path, take_id, attempt, camera_id, format, size, sha256, origin FROM files"
        args: tuple[Any, ...] = ()
        if take_id is not None:
            query += " WHERE take_id=?"
            args = (take_id,)
            if attempt is not None:
                query += " AND attempt=?"
                args += (attempt,)
        return [FileRecord(*row) for row in self._fetch(query + " ORDER BY path", args)]

    def verified_files(self) -> list[FileRecord]:
        """Files of the verified attempt of every verified take, in take order."""
        rows = self._fetch(
            "SELECT f.path, f.take_id, f.attempt, f.camera_id, f.format, f.size, f.sha256, f.origin "
            "FROM files f JOIN takes t ON f.take_id = t.take_id AND f.attempt = t.verified_attempt "
            "WHERE t.status = ? ORDER BY t.ordinal, f.camera_id, f.format", (TakeStatus.VERIFIED,))
        return [FileRecord(*row) for row in rows]

    def events(self, kind: str) -> list[dict[str, Any]]:
        """Every journalled event of ``kind`` (e.g. ``"StationReached"``) as its fields, oldest first."""
        rows = self._fetch("SELECT payload FROM events WHERE kind=? ORDER BY id", (kind,))
        return [self._loads(row[0]) for row in rows]

    def event_count(self, kind: str) -> int:
        return int(self._fetch("SELECT COUNT(*) FROM events WHERE kind=?", (kind,))[0][0])
