"""``capturerig verify``: is a package whole, unchanged and complete against its plan?

Three checks, every problem naming its file or take: fixity (every file against both payload manifests
and both tag manifests, Payload-Oxum, no unlisted payload), calibration (geometry and the rig model are
there) and completeness (every take the plan requires has the cameras its coverage rule asks for, in its
snapshot, with its transforms and COLMAP models; every mask, RGBA image and clean plate package.json names is
there). Frames whose image failed a per-image check at capture
are reported as warnings (``PackageReport.warnings``), not problems.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capturerig.packaging._bagit import PAYLOAD_DIR, verify_fixity

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


def check_package(package_dir: Path, workers: int | None = None,
                  progress: Callable[[int], None] | None = None) -> PackageReport:
    """Check a package's fixity, calibration and completeness against its plan.

    Parameters
    ----------
    package_dir : Path
        The bag.
    workers : int, optional
        Files hashed at once (default: the number of CPUs).
    progress : callable, optional
        Called with the size of every chunk read.
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
    return PackageReport(tuple(problems), files, planned, complete, len(document.get("snapshots", {})),
                         str(document.get("geometry", {}).get("source", "unknown")), _failed_checks(document))


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
