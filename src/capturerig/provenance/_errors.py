"""What can go wrong with the studio's signing identity, signing and verifying (messages say what and what next)."""

from __future__ import annotations

__all__ = ["CertificateExpired", "IdentityError", "ProvenanceError", "SigningError", "SigningKeyMissing"]


class ProvenanceError(Exception):
    """Base of the provenance errors; the message names the file or field and what to do."""


class IdentityError(ProvenanceError):
    """The signing identity cannot be made, imported or read (bad chain, key mismatch, wrong password ...)."""


class SigningKeyMissing(IdentityError):
    """No signing identity where we looked; the message names the place and how to create one."""


class CertificateExpired(IdentityError):
    """The signing certificate is outside its validity (the message names the dates); nothing is signed."""


class SigningError(ProvenanceError):
    """An image could not be signed (unsupported format, a rendition without its original ...)."""
