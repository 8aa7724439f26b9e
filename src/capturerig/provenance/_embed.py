"""Signing a JPEG or PNG held in memory by c2pa's data-hashed route: we hash, c2pa only signs the claim.

``Builder.sign`` reads the whole asset three times through Python stream callbacks (parse, copy, hash) and copies
the output back through them: ~40 ms of a core per 16 MB JPEG, which made signing a package cost +60 % on the
forced-copy time. The hard binding c2pa writes for a JPEG or PNG is a ``c2pa.hash.data`` assertion: sha256 over
the signed file minus the manifest's byte range. We insert the manifest at a chosen offset, so that range removed
leaves exactly the bytes we were given: the binding hash IS the sha256 of the input, which packaging computes
anyway to check the captured file against its journal. So: ask c2pa for a placeholder of the manifest's composed
size (APP11 segments, a caBX chunk), sign a data hash naming that range with our digest (c2pa pads the signed
manifest to the placeholder's size), splice it in. Readers validate it like any embedded manifest.

c2pa-python 0.38.1 does not wrap these two C functions (``c2pa_builder_data_hashed_placeholder``,
``c2pa_builder_sign_data_hashed_embeddable``); they are bound here with ctypes on the library the package loaded.
Anything unexpected (another c2pa build without them, an asset that already holds a manifest, a JPEG we cannot
walk) returns None and the caller signs by the ordinary route.
"""

from __future__ import annotations

import ctypes
import json
import struct
from typing import Any

import c2pa

__all__ = ["DataHashedSigning", "insertion_offset"]

_JPEG = "image/jpeg"
_PNG = "image/png"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BYTES = ctypes.POINTER(ctypes.c_ubyte)
_APP0, _APP1, _APP11, _SOS, _EOI = 0xE0, 0xE1, 0xEB, 0xDA, 0xD9
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn: markers without a length


def _jpeg_offset(data: bytes) -> int | None:
    """Where the manifest's APP11 segments go: after SOI and the APP0 (JFIF) / APP1 (Exif) run that readers expect
    first. None when the header cannot be walked to SOS or already holds an APP11 (a manifest of its own: the
    ordinary route knows what to do with it)."""
    if data[:2] != b"\xff\xd8":
        return None
    index, offset, leading = 2, 2, True
    while index + 4 <= len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte before a marker
            index += 1
            continue
        if marker in (_SOS, _EOI):
            return offset
        if marker in _STANDALONE:
            index += 2
            leading = False
            continue
        if marker == _APP11:
            return None
        length: int = struct.unpack(">H", data[index + 2:index + 4])[0]
        if length < 2:
            return None
        index += 2 + length
        if leading and marker in (_APP0, _APP1):
            offset = index
        else:
            leading = False
    return None


def _png_offset(data: bytes) -> int | None:
    """After IHDR (always the first chunk), unless a caBX chunk (a manifest) is there already."""
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    index = 8
    while index + 8 <= len(data):
        length: int = struct.unpack(">I", data[index:index + 4])[0]
        kind = data[index + 4:index + 8]
        if kind == b"caBX":
            return None
        if kind == b"IEND":
            break
        index += 12 + length
    header: int = struct.unpack(">I", data[8:12])[0]
    return 8 + 12 + header


def insertion_offset(data: bytes, mime: str) -> int | None:
    """Byte offset where the data-hashed route embeds the manifest into ``data``, or None: use the ordinary route."""
    if mime == _JPEG:
        return _jpeg_offset(data)
    if mime == _PNG:
        return _png_offset(data)
    return None


def _bind(lib: Any) -> bool:
    """Declare the two C functions' signatures (once); False when this c2pa build lacks them."""
    try:
        placeholder = lib.c2pa_builder_data_hashed_placeholder
        sign = lib.c2pa_builder_sign_data_hashed_embeddable
        builder_type, signer_type = c2pa.c2pa.C2paBuilder, c2pa.c2pa.C2paSigner
    except AttributeError:
        return False
    placeholder.argtypes = [ctypes.POINTER(builder_type), ctypes.c_size_t, ctypes.c_char_p, ctypes.POINTER(_BYTES)]
    placeholder.restype = ctypes.c_int64
    sign.argtypes = [ctypes.POINTER(builder_type), ctypes.POINTER(signer_type), ctypes.c_char_p, ctypes.c_char_p,
                     ctypes.c_void_p, ctypes.POINTER(_BYTES)]
    sign.restype = ctypes.c_int64
    return True


_LIB: Any = getattr(c2pa.c2pa, "_lib", None)
# The wrapper internals used below (as Builder.sign uses them); another c2pa-python without them: ordinary route.
_INTERNALS = (hasattr(c2pa.Builder, "_exclusive_native_call") and hasattr(c2pa.Signer, "_native_call")
              and hasattr(c2pa.c2pa, "_read_native_error"))
_AVAILABLE = _LIB is not None and _INTERNALS and _bind(_LIB)


def _take(size: int, pointer: Any, what: str) -> bytes:
    """The bytes c2pa returned (freed here), or its error raised as a C2paError."""
    if size < 0 or not pointer:
        error = c2pa.c2pa._read_native_error()
        raise c2pa.C2paError(f"{what}: {error or 'c2pa gave no reason'}")
    try:
        return ctypes.string_at(pointer, size)
    finally:
        _LIB.c2pa_free(pointer)


class DataHashedSigning:
    """The data-hashed route for one signer (its reserve size asked once)."""

    def __init__(self, signer: c2pa.Signer) -> None:
        self._signer = signer
        self._reserve = signer.reserve_size() if _AVAILABLE else 0

    @staticmethod
    def available() -> bool:
        return _AVAILABLE

    def manifest(self, builder: c2pa.Builder, mime: str, offset: int, sha256: bytes) -> bytes:
        """The signed manifest (composed for ``mime``) to insert at byte ``offset`` of an asset whose bytes without
        it have the digest ``sha256``; ``builder`` is spent.

        Raises
        ------
        c2pa.C2paError
            c2pa refused the manifest or the signature.
        """
        format_arg = mime.encode("ascii")
        # The same guards Builder.sign takes: no other native call on this builder or signer meanwhile.
        with builder._exclusive_native_call(), self._signer._native_call():
            pointer = _BYTES()
            placeholder = _take(_LIB.c2pa_builder_data_hashed_placeholder(
                builder._handle, self._reserve, format_arg, ctypes.byref(pointer)), pointer, "manifest placeholder")
            data_hash = {"exclusions": [{"start": offset, "length": len(placeholder)}], "name": "jumbf manifest",
                         "alg": "sha256", "hash": list(sha256), "pad": []}
            pointer = _BYTES()
            manifest = _take(_LIB.c2pa_builder_sign_data_hashed_embeddable(
                builder._handle, self._signer._handle, json.dumps(data_hash).encode("ascii"), format_arg, None,
                ctypes.byref(pointer)), pointer, "signing")
        if len(manifest) != len(placeholder):  # the range we hashed around would not be the manifest's
            raise c2pa.C2paError(f"c2pa signed a manifest of {len(manifest)} bytes into a placeholder of "
                                 f"{len(placeholder)}")
        return manifest

    def sign(self, builder: c2pa.Builder, data: bytes, mime: str, sha256: bytes) -> bytes | None:
        """``data`` signed with ``builder``'s manifest, given ``sha256`` = the digest of ``data``; None when this
        route does not apply (then ``builder`` is untouched and the caller signs the ordinary way).

        Raises
        ------
        c2pa.C2paError
            c2pa refused the manifest or the signature.
        """
        offset = insertion_offset(data, mime) if _AVAILABLE else None
        if offset is None:
            return None
        manifest = self.manifest(builder, mime, offset, sha256)
        view = memoryview(data)  # slicing bytes would copy the whole image once more before the join
        return b"".join((view[:offset], manifest, view[offset:]))
