"""Write a training package: images, COLMAP model, transforms.json, package.json and a sha256 manifest.

The package root is the training root: nerfstudio, 3DGS and gsplat read it as it is. It is assembled in a
hidden sibling directory and renamed into place only when complete and fsynced, so a crash leaves either
no package or a whole one (plus a ``.<name>.partial-*`` directory that is obviously not a package).
"""

from __future__ import annotations

import math
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from capturerig.config import RigConfig
from capturerig.packaging._colmap import colmap_model_name, write_colmap_model
from capturerig.packaging._files import (
    MANIFEST_NAME,
    fsync_dir,
    fsync_file,
    place_image,
    write_json,
    write_manifest,
)
from capturerig.packaging._frames import PackageFrame, PackageIntegrityError, PackageSummary, validate_frames
from capturerig.packaging._geometry import PIXEL_CENTRE_OFFSET
from capturerig.packaging._nerfstudio import IMAGES_DIR, transforms_document

__all__ = ["PACKAGE_FORMAT_VERSION", "write_package"]

PACKAGE_FORMAT_VERSION = 1
COLMAP_DIR = "sparse/0"
TRANSFORMS_NAME = "transforms.json"
PACKAGE_JSON_NAME = "package.json"

_CONVENTIONS = {
    "world": (
        "subject frame: metres, z up, origin at the turntable centre on the floor; at station angle a the "
        "turntable has rotated the subject about +z by a, so subject point p is at rig point Rz(a) p "
        "(stations without a turntable angle use the rig frame unchanged)"
    ),
    "colmap": (
        f"{COLMAP_DIR}: cam_from_world with x_cam = R x_world + t, OpenCV camera axes "
        "(x right, y down, z forward); models OPENCV or FULL_OPENCV"
    ),
    "nerfstudio": (
        f"{TRANSFORMS_NAME}: transform_matrix is camera-to-world with OpenGL/Blender camera axes "
        "(x right, y up, z backwards)"
    ),
    "pixels": (
        "COLMAP and transforms.json put the centre of the top-left pixel at (0.5, 0.5); their cx, cy are "
        f"the rig's OpenCV values + {PIXEL_CENTRE_OFFSET} (package.json 'cameras' keeps the OpenCV values)"
    ),
}


def _jsonable(value: Any, where: str) -> Any:
    """Plain JSON data from metadata (mappings, sequences, bytes as hex, numpy values, datetimes)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} cannot be stored in JSON")
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), where)
    if isinstance(value, bytes | bytearray | memoryview):
        # DMX frames are raw bytes; hex keeps them readable and diffable (base64 would not).
        return bytes(value).hex()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_jsonable(item, f"{where}[{index}]") for index, item in enumerate(items)]
    raise ValueError(f"{where}: cannot store {type(value).__name__} in package.json")


def _camera_entries(rig: RigConfig, camera_ids: Mapping[str, int]) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for camera_id, colmap_id in camera_ids.items():
        camera = rig.camera(camera_id)
        entries[camera_id] = {
            "colmap_camera_id": colmap_id,
            "colmap_model": colmap_model_name(float(camera.intrinsics.distortion()[4])),
            "serial": camera.serial,
            "body": camera.body,
            "group": camera.group,
            "intrinsics_opencv": camera.intrinsics.model_dump(mode="json"),
            "pose_rig": camera.pose.model_dump(mode="json"),
        }
    return entries


def _package_document(
    rig: RigConfig,
    frames: Sequence[PackageFrame],
    metadata: Mapping[str, Any],
    camera_ids: Mapping[str, int],
    sizes: Sequence[int],
) -> dict[str, Any]:
    frame_entries = []
    for image_id, (frame, size) in enumerate(zip(frames, sizes, strict=True), start=1):
        frame_entries.append({
            "name": frame.name,
            "file_path": f"{IMAGES_DIR}/{frame.name}",
            "colmap_image_id": image_id,
            "camera_id": frame.camera_id,
            "pose_id": frame.pose_id,
            "station_id": frame.station_id,
            "light_id": frame.light_id,
            "bracket_id": frame.bracket_id,
            "station_angle_deg": frame.station_angle_deg,
            "sha256": frame.sha256.lower(),
            "bytes": size,
            "source": Path(frame.source).name,
            "lighting": _jsonable(frame.lighting, f"frame '{frame.name}' lighting"),
        })
    return {
        "format": "capturerig-package",
        "format_version": PACKAGE_FORMAT_VERSION,
        "metadata": _jsonable(metadata, "metadata"),
        "conventions": _CONVENTIONS,
        "rig": rig.name,
        "cameras": _camera_entries(rig, camera_ids),
        "frames": frame_entries,
    }


def _build(rig: RigConfig, frames: Sequence[PackageFrame], root: Path, metadata: Mapping[str, Any]) -> int:
    """Fill ``root`` with the whole package; returns the number of COLMAP cameras."""
    images = root / IMAGES_DIR
    images.mkdir()
    digests: dict[str, str] = {}
    sizes: list[int] = []
    for frame in frames:
        target = images / frame.name
        actual = place_image(Path(frame.source), target)
        if actual != frame.sha256.lower():
            raise PackageIntegrityError(frame.name, Path(frame.source), frame.sha256.lower(), actual)
        digests[f"{IMAGES_DIR}/{frame.name}"] = actual
        sizes.append(target.stat().st_size)
    model_dir = root / COLMAP_DIR
    model_dir.mkdir(parents=True)
    camera_ids = write_colmap_model(rig, frames, model_dir)
    # pycolmap writes without fsync; images, JSON and the manifest were flushed as they were written.
    for path in model_dir.iterdir():
        fsync_file(path)
    write_json(root / TRANSFORMS_NAME, transforms_document(rig, frames))
    write_json(root / PACKAGE_JSON_NAME, _package_document(rig, frames, metadata, camera_ids, sizes))
    write_manifest(root, digests)
    # Directory entries too, deepest first, so the rename can only publish names that are on disk.
    for directory in (images, model_dir, model_dir.parent, root):
        fsync_dir(directory)
    return len(camera_ids)


def _discard(partial: Path, error: BaseException) -> None:
    try:
        shutil.rmtree(partial)
    except OSError as exc:
        # The package was not published; the leftover is hidden and named .partial, so report and go on.
        error.add_note(f"could not remove the partial package {partial}: {exc}")


def write_package(
    rig: RigConfig, frames: Sequence[PackageFrame], out_dir: Path, metadata: Mapping[str, Any]
) -> PackageSummary:
    """Write a training package of verified frames.

    Parameters
    ----------
    rig : RigConfig
        The rig the frames were shot with (intrinsics and nominal poses become the camera model).
    frames : Sequence[PackageFrame]
        One verified image each; written in this order (COLMAP image ids are 1-based positions).
    out_dir : Path
        The package root to create; must not exist yet. Its parent is created if needed.
    metadata : Mapping[str, Any]
        Session id, subject id, rig and plan names, creation time, capturerig version...; stored in
        ``package.json`` (bytes become hex, datetimes ISO 8601).

    Returns
    -------
    PackageSummary
        Where everything went and how big it is.

    Raises
    ------
    ValueError
        Bad frames (unknown camera, duplicate or unsafe name, missing source, malformed sha256) or
        metadata that cannot be stored in JSON; nothing is written.
    PackageIntegrityError
        A source file no longer matches its recorded sha256; nothing is left behind.
    FileExistsError
        ``out_dir`` already exists.
    """
    out_dir = Path(out_dir)
    validate_frames(rig, frames)
    _jsonable(metadata, "metadata")  # fail before touching the disk
    for frame in frames:
        _jsonable(frame.lighting, f"frame '{frame.name}' lighting")
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already exists; packages are never overwritten")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # A sibling, so the final rename stays on one filesystem and is atomic; os.mkdir honours the umask
    # (tempfile.mkdtemp would leave a 0700 package behind).
    partial = out_dir.parent / f".{out_dir.name}.partial-{uuid.uuid4().hex[:12]}"
    os.mkdir(partial)
    try:
        num_cameras = _build(rig, frames, partial, metadata)
        os.rename(partial, out_dir)
    except BaseException as error:
        _discard(partial, error)
        raise
    fsync_dir(out_dir.parent)
    total = sum(path.stat().st_size for path in out_dir.rglob("*") if path.is_file())
    return PackageSummary(
        out_dir=out_dir,
        num_images=len(frames),
        num_cameras=num_cameras,
        transforms_path=out_dir / TRANSFORMS_NAME,
        colmap_dir=out_dir / COLMAP_DIR,
        manifest_path=out_dir / MANIFEST_NAME,
        total_bytes=total,
    )
