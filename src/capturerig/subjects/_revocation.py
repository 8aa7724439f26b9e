"""Revocation reaches every copy in the studio; purge removes them and says which copies left the studio."""

from __future__ import annotations

import datetime
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from capturerig.subjects._provenance import REVOKED_MARKER, read_package_consent
from capturerig.subjects._records import LineageRecord, RegistryError, Revocation
from capturerig.subjects._registry import SubjectRegistry

__all__ = ["PurgeReport", "RevocationReport", "purge_subject", "record_export", "revoke_subject"]

SESSION_FILE = "session.json"  # the engine's session folder marker (engine/_session.py)


@dataclass(frozen=True)
class RevocationReport:
    revocations: list[Revocation]
    marked: list[Path] = field(default_factory=list)  # session and package folders now carrying the marker
    missing: list[str] = field(default_factory=list)  # recorded folders no longer where they were


@dataclass(frozen=True)
class PurgeReport:
    removed: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # folders that did not prove to be this subject's
    exports: list[LineageRecord] = field(default_factory=list)  # copies outside the studio: tell their holders


def _write_marker(folder: Path, subject_id: str, revocations: list[Revocation]) -> None:
    marker = {"subject_id": subject_id, "consent_ids": [r.consent_id for r in revocations],
              "revocation_ids": [r.revocation_id for r in revocations],
              "revoked_at": revocations[0].revoked_at if revocations else "",
              "note": "consent withdrawn: do not use or share; `capturerig purge` removes this folder"}
    path = folder / REVOKED_MARKER
    with path.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(marker, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def revoke_subject(registry_path: str | Path, subject_id: str, reason: str,
                   consent_id: str | None = None) -> RevocationReport:
    """Revoke the subject's consent (one, or all) and mark every session and package made under it."""
    with SubjectRegistry.open(registry_path) as registry:
        registry.subject(subject_id)
        made = registry.revoke(subject_id, reason, consent_id)
        revoked = set(registry.revocations(subject_id))
        folders = [(s.path, s.consent_id) for s in registry.sessions(subject_id)]
        folders += [(p.path, p.consent_id) for p in registry.lineage(subject_id) if p.kind == "package"]
        marked, missing = [], []
        for path, used_consent in folders:
            if used_consent not in revoked:
                continue
            folder = Path(path)
            if folder.is_dir():
                _write_marker(folder, subject_id, [r for r in registry.revocations(subject_id).values()
                                                   if r.consent_id == used_consent])
                marked.append(folder)
            else:
                missing.append(path)
        registry.log("revocation marked", subject_id, {"marked": [str(p) for p in marked], "missing": missing})
    return RevocationReport(made, marked, missing)


def record_export(registry_path: str | Path, package_dir: str | Path, destination: str) -> LineageRecord:
    """Record that a copy of a package left the studio (to ``destination``), so purge can list it."""
    consent = read_package_consent(package_dir)
    if consent is None:
        raise RegistryError(f"{package_dir} has no provenance/consent.json: it is not a capturerig package")
    lineage_file = Path(package_dir) / "data" / "provenance" / "lineage.json"
    session_id = ""
    if lineage_file.is_file():
        session_id = str(json.loads(lineage_file.read_text(encoding="utf-8")).get("session_id", ""))
    with SubjectRegistry.open(registry_path) as registry:
        return registry.record_lineage("export", session_id, str(consent["subject_id"]), str(consent["consent_id"]),
                                       str(Path(package_dir).resolve()), destination)


def _is_subjects_session(folder: Path, subject_id: str) -> bool:
    info = folder / SESSION_FILE
    return info.is_file() and json.loads(info.read_text(encoding="utf-8")).get("subject_id") == subject_id


def _is_subjects_package(folder: Path, subject_id: str) -> bool:
    consent = read_package_consent(folder)
    return consent is not None and consent.get("subject_id") == subject_id


def purge_subject(registry_path: str | Path, subject_id: str) -> PurgeReport:
    """Delete the subject's session folders (raw captures) and packages from studio storage.

    A folder is removed only when its own session.json or consent.json names the subject (a moved or
    reused path is never deleted by mistake). Registry records stay: they prove consent and its withdrawal
    and hold pseudonymous ids only. The purge is audited; the report lists the exports to chase.
    """
    report = PurgeReport()
    with SubjectRegistry.open(registry_path) as registry:
        registry.subject(subject_id)
        targets = [(Path(s.path), _is_subjects_session) for s in registry.sessions(subject_id)]
        targets += [(Path(p.path), _is_subjects_package) for p in registry.lineage(subject_id) if p.kind == "package"]
        for folder, belongs in targets:
            if not folder.is_dir():
                report.missing.append(str(folder))
            elif belongs(folder, subject_id):
                shutil.rmtree(folder)
                report.removed.append(folder)
            else:
                report.skipped.append(f"{folder}: its own files do not name subject {subject_id}; left in place")
        report.exports.extend(p for p in registry.lineage(subject_id) if p.kind == "export")
        registry.log("subject purged", subject_id, {
            "removed": [str(p) for p in report.removed], "missing": report.missing, "skipped": report.skipped,
            "exports": [{"package_id": e.package_id, "destination": e.destination} for e in report.exports],
            "on": datetime.date.today().isoformat()})
    return report
