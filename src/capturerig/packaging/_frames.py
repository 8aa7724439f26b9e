"""What the engine hands the package writer (one verified file per frame) and what it gets back."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capturerig.config import RigConfig

__all__ = [
    "PackageFrame",
    "PackageIntegrityError",
    "PackageSummary",
    "PlannedTake",
    "validate_frames",
]

# Names become file names inside images/ and lines of the manifests ("<digest>  <path>"), so keep them to
# a portable, whitespace-free alphabet with no directory parts and no hidden files.
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_SHA256_PATTERN = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class PackageFrame:
    """One verified image of a session and everything the package records about it.

    Attributes
    ----------
    source : Path
        The verified image file in the session folder.
    name : str
        Globally unique flat file name inside the package, e.g. ``cam07_p00_s01_l03.jpg``.
    camera_id : str
        Id of a camera of the rig.
    pose_id, station_id, light_id, bracket_id : str
        Plan ids of the take this frame belongs to.
    station_angle_deg : float or None
        Turntable angle at capture in degrees; ``None`` for a rig position without a turntable.
    sha256 : str
        Hex digest recorded when the file was verified; the packaged file must still match it.
    lighting : Mapping[str, Any]
        Metadata of the lighting condition (id, name, levels, DMX frames as hex or lists).
    snapshot : str
        The snapshot folder this image belongs to (one per pose x lighting state [x bracket]); default
        ``<pose>_<light>`` (``_<bracket>`` added by the engine when the plan brackets).
    take_id : str
        The plan's take id (default ``pose/station/light/bracket``).
    exposed_at, stored_at : float or None
        Seconds since the epoch (``time.time()``) of the exposure and of the verified write.
    exposure : Mapping[str, str]
        Camera settings in force (``iso``, ``shutter``, ``aperture``, ``whitebalance`` ...).
    mask : Path or None
        A subject mask for this image (PNG, white = subject), when one exists.
    qc : Mapping or None
        The per-image checks of this file when it was captured (``verdict`` ok / warn / fail, ``action``,
        ``checks``: each ``check``, ``verdict``, ``reason``); None when it was not checked. Written to
        ``data/qc.json`` and, as the verdict and reasons, into the frame's ``package.json`` entry.
    role : {"image", "raw-rendition", "companion", "plate"}
        ``image``: the captured file is the trainers' image (or packaged as it is, for a format they cannot
        read). ``raw-rendition``: ``source`` is a RAW file; ``name`` (a PNG) is its 8-bit sRGB rendition, with
        a 16-bit linear one beside it and the RAW kept as the original. ``companion``: the camera's own JPEG
        written beside a RAW file, kept as an original only. ``plate``: a clean plate of the empty rig (the
        plan's ``plate`` pose), kept under ``data/plates/<camera>/`` as captured; never a training image.
    """

    source: Path
    name: str
    camera_id: str
    pose_id: str
    station_id: str
    light_id: str
    bracket_id: str
    station_angle_deg: float | None
    sha256: str
    lighting: Mapping[str, Any]
    snapshot: str = ""
    take_id: str = ""
    exposed_at: float | None = None
    stored_at: float | None = None
    exposure: Mapping[str, str] = field(default_factory=dict)
    mask: Path | None = None
    role: str = "image"
    qc: Mapping[str, Any] | None = None

    @property
    def snapshot_id(self) -> str:
        """The snapshot folder name."""
        return self.snapshot or f"{self.pose_id}_{self.light_id}"

    @property
    def plan_take_id(self) -> str:
        """The take id."""
        return self.take_id or f"{self.pose_id}/{self.station_id}/{self.light_id}/{self.bracket_id}"


@dataclass(frozen=True)
class PlannedTake:
    """A take the plan requires, so ``verify`` can tell a whole package from a partial one.

    Attributes
    ----------
    take_id : str
        ``pose/station/light/bracket``.
    cameras : tuple of str
        The cameras the plan triggers for it.
    min_cameras : int
        How many of them must be present for the take to count (the plan's coverage rule).
    """

    take_id: str
    cameras: tuple[str, ...]
    min_cameras: int


@dataclass(frozen=True)
class PackageSummary:
    """What :func:`write_package` produced.

    Attributes
    ----------
    out_dir : Path
        The bag.
    data_dir : Path
        ``data/``, the training root.
    snapshots : tuple of Path
        One training folder per pose x lighting state (``transforms.json``, ``images/``,
        ``colmap/sparse/0``, ``undistorted/``).
    num_images : int
        Number of packaged images (one per frame).
    num_cameras : int
        Number of distinct rig cameras that appear in the package (one COLMAP camera each).
    geometry_source : str
        ``"nominal"`` or ``"calibration"``.
    colour_applied : bool
        Whether colour correction was applied to the images.
    manifest_path : Path
        ``manifest-sha256.txt``.
    total_bytes : int
        Size of every file in the bag.
    geometry_id : str or None
        The geometry calibration's id (None with nominal values).
    geometry_rms_px : float or None
        Its reprojection RMS over every camera, in pixels.
    """

    out_dir: Path
    data_dir: Path
    snapshots: tuple[Path, ...]
    num_images: int
    num_cameras: int
    geometry_source: str
    colour_applied: bool
    manifest_path: Path
    total_bytes: int
    geometry_id: str | None = None
    geometry_rms_px: float | None = None


class PackageIntegrityError(ValueError):
    """A file about to be packaged no longer matches the sha256 recorded when it was verified.

    Raised instead of packaging it: a training set that silently differs from what the journal proved
    was captured is worse than no package at all.
    """

    def __init__(self, name: str, source: Path, expected: str, actual: str) -> None:
        super().__init__(
            f"frame '{name}': {source} changed after it was verified "
            f"(recorded sha256 {expected}, now {actual}); re-verify or re-shoot this take before packaging"
        )
        self.name = name
        self.source = source
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[Any, ...]:
        # Its four fields, not ValueError's one message: so it crosses from a Dask worker as it was raised.
        return PackageIntegrityError, (self.name, self.source, self.expected, self.actual)


def validate_frames(rig: RigConfig, frames: Sequence[PackageFrame]) -> None:
    """Refuse frames the package could not represent faithfully.

    Parameters
    ----------
    rig : RigConfig
        The rig the frames were shot with.
    frames : Sequence[PackageFrame]
        The frames to package.

    Raises
    ------
    ValueError
        Naming the first offending frame: no frames, a bad or duplicate name, an unknown camera,
        a malformed sha256, a non-finite station angle or a missing source file.
    """
    if not frames:
        raise ValueError("nothing to package: no frames given")
    camera_ids = {camera.id for camera in rig.cameras}
    seen: dict[str, str] = {}
    for index, frame in enumerate(frames):
        where = f"frame {index} ('{frame.name}')"
        if not _NAME_PATTERN.match(frame.name):
            raise ValueError(
                f"{where}: name must be a flat file name of letters, digits, '.', '_' or '-' "
                "(no directories or spaces, not starting with '.')"
            )
        # Case-folded, because two names differing only in case collide on macOS and Windows volumes.
        key = frame.name.casefold()
        if key in seen:
            raise ValueError(f"{where}: duplicate name (already used by '{seen[key]}')")
        seen[key] = frame.name
        if frame.camera_id not in camera_ids:
            raise ValueError(f"{where}: camera '{frame.camera_id}' is not a camera of rig '{rig.name}'")
        if not _SHA256_PATTERN.match(frame.sha256):
            raise ValueError(f"{where}: sha256 must be 64 hex digits, got '{frame.sha256}'")
        if frame.station_angle_deg is not None and not math.isfinite(frame.station_angle_deg):
            raise ValueError(f"{where}: station angle {frame.station_angle_deg} is not a finite number")
        if not Path(frame.source).is_file():
            raise ValueError(f"{where}: source file {frame.source} does not exist or is not a file")
        if not _NAME_PATTERN.match(frame.snapshot_id):
            raise ValueError(f"{where}: snapshot '{frame.snapshot_id}' must be a flat folder name")
        if frame.role == "plate" and frame.mask is not None:
            raise ValueError(f"{where}: a clean plate has no mask (it is the empty rig)")
        if frame.mask is not None and not Path(frame.mask).is_file():
            raise ValueError(f"{where}: mask {frame.mask} does not exist or is not a file")
