"""No capture without valid consent: each refusal says why and what to do, and nothing is written."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import capturerig
from capturerig import ConsentRefused, Session
from capturerig.cli import app
from capturerig.config import LoadedPlan, LoadedRig
from capturerig.subjects import SubjectRegistry

TODAY = datetime.date.today()
DAY = datetime.timedelta(days=1)
DOC = hashlib.sha256(b"signed consent").hexdigest()
runner = CliRunner()


@pytest.fixture
def studio(studio_files: Path) -> tuple[LoadedRig, LoadedPlan]:
    rig = capturerig.load_rig(studio_files / "rig.yaml")
    return rig, capturerig.load_plan(studio_files / "plan.yaml", rig)


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "subjects.sqlite"
    with SubjectRegistry.open(path, create=True) as opened:
        opened.add_subject("P-adult", "25-34")
        opened.add_consent("P-adult", DOC, ["capture"], TODAY - DAY, TODAY + 30 * DAY)
        opened.add_subject("P-none", "35+")
        opened.add_subject("P-expired", "35+")
        opened.add_consent("P-expired", DOC, ["capture"], TODAY - 400 * DAY, TODAY - DAY)
        opened.add_subject("P-research", "35+")
        opened.add_consent("P-research", DOC, ["research"], TODAY - DAY, TODAY + 30 * DAY)
        opened.add_subject("P-minor", "13-15")
        opened.add_consent("P-minor", DOC, ["capture"], TODAY - DAY, TODAY + 30 * DAY)
    return path


def _refused(studio: tuple[LoadedRig, LoadedPlan], registry: Path, subject: str, out: Path) -> str:
    rig, plan = studio
    with pytest.raises(ConsentRefused) as refused:
        Session.create(rig, plan, subject, out, registry=registry)
    assert not out.exists(), "a refused session must leave no folder"
    return str(refused.value)


def test_capture_refused_without_consent(studio: tuple[LoadedRig, LoadedPlan], registry: Path,
                                         tmp_path: Path) -> None:
    message = _refused(studio, registry, "P-none", tmp_path / "s")
    assert "subject 'P-none': they have no consent record" in message
    assert "capturerig subjects consent P-none --document SIGNED_FILE" in message
    message = _refused(studio, registry, "P-unknown", tmp_path / "s")
    assert "subject 'P-unknown' is not in the registry" in message
    assert "capturerig subjects add P-unknown --age-band BAND" in message


def test_capture_refused_with_expired_consent(studio: tuple[LoadedRig, LoadedPlan], registry: Path,
                                              tmp_path: Path) -> None:
    message = _refused(studio, registry, "P-expired", tmp_path / "s")
    assert f"expired on {TODAY - DAY} (today is " in message
    assert "record a new signed consent" in message


def test_capture_refused_when_the_scope_does_not_cover_the_purpose(studio: tuple[LoadedRig, LoadedPlan],
                                                                    registry: Path, tmp_path: Path) -> None:
    message = _refused(studio, registry, "P-research", tmp_path / "s")
    assert "covers the purposes research, not 'capture'" in message
    assert "record a consent whose scope includes 'capture'" in message
    rig, plan = studio
    session = Session.create(rig, plan, "P-research", tmp_path / "ok", purpose="research", registry=registry)
    assert session.folder.info.purpose == "research"
    session.close()


def test_capture_refused_for_a_minor_without_a_guardian(studio: tuple[LoadedRig, LoadedPlan], registry: Path,
                                                        tmp_path: Path) -> None:
    message = _refused(studio, registry, "P-minor", tmp_path / "s")
    assert "P-minor is a minor (age band 13-15)" in message
    assert "has no guardian's record" in message
    assert "capturerig subjects guardian P-minor GUARDIAN_ID" in message
    with SubjectRegistry.open(registry) as opened:
        opened.add_guardian("P-minor", "G-1", "parent", hashlib.sha256(b"guardian signed").hexdigest())
        opened.add_consent("P-minor", DOC, ["capture"], TODAY, TODAY + DAY, guardian_id="G-1")
    rig, plan = studio
    session = Session.create(rig, plan, "P-minor", tmp_path / "with-guardian", registry=registry)
    assert "guardian G-1" in session.folder.info.consent_basis
    session.close()


def test_a_session_records_its_consent_and_the_registry_records_the_session(
        studio: tuple[LoadedRig, LoadedPlan], registry: Path, tmp_path: Path) -> None:
    rig, plan = studio
    session = Session.create(rig, plan, "P-adult", tmp_path / "s", registry=registry)
    session.close()
    info = session.folder.info
    with SubjectRegistry.open(registry) as opened:
        (consent,) = opened.consents("P-adult")
        (recorded,) = opened.sessions("P-adult")
        actions = [e.action for e in opened.audit("P-adult")]
    assert info.consent_id == consent.consent_id
    assert info.consent_registry == str(registry.resolve())
    assert recorded.session_id == info.session_id
    assert recorded.path == str((tmp_path / "s").resolve())
    assert actions[-2:] == ["capture authorised", "session started"]


def test_resume_is_refused_once_consent_is_revoked(studio: tuple[LoadedRig, LoadedPlan], registry: Path,
                                                  tmp_path: Path) -> None:
    rig, plan = studio
    Session.create(rig, plan, "P-adult", tmp_path / "s", registry=registry).close()
    with SubjectRegistry.open(registry) as opened:
        opened.revoke("P-adult", "withdrawn during the break")
    resumed = Session.open(tmp_path / "s")  # finds the registry the session was made with
    with pytest.raises(ConsentRefused, match=r"consent C-[0-9a-f]+ was revoked"):
        resumed.run()
    resumed.close()


def test_cli_run_refuses_and_says_what_to_do(studio_files: Path, registry: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--rig", str(studio_files / "rig.yaml"), "--plan",
                                 str(studio_files / "plan.yaml"), "--subject", "P-expired", "--registry",
                                 str(registry), "--out", str(tmp_path / "s"), "--yes"])
    assert result.exit_code == 2
    assert "no capture of subject 'P-expired'" in result.output
    assert "expired on" in result.output
    assert not (tmp_path / "s").exists()


def test_no_registry_at_all_is_refused_with_the_commands_to_run(studio: tuple[LoadedRig, LoadedPlan],
                                                               tmp_path: Path) -> None:
    message = _refused(studio, tmp_path / "nowhere.sqlite", "P-adult", tmp_path / "s")
    assert "there is no subject registry at" in message
    assert "capturerig subjects add P-adult" in message


def _flashing_plan(studio_files: Path, rig: LoadedRig, max_flashes: int) -> LoadedPlan:
    plan = studio_files / "plan.yaml"
    plan.write_text(plan.read_text() + "subject:\n  photosensitivity_override: {screened_by: Dr A, "
                    f"screened_on: {TODAY - DAY}, max_flashes_per_s: {max_flashes}}}\n")
    return capturerig.load_plan(plan, rig)


def test_a_photosensitivity_override_needs_the_registrys_screening(studio_files: Path, registry: Path,
                                                                    tmp_path: Path) -> None:
    rig = capturerig.load_rig(studio_files / "rig.yaml")
    plan = _flashing_plan(studio_files, rig, 6)
    with pytest.raises(ConsentRefused, match="holds no photosensitivity screening for them"):
        Session.create(rig, plan, "P-adult", tmp_path / "s1", registry=registry)
    with SubjectRegistry.open(registry) as opened:
        opened.add_screening("P-adult", "cleared", 4, "neurology clinic", TODAY - DAY)
    with pytest.raises(ConsentRefused, match=r"'cleared' up to 4\. Lower the override"):
        Session.create(rig, plan, "P-adult", tmp_path / "s2", registry=registry)
    with SubjectRegistry.open(registry) as opened:
        opened.add_screening("P-adult", "cleared", 6, "neurology clinic", TODAY)
    session = Session.create(rig, plan, "P-adult", tmp_path / "s3", registry=registry)
    session.close()
    assert "photosensitivity override to 6 flashes/s backed by screening X-" in session.folder.info.consent_basis
    with SubjectRegistry.open(registry) as opened:
        used = [e for e in opened.audit("P-adult") if e.action == "photosensitivity override used"]
    assert [e.detail["plan_max_flashes_per_s"] for e in used] == [6]
    assert used[0].detail["session_id"] == session.folder.info.session_id


def test_an_object_needs_no_consent_record(studio_files: Path, tmp_path: Path) -> None:
    rig = capturerig.load_rig(studio_files / "rig.yaml")
    plan_file = studio_files / "plan.yaml"
    plan_file.write_text(plan_file.read_text() + "subject: {kind: object}\n")
    session = Session.create(rig, capturerig.load_plan(plan_file, rig), "board-1", tmp_path / "s",
                             registry=tmp_path / "nowhere.sqlite")
    session.close()
    assert session.folder.info.consent_basis.startswith("object")
