"""Durable file operations: what makes a file count (fsynced data and names, a hash read back from disk).

Both the engine (a camera file counts only after it is fsynced and hashed) and the package writer (a
package must survive a power cut right after it is reported) rely on these; they live below both so that
neither borrows them from the other.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import cast

__all__ = ["CHUNK_BYTES", "fsync_dir", "fsync_file", "remove_temporaries", "sha256_file", "sync_filesystem",
           "temporary_path"]

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


_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}\.partial$")  # what temporary_path names, and nothing else


def temporary_path(target: Path) -> Path:
    """A hidden name beside ``target`` to write it under before it is renamed into place."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")


def remove_temporaries(root: Path) -> list[Path]:
    """Delete the temporary files (``temporary_path``) under ``root`` that a killed writer left behind; the paths
    removed."""
    removed = []
    for directory, _, names in os.walk(root):
        for name in names:
            if _TEMPORARY.match(name):
                path = Path(directory) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        return cast(Callable[[int], int], libc.syncfs)
    except (OSError, AttributeError):  # no C library found, or one without syncfs
        return None


_SYNCFS = _load_syncfs()


def sync_filesystem(fd: int) -> bool:
    """Flush everything written to the filesystem holding ``fd`` (data, names and metadata: Linux ``syncfs``,
    which reports write-back errors since Linux 5.8) in one journal commit, where an ``fsync`` per file costs
    one commit each when they do not overlap. It flushes whatever else was written to that filesystem too, so a
    folder flushed this way is best on a disk no bulk writer shares.

    Returns False, having done nothing, where the platform has no ``syncfs``: the caller fsyncs each file and
    folder instead. Raises OSError when the flush fails.
    """
    if _SYNCFS is None:
        return False
    if _SYNCFS(fd) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return True
