"""The subject registry: one SQLite file per studio; every table is append-only and every write is audited.

Records are never updated or deleted (triggers refuse it): a consent ends by a revocation row, a purge is an
audit entry. Each write logs the sha256 of the row it wrote, so :meth:`SubjectRegistry.verify` finds a record
edited behind the registry's back as well as an edited or deleted audit row.
"""

from __future__ import annotations

import datetime
import getpass
import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capturerig.subjects._audit import (
    AuditEntry,
    AuditProblem,
    append_audit,
    audit_entries,
    canonical_json,
    create_audit_table,
    row_digest,
    verify_audit_chain,
)
from capturerig.subjects._records import (
    SCREENING_RESULTS,
    ConsentRecord,
    ConsentScope,
    GuardianRecord,
    LineageRecord,
    RegistryError,
    Revocation,
    ScreeningRecord,
    SessionRecord,
    SubjectRecord,
    check_id,
    check_sha256,
    parse_age_band,
)

__all__ = ["AuditReport", "RegistryMissing", "SubjectRegistry"]

ADULT_AGE = 18
SCHEMA_VERSION = "1"

# table -> (key column, columns); every table is append-only.
_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "subjects": ("subject_id", ("subject_id", "age_band", "minor", "recorded_at")),
    "guardians": ("guardian_id", ("guardian_id", "subject_id", "relationship", "document_sha256", "recorded_at")),
    "consents": ("consent_id", ("consent_id", "subject_id", "document_sha256", "purposes", "media", "licensees",
                                "territories", "starts", "expires", "guardian_id", "compensation_ref",
                                "recorded_at")),
    "screenings": ("screening_id", ("screening_id", "subject_id", "result", "max_flashes_per_s", "screened_by",
                                    "screened_on", "recorded_at")),
    "revocations": ("revocation_id", ("revocation_id", "subject_id", "consent_id", "reason", "revoked_at")),
    "sessions": ("session_id", ("session_id", "subject_id", "consent_id", "purpose", "path", "recorded_at")),
    "lineage": ("package_id", ("package_id", "kind", "session_id", "subject_id", "consent_id", "path",
                               "destination", "recorded_at")),
}


def _schema() -> str:
    parts = ["CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"]
    for table, (key, columns) in _TABLES.items():
        body = ", ".join(f"{c} TEXT NOT NULL PRIMARY KEY" if c == key else f"{c} TEXT" for c in columns)
        parts.append(f"CREATE TABLE IF NOT EXISTS {table} ({body});")
        for verb in ("UPDATE", "DELETE"):
            parts.append(f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                         f"BEGIN SELECT RAISE(ABORT, '{table} records are append-only'); END;")
    return "\n".join(parts)


class RegistryMissing(FileNotFoundError):
    """There is no subject registry at the given path (the message says how to make one)."""


@dataclass(frozen=True)
class AuditReport:
    """The result of checking the audit chain and every record against the hash logged when it was written."""

    problems: tuple[AuditProblem, ...]
    head_hash: str
    entries: int

    @property
    def intact(self) -> bool:
        return not self.problems


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


def _words(values: Iterable[str], what: str) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(v.strip() for v in values if v.strip()))
    for value in cleaned:
        check_id(value, what)
    return cleaned


class SubjectRegistry:
    """Subjects, guardians, consents, screenings, revocations, sessions, lineage and the audit log.

    Open with :meth:`open`; use as a context manager or call :meth:`close`. Writes from several processes
    are serialised by SQLite (a writer waits up to 30 s).
    """

    def __init__(self, path: Path, db: sqlite3.Connection, actor: str) -> None:
        self.path = path
        self.actor = actor
        self._db = db

    @classmethod
    def open(cls, path: str | Path, create: bool = False, actor: str | None = None) -> SubjectRegistry:
        """Open the registry at ``path``; ``create`` makes a new one there when none exists.

        Raises
        ------
        RegistryMissing
            When there is none and ``create`` is False.
        """
        path = Path(path)
        if not path.is_file():
            if not create:
                raise RegistryMissing(f"no subject registry at {path}: register the subject first with "
                                      f"`capturerig subjects add SUBJECT_ID --age-band 25-34 --registry {path}`")
            path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise RegistryError(f"{path} is not a subject registry (SQLite says: {exc})") from exc
        registry = cls(path, db, actor or _operator())
        if create:
            db.executescript(_schema())  # DDL first: executescript commits, so it runs outside the transaction
            create_audit_table(db)
            with registry._transaction():
                if db.execute("SELECT value FROM meta WHERE key='registry_id'").fetchone() is None:
                    registry_id = f"R-{uuid.uuid4().hex[:12]}"
                    db.execute("INSERT INTO meta VALUES ('registry_id', ?), ('schema', ?)",
                               (registry_id, SCHEMA_VERSION))
                    append_audit(db, "registry created", "", {"registry_id": registry_id}, registry.actor)
        elif db.execute("SELECT name FROM sqlite_master WHERE name='meta'").fetchone() is None:
            db.close()
            raise RegistryError(f"{path} is not a capturerig subject registry (no meta table)")
        return registry

    def __enter__(self) -> SubjectRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @property
    def registry_id(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key='registry_id'").fetchone()
        return str(row[0])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _insert(self, table: str, row: Mapping[str, Any], action: str, detail: Mapping[str, Any]) -> None:
        key, columns = _TABLES[table]
        values = {c: row.get(c) for c in columns}
        stored = {c: None if v is None else str(v) for c, v in values.items()}
        with self._transaction() as db:
            if db.execute(f"SELECT 1 FROM {table} WHERE {key} = ?", (stored[key],)).fetchone():
                raise RegistryError(f"{table[:-1]} '{stored[key]}' is already in the registry {self.path}")
            db.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                       tuple(stored.values()))
            record_ref = {"table": table, "key": stored[key], "record_sha256": row_digest(stored)}
            append_audit(db, action, str(stored.get("subject_id") or ""), {**detail, **record_ref}, self.actor)

    def log(self, action: str, subject_id: str, detail: Mapping[str, Any]) -> AuditEntry:
        """Append an audit entry that records an event rather than a registry row (a refusal, a purge ...)."""
        with self._transaction() as db:
            return append_audit(db, action, subject_id, detail, self.actor)

    # --- subjects and guardians -------------------------------------------------------------------------

    def add_subject(self, subject_id: str, age_band: str, minor: bool | None = None) -> SubjectRecord:
        """Register a pseudonymous subject; ``minor`` defaults to the age band ending below 18."""
        check_id(subject_id, "subject id")
        low, high = parse_age_band(age_band)
        is_minor = (high is not None and high < ADULT_AGE) if minor is None else minor
        if minor is False and low < ADULT_AGE:
            raise RegistryError(f"age band '{age_band}' includes ages under {ADULT_AGE}: a subject who may be a "
                                "minor is recorded as one (leave out --adult)")
        record = SubjectRecord(subject_id, age_band.strip(), is_minor, _now())
        self._insert("subjects", {**record.__dict__, "minor": int(is_minor)}, "subject added",
                     {"age_band": record.age_band, "minor": is_minor})
        return record

    def subject(self, subject_id: str) -> SubjectRecord:
        row = self._db.execute("SELECT subject_id, age_band, minor, recorded_at FROM subjects WHERE subject_id = ?",
                               (subject_id,)).fetchone()
        if row is None:
            raise RegistryError(f"subject '{subject_id}' is not in the registry {self.path}: add them with "
                                f"`capturerig subjects add {subject_id} --age-band BAND --registry {self.path}`")
        return SubjectRecord(row[0], row[1], row[2] == "1", row[3])

    def subject_ids(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT subject_id FROM subjects ORDER BY subject_id")]

    def add_guardian(self, subject_id: str, guardian_id: str, relationship: str,
                     document_sha256: str) -> GuardianRecord:
        """Record a minor's guardian and the sha256 of the consent the guardian signed."""
        self.subject(subject_id)
        check_id(guardian_id, "guardian id")
        if not relationship.strip():
            raise RegistryError("a guardian needs a relationship (parent, legal guardian ...)")
        record = GuardianRecord(guardian_id, subject_id, relationship.strip(),
                                check_sha256(document_sha256, "guardian document sha256"), _now())
        self._insert("guardians", record.__dict__, "guardian added", {"guardian_id": guardian_id})
        return record

    def guardians(self, subject_id: str) -> list[GuardianRecord]:
        rows = self._db.execute("SELECT guardian_id, subject_id, relationship, document_sha256, recorded_at "
                                "FROM guardians WHERE subject_id = ? ORDER BY recorded_at", (subject_id,))
        return [GuardianRecord(*row) for row in rows]

    # --- consents, screenings, revocations ------------------------------------------------------------------

    def add_consent(self, subject_id: str, document_sha256: str, purposes: Sequence[str],
                    starts: datetime.date, expires: datetime.date, *, media: Sequence[str] = (),
                    licensees: Sequence[str] = (), territories: Sequence[str] = (), guardian_id: str | None = None,
                    compensation_ref: str = "", consent_id: str | None = None) -> ConsentRecord:
        """Record a signed consent (the document itself stays outside the registry and every package)."""
        subject = self.subject(subject_id)
        scope = ConsentScope(_words(purposes, "purpose"), _words(media, "medium"), _words(licensees, "licensee"),
                             _words(territories, "territory"))
        if not scope.purposes:
            raise RegistryError("a consent needs at least one purpose (what the capture may be used for)")
        if expires < starts:
            raise RegistryError(f"a consent cannot expire ({expires}) before it starts ({starts})")
        if guardian_id is not None and guardian_id not in {g.guardian_id for g in self.guardians(subject_id)}:
            raise RegistryError(f"guardian '{guardian_id}' is not recorded for subject '{subject_id}': add them "
                                f"with `capturerig subjects guardian {subject_id} {guardian_id} ...`")
        if guardian_id is not None and not subject.minor:
            raise RegistryError(f"subject '{subject_id}' is an adult: their consent is their own (no guardian)")
        record = ConsentRecord(consent_id or f"C-{uuid.uuid4().hex[:12]}", subject_id,
                               check_sha256(document_sha256, "consent document sha256"), scope, starts, expires,
                               guardian_id, compensation_ref.strip(), _now())
        check_id(record.consent_id, "consent id")
        row = {**record.__dict__, "purposes": canonical_json(scope.purposes), "media": canonical_json(scope.media),
               "licensees": canonical_json(scope.licensees), "territories": canonical_json(scope.territories)}
        self._insert("consents", row, "consent recorded",
                     {"consent_id": record.consent_id, "purposes": scope.purposes, "starts": starts.isoformat(),
                      "expires": expires.isoformat(), "document_sha256": record.document_sha256})
        return record

    def consents(self, subject_id: str) -> list[ConsentRecord]:
        rows = self._db.execute("SELECT consent_id, subject_id, document_sha256, purposes, media, licensees, "
                                "territories, starts, expires, guardian_id, compensation_ref, recorded_at "
                                "FROM consents WHERE subject_id = ? ORDER BY recorded_at, consent_id", (subject_id,))
        return [ConsentRecord(r[0], r[1], r[2], ConsentScope(*(tuple(json.loads(r[i])) for i in range(3, 7))),
                              datetime.date.fromisoformat(r[7]), datetime.date.fromisoformat(r[8]), r[9], r[10] or "",
                              r[11]) for r in rows]

    def consent(self, consent_id: str) -> ConsentRecord:
        row = self._db.execute("SELECT subject_id FROM consents WHERE consent_id = ?", (consent_id,)).fetchone()
        if row is None:
            raise RegistryError(f"consent '{consent_id}' is not in the registry {self.path}")
        return next(c for c in self.consents(row[0]) if c.consent_id == consent_id)

    def add_screening(self, subject_id: str, result: str, max_flashes_per_s: int, screened_by: str,
                      screened_on: datetime.date) -> ScreeningRecord:
        """Record a photosensitivity screening; the latest one backs a plan's photosensitivity_override."""
        self.subject(subject_id)
        if result not in SCREENING_RESULTS:
            raise RegistryError(f"screening result '{result}' is not one of {', '.join(SCREENING_RESULTS)}")
        if not 0 <= max_flashes_per_s <= 60:
            raise RegistryError(f"max flashes per second {max_flashes_per_s} is outside 0..60")
        if not screened_by.strip():
            raise RegistryError("a screening needs who screened (a clinician or their role)")
        record = ScreeningRecord(f"X-{uuid.uuid4().hex[:12]}", subject_id, result, max_flashes_per_s,
                                 screened_by.strip(), screened_on, _now())
        self._insert("screenings", record.__dict__, "screening recorded",
                     {"result": result, "max_flashes_per_s": max_flashes_per_s,
                      "screened_on": screened_on.isoformat()})
        return record

    def latest_screening(self, subject_id: str) -> ScreeningRecord | None:
        row = self._db.execute("SELECT screening_id, subject_id, result, max_flashes_per_s, screened_by, "
                               "screened_on, recorded_at FROM screenings WHERE subject_id = ? "
                               "ORDER BY recorded_at DESC, rowid DESC LIMIT 1", (subject_id,)).fetchone()
        if row is None:
            return None
        return ScreeningRecord(row[0], row[1], row[2], int(row[3]), row[4], datetime.date.fromisoformat(row[5]),
                               row[6])

    def revoke(self, subject_id: str, reason: str, consent_id: str | None = None) -> list[Revocation]:
        """Revoke one consent, or every consent of the subject not yet revoked; returns the new revocations."""
        revoked = self.revocations(subject_id)
        targets = [c.consent_id for c in self.consents(subject_id)
                   if c.consent_id not in revoked and consent_id in (None, c.consent_id)]
        if consent_id is not None and not targets:
            raise RegistryError(f"consent '{consent_id}' of subject '{subject_id}' is unknown or already revoked")
        made = []
        for target in targets:
            revocation = Revocation(f"V-{uuid.uuid4().hex[:12]}", subject_id, target, reason.strip(), _now())
            self._insert("revocations", revocation.__dict__, "consent revoked",
                         {"consent_id": target, "reason": revocation.reason})
            made.append(revocation)
        return made

    def revocations(self, subject_id: str) -> dict[str, Revocation]:
        rows = self._db.execute("SELECT revocation_id, subject_id, consent_id, reason, revoked_at FROM revocations "
                                "WHERE subject_id = ?", (subject_id,))
        return {row[2]: Revocation(*row) for row in rows}

    # --- sessions and lineage -------------------------------------------------------------------------------

    def record_session(self, session_id: str, subject_id: str, consent_id: str, purpose: str,
                       path: Path) -> SessionRecord:
        record = SessionRecord(session_id, subject_id, consent_id, purpose, str(Path(path).resolve()), _now())
        self._insert("sessions", record.__dict__, "session started",
                     {"session_id": session_id, "consent_id": consent_id, "purpose": purpose, "path": record.path})
        return record

    def sessions(self, subject_id: str) -> list[SessionRecord]:
        rows = self._db.execute("SELECT session_id, subject_id, consent_id, purpose, path, recorded_at FROM sessions "
                                "WHERE subject_id = ? ORDER BY recorded_at", (subject_id,))
        return [SessionRecord(*row) for row in rows]

    def record_lineage(self, kind: str, session_id: str, subject_id: str, consent_id: str, path: str,
                       destination: str = "", package_id: str | None = None) -> LineageRecord:
        """Record a package made in the studio (``package``) or a copy sent out of it (``export``)."""
        if kind not in ("package", "export"):
            raise RegistryError(f"lineage kind '{kind}' is not package or export")
        record = LineageRecord(package_id or f"P-{uuid.uuid4().hex[:12]}", kind, session_id, subject_id, consent_id,
                               path, destination, _now())
        self._insert("lineage", record.__dict__, f"{kind} recorded",
                     {"package_id": record.package_id, "session_id": session_id, "path": path,
                      "destination": destination})
        return record

    def lineage(self, subject_id: str) -> list[LineageRecord]:
        rows = self._db.execute("SELECT package_id, kind, session_id, subject_id, consent_id, path, destination, "
                                "recorded_at FROM lineage WHERE subject_id = ? ORDER BY recorded_at", (subject_id,))
        return [LineageRecord(*row) for row in rows]

    # --- the audit ---------------------------------------------------------------------------------------------

    def head_hash(self) -> str:
        """The newest audit entry's hash (what a package's lineage ties itself to)."""
        row = self._db.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return str(row[0]) if row else ""

    def audit(self, subject_id: str | None = None) -> list[AuditEntry]:
        return audit_entries(self._db, subject_id)

    def verify(self) -> AuditReport:
        """Check the audit chain, and every record against the sha256 logged when it was written."""
        problems, head = verify_audit_chain(self._db)
        entries = audit_entries(self._db)
        logged: dict[tuple[str, str], tuple[int, str]] = {}
        for entry in entries:
            if "table" in entry.detail and "record_sha256" in entry.detail:
                logged[(str(entry.detail["table"]), str(entry.detail["key"]))] = (entry.seq,
                                                                                 str(entry.detail["record_sha256"]))
        for table, (key, columns) in _TABLES.items():
            seen = set()
            for values in self._db.execute(f"SELECT {', '.join(columns)} FROM {table}"):
                row = dict(zip(columns, values, strict=True))
                seen.add(row[key])
                found = logged.get((table, row[key]))
                if found is None:
                    problems.append(AuditProblem(None, f"{table} record {row[key]} is in no audit entry: it was "
                                                       "written behind the registry's back"))
                elif row_digest(row) != found[1]:
                    problems.append(AuditProblem(found[0], f"{table} record {row[key]} was edited after audit "
                                                           f"entry {found[0]} logged it"))
            for (logged_table, logged_key), (seq, _) in logged.items():
                if logged_table == table and logged_key not in seen:
                    problems.append(AuditProblem(seq, f"{table} record {logged_key} (audit entry {seq}) was "
                                                      "deleted"))
        return AuditReport(tuple(problems), head, len(entries))

