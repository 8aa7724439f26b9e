"""The studio's signing identity: a private key, its certificate chain and the trust list verify checks against.

Where it lives (first that applies): the ``directory`` a caller passes (the CLI's ``--dir``), else
``$CAPTURERIG_SIGNING_DIR``, else ``<user config dir>/capturerig/signing`` (``$XDG_CONFIG_HOME`` or
``~/.config``). The rig's storage config has no field for it: the key must not sit under the sessions root,
which is copied and shared. The folder holds::

    identity.json   what the identity is (test or imported), its algorithm and, for an encrypted key,
                    the password file to open it with (the password itself is never stored here)
    signing.key     the private key, mode 0600; read only to sign, never copied into a package or printed
    chain.pem       the signing certificate and any intermediates (what every manifest carries)
    trust.pem       the studio's root CA(s): a manifest verifies only if its signer chains to one of these
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from capturerig.provenance._certs import TEST_MARK, check_chain, make_test_chain, signing_algorithm
from capturerig.provenance._errors import CertificateExpired, IdentityError, SigningKeyMissing

__all__ = ["IDENTITY_FILE", "SIGNING_DIR_ENV", "SigningIdentity", "create_test_identity", "default_signing_dir",
           "import_identity", "is_test_certificate", "load_identity"]

SIGNING_DIR_ENV = "CAPTURERIG_SIGNING_DIR"
IDENTITY_FILE = "identity.json"
KEY_FILE = "signing.key"
CHAIN_FILE = "chain.pem"
TRUST_FILE = "trust.pem"
_SCHEMA = "capturerig.signing-identity/1"
_ALGORITHMS = ("es256", "es384", "es512", "ps256", "ed25519")


def default_signing_dir(directory: str | Path | None = None) -> Path:
    """``directory``, else ``$CAPTURERIG_SIGNING_DIR``, else ``<user config dir>/capturerig/signing``."""
    if directory is not None:
        return Path(directory)
    env = os.environ.get(SIGNING_DIR_ENV, "").strip()
    if env:
        return Path(env)
    config_home = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(config_home) / "capturerig" / "signing"


@dataclass(frozen=True)
class SigningIdentity:
    """A loaded identity. The key stays in its file until :meth:`private_key_pem` is asked for it."""

    directory: Path
    kind: str  # "test" | "imported"
    algorithm: str  # es256 | es384 | es512 | ps256 | ed25519
    chain: tuple[x509.Certificate, ...]
    roots: tuple[x509.Certificate, ...]
    password_file: Path | None

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def key_path(self) -> Path:
        return self.directory / KEY_FILE

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the signing certificate (DER), colon-separated hex as certificate viewers show it."""
        return self.certificate.fingerprint(hashes.SHA256()).hex(":").upper()

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def trust_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.roots)

    def check_valid(self, when: datetime.datetime | None = None) -> None:
        """Raise :class:`CertificateExpired` unless the signing certificate is valid at ``when`` (now)."""
        moment = when or datetime.datetime.now(datetime.UTC)
        cert = self.certificate
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        if moment > end:
            raise CertificateExpired(f"{self.directory / CHAIN_FILE}: the signing certificate "
                                     f"({cert.subject.rfc4514_string()}) expired on {end.isoformat()}; nothing was "
                                     "signed. Import a renewed certificate with `capturerig provenance init "
                                     "--import-cert ... --import-key ... --force`")
        if moment < start:
            raise CertificateExpired(f"{self.directory / CHAIN_FILE}: the signing certificate is not valid before "
                                     f"{start.isoformat()}; check the machine's clock")

    def private_key_pem(self) -> bytes:
        """The key as unencrypted PKCS#8 PEM, in memory only (what the C2PA signer takes)."""
        key = _read_key(self.key_path, self.password_file)
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def describe(self) -> dict[str, str]:
        """What ``capturerig provenance show`` prints: never the key, only where it is."""
        cert = self.certificate
        return {"kind": "TEST identity (made on this machine; not for production)" if self.kind == "test"
                else "imported", "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
                "valid from": cert.not_valid_before_utc.isoformat(),
                "valid until": cert.not_valid_after_utc.isoformat(),
                "algorithm": self.algorithm, "sha256 fingerprint": self.fingerprint,
                "trust list": "; ".join(r.subject.rfc4514_string() for r in self.roots),
                "key file": str(self.key_path), "directory": str(self.directory)}


def _password(password_file: Path | None) -> bytes | None:
    if password_file is None:
        return None
    try:
        return password_file.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise IdentityError(f"{password_file}: cannot read the key's password file ({exc.strerror})") from exc


def _read_key(path: Path, password_file: Path | None) -> PrivateKeyTypes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyMissing(f"{path}: no signing key there; run `capturerig provenance init` (or set "
                                f"${SIGNING_DIR_ENV} to the folder that holds it)") from None
    password = _password(password_file)
    try:
        return serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:  # cryptography: encrypted key without a password, or a password for a plain key
        need = "is encrypted: give --password-file" if password is None else "is not encrypted: drop --password-file"
        raise IdentityError(f"{path}: the private key {need} ({exc})") from exc
    except ValueError as exc:
        if password is not None and b"ENCRYPTED" in data:
            raise IdentityError(f"{path}: the password in {password_file} does not open the private key") from exc
        raise IdentityError(f"{path}: not a PEM private key ({exc})") from exc


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` with ``mode`` from the first byte (a key is never readable by others, even briefly)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _prepare(directory: Path, force: bool) -> None:
    if (directory / IDENTITY_FILE).exists() and not force:
        raise IdentityError(f"{directory}: a signing identity is already there; pass --force to replace it (images "
                            "signed with the old one then verify only if its root stays in the trust list)")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)


def _save(directory: Path, kind: str, key_pem: bytes, chain: list[x509.Certificate], roots: list[x509.Certificate],
          algorithm: str, password_file: Path | None) -> SigningIdentity:
    _write(directory / KEY_FILE, key_pem, 0o600)
    _write(directory / CHAIN_FILE, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain), 0o644)
    _write(directory / TRUST_FILE, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in roots), 0o644)
    record: dict[str, Any] = {"schema": _SCHEMA, "kind": kind, "algorithm": algorithm,
                              "password_file": None if password_file is None else str(password_file.resolve()),
                              "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    _write(directory / IDENTITY_FILE, (json.dumps(record, indent=2) + "\n").encode(), 0o644)
    return load_identity(directory)


def create_test_identity(directory: str | Path | None = None, *, studio: str = "capturerig studio",
                         not_before: datetime.datetime | None = None, not_after: datetime.datetime | None = None,
                         force: bool = False) -> SigningIdentity:
    """Make a TEST root CA and signing certificate (ES256) on the spot and keep them in ``directory``.

    The root's key is dropped once it has issued the certificate: this identity can sign, never issue.
    ``not_before``/``not_after`` set the certificate's validity (tests make an expired one).
    """
    where = default_signing_dir(directory)
    _prepare(where, force)
    made = make_test_chain(studio, not_before=not_before, not_after=not_after)
    key_pem = made.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    return _save(where, "test", key_pem, [made.leaf], [made.root], "es256", None)


def import_identity(cert_chain: str | Path, key: str | Path, directory: str | Path | None = None, *,
                    password_file: str | Path | None = None, force: bool = False) -> SigningIdentity:
    """Import the studio's real identity: a PEM chain (signer first, root last) and its PEM private key.

    Checks the chain links up to a self-signed root, the key matches the signing certificate, the password
    opens the key and the certificate fits C2PA's profile. The key file is copied as given (still encrypted
    when it was); the password file is referenced, not copied.

    Raises
    ------
    IdentityError
        Naming the file and what is wrong; nothing is written then.
    """
    chain_path, key_path = Path(cert_chain), Path(key)
    pw_path = None if password_file is None else Path(password_file)
    try:
        certs = x509.load_pem_x509_certificates(chain_path.read_bytes())
    except FileNotFoundError:
        raise IdentityError(f"{chain_path}: no such certificate chain file") from None
    except ValueError as exc:
        raise IdentityError(f"{chain_path}: not a PEM certificate chain ({exc})") from exc
    private = _read_key(key_path, pw_path)
    chain, roots = check_chain(certs, private, str(chain_path))
    algorithm = signing_algorithm(private)
    where = default_signing_dir(directory)
    _prepare(where, force)
    return _save(where, "imported", key_path.read_bytes(), chain, roots, algorithm, pw_path)


def load_identity(directory: str | Path | None = None) -> SigningIdentity:
    """The identity in ``directory`` (see the module docstring for where that is by default).

    Raises
    ------
    SigningKeyMissing
        No identity or no key file there (the message names the folder).
    IdentityError
        A file there cannot be read.
    """
    where = default_signing_dir(directory)
    record_path = where / IDENTITY_FILE
    if not record_path.is_file() or not (where / KEY_FILE).is_file():
        missing = record_path if not record_path.is_file() else where / KEY_FILE
        raise SigningKeyMissing(f"no signing identity: {missing} does not exist (looked in {where}: --dir, else "
                                f"${SIGNING_DIR_ENV}, else the user config dir); run `capturerig provenance init`")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        chain = x509.load_pem_x509_certificates((where / CHAIN_FILE).read_bytes())
        roots = x509.load_pem_x509_certificates((where / TRUST_FILE).read_bytes())
    except (OSError, ValueError) as exc:
        raise IdentityError(f"{where}: the signing identity is damaged ({exc}); run `capturerig provenance init "
                            "--force` to replace it") from exc
    if record.get("schema") != _SCHEMA or record.get("kind") not in ("test", "imported"):
        raise IdentityError(f"{record_path}: not a capturerig signing identity (schema {record.get('schema')!r})")
    if record.get("algorithm") not in _ALGORITHMS:
        raise IdentityError(f"{record_path}: field algorithm is {record.get('algorithm')!r}, not one of "
                            f"{', '.join(_ALGORITHMS)}")
    if not chain or not roots:
        raise IdentityError(f"{where}: {CHAIN_FILE if not chain else TRUST_FILE} holds no certificate; run "
                            "`capturerig provenance init --force` to replace the identity")
    password = record.get("password_file")
    return SigningIdentity(where, str(record["kind"]), str(record["algorithm"]), tuple(chain), tuple(roots),
                           None if password is None else Path(password))


def is_test_certificate(cert: x509.Certificate) -> bool:
    """True for a certificate :func:`create_test_identity` made (its organisation says TEST)."""
    orgs = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    return any(f"({TEST_MARK} identity)" in str(o.value) for o in orgs)
