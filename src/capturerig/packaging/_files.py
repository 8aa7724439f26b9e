"""File operations of the package writer: hashing while placing, writing with digests, JSON.

Every byte of an image is read once: the same pass feeds sha256 (checked against the journal and written
to the bag's manifest) and sha512 (the bag's second manifest), and, when the package sits on another
filesystem, the copy. On one filesystem the image is hard-linked, so the read is the only I/O.

Every file is written (or linked) under a hidden temporary name beside its target and renamed over it, so a
frame placed again after its Dask worker died mid-frame finds no half-written file and no stale link in its
way; what such a worker left under a temporary name is swept by :func:`remove_temporaries`.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capturerig.files import CHUNK_BYTES as _CHUNK
from capturerig.files import remove_temporaries
from capturerig.files import temporary_path as _temporary

__all__ = [
    "Digests",
    "digest_bytes",
    "digest_file",
    "json_bytes",
    "link_file",
    "place_file",
    "remove_temporaries",
    "write_bytes",
]

# os.link fails with these when source and package cannot share an inode (other filesystem, or a
# filesystem without hard links such as FAT on a card reader); copying is then the right answer.
_NO_LINK_ERRNOS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Digests:
    """Size and both BagIt digests of one file."""

    size: int
    sha256: str
    sha512: str


def digest_bytes(data: bytes) -> Digests:
    """Digests of bytes about to be written (no second read of what we produced ourselves)."""
    return Digests(len(data), hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest())


def _read_digesting(reader: io.RawIOBase, progress: Progress | None, writer: io.RawIOBase | None = None) -> Digests:
    """sha256 and sha512 of everything ``reader`` gives, in one read (and written to ``writer`` on the way);
    ``progress`` gets the size of every chunk read."""
    sha256, sha512, size = hashlib.sha256(), hashlib.sha512(), 0
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    while count := reader.readinto(buffer):
        chunk = view[:count]
        sha256.update(chunk)
        sha512.update(chunk)
        if writer is not None:
            writer.write(chunk)
        size += count
        if progress is not None:
            progress(count)
    return Digests(size, sha256.hexdigest(), sha512.hexdigest())


def digest_file(path: Path, progress: Progress | None = None) -> Digests:
    """sha256 and sha512 of a file in one read; ``progress`` gets the size of every chunk read."""
    with Path(path).open("rb", buffering=0) as handle:
        return _read_digesting(handle, progress)


def _publish(temporary: Path, target: Path) -> None:
    """Rename ``temporary`` over ``target``. rename(2) does nothing when both names are links to one inode (a
    retried frame linking the same source again), so the temporary name is then removed by hand."""
    try:
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _copy_and_digest(source: Path, target: Path, progress: Progress | None) -> Digests:
    temporary = _temporary(target)
    try:
        with source.open("rb", buffering=0) as reader, temporary.open("xb", buffering=0) as writer:
            digests = _read_digesting(reader, progress, writer)
            os.fsync(writer.fileno())
        _publish(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return digests


def link_file(source: Path, target: Path) -> bool:
    """Hard-link ``source`` at ``target`` (replacing what is there); False when the filesystem cannot link
    them (another filesystem, FAT ...): the caller copies."""
    temporary = _temporary(target)
    try:
        os.link(source, temporary)
    except OSError as exc:
        if exc.errno not in _NO_LINK_ERRNOS:
            raise
        return False
    _publish(temporary, target)
    return True


def place_file(source: Path, target: Path, progress: Progress | None = None) -> Digests:
    """Hard-link ``source`` to ``target`` (copy when linking is impossible) and digest it in the same pass.

    A hard link shares the inode, so hashing ``source`` is hashing ``target``; a copy is hashed as it is
    written. The target is fsynced either way (a link's data was fsynced when it was captured).
    """
    if not link_file(source, target):
        return _copy_and_digest(source, target, progress)
    return digest_file(target, progress)


def write_bytes(path: Path, data: bytes) -> Digests:
    """Write ``data`` to ``path`` (under a temporary name, fsynced, renamed over it) and return its digests."""
    temporary = _temporary(path)
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _publish(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return digest_bytes(data)


def json_bytes(document: Any) -> bytes:
    """A JSON document as UTF-8 bytes, indented for people and diffs."""
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")
