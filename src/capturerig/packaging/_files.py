"""File operations of the package writer: hashing while placing, writing with digests, JSON.

Every byte of an image is read once: the same pass feeds sha256 (checked against the journal and written
to the bag's manifest) and sha512 (the bag's second manifest), and, when the package sits on another
filesystem, the copy. On one filesystem the image is hard-linked, so the read is the only I/O.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capturerig.files import CHUNK_BYTES as _CHUNK

__all__ = [
    "Digests",
    "digest_bytes",
    "digest_file",
    "json_bytes",
    "place_file",
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


def digest_file(path: Path, progress: Progress | None = None) -> Digests:
    """sha256 and sha512 of a file in one read; ``progress`` gets the size of every chunk read."""
    sha256, sha512, size = hashlib.sha256(), hashlib.sha512(), 0
    with Path(path).open("rb", buffering=0) as handle:
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        while count := handle.readinto(buffer):
            chunk = view[:count]
            sha256.update(chunk)
            sha512.update(chunk)
            size += count
            if progress is not None:
                progress(count)
    return Digests(size, sha256.hexdigest(), sha512.hexdigest())


def _copy_and_digest(source: Path, target: Path, progress: Progress | None) -> Digests:
    sha256, sha512, size = hashlib.sha256(), hashlib.sha512(), 0
    with source.open("rb", buffering=0) as reader, target.open("xb", buffering=0) as writer:
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        while count := reader.readinto(buffer):
            chunk = view[:count]
            sha256.update(chunk)
            sha512.update(chunk)
            writer.write(chunk)
            size += count
            if progress is not None:
                progress(count)
        os.fsync(writer.fileno())
    return Digests(size, sha256.hexdigest(), sha512.hexdigest())


def place_file(source: Path, target: Path, progress: Progress | None = None) -> Digests:
    """Hard-link ``source`` to ``target`` (copy when linking is impossible) and digest it in the same pass.

    A hard link shares the inode, so hashing ``source`` is hashing ``target``; a copy is hashed as it is
    written. The target is fsynced either way (a link's data was fsynced when it was captured).
    """
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in _NO_LINK_ERRNOS:
            raise
        return _copy_and_digest(source, target, progress)
    return digest_file(target, progress)


def write_bytes(path: Path, data: bytes) -> Digests:
    """Write ``data`` to a new file, fsync it and return its digests."""
    with path.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return digest_bytes(data)


def json_bytes(document: Any) -> bytes:
    """A JSON document as UTF-8 bytes, indented for people and diffs."""
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")
