"""Placing one frame of a package: image, undistorted image, masks, RGBA image, XMP sidecar and original.

Each frame is one unit of work for the writer's thread pool, or one Dask task (``_dask``). Every source
byte is read once: the same buffer (or stream) is hashed with sha256 (checked against the journal) and
sha512, linked or copied into the bag, and decoded when the frame needs colour correction or undistortion.

A frame with a mask gets it as each trainer reads it: ``masks/<stem>.png`` (nerfstudio's ``mask_path``),
``colmap/masks/<name>.png`` (COLMAP's ``--ImageReader.mask_path`` naming), ``undistorted/masks/<name>.png``
(warped with the undistorted image's own maps: COLMAP's undistorter does not undistort masks) and, on request,
an RGBA PNG for 3DGS (the mask as alpha, colour zeroed where it is 0). A clean plate (role ``plate``) is an
original only: ``plates/<camera>/<name>``, never a training image.

With a :class:`~capturerig.packaging._signing.FrameSigner`, every image placed (originals, renditions, RGBA; not
masks) is signed from the bytes in memory and written signed: never hard-linked, since signing a link would
change the session's own file. An original gets ``c2pa.created``; a rendition names the original (as the package
holds it, signed, or else the captured bytes) as its ``parentOf`` ingredient.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from capturerig.config import RigConfig
from capturerig.develop import develop_linear, linear_bgr16, neutral_srgb8
from capturerig.packaging._files import Digests, digest_bytes, link_file, place_file, write_bytes
from capturerig.packaging._frames import PackageFrame, PackageIntegrityError
from capturerig.packaging._geometry import Geometry
from capturerig.packaging._lighting import olat_index
from capturerig.packaging._signing import FrameSigner
from capturerig.packaging._undistort import RASTER_EXTENSIONS, Undistorter, decode_image, encode_image
from capturerig.packaging._xmp import DIGITAL_CAPTURE, xmp_packet
from capturerig.provenance import EMBED_FORMATS, Edit

__all__ = ["MASKS_DIR", "PLATES_DIR", "RGBA_DIR", "SNAPSHOTS_DIR", "ColourCorrection", "FramePlacer", "PlacedFrame"]

SNAPSHOTS_DIR = "snapshots"
ORIGINALS_DIR = "originals"
LINEAR_DIR = "linear"  # beside images/: the 16-bit linear renditions of RAW frames
PLATES_DIR = "plates"  # data/plates/<camera>/<name>: the clean plates the masks were made from
MASKS_DIR = "masks"  # in a snapshot: nerfstudio's masks; in colmap/ and undistorted/: COLMAP-named ones
RGBA_DIR = "rgba"  # the image with its mask as alpha: a 3DGS source of its own, images/ + sparse/0 naming them
# (3DGS looks each image up by its model name: a PNG cannot share the JPEG's); undistorted/rgba/ when undistorting
NEUTRAL_RENDITION = ("the camera's own neutral as white balance, its RGB taken as sRGB's primaries, the sRGB "
                     "curve (no colour calibration)")


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
    correct_raw : callable or None
        ``(camera_id, linear16) -> (srgb8, linear_rgb)``: a RAW file's 16-bit linear BGR development in, its
        corrected 8-bit sRGB BGR rendition and linear working-space RGB (0..1, float) out.
    raw_cameras : frozenset of str
        The cameras whose fit was made from RAW chart shots: their RAW frames are corrected, and only those;
        the other cameras' fits correct their images.
    working_space : str
        The space of ``correct_raw``'s linear output.
    """

    correct: Callable[[str, npt.NDArray[np.uint8]], npt.NDArray[np.uint8]]
    document: bytes
    correct_raw: Callable[[str, npt.NDArray[np.uint16]], tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]] \
        | None = None
    raw_cameras: frozenset[str] = frozenset()
    working_space: str = "linear-srgb"


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
    if not link_file(source, target):
        write_bytes(target, data)
    return data, digests


def _make_below(root: Path, directory: Path) -> None:
    """Create ``directory`` and whatever of it is missing below ``root``, never ``root`` itself: a frame still
    being placed (on a Dask worker) when its package was given up and the partial bag removed fails, instead of
    bringing the partial bag back."""
    if directory == root or directory.is_dir():
        return
    _make_below(root, directory.parent)
    try:
        os.mkdir(directory)
    except FileExistsError:  # another frame made it meanwhile
        if not directory.is_dir():
            raise


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
    created : str, optional
        The sidecars' ``xmp:MetadataDate`` (ISO 8601); default: now. One value for the whole package, also
        when its frames are placed by many processes.
    rgba : bool
        Also write each masked image as an RGBA PNG (3DGS reads the alpha channel as its mask).
    """

    def __init__(self, root: Path, rig: RigConfig, geometry: Geometry, undistorter: Undistorter | None,
                 colour: ColourCorrection | None, originals: str, xmp_fields: Mapping[str, str],
                 progress: Callable[[int], None], created: str | None = None, rgba: bool = False,
                 signer: FrameSigner | None = None) -> None:
        self.root = root
        self.rig = rig
        self.geometry = geometry
        self.undistorter = undistorter
        self.colour = colour
        self.keep_originals = originals == "keep"
        self.reference_originals = originals == "reference"
        self.xmp_fields = dict(xmp_fields)
        self.progress = progress
        self.created = created or datetime.now(UTC).isoformat(timespec="seconds")
        self.rgba = rgba
        self.signer = signer

    def close(self) -> None:
        """Release the signers (the key in c2pa's memory); the placer signs no more."""
        if self.signer is not None:
            self.signer.close()

    def _image(self, relative: str, data: bytes, frame: PackageFrame, files: dict[str, Digests],
               edits: tuple[Edit, ...] = (), parent: tuple[str, bytes] | None = None,
               sha256: str | None = None) -> bytes:
        """Write an image a trainer (or an auditor) gets: signed when signing, as given otherwise; the bytes
        written. ``sha256``: the hex digest of ``data`` when known (the signer binds to it without rehashing)."""
        if self.signer is None:
            files[relative] = write_bytes(self._path(relative), data)
            return data
        return self.signer.write(self._path(relative), relative, data, frame, files, edits=edits, parent=parent,
                                 sha256=sha256)

    def _original(self, source: Path, relative: str, frame: PackageFrame, files: dict[str, Digests]
                  ) -> tuple[bytes, Digests, bytes]:
        """Read a captured file once, digest it and put it at ``relative``: hard-linked (or copied) unsigned,
        written signed when signing. ``(captured bytes, their digests, the bytes in the bag)``."""
        if self.signer is None:
            data, digests = _read_link_or_copy(source, self._path(relative))
            files[relative] = digests
            return data, digests, data
        data = source.read_bytes()
        # sha256 only: the captured bytes are checked against the journal, while the bag's manifests hash what is
        # written, the signed bytes (a sha512 of these would cost ~20 ms per 16 MB and serve nothing).
        digests = Digests(len(data), hashlib.sha256(data).hexdigest(), "")
        if digests.sha256 != frame.sha256.lower():  # before anything of it is signed
            raise PackageIntegrityError(frame.name, source, frame.sha256.lower(), digests.sha256)
        return data, digests, self._image(relative, data, frame, files, sha256=digests.sha256)

    def _original_streamed(self, source: Path, relative: str, frame: PackageFrame, files: dict[str, Digests]
                           ) -> tuple[bytes, Digests]:
        """An original nothing else reads, signed: a JPEG is signed while copied in chunks (hashed hot in cache, as
        the unsigned copy is; its progress reported on the way, so the bytes returned are empty), anything else
        from memory. ``(captured bytes or b"", their digests)``; raises when they are not the journal's."""
        assert self.signer is not None
        digests = self.signer.stream_original(source, self._path(relative), relative, frame, files, self.progress)
        if digests is None:
            data, digests, _ = self._original(source, relative, frame, files)
            return data, digests
        if digests.sha256 != frame.sha256.lower():  # nothing was published
            raise PackageIntegrityError(frame.name, source, frame.sha256.lower(), digests.sha256)
        return b"", digests

    def _path(self, relative: str) -> Path:
        path = self.root / relative
        _make_below(self.root, path.parent)
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
        if frame.role == "raw-rendition":
            return self._place_raw(frame)
        if frame.role == "companion":
            return self._place_companion(frame)
        if frame.role == "plate":
            return self._place_plate(frame)
        if self.colour is not None and frame.camera_id in self.colour.raw_cameras \
                and Path(frame.name).suffix.lower() in RASTER_EXTENSIONS:
            raise ValueError(f"frame '{frame.name}': {frame.camera_id}'s colour calibration was made from RAW files "
                             "and corrects only its RAW frames; calibrate it from images for these")
        snapshot = f"data/{SNAPSHOTS_DIR}/{frame.snapshot_id}"
        source = Path(frame.source)
        extension = source.suffix.lower() if source.suffix else Path(frame.name).suffix.lower()
        raster = Path(frame.name).suffix.lower() in RASTER_EXTENSIONS
        files: dict[str, Digests] = {}
        image_path = f"{snapshot}/{'images' if raster else 'raw'}/{frame.name}"
        corrected = raster and self.colour is not None
        needs_pixels = raster and (self.colour is not None or self.undistorter is not None
                                   or (self.rgba and frame.mask is not None))
        data = b""
        parent = (source.name, b"")  # the original a rendition names: as the bag holds it, else as captured
        if not needs_pixels and self.signer is None:
            original = place_file(source, self._path(image_path), self.progress)
            files[image_path] = original
        elif not needs_pixels:
            data, original = self._original_streamed(source, image_path, frame, files)
        elif corrected and self.keep_originals:
            original_path = f"data/{ORIGINALS_DIR}/{frame.name}"
            data, original, kept = self._original(source, original_path, frame, files)
            parent = (frame.name, kept)
        elif corrected:
            data = source.read_bytes()
            original = digest_bytes(data)
            parent = (source.name, data)
        else:
            data, original, kept = self._original(source, image_path, frame, files)
            parent = (frame.name, kept)
        if needs_pixels or self.signer is not None:
            self.progress(len(data))
        if original.sha256 != frame.sha256.lower():
            raise PackageIntegrityError(frame.name, source, frame.sha256.lower(), original.sha256)
        entry: dict[str, Any] = {"file_path": image_path.removeprefix("data/")}
        pixels: npt.NDArray[Any] | None = None
        undistorted_pixels: npt.NDArray[Any] | None = None
        edits: tuple[Edit, ...] = (Edit.COLOUR_CORRECTION,) if corrected else ()
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
                self._image(image_path, encode_image(pixels, extension, where), frame, files,
                            (Edit.COLOUR_CORRECTION,), parent)
                if self.keep_originals:
                    entry["original_path"] = f"{ORIGINALS_DIR}/{frame.name}"
                elif self.reference_originals:
                    entry["original_reference"] = {"path": str(source.resolve()), "sha256": original.sha256}
            if self.undistorter is not None:
                undistorted = f"{snapshot}/undistorted/images/{frame.name}"
                undistorted_pixels = self.undistorter.undistort(frame.camera_id, pixels)
                encoded = encode_image(undistorted_pixels, extension, where)
                self._image(undistorted, encoded, frame, files, (*edits, Edit.UNDISTORTION), parent)
                entry["undistorted_path"] = undistorted.removeprefix("data/")
        if frame.mask is not None and raster:
            self._place_masks(frame, Path(frame.mask), snapshot, (pixels, undistorted_pixels), files, entry,
                              (edits, parent))
        xmp_path = f"{snapshot}/xmp/{frame.name}.xmp"
        files[xmp_path] = write_bytes(self._path(xmp_path), self._xmp(frame, corrected))
        entry.update(
            xmp_path=xmp_path.removeprefix("data/"), packaged_sha256=files[image_path].sha256,
            bytes=files[image_path].size, captured_bytes=original.size, colour_corrected=corrected)
        self._signed(entry, files)
        return PlacedFrame(files, entry, raster)

    def _signed(self, entry: dict[str, Any], files: dict[str, Digests]) -> None:
        """package.json's list of the frame's signed images (what verify checks), when signing."""
        if self.signer is not None:
            entry["signed_paths"] = sorted(path.removeprefix("data/") for path in files
                                           if (path.lower().endswith(tuple(EMBED_FORMATS)) or f"{path}.c2pa" in files)
                                           and f"/{MASKS_DIR}/" not in path)

    def _place_masks(self, frame: PackageFrame, source: Path, snapshot: str,
                     pixels: tuple[npt.NDArray[Any] | None, npt.NDArray[Any] | None], files: dict[str, Digests],
                     entry: dict[str, Any], lineage: tuple[tuple[Edit, ...], tuple[str, bytes]]) -> None:
        """The frame's mask ``source`` for each trainer (see the module); ``pixels``, the image as packaged and
        undistorted (None: not decoded), for RGBA; ``lineage``, the image's edits and original, for the RGBA
        image's manifest."""
        data = source.read_bytes()
        where = f"frame '{frame.name}': mask {source}"
        mask = decode_image(data, where)
        camera = self.geometry.cameras[frame.camera_id]
        # nerfstudio's rules: one channel, 8 bits, the image's size, black (0) = ignore; we write 0/255 only.
        if mask.dtype != np.uint8 or mask.ndim != 2:
            raise ValueError(f"{where}: want a single-channel 8-bit PNG, got {mask.dtype} with shape {mask.shape}")
        if mask.shape != (camera.height, camera.width):
            raise ValueError(f"{where}: {mask.shape[1]}x{mask.shape[0]} but camera {frame.camera_id} is "
                             f"{camera.width}x{camera.height}")
        if not np.isin(mask, (0, 255)).all():
            raise ValueError(f"{where}: holds values other than 0 and 255")
        stem = Path(frame.name).stem
        mask_path = f"{snapshot}/{MASKS_DIR}/{stem}.png"
        colmap_path = f"{snapshot}/colmap/{MASKS_DIR}/{frame.name}.png"  # COLMAP: <image name>.png
        for path in (mask_path, colmap_path):
            files[path] = write_bytes(self._path(path), data)
        entry.update(mask_path=mask_path.removeprefix("data/"), colmap_mask_path=colmap_path.removeprefix("data/"))
        rgba_source, rgba_mask, rgba_path = pixels[0], mask, f"{snapshot}/{RGBA_DIR}/images/{stem}.png"
        edits = lineage[0]
        if self.undistorter is not None:
            undistorted_mask = self.undistorter.undistort_mask(frame.camera_id, mask)
            undistorted_path = f"{snapshot}/undistorted/{MASKS_DIR}/{frame.name}.png"
            files[undistorted_path] = write_bytes(self._path(undistorted_path),
                                                  encode_image(undistorted_mask, ".png", where))
            entry["undistorted_mask_path"] = undistorted_path.removeprefix("data/")
            rgba_source = pixels[1]
            rgba_mask, rgba_path = undistorted_mask, f"{snapshot}/undistorted/{RGBA_DIR}/images/{stem}.png"
            edits = (*edits, Edit.UNDISTORTION)
        if self.rgba and rgba_source is not None:
            self._image(rgba_path, encode_image(_rgba(rgba_source, rgba_mask, where), ".png", where), frame, files,
                        (*edits, Edit.MASK_ALPHA), lineage[1])
            entry["rgba_path"] = rgba_path.removeprefix("data/")

    def _place_plate(self, frame: PackageFrame) -> PlacedFrame:
        """A clean plate of the empty rig: kept as captured, checked against its journalled sha256."""
        path = f"data/{PLATES_DIR}/{frame.camera_id}/{frame.name}"
        files, placed = self._place_original(frame, path)
        entry = {"file_path": path.removeprefix("data/"), "packaged_sha256": files[path].sha256,
                 "bytes": files[path].size, "captured_bytes": placed.size, "colour_corrected": False}
        self._signed(entry, files)
        return PlacedFrame(files, entry, raster=False)

    def _place_original(self, frame: PackageFrame, path: str) -> tuple[dict[str, Digests], Digests]:
        """A captured file kept as it is (signed when signing), checked against its journalled sha256: the bag's
        files and the captured file's digests."""
        files: dict[str, Digests] = {}
        if self.signer is not None:
            data, placed = self._original_streamed(Path(frame.source), path, frame, files)
            self.progress(len(data))
            return files, placed
        placed = place_file(Path(frame.source), self._path(path), self.progress)
        if placed.sha256 != frame.sha256.lower():
            raise PackageIntegrityError(frame.name, Path(frame.source), frame.sha256.lower(), placed.sha256)
        return {path: placed}, placed

    def _read_checked(self, frame: PackageFrame) -> tuple[bytes, Digests]:
        source = Path(frame.source)
        data = source.read_bytes()
        self.progress(len(data))
        digests = digest_bytes(data)
        if digests.sha256 != frame.sha256.lower():
            raise PackageIntegrityError(frame.name, source, frame.sha256.lower(), digests.sha256)
        return data, digests

    def _place_companion(self, frame: PackageFrame) -> PlacedFrame:
        """The camera's own JPEG beside its RAW file: an original, not a trainer's image."""
        path = f"data/{ORIGINALS_DIR}/{frame.name}"
        files, placed = self._place_original(frame, path)
        entry = {"file_path": path.removeprefix("data/"), "companion_of_raw": True,
                 "packaged_sha256": files[path].sha256, "bytes": files[path].size, "captured_bytes": placed.size,
                 "colour_corrected": False}
        self._signed(entry, files)
        return PlacedFrame(files, entry, raster=False)

    def _place_raw(self, frame: PackageFrame) -> PlacedFrame:
        """A RAW frame: its 8-bit sRGB rendition in images/ (what trainers read), its 16-bit linear one in
        linear/, the RAW file itself in raw/ (or referenced, or left out, per ``originals``)."""
        snapshot = f"data/{SNAPSHOTS_DIR}/{frame.snapshot_id}"
        source = Path(frame.source)
        where = f"frame '{frame.name}' ({source})"
        data, original = self._read_checked(frame)
        files: dict[str, Digests] = {}
        entry: dict[str, Any] = {}
        raw_path = f"{snapshot}/raw/{Path(frame.name).stem}{source.suffix.lower()}"
        parent = (source.name, data)
        if self.reference_originals:
            entry["original_reference"] = {"path": str(source.resolve()), "sha256": original.sha256}
        elif self.keep_originals:
            parent = (Path(raw_path).name, self._image(raw_path, data, frame, files))
            entry["raw_path"] = raw_path.removeprefix("data/")
        developed = develop_linear(data, name=where)  # a DevelopError (a ValueError) names the frame and file
        geometry = self.geometry.cameras[frame.camera_id]
        if developed.rgb.shape[:2] != (geometry.height, geometry.width):
            raise ValueError(f"{where}: RAW develops to {developed.rgb.shape[1]}x{developed.rgb.shape[0]} but camera "
                             f"{frame.camera_id} is {geometry.width}x{geometry.height} in the geometry")
        if self.colour is not None:
            if self.colour.correct_raw is None or frame.camera_id not in self.colour.raw_cameras:
                raise ValueError(f"{where}: {frame.camera_id}'s colour calibration was made from images; its RAW "
                                 "frames need one made from RAW chart shots (capturerig calibrate colour --images "
                                 "DIR/<camera>/*.dng)")
            srgb8, linear_rgb = self.colour.correct_raw(frame.camera_id, linear_bgr16(developed))
            linear_space = self.colour.working_space
        else:
            srgb8, linear_rgb, linear_space = neutral_srgb8(developed), developed.rgb, "camera RGB"
        image_path = f"{snapshot}/images/{frame.name}"
        edits = (Edit.DEVELOPMENT, *((Edit.COLOUR_CORRECTION,) if self.colour is not None else ()))
        self._image(image_path, encode_image(srgb8, ".png", where), frame, files, edits, parent)
        linear_path = f"{snapshot}/{LINEAR_DIR}/{Path(frame.name).stem}.tif"
        rgb16 = np.rint(np.clip(linear_rgb, 0.0, 1.0) * np.float32(65535.0)).astype(np.uint16)
        self._image(linear_path, _tiff_bytes(rgb16), frame, files, (Edit.LINEARISATION,), parent)
        entry.update(file_path=image_path.removeprefix("data/"), linear_path=linear_path.removeprefix("data/"),
                     rendition={"from": source.name, "developed": "LibRaw, linear (capturerig.develop)",
                                "colour": "colour.json (made from RAW)" if self.colour is not None
                                else NEUTRAL_RENDITION, "linear_space": linear_space, "linear_encoding":
                                "16-bit TIFF, RGB, 0..65535 for 0..1 of the sensor's white level"})
        undistorted_srgb8 = None
        if self.undistorter is not None:
            undistorted = f"{snapshot}/undistorted/images/{frame.name}"
            undistorted_srgb8 = self.undistorter.undistort(frame.camera_id, srgb8)
            encoded = encode_image(undistorted_srgb8, ".png", where)
            self._image(undistorted, encoded, frame, files, (*edits, Edit.UNDISTORTION), parent)
            entry["undistorted_path"] = undistorted.removeprefix("data/")
        if frame.mask is not None:
            self._place_masks(frame, Path(frame.mask), snapshot, (srgb8, undistorted_srgb8), files, entry,
                              (edits, parent))
        corrected = self.colour is not None
        xmp_path = f"{snapshot}/xmp/{frame.name}.xmp"
        files[xmp_path] = write_bytes(self._path(xmp_path), self._xmp(frame, corrected))
        entry.update(xmp_path=xmp_path.removeprefix("data/"), packaged_sha256=files[image_path].sha256,
                     bytes=files[image_path].size, captured_bytes=original.size, colour_corrected=corrected)
        self._signed(entry, files)
        return PlacedFrame(files, entry, raster=True)


def _rgba(pixels: npt.NDArray[Any], mask: npt.NDArray[Any], where: str) -> npt.NDArray[np.uint8]:
    """BGRA for OpenCV's PNG writer: the image's colour zeroed where the mask is 0 (3DGS multiplies its render by
    the alpha and compares it with the stored colour), the mask as alpha."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"{where}: an RGBA image needs an 8-bit colour image, got {pixels.dtype} {pixels.shape}")
    keep = (mask > 0)[..., None]
    return np.concatenate([np.where(keep, pixels, 0), mask[..., None]], axis=2).astype(np.uint8)


def _tiff_bytes(rgb16: npt.NDArray[np.uint16]) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, rgb16, photometric="rgb", metadata=None)
    return buffer.getvalue()
