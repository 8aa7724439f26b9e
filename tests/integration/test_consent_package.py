"""A real session and package carry the consent; revocation reaches them; purge removes them and is audited."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

import capturerig
from capturerig import RunState, Session
from capturerig.subjects import (
    REVOKED_MARKER,
    SubjectRegistry,
    consent_status_for_package,
    enrol_demo_subject,
    purge_subject,
    revoke_subject,
)

EXIFTOOL = "/usr/bin/exiftool"


def _one_take_plan(studio_files: Path) -> Path:
    plan = studio_files / "plan.yaml"
    text = plan.read_text().replace("  - {id: s01, angle_deg: 90}\n", "")
    plan.write_text(re.sub(r"  - id: l01\n.*?(?=brackets:)", "", text, flags=re.S))
    return plan


@pytest.mark.usefixtures("fast_sim")
def test_package_provenance_exiftool_then_revoke_verify_and_purge(studio_files: Path, tmp_path: Path) -> None:
    registry = enrol_demo_subject(tmp_path / "studio" / "subjects.sqlite", "P-42").registry_path
    rig = capturerig.load_rig(studio_files / "rig.yaml")
    session = Session.create(rig, capturerig.load_plan(_one_take_plan(studio_files), rig), "P-42",
                             tmp_path / "sessions" / "P-42", purpose="demo", registry=registry)
    assert session.run().state == RunState.DONE
    session.close()
    info = session.folder.info

    package_dir = tmp_path / "packages" / "P-42"
    capturerig.package_session(session.path, package_dir)  # checks consent again and records the package
    consent = json.loads((package_dir / "data" / "provenance" / "consent.json").read_text())
    assert consent["consent_id"] == info.consent_id
    assert consent["purpose"] == "demo"
    assert "name" not in json.dumps(consent).lower()

    sidecar = next(package_dir.rglob("*.xmp"))
    read = subprocess.run([EXIFTOOL, "-j", "-XMP-plus:all", "-XMP-iptcExt:DigitalSourceType", str(sidecar)],
                          capture_output=True, text=True, timeout=60, check=True)
    (tags,) = json.loads(read.stdout)
    assert tags["ModelReleaseStatus"] == "Limited or Incomplete Model Releases"
    assert tags["ModelReleaseID"] == info.consent_id
    assert tags["MinorModelAgeDisclosure"] == "Age 25 or Over"
    assert tags["DigitalSourceType"] == "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    assert consent_status_for_package(package_dir, registry).ok

    revoked = revoke_subject(registry, "P-42", "the subject withdrew")
    assert {session.path.resolve(), package_dir.resolve()} <= set(revoked.marked)
    assert (package_dir / REVOKED_MARKER).is_file()
    (problem,) = consent_status_for_package(package_dir, registry).problems
    assert f"consent {info.consent_id} was revoked" in problem

    purged = purge_subject(registry, "P-42")
    assert not session.path.exists()
    assert not package_dir.exists()
    with SubjectRegistry.open(registry) as opened:
        entry = opened.audit("P-42")[-1]
        assert opened.verify().intact
    assert entry.action == "subject purged"
    assert str(package_dir.resolve()) in entry.detail["removed"]
    assert purged.exports == []
