"""`capturerig provenance init | show | verify` as a studio manager uses them."""

from __future__ import annotations

import datetime
import json
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from capturerig.cli import app
from capturerig.provenance import (
    SIGNING_DIR_ENV,
    CaptureFacts,
    ConsentClaim,
    ImageManifest,
    create_test_identity,
    load_identity,
    sign_image,
)
from tests._provenance import chain_and_encrypted_key

runner = CliRunner()
CONSENT = json.dumps({"schema": "capturerig.consent/1", "consent_id": "C-9", "subject_id": "P-7",
                      "document_sha256": "ef" * 32, "scope": {"purposes": ["capture", "ai-training"]},
                      "starts": "2026-01-01", "expires": "2027-12-31"}).encode()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), terminal_width=200)
    return result.exit_code, " ".join(result.output.split())


def test_init_show_then_verify_good_and_tampered_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_DIR_ENV, str(tmp_path / "signing"))
    code, out = _run("provenance", "init", "--studio", "North Light Studio")
    assert code == 0, out
    assert f"signing identity written to {tmp_path / 'signing'}" in out
    assert "TEST identity" in out
    identity = load_identity()
    assert stat.S_IMODE(identity.key_path.stat().st_mode) == 0o600
    assert identity.key_path.read_text().splitlines()[1] not in out  # the key is never printed

    code, out = _run("provenance", "show")
    assert code == 0, out
    assert "North Light Studio TEST signing identity" in out
    assert identity.fingerprint in out
    assert "valid until:" in out

    code, out = _run("provenance", "init")
    assert code == 2
    assert "already there; pass --force" in out

    facts = CaptureFacts("S-9", "sim-studio", "cam003", datetime.datetime.now(datetime.UTC))
    good = tmp_path / "cam003.jpg"
    assert cv2.imwrite(str(good), np.random.default_rng(3).integers(0, 255, (240, 320, 3), dtype=np.uint8))
    sign_image(good, identity, ImageManifest(facts, ConsentClaim.from_consent_json(CONSENT)))
    code, out = _run("provenance", "verify", str(good))
    assert code == 0, out
    assert f"{good}: ok" in out
    assert "consent C-9; ai_generative_training notAllowed, ai_inference notAllowed, ai_training allowed" in out

    flipped = tmp_path / "flipped.jpg"
    data = bytearray(good.read_bytes())
    data[-300] ^= 0x10
    flipped.write_bytes(bytes(data))
    unsigned = tmp_path / "unsigned.png"
    assert cv2.imwrite(str(unsigned), np.zeros((8, 8, 3), np.uint8))
    code, out = _run("provenance", "verify", str(good), str(flipped), str(unsigned))
    assert code == 1
    assert f"{flipped}: broken" in out
    assert "assertion.dataHash.mismatch" in out
    assert f"{unsigned}: missing manifest" in out
    assert "2 of 3 image(s) did not verify" in out


def test_import_with_wrong_password_fails_clearly_and_writes_nothing(tmp_path: Path) -> None:
    chain, key = chain_and_encrypted_key(tmp_path, b"open sesame")
    password = tmp_path / "password"
    password.write_text("close sesame\n")
    target = tmp_path / "signing"
    code, out = _run("provenance", "init", "--import-cert", str(chain), "--import-key", str(key),
                     "--password-file", str(password), "--dir", str(target))
    assert code == 2
    assert f"the password in {password} does not open the private key" in out
    assert not target.exists()

    password.write_text("open sesame\n")
    code, out = _run("provenance", "init", "--import-cert", str(chain), "--import-key", str(key),
                     "--password-file", str(password), "--dir", str(target))
    assert code == 0, out
    assert "kind: imported" in out
    assert "Imported Studio TEST root CA" in out  # the trust list: the chain's root

    code, out = _run("provenance", "init", "--import-cert", str(chain), "--dir", str(target))
    assert code == 2
    assert "give --import-cert and --import-key together" in out


def test_show_names_a_missing_identity_and_an_expired_certificate(tmp_path: Path) -> None:
    code, out = _run("provenance", "show", "--dir", str(tmp_path / "none"))
    assert code == 2
    assert f"{tmp_path / 'none' / 'identity.json'} does not exist" in out
    assert "capturerig provenance init" in out

    ended = datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC)
    create_test_identity(tmp_path / "old", not_before=ended - datetime.timedelta(days=90), not_after=ended)
    code, out = _run("provenance", "show", "--dir", str(tmp_path / "old"))
    assert code == 1
    assert "expired on 2026-02-01" in out
