"""Durable file operations: what makes a file count (fsynced data and names, a hash read back from disk).

Both the engine (a camera file counts only after it is fsynced and hashed) and the package writer (a
package must survive a power cut right after it is reported) rely on these; they live below both so that
neither borrows them from the other.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["CHUNK_BYTES", "fsync_dir", "fsync_file", "sha256_file"]

# Large enough that hashing a 100 MB RAW file costs ~100 reads, small enough that it never sits in memory.
CHUNK_BYTES = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file as it is on disk.

    Parameters
    ----------
    path
        The file to read, in 1 MiB chunks.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    """Flush a file's data to the device (a package must survive a power cut right after it is reported).

    Parameters
    ----------
    path
        An existing file; opened read-only, which is enough for ``fsync`` on POSIX.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries, so that names created or renamed in it survive a power cut.

    Parameters
    ----------
    path
        An existing directory.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
