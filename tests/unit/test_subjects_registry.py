"""The subject registry: what it accepts, what it refuses, and an audit log that shows any tampering."""

from __future__ import annotations

import datetime
import hashlib
import sqlite3
from pathlib import Path

import pytest

from capturerig.subjects import RegistryError, RegistryMissing, SubjectRegistry

TODAY = datetime.date.today()
DOC = hashlib.sha256(b"signed consent").hexdigest()


def _registry(tmp_path: Path) -> SubjectRegistry:
    registry = SubjectRegistry.open(tmp_path / "subjects.sqlite", create=True, actor="tester")
    registry.add_subject("P-001", "25-34")
    registry.add_consent("P-001", DOC, ["capture", "ml-training"], TODAY, TODAY + datetime.timedelta(days=30),
                         media=["images"], licensees=["studio-a"], territories=["EU"], compensation_ref="INV-7")
    return registry


def test_a_missing_registry_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(RegistryMissing, match="capturerig subjects add SUBJECT_ID --age-band"):
        SubjectRegistry.open(tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()


def test_records_round_trip_with_scope_and_dates(tmp_path: Path) -> None:
    with _registry(tmp_path) as registry:
        (consent,) = registry.consents("P-001")
        assert consent.scope.purposes == ("capture", "ml-training")
        assert consent.scope.territories == ("EU",)
        assert consent.expires == TODAY + datetime.timedelta(days=30)
        assert consent.document_sha256 == DOC
        assert consent.compensation_ref == "INV-7"
        assert registry.subject("P-001").minor is False


@pytest.mark.parametrize(("band", "minor"), [("13-15", True), ("17", True), ("18-24", False), ("35+", False)])
def test_age_band_decides_the_minor_flag(tmp_path: Path, band: str, minor: bool) -> None:
    with SubjectRegistry.open(tmp_path / "r.sqlite", create=True) as registry:
        assert registry.add_subject("K-1", band).minor is minor


def test_bad_input_is_refused_with_what_and_why(tmp_path: Path) -> None:
    with _registry(tmp_path) as registry:
        with pytest.raises(RegistryError, match=r"subject id 'Jane Doe' is not valid.*never a name"):
            registry.add_subject("Jane Doe", "25-34")
        with pytest.raises(RegistryError, match="age band 'adult' is not valid"):
            registry.add_subject("P-002", "adult")
        with pytest.raises(RegistryError, match="includes ages under 18"):
            registry.add_subject("P-002", "16-20", minor=False)
        with pytest.raises(RegistryError, match="is already in the registry"):
            registry.add_subject("P-001", "25-34")
        with pytest.raises(RegistryError, match=r"cannot expire .* before it starts"):
            registry.add_consent("P-001", DOC, ["capture"], TODAY, TODAY - datetime.timedelta(days=1))
        with pytest.raises(RegistryError, match="not a sha256"):
            registry.add_consent("P-001", "abc", ["capture"], TODAY, TODAY)
        with pytest.raises(RegistryError, match="subject 'P-404' is not in the registry"):
            registry.add_consent("P-404", DOC, ["capture"], TODAY, TODAY)
        with pytest.raises(RegistryError, match="guardian 'G-9' is not recorded"):
            registry.add_consent("P-001", DOC, ["capture"], TODAY, TODAY, guardian_id="G-9")


def test_records_cannot_be_updated_or_deleted_through_sqlite(tmp_path: Path) -> None:
    _registry(tmp_path).close()
    with sqlite3.connect(tmp_path / "subjects.sqlite") as db:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE consents SET expires = '2099-01-01'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM audit")


def test_an_intact_registry_passes_the_audit(tmp_path: Path) -> None:
    with _registry(tmp_path) as registry:
        registry.revoke("P-001", "withdrawn by the subject")
        report = registry.verify()
        assert report.intact, report.problems
        actions = [entry.action for entry in registry.audit()]
    assert actions == ["registry created", "subject added", "consent recorded", "consent revoked"]
    assert len(report.head_hash) == 64


def _tamper(path: Path, *statements: str) -> None:
    """What someone with the SQLite file would do: drop the guard triggers, then edit."""
    with sqlite3.connect(path) as db:
        for trigger in [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]:
            db.execute(f"DROP TRIGGER {trigger}")
        for statement in statements:
            db.execute(statement)


def test_the_audit_detects_an_edited_audit_row(tmp_path: Path) -> None:
    _registry(tmp_path).close()
    _tamper(tmp_path / "subjects.sqlite", "UPDATE audit SET detail = replace(detail, 'ml-training', 'advertising') "
                                          "WHERE action = 'consent recorded'")
    with SubjectRegistry.open(tmp_path / "subjects.sqlite") as registry:
        messages = [p.message for p in registry.verify().problems]
    assert any("entry 3 (consent recorded, subject P-001) was edited" in m for m in messages), messages


def test_the_audit_detects_a_deleted_audit_row(tmp_path: Path) -> None:
    _registry(tmp_path).close()
    _tamper(tmp_path / "subjects.sqlite", "DELETE FROM audit WHERE seq = 2")
    with SubjectRegistry.open(tmp_path / "subjects.sqlite") as registry:
        messages = [p.message for p in registry.verify().problems]
    assert any("entries 2..2 are missing" in m for m in messages), messages
    assert any("subjects record P-001 is in no audit entry" in m for m in messages), messages


def test_the_audit_detects_a_consent_extended_behind_its_back(tmp_path: Path) -> None:
    _registry(tmp_path).close()
    _tamper(tmp_path / "subjects.sqlite", "UPDATE consents SET expires = '2099-12-31'")
    with SubjectRegistry.open(tmp_path / "subjects.sqlite") as registry:
        (problem,) = registry.verify().problems
    assert "consents record C-" in problem.message
    assert "was edited after audit entry 3" in problem.message


def test_the_audit_detects_a_deleted_revocation(tmp_path: Path) -> None:
    with _registry(tmp_path) as registry:
        registry.revoke("P-001", "withdrawn")
    _tamper(tmp_path / "subjects.sqlite", "DELETE FROM revocations")
    with SubjectRegistry.open(tmp_path / "subjects.sqlite") as registry:
        (problem,) = registry.verify().problems
    assert "revocations record V-" in problem.message
    assert "was deleted" in problem.message


def test_a_file_that_is_no_registry_is_named(tmp_path: Path) -> None:
    not_sqlite = tmp_path / "notes.sqlite"
    not_sqlite.write_text("these are not the records you are looking for\n" * 20)
    with pytest.raises(RegistryError, match=r"notes\.sqlite is not a subject registry"):
        SubjectRegistry.open(not_sqlite)
