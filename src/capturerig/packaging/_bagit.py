"""BagIt 1.0 (RFC 8493) tag files: writing a bag's declaration, info and manifests, and checking fixity.

A bag is ``bagit.txt``, ``bag-info.txt``, one payload manifest per algorithm (``manifest-sha256.txt``,
``manifest-sha512.txt``: every file under ``data/``), and tag manifests (``tagmanifest-<alg>.txt``: every
other file of the bag). Manifest lines are ``<hex digest> <path>`` with forward slashes; RFC 8493 section
2.1.3 asks that CR, LF and ``%`` in paths be percent-encoded, which :func:`encode_path` does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from capturerig.packaging._files import Digests, digest_file, write_bytes

__all__ = [
    "ALGORITHMS",
    "BAGIT_TXT",
    "BAG_INFO",
    "PAYLOAD_DIR",
    "decode_path",
    "encode_path",
    "manifest_name",
    "payload_oxum",
    "verify_fixity",
    "write_tag_files",
]

BAGIT_TXT = "bagit.txt"
BAG_INFO = "bag-info.txt"
PAYLOAD_DIR = "data"
ALGORITHMS = ("sha256", "sha512")


def manifest_name(algorithm: str, tag: bool = False) -> str:
    """``manifest-<alg>.txt`` or ``tagmanifest-<alg>.txt``."""
    return f"{'tag' if tag else ''}manifest-{algorithm}.txt"


def encode_path(path: str) -> str:
    """A bag-relative POSIX path as a manifest writes it (RFC 8493 2.1.3)."""
    return path.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")


def decode_path(path: str) -> str:
    """The inverse of :func:`encode_path`."""
    return path.replace("%0A", "\n").replace("%0a", "\n").replace("%0D", "\r").replace("%0d", "\r").replace(
        "%25", "%")


def payload_oxum(payload: Mapping[str, Digests]) -> str:
    """``<octets>.<streams>``: total size and number of payload files, for a quick completeness check."""
    return f"{sum(d.size for d in payload.values())}.{len(payload)}"


def _manifest_text(entries: Mapping[str, Digests], algorithm: str) -> bytes:
    lines = [f"{getattr(entries[path], algorithm)}  {encode_path(path)}\n" for path in sorted(entries)]
    return "".join(lines).encode("utf-8")


def write_tag_files(root: Path, payload: Mapping[str, Digests], info: Iterable[tuple[str, str]],
                    more_tags: Callable[[Mapping[str, Digests]], Mapping[str, Digests]] | None = None) -> None:
    """Write every tag file of a bag whose payload (``data/...`` paths) is already on disk and digested.

    Parameters
    ----------
    root : Path
        The bag directory.
    payload : Mapping[str, Digests]
        Every payload file by bag-relative path (``data/...``).
    info : iterable of (label, value)
        ``bag-info.txt`` lines in order; ``Payload-Oxum`` is added here.
    more_tags : callable, optional
        Given the tag files written so far (declaration, bag-info, payload manifests) by name, writes more tag
        files (the signed package claim) and returns theirs; the tag manifests then list them too.
    """
    tags: dict[str, Digests] = {}
    tags[BAGIT_TXT] = write_bytes(root / BAGIT_TXT, b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    lines = [f"{label}: {value}\n" for label, value in info]
    lines.append(f"Payload-Oxum: {payload_oxum(payload)}\n")
    tags[BAG_INFO] = write_bytes(root / BAG_INFO, "".join(lines).encode("utf-8"))
    for algorithm in ALGORITHMS:
        name = manifest_name(algorithm)
        tags[name] = write_bytes(root / name, _manifest_text(payload, algorithm))
    if more_tags is not None:
        tags.update(more_tags(dict(tags)))
    for algorithm in ALGORITHMS:
        write_bytes(root / manifest_name(algorithm, tag=True), _manifest_text(tags, algorithm))


def _read_manifest(root: Path, name: str, problems: list[str]) -> dict[str, str]:
    entries: dict[str, str] = {}
    length = {"sha256": 64, "sha512": 128}[name.removesuffix(".txt").rsplit("-", 1)[1]]
    for number, line in enumerate((root / name).read_text(encoding="utf-8").splitlines(), start=1):
        digest, _, path = line.strip().partition(" ")
        path = decode_path(path.strip())
        if len(digest) != length or not path or any(c not in "0123456789abcdefABCDEF" for c in digest):
            problems.append(f"{name}:{number}: malformed line (want '<digest>  <path>')")
        elif path in entries:
            problems.append(f"{name}:{number}: {path} is listed twice")
        else:
            entries[path] = digest.lower()
    return entries


def _bag_files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def verify_fixity(root: Path, workers: int | None = None, progress: Callable[[int], None] | None = None
                  ) -> list[str]:
    """Check a bag's declaration, Payload-Oxum and every file against every manifest.

    Parameters
    ----------
    root : Path
        The bag directory.
    workers : int, optional
        Files hashed at once (default: the number of CPUs).
    progress : callable, optional
        Called with the size of every chunk read.

    Returns
    -------
    list of str
        One readable problem per damaged, missing or unlisted file (naming it), empty when all is well.
    """
    problems: list[str] = []
    declaration = root / BAGIT_TXT
    if not declaration.is_file():
        return [f"{root}: {BAGIT_TXT} missing; this is not a BagIt bag (or not a whole one)"]
    if "BagIt-Version: 1.0" not in declaration.read_text(encoding="utf-8"):
        problems.append(f"{BAGIT_TXT}: does not declare BagIt-Version: 1.0")
    on_disk = _bag_files(root)
    payload_on_disk = {path for path in on_disk if path.startswith(f"{PAYLOAD_DIR}/")}
    expected: dict[str, dict[str, str]] = {}  # path -> algorithm -> digest
    for tag in (False, True):
        for algorithm in ALGORITHMS:
            name = manifest_name(algorithm, tag)
            if name not in on_disk:
                problems.append(f"{name}: missing (the bag cannot be checked without it)")
                continue
            entries = _read_manifest(root, name, problems)
            for path, digest in entries.items():
                expected.setdefault(path, {})[algorithm] = digest
            if not tag:
                problems.extend(f"{path}: present but not listed in {name}"
                                for path in sorted(payload_on_disk - entries.keys()))
    problems.extend(_check_oxum(root, payload_on_disk))
    present = sorted(path for path in expected if path in on_disk)
    problems.extend(f"{path}: missing (listed in the manifests)" for path in sorted(expected) if path not in on_disk)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        actual = dict(zip(present, pool.map(lambda p: digest_file(root / p, progress), present), strict=True))
    for path in present:
        for algorithm, digest in expected[path].items():
            got = getattr(actual[path], algorithm)
            if got != digest:
                problems.append(f"{path}: {algorithm} {got} does not match the manifest's {digest}")
    return problems


def _check_oxum(root: Path, payload_on_disk: set[str]) -> list[str]:
    info = root / BAG_INFO
    if not info.is_file():
        return [f"{BAG_INFO}: missing"]
    for line in info.read_text(encoding="utf-8").splitlines():
        label, _, value = line.partition(":")
        if label.strip().lower() == "payload-oxum":
            octets = sum((root / path).stat().st_size for path in payload_on_disk)
            found = f"{octets}.{len(payload_on_disk)}"
            if value.strip() != found:
                return [f"{BAG_INFO}: Payload-Oxum says {value.strip()} (bytes.files) but data/ holds {found}"]
            return []
    return [f"{BAG_INFO}: no Payload-Oxum"]

