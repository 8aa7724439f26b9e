"""Putting camera files on disk so that they count: written, fsynced, re-read, hashed and decodable."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from capturerig.develop import DevelopError, check_raw
from capturerig.files import fsync_dir, sha256_file

__all__ = ["StorageError", "StoredFile", "store_bytes"]

PARTIAL_SUFFIX = ".part"
_DECODABLE = {"jpeg", "png", "tiff"}
RAW_FORMAT = "raw"  # a body profile's RAW format (cr2, nef, arw, dng ...): LibRaw must read all of it


class StorageError(RuntimeError):
    """A file could not be stored intact; the message names the file."""


@dataclass(frozen=True)
class StoredFile:
    path: Path
    size: int
    sha256: str


def _check_decodes(path: Path, data: bytes | bytearray | memoryview, file_format: str) -> None:
    if file_format in _DECODABLE:
        # An eighth-size grey decode still walks the whole compressed stream, at a quarter of the cost.
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
        if image is None or image.size == 0:
            raise StorageError(f"{path.name}: the camera's {file_format} file does not decode "
                               f"({len(data)} bytes); the take will be re-shot")
    elif file_format == RAW_FORMAT:
        try:
            check_raw(data, path.name)
        except DevelopError as exc:
            raise StorageError(f"{exc}; the take will be re-shot") from exc
    elif not data:
        raise StorageError(f"{path.name}: the camera sent an empty {file_format} file")


def store_bytes(data: bytes | bytearray | memoryview, path: Path, file_format: str, *, sync_folder: bool = True,
                expected_sha256: str | None = None) -> StoredFile:
    """Write ``data`` to ``path`` durably and prove it: decodable, fsynced, re-read and hashed.

    ``expected_sha256`` is the hash the source took of the bytes (a capture host's spool, as it wrote them):
    the file on disk must match it, which proves the bytes came through the network and onto this disk
    unaltered in one hash instead of two.

    The file appears under its final name only after fsync (write to ``.part``, fsync, rename, fsync the
    folder), so a crash never leaves a truncated file under a real name. An existing file is never
    overwritten: StorageError instead. With ``sync_folder=False`` the caller fsyncs the folder itself, once
    for a batch of files, before it counts any of them (the take executor: one folder fsync per take,
    where one per file made 64 cameras queue behind each other).
    """
    _check_decodes(path, data, file_format)
    if path.exists():
        raise StorageError(f"{path}: already exists; refusing to overwrite a captured file")
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    if partial.exists():  # a crash's partial write, kept and journalled by recovery as evidence: never clobbered
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}{PARTIAL_SUFFIX}")
    with partial.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    # Read-only: package images are hard links to these files, and nothing may edit a capture in place.
    os.chmod(partial, 0o444)
    os.replace(partial, path)
    if sync_folder:
        fsync_dir(path.parent)
    expected = expected_sha256 or hashlib.sha256(data).hexdigest()
    on_disk = sha256_file(path)
    if on_disk != expected:
        where = "on the way from its capture host or on disk" if expected_sha256 else "disk or filesystem fault"
        raise StorageError(f"{path}: bytes on disk differ from what the camera sent ({where})")
    return StoredFile(path, len(data), on_disk)
