"""Placing one frame of a package: image, undistorted image, mask, XMP sidecar and original.

Each frame is one unit of work for the writer's thread pool. Every source byte is read once: the same
buffer (or stream) is hashed with sha256 (checked against the journal) and sha512, linked or copied into
the bag, and decoded when the frame needs colour correction or undistortion.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from capturerig.config import RigConfig
from capturerig.packaging._files import Digests, digest_bytes, place_file, write_bytes
from capturerig.packaging._frames import PackageFrame, PackageIntegrityError
from capturerig.packaging._geometry import Geometry
from capturerig.packaging._lighting import olat_index
from capturerig.packaging._undistort import RASTER_EXTENSIONS, Undistorter, decode_image, encode_image
from capturerig.packaging._xmp import DIGITAL_CAPTURE, xmp_packet

__all__ = ["SNAPSHOTS_DIR", "ColourCorrection", "FramePlacer", "PlacedFrame"]

SNAPSHOTS_DIR = "snapshots"
ORIGINALS_DIR = "originals"


@dataclass(frozen=True)
class ColourCorrection:
    """Colour correction to apply per camera while packaging.

    Attributes
    ----------
    correct : callable
        ``(camera_id, image) -> image``: an 8-bit BGR image in, the corrected 8-bit BGR image out
        (``ColourCalibration.correct`` of the colour calibration).
    document : bytes
        The ``colour.json`` it came from, stored in ``data/calibration/``.
    """

    correct: Callable[[str, npt.NDArray[np.uint8]], npt.NDArray[np.uint8]]
    document: bytes


@dataclass(frozen=True)
class PlacedFrame:
    """What placing one frame wrote: bag paths with their digests and the frame's ``package.json`` entry."""

    files: dict[str, Digests]
    entry: dict[str, Any]
    raster: bool


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def _read_link_or_copy(source: Path, target: Path) -> tuple[bytes, Digests]:
    """Read ``source`` once, digest it, and put it at ``target`` (hard link, or the bytes just read)."""
    data = source.read_bytes()
    digests = digest_bytes(data)
    try:
        os.link(source, target)
    except OSError:
        write_bytes(target, data)
    return data, digests


class FramePlacer:
    """Places frames into a bag being assembled under ``root`` (thread-safe: one call per frame).

    Parameters
    ----------
    root : Path
        The partial bag directory (holds ``data/``).
    rig : RigConfig
        For camera serials, groups and rig positions.
    geometry : Geometry
        Every decoded image must have its camera's size.
    undistorter : Undistorter or None
        Makes ``undistorted/images``; None leaves them out.
    colour : ColourCorrection or None
        Colour correction; None packages the captured pixels unchanged.
    originals : {"keep", "reference", "drop"}
        With colour correction: also put the captured file under ``data/originals/``, record where it is
        (path and sha256), or neither.
    xmp_fields : Mapping[str, str]
        Merged into (and over) every image's XMP.
    progress : callable
        Called with the number of source bytes read.
    """

    def __init__(self, root: Path, rig: RigConfig, geometry: Geometry, undistorter: Undistorter | None,
                 colour: ColourCorrection | None, originals: str, xmp_fields: Mapping[str, str],
                 progress: Callable[[int], None]) -> None:
        self.root = root
        self.rig = rig
        self.geometry = geometry
        self.undistorter = undistorter
        self.colour = colour
        self.keep_originals = originals == "keep"
        self.reference_originals = originals == "reference"
        self.xmp_fields = dict(xmp_fields)
        self.progress = progress
        self.created = datetime.now(UTC).isoformat(timespec="seconds")

    def _path(self, relative: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _xmp(self, frame: PackageFrame, corrected: bool) -> bytes:
        camera = self.rig.camera(frame.camera_id)
        lighting = frame.lighting
        fields: dict[str, str | list[str]] = {
            "Iptc4xmpExt:DigitalSourceType": DIGITAL_CAPTURE,
            "xmp:CreatorTool": "capturerig",
            "xmp:MetadataDate": self.created,
            "exifEX:BodySerialNumber": camera.serial,
            "aux:SerialNumber": camera.serial,
            "tiff:Model": camera.body,
            "capturerig:CameraId": camera.id,
            "capturerig:CameraGroup": camera.group,
            "capturerig:RigPosition": " ".join(f"{c:g}" for c in camera.pose.position),
            "capturerig:Take": frame.plan_take_id,
            "capturerig:Pose": frame.pose_id,
            "capturerig:Station": frame.station_id,
            "capturerig:Bracket": frame.bracket_id,
            "capturerig:Snapshot": frame.snapshot_id,
            "capturerig:LightingState": frame.light_id,
            "capturerig:LightingName": str(lighting.get("name", "")),
            "capturerig:Polarisation": str(lighting.get("polarisation", "none")),
            "capturerig:LightingLevels": json.dumps(lighting.get("levels", {}), sort_keys=True),
            "capturerig:OriginalSha256": frame.sha256.lower(),
            "capturerig:ColourCorrected": "True" if corrected else "False",
        }
        if frame.station_angle_deg is not None:
            fields["capturerig:StationAngle"] = f"{frame.station_angle_deg:g}"
        index = olat_index(self.rig, lighting)
        if index is not None:
            fields["capturerig:OlatIndex"] = str(index)
        if (exposed := _iso(frame.exposed_at)) is not None:
            fields["exif:DateTimeOriginal"] = exposed
            fields["xmp:CreateDate"] = exposed
        if (stored := _iso(frame.stored_at)) is not None:
            fields["capturerig:StoredAt"] = stored
        settings = dict(frame.exposure)
        if "shutter" in settings:
            fields["exif:ExposureTime"] = settings.pop("shutter")
        if "aperture" in settings:
            fields["exif:FNumber"] = settings.pop("aperture")
        if "iso" in settings:
            iso = settings.pop("iso")
            fields["exif:ISOSpeedRatings"] = [iso]
            fields["exifEX:PhotographicSensitivity"] = iso
        if settings:
            fields["capturerig:CameraSettings"] = json.dumps(settings, sort_keys=True)
        fields.update(self.xmp_fields)
        return xmp_packet(fields)

    def place(self, frame: PackageFrame) -> PlacedFrame:
        """Write everything of one frame; raises PackageIntegrityError when the source changed."""
        snapshot = f"data/{SNAPSHOTS_DIR}/{frame.snapshot_id}"
        source = Path(frame.source)
        extension = source.suffix.lower() if source.suffix else Path(frame.name).suffix.lower()
        raster = Path(frame.name).suffix.lower() in RASTER_EXTENSIONS
        files: dict[str, Digests] = {}
        image_path = f"{snapshot}/{'images' if raster else 'raw'}/{frame.name}"
        corrected = raster and self.colour is not None
        needs_pixels = raster and (self.colour is not None or self.undistorter is not None)
        data = b""
        if not needs_pixels:
            original = place_file(source, self._path(image_path), self.progress)
            files[image_path] = original
        elif corrected and self.keep_originals:
            original_path = f"data/{ORIGINALS_DIR}/{frame.name}"
            data, original = _read_link_or_copy(source, self._path(original_path))
            files[original_path] = original
        elif corrected:
            data = source.read_bytes()
            original = digest_bytes(data)
        else:
            data, original = _read_link_or_copy(source, self._path(image_path))
            files[image_path] = original
        if needs_pixels:
            self.progress(len(data))
        if original.sha256 != frame.sha256.lower():
            raise PackageIntegrityError(frame.name, source, frame.sha256.lower(), original.sha256)
        entry: dict[str, Any] = {"file_path": image_path.removeprefix("data/")}
        if needs_pixels:
            where = f"frame '{frame.name}' ({source})"
            pixels = decode_image(data, where)
            geometry = self.geometry.cameras[frame.camera_id]
            if pixels.shape[:2] != (geometry.height, geometry.width):
                raise ValueError(f"{where}: image is {pixels.shape[1]}x{pixels.shape[0]} but camera {frame.camera_id} "
                                 f"is {geometry.width}x{geometry.height} in the geometry; wrong camera or calibration?")
            if self.colour is not None:
                if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
                    raise ValueError(f"{where}: colour correction needs an 8-bit colour image, got "
                                     f"{pixels.dtype} with shape {pixels.shape}")
                pixels = self.colour.correct(frame.camera_id, pixels.astype(np.uint8))
                files[image_path] = write_bytes(self._path(image_path), encode_image(pixels, extension, where))
                if self.keep_originals:
                    entry["original_path"] = f"{ORIGINALS_DIR}/{frame.name}"
                elif self.reference_originals:
                    entry["original_reference"] = {"path": str(source.resolve()), "sha256": original.sha256}
            if self.undistorter is not None:
                undistorted = f"{snapshot}/undistorted/images/{frame.name}"
                encoded = encode_image(self.undistorter.undistort(frame.camera_id, pixels), extension, where)
                files[undistorted] = write_bytes(self._path(undistorted), encoded)
                entry["undistorted_path"] = undistorted.removeprefix("data/")
        if frame.mask is not None and raster:
            mask_path = f"{snapshot}/masks/{Path(frame.name).stem}.png"
            files[mask_path] = place_file(Path(frame.mask), self._path(mask_path))
            entry["mask_path"] = mask_path.removeprefix("data/")
        xmp_path = f"{snapshot}/xmp/{frame.name}.xmp"
        files[xmp_path] = write_bytes(self._path(xmp_path), self._xmp(frame, corrected))
        entry.update(
            xmp_path=xmp_path.removeprefix("data/"), packaged_sha256=files[image_path].sha256,
            bytes=files[image_path].size, captured_bytes=original.size, colour_corrected=corrected)
        return PlacedFrame(files, entry, raster)
