"""Signing a package: every image a trainer gets carries a C2PA manifest, and the bag a signed package claim.

``--sign auto`` signs when the studio's identity is found (``capturerig.provenance``: ``--dir``, else
``$CAPTURERIG_SIGNING_DIR``, else the user config dir), ``on`` requires it, ``off`` never signs. The identity is
checked (present, key readable with its password, certificate valid now) before anything is written.

Frames are signed where they are placed (threads or a Dask task) from the bytes in memory, before the file is
hashed into the bag's manifests: the manifests hash the signed bytes. A Dask task gets the identity's folder,
never the key: each worker process reads the key itself, once per thread that signs.

The package claim (``package-claim.json`` beside ``bagit.txt``) lists the sha256 of ``bagit.txt``,
``bag-info.txt`` and both payload manifests; c2pa cannot embed a manifest into JSON, so its manifest store is the
sidecar ``package-claim.json.c2pa`` (bound to the claim's bytes by a data hash). Both are tag files, listed in
the tag manifests. Checking the claim and the payload manifests' hashes checks where the whole bag came from
without opening an image.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capturerig.files import CHUNK_BYTES, temporary_path
from capturerig.packaging._files import Digests, Progress, _publish, json_bytes, write_bytes
from capturerig.packaging._frames import PackageFrame
from capturerig.provenance import (
    ALGORITHMIC_MEDIA,
    CaptureFacts,
    ConsentClaim,
    Edit,
    IdentityError,
    ImageManifest,
    ImageSigner,
    ProvenanceError,
    SigningIdentity,
    SigningKeyMissing,
    default_signing_dir,
    load_identity,
    sidecar_path,
)

__all__ = ["PACKAGE_CLAIM", "PACKAGE_CLAIM_SCHEMA", "SIGN_CHOICES", "FrameSigner", "PackageSigning",
           "SigningRefused", "resolve_signing", "sign_package_claim", "signing_readiness"]

SIGN_CHOICES = ("auto", "on", "off")
PACKAGE_CLAIM = "package-claim.json"
PACKAGE_CLAIM_SCHEMA = "capturerig.package-claim/1"
CONSENT_PAYLOAD = "provenance/consent.json"  # where subjects.package_provenance puts the consent record
UNSIGNED_NOTE = ("masks (derived from the signed images and the clean plates), XMP sidecars, JSON and COLMAP "
                 "files are not signed: the bag's manifests, covered by the signed package claim, hold their hashes")


class SigningRefused(ValueError):
    """Signing was asked for and cannot be done (no identity, an expired certificate, a key that will not open);
    the message names where we looked or the dates. Nothing was written."""


@dataclass(frozen=True)
class PackageSigning:
    """What a placer needs to sign a package's images (picklable: a Dask task gets this, not the key)."""

    identity_dir: str
    session_id: str
    rig_id: str
    consent_json: bytes | None  # the package's provenance/consent.json; None when packaged without a registry
    subject_id: str = ""
    version: str = ""

    def consent(self) -> ConsentClaim:
        if self.consent_json is not None:
            return ConsentClaim.from_consent_json(self.consent_json, f"data/{CONSENT_PAYLOAD}")
        # No consent record: nothing is granted, so every CAWG use is notAllowed.
        return ConsentClaim(consent_id="", subject_id=self.subject_id, record_sha256="")


def resolve_signing(sign: str, directory: str | Path | None) -> tuple[SigningIdentity | None, str]:
    """The identity to sign with under ``--sign`` (None: unsigned) and, when unsigned, why.

    Raises
    ------
    SigningRefused
        ``sign`` is not a choice; ``on`` and no identity; a found identity whose certificate is not valid now
        or whose key cannot be read (wrong password ...): signing with it was the point, so it is not skipped.
    """
    if sign not in SIGN_CHOICES:
        raise SigningRefused(f"--sign must be one of {', '.join(SIGN_CHOICES)}, got '{sign}'")
    if sign == "off":
        return None, "signing turned off (--sign off)"
    try:
        identity = load_identity(directory)
    except SigningKeyMissing as exc:
        if sign == "on":
            raise SigningRefused(f"--sign on: {exc}") from exc
        return None, (f"no signing identity found (looked in {default_signing_dir(directory)}: --signing-dir, else "
                      "$CAPTURERIG_SIGNING_DIR, else the user config dir)")
    except IdentityError as exc:
        raise SigningRefused(f"signing: {exc}") from exc
    try:
        ImageSigner(identity).close()  # the certificate's dates, the key and its password, c2pa's signer
    except ProvenanceError as exc:
        raise SigningRefused(f"signing: {exc} (or package with --sign off)") from exc
    return identity, ""


def signing_readiness(directory: str | Path | None = None) -> tuple[bool, str]:
    """For preflight: ``(ready, one line)``: the identity packages will be signed with, or the warning why they
    will be unsigned (none found) or refused (expired, unreadable key). Never raises: capture goes on."""
    try:
        identity = load_identity(directory)
    except SigningKeyMissing:
        return False, (f"warning: no signing identity in {default_signing_dir(directory)}: packages will be unsigned "
                       "(`capturerig provenance init` makes one)")
    except IdentityError as exc:
        return False, f"warning: {exc}"
    try:
        identity.check_valid()
    except IdentityError as exc:
        return False, f"warning: packaging will refuse to sign: {exc}"
    test = "TEST identity" if identity.kind == "test" else "identity"
    return True, (f"{test} {identity.certificate.subject.rfc4514_string()}, valid until "
                  f"{identity.certificate.not_valid_after_utc.date().isoformat()}")


def _when(frame: PackageFrame) -> datetime.datetime:
    seconds = frame.exposed_at if frame.exposed_at is not None else frame.stored_at
    if seconds is None:
        return datetime.datetime.now(datetime.UTC)
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


class FrameSigner:
    """Signs a placer's images: one c2pa signer per thread (the key is read once per thread, never stored here)."""

    def __init__(self, signing: PackageSigning) -> None:
        self.signing = signing
        self.identity = load_identity(signing.identity_dir)
        self.consent = signing.consent()
        self._local = threading.local()
        self._signers: list[ImageSigner] = []
        self._lock = threading.Lock()

    def _signer(self) -> ImageSigner:
        signer: ImageSigner | None = getattr(self._local, "signer", None)
        if signer is None:
            signer = ImageSigner(self.identity, version=self.signing.version)
            self._local.signer = signer
            with self._lock:
                self._signers.append(signer)
        return signer

    def close(self) -> None:
        with self._lock:
            signers, self._signers = self._signers, []
        for signer in signers:
            signer.close()

    def manifest(self, frame: PackageFrame, edits: tuple[Edit, ...] = (), parent: str | None = None
                 ) -> ImageManifest:
        facts = CaptureFacts(session_id=self.signing.session_id, rig_id=self.signing.rig_id,
                             camera_id=frame.camera_id, captured_at=_when(frame), take_id=frame.plan_take_id)
        return ImageManifest(facts, self.consent, edits=edits, parent=None if parent is None else Path(parent))

    def write(self, path: Path, relative: str, data: bytes, frame: PackageFrame, files: dict[str, Digests], *,
              edits: tuple[Edit, ...] = (), parent: tuple[str, bytes] | None = None,
              sha256: str | None = None) -> bytes:
        """Sign ``data`` (an original without ``edits``, else a rendition of ``parent``: name and bytes) and write
        it to ``path`` (bag path ``relative``), a sidecar manifest beside it where the format cannot embed one;
        their digests go into ``files``. ``sha256``: the hex digest of ``data`` when the caller has it (an original
        checked against its journal): a JPEG's or PNG's hard binding is that digest, not hashed again. Returns the
        signed bytes (a rendition's parent, next: pass the same tuple for each rendition of one original)."""
        manifest = self.manifest(frame, edits, None if parent is None else parent[0])
        try:
            asset, sidecar = self._signer().sign_bytes(data, path.name, manifest,
                                                       parent_data=None if parent is None else parent[1],
                                                       sha256=None if sha256 is None else bytes.fromhex(sha256))
        except ProvenanceError as exc:  # e.g. the certificate expired mid-package: the package is given up
            raise SigningRefused(f"frame '{frame.name}': {exc}") from exc
        files[relative] = write_bytes(path, asset)
        if sidecar is not None:
            files[relative + ".c2pa"] = write_bytes(sidecar_path(path), sidecar)
        return asset


    def stream_original(self, source: Path, path: Path, relative: str, frame: PackageFrame,
                        files: dict[str, Digests], progress: Progress | None = None) -> Digests | None:
        """Sign a captured JPEG into ``path`` while copying it in chunks, as the unsigned copy does: every chunk
        is hashed while hot in cache for the journal check (sha256 of the captured bytes) and for the bag (sha256
        and sha512 of the signed bytes), and written. The manifest is signed first, its hard binding being the
        journal's sha256 of the captured file; the file is published only when the bytes read match it.

        Returns the captured file's digests (``files`` gets the signed file's only when they match the journal:
        the caller raises on a mismatch, and nothing was written), or None when this route does not apply (not a
        JPEG, or one whose header the first chunk does not hold): sign it from memory with :meth:`write`.
        """
        signer = self._signer()
        with source.open("rb", buffering=0) as reader:
            buffer = bytearray(CHUNK_BYTES)
            view = memoryview(buffer)
            count = reader.readinto(buffer)
            try:
                placed = signer.embeddable(bytes(view[:count]), path.name, self.manifest(frame),
                                           bytes.fromhex(frame.sha256))
            except ProvenanceError as exc:
                raise SigningRefused(f"frame '{frame.name}': {exc}") from exc
            if placed is None:
                return None
            offset, manifest = placed
            captured, signed256, signed512, size = hashlib.sha256(), hashlib.sha256(), hashlib.sha512(), 0
            temporary = temporary_path(path)
            try:
                with temporary.open("xb") as writer:  # buffered: a raw write may write only part of a chunk
                    def out(chunk: memoryview | bytes) -> None:
                        signed256.update(chunk)
                        signed512.update(chunk)
                        writer.write(chunk)

                    out(view[:offset])
                    out(manifest)
                    chunk = view[offset:count]
                    while count:
                        captured.update(view[:count])
                        out(chunk)
                        size += count
                        if progress is not None:
                            progress(count)
                        count = reader.readinto(buffer)
                        chunk = view[:count]
                    writer.flush()
                    os.fsync(writer.fileno())
                digests = Digests(size, captured.hexdigest(), "")
                if digests.sha256 == frame.sha256.lower():
                    _publish(temporary, path)
                    files[relative] = Digests(size + len(manifest), signed256.hexdigest(), signed512.hexdigest())
            finally:
                temporary.unlink(missing_ok=True)
        return digests


def package_claim(root: Path, session_id: str, tag_files: Mapping[str, Digests]) -> dict[str, Any]:
    return {"schema": PACKAGE_CLAIM_SCHEMA, "session_id": session_id, "bag": root.name,
            "tag_files": {name: {"sha256": d.sha256, "bytes": d.size} for name, d in sorted(tag_files.items())},
            "note": "the payload manifests list the sha256 of every file under data/, signed images included"}


def sign_package_claim(root: Path, signing: PackageSigning, tag_files: Mapping[str, Digests]) -> dict[str, Digests]:
    """Write ``package-claim.json`` over ``tag_files`` and its signed sidecar manifest store; their digests."""
    claim = json_bytes(package_claim(root, signing.session_id, tag_files))
    signer = FrameSigner(signing)
    try:
        facts = CaptureFacts(session_id=signing.session_id, rig_id=signing.rig_id, camera_id="",
                             captured_at=datetime.datetime.now(datetime.UTC))
        manifest = ImageManifest(facts, signer.consent, title=PACKAGE_CLAIM, source_type=ALGORITHMIC_MEDIA,
                                 extra={"org.capturerig.package": {"schema": PACKAGE_CLAIM_SCHEMA,
                                                                   "claim_sha256": hashlib.sha256(claim).hexdigest()}})
        asset, sidecar = signer._signer().sign_bytes(claim, PACKAGE_CLAIM, manifest)
    finally:
        signer.close()
    written = {PACKAGE_CLAIM: write_bytes(root / PACKAGE_CLAIM, asset)}
    if sidecar is not None:
        written[PACKAGE_CLAIM + ".c2pa"] = write_bytes(sidecar_path(root / PACKAGE_CLAIM), sidecar)
    return written


def read_claim(root: Path) -> dict[str, Any] | None:
    """The package claim, or None when the bag has none (an unsigned package)."""
    path = root / PACKAGE_CLAIM
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded
