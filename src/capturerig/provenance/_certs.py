"""X.509 for C2PA signing: make a TEST chain, check an imported one against the C2PA certificate profile.

C2PA (Content Credentials 2.x, "Certificate profile") wants the claim signer to be an end-entity certificate
(basicConstraints cA false, not self-signed) whose key usage asserts digitalSignature and whose extended key
usage names one of the purposes c2pa-rs accepts by default (document signing, email protection, the C2PA
claim-signing OID, Microsoft document signing), never anyExtendedKeyUsage; signatures by ECDSA, RSA-PSS or
Ed25519 over SHA-256 or longer.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from capturerig.provenance._errors import IdentityError

__all__ = ["C2PA_EKUS", "TestChain", "check_chain", "make_test_chain", "signing_algorithm"]

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
C2PA_CLAIM_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
MS_DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.311.76.59.1.9")
C2PA_EKUS = {DOCUMENT_SIGNING: "documentSigning", ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
             C2PA_CLAIM_SIGNING: "c2pa claimSigning", MS_DOCUMENT_SIGNING: "MS documentSigning"}
TEST_MARK = "TEST"  # in the organisation and common names of every test certificate


@dataclass(frozen=True)
class TestChain:
    """A root CA and the end-entity certificate it issued, with the end entity's key (not the root's)."""

    root: x509.Certificate
    leaf: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(common: str, studio: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{studio} ({TEST_MARK} identity)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_test_chain(studio: str = "capturerig studio", *, not_before: datetime.datetime | None = None,
                    not_after: datetime.datetime | None = None) -> TestChain:
    """A fresh ES256 root CA and end-entity certificate, both marked TEST in their subjects.

    Parameters
    ----------
    studio
        The studio's name, carried in the subjects' organisation.
    not_before, not_after
        The end entity's validity (default: from an hour ago for two years); the root outlives it.
    """
    now = datetime.datetime.now(datetime.UTC)
    start = not_before or now - datetime.timedelta(hours=1)
    end = not_after or now + datetime.timedelta(days=730)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{studio} {TEST_MARK} root CA (not for production)", studio)
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(min(start, now) - datetime.timedelta(days=1))
            .not_valid_after(max(end, now) + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(root_ski, critical=False)
            .sign(root_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name(f"{studio} {TEST_MARK} signing identity", studio))
            .issuer_name(root_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
            .sign(root_key, hashes.SHA256()))
    return TestChain(root, leaf, key)


def signing_algorithm(key: PrivateKeyTypes) -> str:
    """The C2PA signing algorithm for ``key`` (es256/es384/es512, ps256 for RSA, ed25519)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name not in by_curve:
            raise IdentityError(f"EC curve {key.curve.name} is not one C2PA signs with: use P-256, P-384 or P-521")
        return by_curve[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise IdentityError(f"RSA key of {key.key_size} bits: C2PA wants at least 2048")
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise IdentityError(f"a {type(key).__name__} cannot sign C2PA manifests: use an EC (P-256), RSA or Ed25519 key")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    public = issuer.public_key()
    signature_hash = cert.signature_hash_algorithm
    try:
        if isinstance(public, ec.EllipticCurvePublicKey) and signature_hash is not None:
            public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(signature_hash))
        elif isinstance(public, rsa.RSAPublicKey) and signature_hash is not None:
            pad = cert.signature_algorithm_parameters
            public.verify(cert.signature, cert.tbs_certificate_bytes,
                          pad if isinstance(pad, padding.PSS) else padding.PKCS1v15(), signature_hash)
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _public_bytes(key: object) -> bytes:
    public = key.public_key()  # type: ignore[attr-defined]
    raw: bytes = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return raw


def check_chain(certs: list[x509.Certificate], key: CertificateIssuerPrivateKeyTypes | PrivateKeyTypes,
                where: str) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """Check an imported chain (signing certificate first) against its key and C2PA's profile.

    Returns ``(chain, roots)``: the certificates a manifest carries (the signer and any intermediates) and
    the self-signed root that ends the file, which becomes the studio's trust list. ``where`` names the file
    in messages.
    """
    if not certs:
        raise IdentityError(f"{where}: no PEM certificate in the file")
    leaf = certs[0]
    if _public_bytes(key) != leaf.public_key().public_bytes(serialization.Encoding.DER,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo):
        raise IdentityError(f"{where}: the first certificate ({leaf.subject.rfc4514_string()}) does not belong to "
                            "the private key given: the key and the certificate do not match")
    for cert, issuer in itertools.pairwise(certs):
        if not _issued_by(cert, issuer):
            raise IdentityError(f"{where}: {cert.subject.rfc4514_string()} is not signed by the next certificate "
                                f"({issuer.subject.rfc4514_string()}); order the file signer first, root last")
    if not _issued_by(certs[-1], certs[-1]):
        raise IdentityError(f"{where}: the chain does not end in a self-signed root CA (last: "
                            f"{certs[-1].subject.rfc4514_string()}); append the root certificate, which becomes "
                            "the studio's trust list")
    if len(certs) < 2:
        raise IdentityError(f"{where}: the signing certificate is self-signed; C2PA needs one issued by a CA")
    try:
        constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            raise IdentityError(f"{where}: the signing certificate is a CA (basicConstraints cA true); C2PA signs "
                                "with an end-entity certificate")
    except x509.ExtensionNotFound:
        pass  # absent basicConstraints means an end entity
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise IdentityError(f"{where}: the signing certificate has no keyUsage; C2PA needs digitalSignature") from None
    if not usage.digital_signature:
        raise IdentityError(f"{where}: the signing certificate's keyUsage lacks digitalSignature (C2PA needs it)")
    try:
        ekus = list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        raise IdentityError(f"{where}: the signing certificate has no extendedKeyUsage; C2PA needs one of "
                            f"{', '.join(C2PA_EKUS.values())}") from None
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in ekus or not any(e in C2PA_EKUS for e in ekus):
        named = ", ".join(e.dotted_string for e in ekus)
        raise IdentityError(f"{where}: the signing certificate's extendedKeyUsage ({named}) has none of "
                            f"{', '.join(C2PA_EKUS.values())} (or names anyExtendedKeyUsage)")
    signing_algorithm(key)  # raises for a key C2PA cannot sign with
    return certs[:-1], certs[-1:]
