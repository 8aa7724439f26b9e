"""Durable file operations of the package writer: hashing, fsync, placing images, the sha256 manifest."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

__all__ = [
    "MANIFEST_NAME",
    "fsync_dir",
    "fsync_file",
    "package_files",
    "place_image",
    "sha256_file",
    "verify_package",
    "write_json",
    "write_manifest",
]

MANIFEST_NAME = "manifest-sha256.txt"
_CHUNK = 1 << 20

# os.link fails with these when source and package cannot share an inode (other filesystem, or a
# filesystem without hard links such as FAT on a card reader); copying is then the right answer.
_NO_LINK_ERRNOS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks so RAW files never sit in memory whole."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    """Flush a file's data to the device (a package must survive a power cut right after it is reported)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries, so that names created or renamed in it survive a power cut."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def place_image(source: Path, target: Path) -> str:
    """Hard-link ``source`` to ``target`` (copy when linking is impossible), fsync it, return its sha256.

    Hard links cost no space or time on the session's filesystem; the returned digest is computed from
    ``target`` as written, so the caller can compare it with what was verified at capture.
    """
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in _NO_LINK_ERRNOS:
            raise
        shutil.copyfile(source, target)
    fsync_file(target)
    return sha256_file(target)


def write_json(path: Path, document: Any) -> None:
    """Write a JSON document (UTF-8, indented for people and diffs) and fsync it."""
    with path.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, ensure_ascii=False, allow_nan=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def package_files(root: Path) -> list[str]:
    """Every regular file under ``root`` except the manifest, as sorted POSIX paths relative to ``root``."""
    found = [
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).as_posix() != MANIFEST_NAME
    ]
    return sorted(found)


def write_manifest(root: Path, known: dict[str, str]) -> Path:
    """Write ``manifest-sha256.txt``: ``<sha256>  <path>`` per file, sorted by path (BagIt style).

    Parameters
    ----------
    root : Path
        The package root being written.
    known : dict
        Digests already computed (relative path -> sha256), so images are not hashed a third time.

    Returns
    -------
    Path
        The manifest.
    """
    lines = [f"{known.get(rel) or sha256_file(root / rel)}  {rel}\n" for rel in package_files(root)]
    manifest = root / MANIFEST_NAME
    with manifest.open("w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(lines)
        handle.flush()
        os.fsync(handle.fileno())
    return manifest


def _read_manifest(manifest: Path, problems: list[str]) -> dict[str, str]:
    entries: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or not rel:
            problems.append(f"{MANIFEST_NAME}:{number}: malformed line (want '<sha256>  <path>')")
        elif rel in entries:
            problems.append(f"{MANIFEST_NAME}:{number}: {rel} is listed twice")
        else:
            entries[rel] = digest.lower()
    return entries


def verify_package(package_dir: Path) -> list[str]:
    """Check every file of a package against its manifest.

    Parameters
    ----------
    package_dir : Path
        The package root (the directory holding ``manifest-sha256.txt``).

    Returns
    -------
    list of str
        Empty when every listed file is present with its recorded sha256 and no unlisted file exists;
        otherwise one human-readable problem per file, naming it.
    """
    root = Path(package_dir)
    manifest = root / MANIFEST_NAME
    if not root.is_dir():
        return [f"{root}: no such package directory"]
    if not manifest.is_file():
        return [f"{manifest}: manifest missing; the package is incomplete or not a capturerig package"]
    problems: list[str] = []
    entries = _read_manifest(manifest, problems)
    for rel, expected in entries.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing (listed in {MANIFEST_NAME})")
            continue
        actual = sha256_file(path)
        if actual != expected:
            problems.append(f"{rel}: sha256 {actual} does not match the manifest's {expected}")
    unlisted = [rel for rel in package_files(root) if rel not in entries]
    problems.extend(f"{rel}: present but not listed in {MANIFEST_NAME}" for rel in unlisted)
    return problems
