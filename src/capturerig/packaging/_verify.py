"""``capturerig verify``: is a package whole, unchanged and complete against its plan?

Three checks, every problem naming its file or take: fixity (every file against both payload manifests
and both tag manifests, Payload-Oxum, no unlisted payload), calibration (geometry and the rig model are
there) and completeness (every take the plan requires has the cameras its coverage rule asks for, in its
snapshot, with its transforms and COLMAP models; every mask, RGBA image and clean plate package.json names is
there). Frames whose image failed a per-image check at capture
are reported as warnings (``PackageReport.warnings``), not problems.

A signed package (package.json ``provenance.signed``) is also checked for provenance, given the studio's trust
list: every image a frame lists in ``signed_paths`` must carry a C2PA manifest that validates (signature,
certificate chain to the trust list, hard binding to the image's bytes) and that carries the hash of the package's
consent record; the package claim (``package-claim.json`` and its ``.c2pa`` store) must validate and match the
tag files it lists. Each image that fails is named with what is wrong: missing, broken, untrusted signer.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capturerig.packaging._bagit import PAYLOAD_DIR, verify_fixity
from capturerig.packaging._signing import CONSENT_PAYLOAD, PACKAGE_CLAIM, read_claim
from capturerig.provenance import ImageVerdict, Verdict, verify_image

__all__ = ["PackageReport", "check_package", "verify_package"]

PACKAGE_JSON = f"{PAYLOAD_DIR}/package.json"
_REQUIRED_CALIBRATION = ("calibration/geometry.json", "calibration/colmap/cameras.bin",
                         "calibration/colmap/rigs.bin", "calibration/colmap/frames.bin")
_MODEL_FILES = ("cameras.bin", "images.bin", "points3D.bin")
# A frame's files besides its image, as package.json names them (data-relative), and what each is for.
_FRAME_FILES = {"mask_path": "nerfstudio mask", "colmap_mask_path": "COLMAP mask",
                "undistorted_mask_path": "undistorted COLMAP mask", "rgba_path": "RGBA image"}


@dataclass(frozen=True)
class PackageReport:
    """What ``verify`` found.

    Attributes
    ----------
    problems : tuple of str
        One readable line per problem, naming the file (``data/...``) or take; empty when all is well.
    warnings : tuple of str
        Frames built from images that failed a per-image check at capture (``qc`` in package.json), one line
        each: the package is whole, a trainer can use it, and someone should look at those images.
    files : int
        Files in the bag.
    takes_planned, takes_complete : int
        Takes the plan requires, and how many of them the package holds with enough cameras.
    snapshots : int
        Snapshot folders described by ``package.json``.
    geometry_source : str
        ``nominal`` or ``calibration`` (``unknown`` when package.json cannot be read).
    """

    problems: tuple[str, ...]
    files: int
    takes_planned: int
    takes_complete: int
    snapshots: int
    geometry_source: str
    warnings: tuple[str, ...] = ()
    signed: bool = False
    signed_images: int = 0
    provenance: str = ""  # one line: how the package is signed and what was checked, or why it is unsigned
    provenance_warnings: tuple[str, ...] = ()  # a signed package with no trust list to check it against

    @property
    def ok(self) -> bool:
        return not self.problems


def _completeness(root: Path, document: dict[str, Any], problems: list[str]) -> tuple[int, int]:
    data = root / PAYLOAD_DIR
    present: dict[str, set[str]] = {}
    for frame in [*document.get("frames", []), *document.get("plates", [])]:
        if (data / frame["file_path"]).is_file():
            present.setdefault(frame["take_id"], set()).add(frame["camera_id"])
        elif "plates" in Path(frame["file_path"]).parts[:1]:
            problems.append(f"{PAYLOAD_DIR}/{frame['file_path']}: missing (clean plate of take {frame['take_id']}, "
                            f"camera {frame['camera_id']})")
        problems.extend(f"{PAYLOAD_DIR}/{frame[key]}: missing ({what} of {frame['name']})"
                        for key, what in _FRAME_FILES.items() if frame.get(key) and not (data / frame[key]).is_file())
    planned = document.get("planned", [])
    complete = 0
    for take in planned:
        have = present.get(take["take_id"], set())
        wanted = list(take["cameras"])
        if len(have & set(wanted)) >= take["min_cameras"]:
            complete += 1
            continue
        missing = [camera for camera in wanted if camera not in have]
        problems.append(f"take {take['take_id']}: {len(have & set(wanted))} of {len(wanted)} cameras present, the "
                        f"plan needs {take['min_cameras']} (missing: {', '.join(missing)})")
    for snapshot_id, snapshot in document.get("snapshots", {}).items():
        if not snapshot.get("images"):
            continue
        base = f"{PAYLOAD_DIR}/{snapshot['path']}"
        needed = [f"{base}/transforms.json", *(f"{base}/colmap/sparse/0/{n}" for n in _MODEL_FILES)]
        if snapshot.get("undistorted"):
            needed += [f"{base}/undistorted/sparse/0/{n}" for n in _MODEL_FILES]
        problems.extend(f"{path}: missing (snapshot {snapshot_id} needs it)" for path in needed
                        if not (root / path).is_file())
    return len(planned), complete


def _verdict_line(relative: str, verdict: ImageVerdict) -> str:
    why = f": {'; '.join(verdict.problems)}" if verdict.problems else ""
    by = f" (signed by {verdict.signer})" if verdict.signer and verdict.verdict is not Verdict.MISSING else ""
    return f"{relative}: C2PA manifest {verdict.verdict.value}{by}{why}"


def _check_claim(root: Path, trust_pem: bytes, problems: list[str]) -> None:
    """The package claim validates and its tag files' sha256 match the bag's."""
    if not (root / PACKAGE_CLAIM).is_file():
        problems.append(f"{PACKAGE_CLAIM}: missing (a signed package carries its claim beside bagit.txt)")
        return
    verdict = verify_image(root / PACKAGE_CLAIM, trust_pem)
    if not verdict.ok:
        problems.append(_verdict_line(PACKAGE_CLAIM, verdict))
    try:
        claim = read_claim(root) or {}
    except ValueError as exc:
        problems.append(f"{PACKAGE_CLAIM}: not JSON ({exc})")
        return
    for name, listed in sorted((claim.get("tag_files") or {}).items()):
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing (listed in {PACKAGE_CLAIM})")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != listed.get("sha256"):
            problems.append(f"{name}: does not match the sha256 the signed {PACKAGE_CLAIM} gives for it")


def _check_signatures(root: Path, document: dict[str, Any], trust: tuple[bytes | None, str], workers: int | None,
                      problems: list[str], warnings: list[str]) -> tuple[bool, int, str]:
    """Provenance of a signed package (see the module): ``(signed, signed images, one line)``. Without a trust
    list nothing can be said about who signed: a warning, not a problem (fixity still holds the bytes)."""
    provenance = document.get("provenance") or {}
    if not provenance.get("signed"):
        why = provenance.get("why") or "packaged before capturerig signed packages"
        return False, 0, f"unsigned ({why})"
    data = root / PAYLOAD_DIR
    paths = [p for frame in [*document.get("frames", []), *document.get("plates", [])]
             for p in frame.get("signed_paths", [])]
    trust_pem, trust_from = trust
    if trust_pem is None:
        warnings.append(f"{root}: the package is signed ({len(paths)} images) but there is no trust list to check "
                        f"the signatures against ({trust_from}); give --trust PEM (the studio's trust.pem)")
        return True, len(paths), "signed, signatures not checked"
    consent_file = data / CONSENT_PAYLOAD
    consent_sha = hashlib.sha256(consent_file.read_bytes()).hexdigest() if consent_file.is_file() else ""

    def check(relative: str) -> str | None:
        try:
            verdict = verify_image(data / relative, trust_pem)
        except OSError as exc:
            return f"{PAYLOAD_DIR}/{relative}: cannot be read to check its C2PA manifest ({exc.strerror or exc})"
        if not verdict.ok:
            return _verdict_line(f"{PAYLOAD_DIR}/{relative}", verdict)
        carried = verdict.consent.get("consent_record_sha256", "")
        if consent_sha and carried != consent_sha:
            return (f"{PAYLOAD_DIR}/{relative}: its manifest carries consent record sha256 {carried or '(none)'}, not "
                    f"that of {PAYLOAD_DIR}/{CONSENT_PAYLOAD} ({consent_sha}): signed for another consent")
        return None

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        found = [line for line in pool.map(check, paths) if line is not None]
    problems.extend(found)
    _check_claim(root, trust_pem, problems)
    signer = str(provenance.get("signer", "?"))
    test = " (a TEST identity)" if provenance.get("test_identity") else ""
    return True, len(paths), (f"{len(paths) - len(found)} of {len(paths)} signed images verified against "
                              f"{trust_from}; signer {signer}{test}")


def check_package(package_dir: Path, workers: int | None = None,
                  progress: Callable[[int], None] | None = None, *,
                  trust: tuple[bytes | None, str] = (None, "no trust list given")) -> PackageReport:
    """Check a package's fixity, calibration and completeness against its plan.

    Parameters
    ----------
    package_dir : Path
        The bag.
    workers : int, optional
        Files hashed at once (default: the number of CPUs).
    progress : callable, optional
        Called with the size of every chunk read.
    trust : (bytes or None, str)
        The studio's trust list (PEM roots) a signed package's manifests are checked against, and where it came
        from (for messages); ``None`` for a signed package is a problem naming that place.
    """
    root = Path(package_dir)
    if not root.is_dir():
        return PackageReport((f"{root}: no such package directory",), 0, 0, 0, 0, "unknown")
    problems = verify_fixity(root, workers, progress)
    files = sum(1 for path in root.rglob("*") if path.is_file())
    try:
        document = json.loads((root / PACKAGE_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{PACKAGE_JSON}: cannot be read ({exc}); completeness cannot be checked")
        return PackageReport(tuple(problems), files, 0, 0, 0, "unknown")
    for relative in _REQUIRED_CALIBRATION:
        if not (root / PAYLOAD_DIR / relative).is_file():
            problems.append(f"{PAYLOAD_DIR}/{relative}: missing (calibration must travel with the images)")
    colour = document.get("colour", {})
    if colour.get("applied") and not (root / PAYLOAD_DIR / "calibration/colour.json").is_file():
        problems.append(f"{PAYLOAD_DIR}/calibration/colour.json: missing (the images were colour corrected)")
    planned, complete = _completeness(root, document, problems)
    unchecked: list[str] = []
    signed, signed_images, provenance = _check_signatures(root, document, trust, workers, problems, unchecked)
    return PackageReport(tuple(problems), files, planned, complete, len(document.get("snapshots", {})),
                         str(document.get("geometry", {}).get("source", "unknown")), _failed_checks(document),
                         signed, signed_images, provenance, tuple(unchecked))


def _failed_checks(document: dict[str, Any]) -> tuple[str, ...]:
    """A line per frame whose image failed a per-image check when it was captured."""
    lines = []
    for frame in document.get("frames", []):
        checked = frame.get("qc") if isinstance(frame, dict) else None
        if isinstance(checked, dict) and checked.get("verdict") == "fail":
            why = "; ".join(str(r) for r in checked.get("reasons", [])[:2]) or "see data/qc.json"
            lines.append(f"{PAYLOAD_DIR}/{frame.get('file_path', frame.get('name'))}: take {frame.get('take_id')} "
                         f"failed a check when captured ({why})")
    return tuple(lines)


def verify_package(package_dir: Path) -> list[str]:
    """Every problem :func:`check_package` finds, as readable lines (empty when the package is sound)."""
    return list(check_package(package_dir).problems)
