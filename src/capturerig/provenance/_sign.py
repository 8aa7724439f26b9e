"""Sign an image with the studio's identity: a C2PA manifest embedded (JPEG, PNG, TIFF, DNG) or beside it.

Formats c2pa cannot embed into get a sidecar manifest store, ``<image name>.c2pa``, bound to the image's
bytes by a data hash; the image is left as it is. Output is written to a temporary file in the destination's
folder, fsynced and renamed, so a failure leaves the destination as it was and no half-signed file.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import c2pa

from capturerig.provenance._context import c2pa_context
from capturerig.provenance._embed import DataHashedSigning, insertion_offset
from capturerig.provenance._errors import IdentityError, SigningError
from capturerig.provenance._identity import SigningIdentity
from capturerig.provenance._manifest import PARENT_INGREDIENT_ID, ImageManifest

__all__ = ["EMBED_FORMATS", "SIDECAR_SUFFIX", "ImageSigner", "SignedImage", "manifest_format", "sidecar_path",
           "sign_image"]

EMBED_FORMATS = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".tif": "image/tiff",
                 ".tiff": "image/tiff", ".dng": "image/dng"}
SIDECAR_SUFFIX = ".c2pa"
SIDECAR_FORMAT = "application/octet-stream"  # bound by a plain data hash over the whole file


def manifest_format(path: Path) -> tuple[str, bool]:
    """``(mime type c2pa signs it as, embedded?)`` for an image path."""
    mime = EMBED_FORMATS.get(path.suffix.lower())
    return (mime, True) if mime else (SIDECAR_FORMAT, False)


def sidecar_path(image: Path) -> Path:
    """Where a sidecar manifest store sits: the full image name plus .c2pa (two formats of one shot differ)."""
    return image.with_name(image.name + SIDECAR_SUFFIX)


@dataclass(frozen=True)
class SignedImage:
    path: Path  # the signed image (or, with a sidecar, the image it describes)
    sidecar: Path | None  # the manifest store beside it, for a format that cannot embed one
    manifest_bytes: int
    seconds: float


def _write_atomically(dest: Path, fill: Callable[[BinaryIO], object]) -> None:
    tmp = dest.with_name(f".{dest.name}.signing-{os.getpid()}")
    try:
        with tmp.open("w+b") as out:
            fill(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


class ImageSigner:
    """Signs many images with one identity (the key is read and the certificate checked once).

    Use as a context manager, or call :meth:`close`.

    Raises
    ------
    SigningKeyMissing, IdentityError
        The key cannot be read (missing, wrong password).
    CertificateExpired
        The signing certificate is not valid now (or at ``when``).
    """

    def __init__(self, identity: SigningIdentity, *, when: datetime.datetime | None = None,
                 version: str = "") -> None:
        identity.check_valid(when)
        info = c2pa.C2paSignerInfo(identity.algorithm, identity.chain_pem(), identity.private_key_pem(), None)
        self.identity = identity
        self._version = version
        self._context = c2pa_context(identity.trust_pem(), version=version)
        try:
            self._signer = c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            self._context.close()
            raise IdentityError(f"{identity.directory}: c2pa cannot sign with this identity ({exc}); check the "
                                "chain and key with `capturerig provenance show`") from exc
        self._data_hashed = DataHashedSigning(self._signer)
        # The last original given as a rendition's parent, as c2pa's ingredient archive: a frame's renditions
        # (colour-corrected, undistorted) share one original, and add_ingredient reads and validates all of it
        # (manifest and a full hash) each time. Keyed by the bytes object itself, which the entry keeps alive.
        self._parent: tuple[str, bytes, bytes] | None = None

    def __enter__(self) -> ImageSigner:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._parent = None
        self._signer.close()
        self._context.close()

    def sign(self, source: str | Path, manifest: ImageManifest, *, dest: str | Path | None = None) -> SignedImage:
        """Sign ``source`` into ``dest`` (default: in place).

        Raises
        ------
        SigningError
            The source is missing or c2pa refused it (the message names the file); ``dest`` is untouched.
        """
        started = time.perf_counter()
        src = Path(source)
        out = Path(dest) if dest is not None else src
        if not src.is_file():
            raise SigningError(f"{src}: no such image to sign")
        mime, embedded = manifest_format(src)
        definition = manifest.definition(out.name)
        try:
            with c2pa.Builder(definition, self._context) as builder:
                if manifest.parent is not None:
                    self._add_parent(builder, manifest.parent)
                if not embedded:
                    builder.set_no_embed()
                manifest_bytes = b""

                def fill(target: BinaryIO) -> None:
                    nonlocal manifest_bytes
                    with src.open("rb") as reader:
                        manifest_bytes = builder.sign(self._signer, mime, reader, target)

                # With a sidecar c2pa still writes the asset (unchanged) to the output: that copy becomes ``dest``
                # when it differs from the source, and is dropped otherwise.
                target = out if embedded or out != src else _scratch(out)
                try:
                    _write_atomically(target, fill)
                finally:
                    if target != out:
                        target.unlink(missing_ok=True)
                sidecar = None if embedded else sidecar_path(out)
                if sidecar is not None:
                    _write_atomically(sidecar, lambda handle: handle.write(manifest_bytes))
        except c2pa.C2paError as exc:
            raise SigningError(f"{src}: c2pa could not sign it as {mime}: {exc}") from exc
        return SignedImage(out, sidecar, len(manifest_bytes), time.perf_counter() - started)

    def sign_bytes(self, data: bytes, name: str, manifest: ImageManifest, *,
                   parent_data: bytes | None = None, sha256: bytes | None = None) -> tuple[bytes, bytes | None]:
        """Sign an image held in memory (``name`` gives its format and the manifest's title).

        Returns ``(asset, sidecar)``: the signed image, and for a format c2pa cannot embed into, the asset
        unchanged and the manifest store to keep beside it as ``<name>.c2pa`` (else None). A JPEG or PNG is
        signed by the data-hashed route (:mod:`capturerig.provenance._embed`: the manifest spliced in, its hard
        binding the sha256 of ``data``, which ``sha256`` passes when the caller has it already); other formats,
        or one that holds a manifest already, through c2pa's streams (in memory: c2pa reads and seeks a large
        TIFF tens of thousands of times, which costs little on a BytesIO and a system call each on a file).
        ``parent_data`` is the rendition's original (``manifest.parent`` names it), when the caller holds its
        bytes already; pass the same bytes object for every rendition of one original and its ingredient is
        built once.

        Raises
        ------
        SigningError
            c2pa refused it (the message names ``name``).
        """
        mime, embedded = manifest_format(Path(name))
        try:
            with c2pa.Builder(manifest.definition(name), self._context) as builder:
                if manifest.parent is not None:
                    if parent_data is None:
                        self._add_parent(builder, manifest.parent)
                    else:
                        self._add_parent_bytes(builder, manifest.parent.name, parent_data)
                if not embedded:
                    builder.set_no_embed()
                else:
                    digest = sha256 if sha256 is not None else hashlib.sha256(data).digest()
                    signed = self._data_hashed.sign(builder, data, mime, digest)
                    if signed is not None:
                        return signed, None
                target = io.BytesIO()
                store = builder.sign(self._signer, mime, io.BytesIO(data), target)
        except c2pa.C2paError as exc:
            raise SigningError(f"{name}: c2pa could not sign it as {mime}: {exc}") from exc
        return (target.getvalue(), None) if embedded else (data, bytes(store))

    def embeddable(self, head: bytes, name: str, manifest: ImageManifest, sha256: bytes) -> tuple[int, bytes] | None:
        """For an original streamed from its file rather than held whole: ``(offset, signed manifest)`` to insert
        into the image whose first bytes are ``head`` and whose full sha256 is ``sha256`` (the signed image is
        ``image[:offset] + manifest + image[offset:]``); None when the data-hashed route does not apply (not a
        JPEG, a header ``head`` does not reach the end of, a manifest there already, a rendition): sign the bytes.

        Raises
        ------
        SigningError
            c2pa refused it (the message names ``name``).
        """
        mime, embedded = manifest_format(Path(name))
        offset = insertion_offset(head, mime) if embedded and mime == "image/jpeg" else None
        if offset is None or manifest.parent is not None or not DataHashedSigning.available():
            return None
        try:
            with c2pa.Builder(manifest.definition(name), self._context) as builder:
                return offset, self._data_hashed.manifest(builder, mime, offset, sha256)
        except c2pa.C2paError as exc:
            raise SigningError(f"{name}: c2pa could not sign it as {mime}: {exc}") from exc

    def _add_parent_bytes(self, builder: c2pa.Builder, title: str, data: bytes) -> None:
        cached = self._parent
        if cached is None or cached[0] != title or cached[1] is not data:
            ingredient = {"title": title, "relationship": "parentOf", "label": PARENT_INGREDIENT_ID}
            with c2pa.Builder({}, self._context) as scratch:
                scratch.add_ingredient(ingredient, manifest_format(Path(title))[0], io.BytesIO(data))
                archive = io.BytesIO()
                scratch.write_ingredient_archive(PARENT_INGREDIENT_ID, archive)
            cached = self._parent = (title, data, archive.getvalue())
        builder.add_ingredient_from_archive(io.BytesIO(cached[2]))

    def _add_parent(self, builder: c2pa.Builder, parent: Path) -> None:
        if not parent.is_file():
            raise SigningError(f"{parent}: the rendition's original is missing; sign the original first")
        mime, _ = manifest_format(parent)
        ingredient = {"title": parent.name, "relationship": "parentOf", "label": PARENT_INGREDIENT_ID}
        with parent.open("rb") as reader:
            builder.add_ingredient(ingredient, mime, reader)


def _scratch(image: Path) -> Path:
    return image.with_name(f".{image.name}.unchanged-{os.getpid()}")


def sign_image(source: str | Path, identity: SigningIdentity, manifest: ImageManifest, *,
               dest: str | Path | None = None, when: datetime.datetime | None = None) -> SignedImage:
    """Sign one image (see :class:`ImageSigner` for many); ``dest`` defaults to signing in place."""
    with ImageSigner(identity, when=when) as signer:
        return signer.sign(source, manifest, dest=dest)
