"""The session journal: SQLite in WAL mode with synchronous=FULL, one row per take and per file.

The journal is the proof of what was captured. It is written by the first (critical) subscriber of the
event bus, so a journal failure stops the run instead of letting captures go unrecorded.

Schema version
--------------
A journal carries the version of its layout, ``JOURNAL_SCHEMA_VERSION``, in SQLite's ``PRAGMA
user_version`` (readable by any SQLite tool: ``sqlite3 journal.sqlite 'PRAGMA user_version'``), and the
same number in the ``meta`` row ``journal_schema``, written in the same transaction. The header's four
bytes carry no checksum: only when both agree is a journal "from a newer release" rather than damaged.

- 0: no version, written by the releases before versions existed. Their tables are exactly version 1's;
  opening one checks that and stamps it version 1 in place. Any other unversioned file is refused.
- 1: the tables of ``_SCHEMA`` (``_LAYOUT_V1`` spells out what a check of an open journal expects).

A release opens journals of its version and older and refuses a newer one without changing it (the
operator is told to use a newer capturerig). So bump the version whenever a release writes something
an older release would misread or fail to read: a table or column added, dropped, renamed or retyped,
or a new meaning for a stored value (a take status, a path convention). With the bump come the new
layout, a migration from the previous version in ``Journal._settle_schema`` that checks the old tables
before touching them, and a session folder written by the previous release under ``tests/fixtures/``
that a test resumes. Every version keeps the ``meta`` table and its ``journal_schema`` row: that is what
older releases read to tell a newer journal from a damaged one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from enum import StrEnum
from importlib import metadata
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

__all__ = ["JOURNAL_SCHEMA_VERSION", "FileRecord", "Journal", "JournalError", "TakeRecord", "TakeStatus"]

JOURNAL_NAME = "journal.sqlite"
JOURNAL_SCHEMA_VERSION = 1
"""The journal layout this release writes and the newest it reads (see the module docstring)."""

_SCHEMA_KEY = "journal_schema"  # the meta row that repeats PRAGMA user_version

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS takes (
    take_id TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL,
    status TEXT NOT NULL,              -- running | verified | failed | superseded
    attempts INTEGER NOT NULL DEFAULT 0,
    verified_attempt INTEGER,
    started_at REAL, finished_at REAL,
    error TEXT
)""",
    """CREATE TABLE IF NOT EXISTS files (
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
)""",
    """CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL
)""",
)

# Version 1's tables as SQLite reports their columns (see _column). The unversioned journals of the
# releases before versions existed have exactly these: the tables never changed before version 1.
_LAYOUT_V1: dict[str, tuple[str, ...]] = {
    "events": ("id INTEGER PRIMARY KEY", "at REAL NOT NULL", "kind TEXT NOT NULL", "payload TEXT NOT NULL"),
    "files": ("path TEXT PRIMARY KEY", "take_id TEXT", "attempt INTEGER", "camera_id TEXT", "format TEXT",
              "size INTEGER NOT NULL", "sha256 TEXT NOT NULL", "exposed_at REAL", "stored_at REAL NOT NULL",
              "card_name TEXT", "origin TEXT NOT NULL DEFAULT 'capture'"),
    "meta": ("key TEXT PRIMARY KEY", "value TEXT NOT NULL"),
    "takes": ("take_id TEXT PRIMARY KEY", "ordinal INTEGER NOT NULL", "status TEXT NOT NULL",
              "attempts INTEGER NOT NULL DEFAULT 0", "verified_attempt INTEGER", "started_at REAL",
              "finished_at REAL", "error TEXT"),
}


def _column(row: tuple[Any, ...]) -> str:
    """One ``PRAGMA table_info`` row (cid, name, type, notnull, default, pk) as its column definition."""
    _, name, kind, notnull, default, pk = row
    text = f"{name} {kind}"
    if notnull:
        text += " NOT NULL"
    if default is not None:
        text += f" DEFAULT {default}"
    return text + (" PRIMARY KEY" if pk else "")


def _layout(db: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    """The columns of every table but SQLite's own (``sqlite_sequence``): empty for a new database."""
    names = [row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name")]
    return {name: tuple(_column(row) for row in db.execute("SELECT * FROM pragma_table_info(?)", (name,)))
            for name in names}


def _layout_problems(found: dict[str, tuple[str, ...]]) -> list[str]:
    """How ``found`` differs from version 1's tables, in words (empty when it does not)."""
    problems = [f"no table {name}" for name in _LAYOUT_V1 if name not in found]
    problems += [f"a table {name} capturerig never makes" for name in found if name not in _LAYOUT_V1]
    for name, expected in _LAYOUT_V1.items():
        if name in found and found[name] != expected:
            missing = [c for c in expected if c not in found[name]]
            extra = [c for c in found[name] if c not in expected]
            problems.append(f"table {name} " + ", ".join(
                [f"lacks column '{c}'" for c in missing] + [f"has column '{c}'" for c in extra]
                or ["has its columns in another order"]))
    return problems


def _this_release() -> str:
    try:
        return metadata.version("capturerig")
    except metadata.PackageNotFoundError:
        return "unknown"


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
    """A journal file that SQLite cannot read back whole (truncated, overwritten, not a database), or one this
    release must not write to: a newer schema version, or tables that are not a capturerig journal's."""


class TakeStatus(StrEnum):
    """A take's state in the journal (stored as its text)."""

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
            self._db.execute("PRAGMA synchronous=FULL")
            # A damaged journal must stop a resume here, before any take is judged done or not from it.
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("; ".join(str(p) for p in problems[:3]))
            self._settle_schema()
            # Only now: turning WAL on rewrites the header of a file that is not (yet) in WAL mode, and a
            # refused file must be left as it was.
            self._db.execute("PRAGMA journal_mode=WAL")
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # damaged names come back as bad UTF-8
            self._db.close()
            if _not_damage(exc):
                raise
            raise self._damaged(exc) from exc
        except JournalError:
            self._db.close()
            raise

    # -- schema version --------------------------------------------------------------------------------
    def _settle_schema(self) -> None:
        """Make a new journal version 1, stamp an unversioned one of version 1's layout, refuse the rest.

        Raises JournalError, and changes nothing, for a journal newer than this release, one whose version
        and tables disagree, and an unversioned one whose tables are not version 1's.
        """
        if self._schema_action() is None:
            return  # a journal of this version: opened without writing (a reader beside a running session)
        with self._transaction() as db:
            # Look again under the write lock: another process may have made or stamped it meanwhile.
            action = self._schema_action()
            if action == "create":
                for statement in _SCHEMA:
                    db.execute(statement)
            if action is not None:  # the version in both places, in the commit that makes or stamps it
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           (_SCHEMA_KEY, json.dumps(JOURNAL_SCHEMA_VERSION)))
                db.execute(f"PRAGMA user_version={int(JOURNAL_SCHEMA_VERSION)}")

    def _schema_action(self) -> str | None:
        """``"create"`` (a new database), ``"stamp"`` (an unversioned journal of version 1's layout) or
        None (a journal of this version); raises JournalError for any other journal."""
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        layout = _layout(self._db)
        recorded = self._recorded_version() if "meta" in layout else None
        if version == 0 and recorded is None:
            if not layout:
                return "create"
            problems = _layout_problems(layout)
            if problems:
                raise self._not_ours(problems)
            return "stamp"
        if recorded != version:
            raise self._damaged(f"its header says schema version {version}, its meta table "
                                f"{'says ' + str(recorded) if recorded is not None else 'has no version'}")
        if version > JOURNAL_SCHEMA_VERSION:
            raise self._newer(version)
        problems = _layout_problems(layout)
        if problems:
            raise self._damaged(f"it says schema version {version} but {'; '.join(problems[:3])}")
        return None

    def _recorded_version(self) -> int | None:
        """The version in the meta row, None when there is none (or no readable meta table to hold one)."""
        try:
            rows = self._db.execute("SELECT value FROM meta WHERE key=?", (_SCHEMA_KEY,)).fetchall()
        except sqlite3.OperationalError as exc:
            if _not_damage(exc):
                raise
            return None  # a meta table without key/value columns: _layout_problems names what it lacks
        if not rows:
            return None
        try:
            value = json.loads(rows[0][0])
        except (TypeError, ValueError) as exc:
            raise self._damaged(f"its schema version row reads {rows[0][0]!r}") from exc
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._damaged(f"its schema version row reads {rows[0][0]!r}")
        return value

    def _newer(self, version: int) -> JournalError:
        return JournalError(
            f"{self.path}: the session journal is schema version {version}, newer than this capturerig "
            f"({_this_release()}) reads (schema version {JOURNAL_SCHEMA_VERSION} and older); nothing was "
            f"changed. A newer capturerig wrote it: use a newer capturerig (the release that wrote it or a later "
            f"one) to resume, package or inspect this session")

    def _not_ours(self, problems: list[str]) -> JournalError:
        # Every unversioned journal capturerig wrote has version 1's tables, so this is damage or a file
        # that is not a capturerig journal (copied over it, or made by hand).
        return JournalError(
            f"{self.path}: the session journal is damaged or not a capturerig journal: it has no schema "
            f"version and its tables are not the ones capturerig writes ({'; '.join(problems[:3])}); nothing "
            f"was changed. The images in {self.path.parent / 'images'} are intact files: copy the session "
            f"folder somewhere safe, then put back its journal from a backup (or re-shoot into a new session)")

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
    def _damaged(self, exc: Exception | str) -> JournalError:
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
