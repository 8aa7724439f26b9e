"""Package provenance (ids and hashes, no names), revocation markers, verify's consent check, purge."""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

import pytest

from capturerig.subjects import (
    REVOKED_MARKER,
    ConsentRefused,
    SubjectRegistry,
    consent_status_for_package,
    minor_age_disclosure,
    package_provenance,
    purge_subject,
    record_export,
    revoke_subject,
)

TODAY = datetime.date.today()
DAY = datetime.timedelta(days=1)
PLUS = "http://ns.useplus.org/ldf/vocab/"


def _studio(tmp_path: Path) -> tuple[Path, Path]:
    """A registry with one consenting subject and a session folder recorded under that consent."""
    registry = tmp_path / "subjects.sqlite"
    session = tmp_path / "sessions" / "S-20261127-P-7"
    session.mkdir(parents=True)
    (session / "session.json").write_text(json.dumps({"session_id": "S-20261127-P-7", "subject_id": "P-7"}))
    (session / "images").mkdir()
    (session / "images" / "cam00.jpg").write_bytes(b"raw capture")
    with SubjectRegistry.open(registry, create=True) as opened:
        opened.add_subject("P-7", "18-24")
        consent = opened.add_consent("P-7", hashlib.sha256(b"signed").hexdigest(), ["capture", "ml-training"],
                                     TODAY - DAY, TODAY + 90 * DAY, media=["images"], licensees=["lab-b"],
                                     territories=["EU"], compensation_ref="PAY-17")
        opened.record_session("S-20261127-P-7", "P-7", consent.consent_id, "capture", session)
    return registry, session


def _package(tmp_path: Path, registry: Path, name: str = "pkg") -> Path:
    """What the package writer does with the provenance: its files go under the bag's data/."""
    package = tmp_path / "packages" / name
    provenance = package_provenance(registry, "P-7", "S-20261127-P-7", "capture", package_path=package,
                                    capture={"rig": "sim-studio", "plan": "sim-demo"})
    for relative, content in provenance.files.items():
        (package / "data" / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / "data" / relative).write_bytes(content)
    return package


def test_provenance_holds_ids_hashes_and_scope_and_no_names(tmp_path: Path) -> None:
    registry, _ = _studio(tmp_path)
    provenance = package_provenance(registry, "P-7", "S-20261127-P-7", "capture", package_path=tmp_path / "pkg")
    consent = json.loads(provenance.files["provenance/consent.json"])
    lineage = json.loads(provenance.files["provenance/lineage.json"])
    assert consent["consent_id"] == provenance.consent_id
    assert consent["subject_id"] == "P-7"
    assert consent["document_sha256"] == hashlib.sha256(b"signed").hexdigest()
    assert consent["scope"] == {"purposes": ["capture", "ml-training"], "media": ["images"],
                                "licensees": ["lab-b"], "territories": ["EU"]}
    assert consent["expires"] == (TODAY + 90 * DAY).isoformat()
    assert consent["minor"] is False
    assert lineage["package_id"] == provenance.package_id
    assert lineage["session_id"] == "S-20261127-P-7"
    assert len(lineage["audit_head_sha256"]) == 64
    assert provenance.xmp == {
        "plus:ModelReleaseStatus": f"{PLUS}MR-LMR", "plus:ModelReleaseID": provenance.consent_id,
        "plus:MinorModelAgeDisclosure": f"{PLUS}AG-UNK",  # 18-24 spans ages: no single age to disclose
        "Iptc4xmpExt:DigitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}
    with SubjectRegistry.open(registry) as opened:
        (row,) = opened.lineage("P-7")
    assert row.package_id == provenance.package_id
    assert row.path == str((tmp_path / "pkg").resolve())


@pytest.mark.parametrize(("band", "code"), [("35+", "AG-A25"), ("25-34", "AG-A25"), ("17", "AG-A17"),
                                            ("13-14", "AG-U14"), ("15-17", "AG-UNK")])
def test_minor_model_age_disclosure_follows_plus(band: str, code: str) -> None:
    assert minor_age_disclosure(band) == PLUS + code


def test_no_provenance_for_a_purpose_outside_the_scope_or_after_revocation(tmp_path: Path) -> None:
    registry, _ = _studio(tmp_path)
    with pytest.raises(ConsentRefused, match="does not cover the purpose 'advertising'"):
        package_provenance(registry, "P-7", "S-20261127-P-7", "advertising", package_path=tmp_path / "p")
    revoke_subject(registry, "P-7", "withdrawn")
    with pytest.raises(ConsentRefused, match=r"no package of session S-20261127-P-7: .* was revoked"):
        package_provenance(registry, "P-7", "S-20261127-P-7", "capture", package_path=tmp_path / "p")


def test_verify_check_passes_then_fails_on_expiry_and_on_revocation(tmp_path: Path) -> None:
    registry, _ = _studio(tmp_path)
    package = _package(tmp_path, registry)
    assert consent_status_for_package(package, registry).ok
    (expired,) = consent_status_for_package(package, registry, today=TODAY + 91 * DAY).problems
    assert f"expired on {TODAY + 90 * DAY}" in expired
    (package / REVOKED_MARKER).unlink(missing_ok=True)
    with SubjectRegistry.open(registry) as opened:
        opened.revoke("P-7", "withdrawn")  # in the registry only: no marker written
    (revoked,) = consent_status_for_package(package, registry).problems
    assert "was revoked on" in revoked
    (missing,) = consent_status_for_package(tmp_path).problems
    assert "no provenance/consent.json" in missing


def test_revoke_marks_every_session_and_package_then_purge_removes_them(tmp_path: Path) -> None:
    registry, session = _studio(tmp_path)
    package = _package(tmp_path, registry)
    record_export(registry, package, "render-farm-b (sftp)")
    report = revoke_subject(registry, "P-7", "subject withdrew by email")
    assert set(report.marked) == {session.resolve(), package.resolve()}
    assert json.loads((package / REVOKED_MARKER).read_text())["subject_id"] == "P-7"
    assert not consent_status_for_package(package, registry).ok

    purged = purge_subject(registry, "P-7")
    assert not session.exists()
    assert not package.exists()
    assert [e.destination for e in purged.exports] == ["render-farm-b (sftp)"]
    with SubjectRegistry.open(registry) as opened:
        last = opened.audit("P-7")[-1]
        assert opened.verify().intact
    assert last.action == "subject purged"
    assert set(last.detail["removed"]) == {str(session.resolve()), str(package.resolve())}


def test_purge_never_deletes_a_folder_that_does_not_name_the_subject(tmp_path: Path) -> None:
    registry, session = _studio(tmp_path)
    (session / "session.json").write_text(json.dumps({"session_id": "X", "subject_id": "P-other"}))
    purged = purge_subject(registry, "P-7")
    assert session.is_dir()
    assert purged.removed == []
    assert "do not name subject P-7; left in place" in purged.skipped[0]


def test_an_objects_package_says_no_release_applies_and_passes_the_consent_check(tmp_path: Path) -> None:
    provenance = package_provenance("", "board-charuco", "S-cal", "calibration", package_path=tmp_path / "pkg",
                                    person=False)
    assert provenance.xmp["plus:ModelReleaseStatus"] == f"{PLUS}MR-NAP"
    assert "plus:ModelReleaseID" not in provenance.xmp
    for relative, content in provenance.files.items():
        (tmp_path / "pkg" / "data" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / "data" / relative).write_bytes(content)
    assert consent_status_for_package(tmp_path / "pkg").ok
