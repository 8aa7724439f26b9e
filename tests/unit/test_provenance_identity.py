"""The studio's signing identity: a TEST chain made on the spot, a real one imported, and what goes wrong."""

from __future__ import annotations

import datetime
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from capturerig.provenance import (
    SIGNING_DIR_ENV,
    CertificateExpired,
    IdentityError,
    SigningKeyMissing,
    create_test_identity,
    default_signing_dir,
    import_identity,
    is_test_certificate,
    load_identity,
    make_test_chain,
)

PEM = serialization.Encoding.PEM


def _write_chain(tmp_path: Path, *, password: bytes | None = b"s3cret", with_root: bool = True,
                 key: ec.EllipticCurvePrivateKey | None = None) -> tuple[Path, Path, Path | None]:
    """A chain file (signer, root), its key (encrypted when ``password``) and the password file."""
    made = make_test_chain("Import Test Studio")
    certs = [made.leaf, made.root] if with_root else [made.leaf]
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(c.public_bytes(PEM) for c in certs))
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    key_file = tmp_path / "studio.key"
    key_file.write_bytes((key or made.key).private_bytes(PEM, serialization.PrivateFormat.PKCS8, encryption))
    password_file = None
    if password:
        password_file = tmp_path / "password.txt"
        password_file.write_bytes(password + b"\n")
    return chain, key_file, password_file


def test_test_identity_is_marked_test_fits_c2pa_and_keeps_its_key_private(tmp_path: Path) -> None:
    identity = create_test_identity(tmp_path / "signing")
    cert = identity.certificate
    assert identity.kind == "test"
    assert is_test_certificate(cert)
    assert "TEST" in cert.subject.rfc4514_string()
    assert identity.algorithm == "es256"
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert [e.dotted_string for e in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value] == [
        "1.3.6.1.5.5.7.3.36"]  # documentSigning
    assert cert.issuer == identity.roots[0].subject != cert.subject  # issued by the root, not self-signed
    assert stat.S_IMODE(identity.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(identity.directory.stat().st_mode) == 0o700
    shown = json.dumps(identity.describe())
    key_pem = identity.key_path.read_text()
    assert "PRIVATE KEY" not in shown
    assert key_pem.splitlines()[1] not in shown
    assert identity.describe()["sha256 fingerprint"].count(":") == 31
    assert load_identity(tmp_path / "signing").fingerprint == identity.fingerprint


def test_a_second_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    first = create_test_identity(tmp_path)
    with pytest.raises(IdentityError, match="already there; pass --force"):
        create_test_identity(tmp_path)
    assert load_identity(tmp_path).fingerprint == first.fingerprint
    assert create_test_identity(tmp_path, force=True).fingerprint != first.fingerprint


def test_where_the_identity_lives_dir_then_environment_then_user_config(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(SIGNING_DIR_ENV, raising=False)
    assert default_signing_dir() == tmp_path / "config" / "capturerig" / "signing"
    monkeypatch.setenv(SIGNING_DIR_ENV, str(tmp_path / "env"))
    assert default_signing_dir() == tmp_path / "env"
    assert default_signing_dir(tmp_path / "given") == tmp_path / "given"


def test_missing_identity_names_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyMissing, match=f"{tmp_path / 'nowhere'}.*provenance init"):
        load_identity(tmp_path / "nowhere")
    identity = create_test_identity(tmp_path / "signing")
    identity.key_path.unlink()
    with pytest.raises(SigningKeyMissing, match=r"signing\.key does not exist"):
        load_identity(tmp_path / "signing")


def test_expired_certificate_is_refused_naming_its_expiry(tmp_path: Path) -> None:
    ended = datetime.datetime(2025, 3, 1, tzinfo=datetime.UTC)
    identity = create_test_identity(tmp_path, not_before=ended - datetime.timedelta(days=365), not_after=ended)
    with pytest.raises(CertificateExpired, match="expired on 2025-03-01T00:00:00"):
        identity.check_valid()
    identity.check_valid(ended - datetime.timedelta(days=1))  # it was fine before


def test_import_checks_chain_key_and_password_then_keeps_the_key_encrypted(tmp_path: Path) -> None:
    chain, key, password = _write_chain(tmp_path)
    identity = import_identity(chain, key, tmp_path / "signing", password_file=password)
    assert identity.kind == "imported"
    assert password is not None
    assert identity.password_file == password.resolve()
    assert b"ENCRYPTED" in identity.key_path.read_bytes()  # copied as given, still under its password
    assert stat.S_IMODE(identity.key_path.stat().st_mode) == 0o600
    assert [r.subject for r in identity.roots] == [x509.load_pem_x509_certificates(chain.read_bytes())[1].subject]
    assert b"BEGIN PRIVATE KEY" in identity.private_key_pem()  # opened in memory for the signer


def test_import_with_a_wrong_password_says_so_and_writes_nothing(tmp_path: Path) -> None:
    chain, key, password = _write_chain(tmp_path)
    assert password is not None
    password.write_text("not-it\n")
    with pytest.raises(IdentityError, match=f"password in {password} does not open the private key"):
        import_identity(chain, key, tmp_path / "signing", password_file=password)
    assert not (tmp_path / "signing").exists()


def test_import_without_a_password_for_an_encrypted_key(tmp_path: Path) -> None:
    chain, key, _ = _write_chain(tmp_path)
    with pytest.raises(IdentityError, match="is encrypted: give --password-file"):
        import_identity(chain, key, tmp_path / "signing")


def test_import_refuses_a_key_that_is_not_the_certificates(tmp_path: Path) -> None:
    chain, key, _ = _write_chain(tmp_path, password=None, key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(IdentityError, match="key and the certificate do not match"):
        import_identity(chain, key, tmp_path / "signing")
    assert not (tmp_path / "signing").exists()


def test_import_wants_the_root_at_the_end_of_the_chain(tmp_path: Path) -> None:
    chain, key, _ = _write_chain(tmp_path, password=None, with_root=False)
    with pytest.raises(IdentityError, match="does not end in a self-signed root CA"):
        import_identity(chain, key, tmp_path / "signing")
