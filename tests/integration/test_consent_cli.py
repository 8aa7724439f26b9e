"""`capturerig subjects ...` and `capturerig purge` as a studio manager uses them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

import capturerig
from capturerig import Session
from capturerig.cli import app

runner = CliRunner()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args), terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_register_consent_show_revoke_audit_and_purge(studio_files: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the consents table in one piece
    registry = str(tmp_path / "studio" / "subjects.sqlite")
    document = tmp_path / "signed.pdf"
    document.write_bytes(b"%PDF signed consent")
    assert "new subject registry" in _ok("subjects", "add", "P-100", "--age-band", "25-34", "--registry", registry)
    out = _ok("subjects", "consent", "P-100", "--document", str(document), "--purpose", "capture", "--purpose",
              "ml-training", "--media", "images", "--territory", "EU", "--expires", "2099-01-01", "--registry",
              registry)
    assert "capture, ml-training" in out
    assert "..2099-01-01" in out
    rig = capturerig.load_rig(studio_files / "rig.yaml")
    Session.create(rig, capturerig.load_plan(studio_files / "plan.yaml", rig), "P-100", tmp_path / "session",
                   registry=registry).close()  # shooting it is the engine tests' business
    shown = _ok("subjects", "show", "P-100", "--registry", registry)
    assert "valid today" in shown
    assert f"{tmp_path / 'session'}" in shown

    revoked = _ok("subjects", "revoke", "P-100", "--reason", "withdrawn by phone", "--registry", registry)
    assert f"marked {tmp_path / 'session'}" in revoked
    resumed = runner.invoke(app, ["resume", str(tmp_path / "session"), "--yes"])
    assert resumed.exit_code == 2
    assert "was revoked" in resumed.output

    purged = _ok("purge", "P-100", "--yes", "--registry", registry)
    assert f"removed {tmp_path / 'session'}" in purged
    assert "nothing left the studio" in purged
    assert not (tmp_path / "session").exists()
    audit = _ok("subjects", "audit", "P-100", "--registry", registry)
    assert "audit chain intact" in audit
    assert "subject purged" in audit
    assert "consent revoked" in audit


def test_audit_exits_1_and_names_the_edited_row(tmp_path: Path) -> None:
    registry = tmp_path / "subjects.sqlite"
    _ok("subjects", "add", "P-5", "--age-band", "35+", "--registry", str(registry))
    with sqlite3.connect(registry) as db:
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("UPDATE audit SET detail = replace(detail, '35+', '18-24') WHERE action = 'subject added'")
    result = runner.invoke(app, ["subjects", "audit", "--registry", str(registry)])
    assert result.exit_code == 1
    assert "entry 2 (subject added, subject P-5) was edited after it was written" in result.output


def test_a_minor_is_registered_and_warned_about_until_a_guardian_consents(tmp_path: Path) -> None:
    registry = str(tmp_path / "subjects.sqlite")
    assert "minor (consent needs a guardian)" in _ok("subjects", "add", "K-1", "--age-band", "13-15",
                                                     "--registry", registry)
    digest = "ab" * 32
    result = runner.invoke(app, ["subjects", "consent", "K-1", "--document-sha256", digest, "--purpose", "capture",
                                 "--expires", "2099-01-01", "--registry", registry])
    assert result.exit_code == 0
    assert "no capture until a consent names their guardian" in result.output
    _ok("subjects", "guardian", "K-1", "G-1", "--relationship", "parent", "--document-sha256", digest,
        "--registry", registry)
    _ok("subjects", "consent", "K-1", "--document-sha256", digest, "--purpose", "capture", "--expires",
        "2099-01-01", "--guardian", "G-1", "--registry", registry)
    assert "guardian G-1 (parent)" in _ok("subjects", "show", "K-1", "--registry", registry)


def test_bad_input_ends_with_a_clear_message(tmp_path: Path) -> None:
    registry = str(tmp_path / "subjects.sqlite")
    result = runner.invoke(app, ["subjects", "show", "P-1", "--registry", registry])
    assert result.exit_code == 2
    assert "no subject registry at" in result.output
    _ok("subjects", "add", "P-1", "--age-band", "25-34", "--registry", registry)
    result = runner.invoke(app, ["subjects", "consent", "P-1", "--purpose", "capture", "--expires", "2099-13-01",
                                 "--document-sha256", "ab" * 32, "--registry", registry])
    assert result.exit_code == 2
    assert "--expires '2099-13-01' is not a date" in result.output
    result = runner.invoke(app, ["subjects", "consent", "P-1", "--purpose", "capture", "--expires", "2099-01-01",
                                 "--registry", registry])
    assert result.exit_code == 2
    assert "--document FILE" in result.output
