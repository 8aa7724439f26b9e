"""Masks for a folder of images from a folder of clean plates, mended by a visual hull where geometry exists."""

from __future__ import annotations

import os
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from capturerig.masks._folders import Shot, pair_plates, scan_folder
from capturerig.masks._hull import HullCamera, carve_hull, mend_with_hull, project_hull
from capturerig.masks._linear import LinearImage, MaskError, read_linear
from capturerig.masks._matte import BoolArray, Matte
from capturerig.masks._segmenter import DifferenceSegmenter, Segmenter
from capturerig.packaging import Geometry

__all__ = ["ExposureJob", "ExposureMasks", "MaskReport", "hull_geometry", "make_masks", "mask_exposure",
           "write_mask"]


@dataclass
class MaskReport:
    """What :func:`make_masks` did.

    Attributes
    ----------
    written
        The mask files, in the order written.
    hull_exposures
        Exposures whose masks were mended by a visual hull.
    without_hull
        Why masks were made without a hull (no geometry, a camera not in it, an exposure seen by one camera).
    seconds
        Wall time.
    """

    written: list[Path] = field(default_factory=list)
    hull_exposures: int = 0
    without_hull: list[str] = field(default_factory=list)
    seconds: float = 0.0


def hull_geometry(geometry: Geometry) -> dict[str, HullCamera]:
    """Every camera of a package :class:`~capturerig.packaging.Geometry` (calibrated or nominal) for the hull."""
    return {camera_id: HullCamera(camera.width, camera.height, camera.k, camera.dist, camera.rotation,
                                  camera.translation) for camera_id, camera in geometry.cameras.items()}


def write_mask(mask: BoolArray, path: Path) -> Path:
    """An 8-bit single-channel PNG, 255 on the subject and 0 elsewhere (nerfstudio: black = ignore)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.where(mask, 255, 0).astype(np.uint8)):
        raise MaskError(f"{path}: could not be written")
    return path


class _Plates:
    """Plates read once each (an image folder reuses one plate per camera and lighting state many times)."""

    def __init__(self) -> None:
        self._read: dict[Path, LinearImage] = {}

    def get(self, shot: Shot) -> LinearImage:
        if shot.path not in self._read:
            self._read[shot.path] = read_linear(shot.path)
        return self._read[shot.path]


def _matte(segmenter: Segmenter, image_shot: Shot, plate_shot: Shot, plates: _Plates,
           images_root: Path, plates_root: Path) -> Matte:
    image = read_linear(image_shot.path)
    plate = plates.get(plate_shot)
    if image.size != plate.size:
        raise MaskError(f"{image_shot.label(images_root)} is {image.size[0]}x{image.size[1]} but its plate "
                        f"{plate_shot.label(plates_root)} is {plate.size[0]}x{plate.size[1]}: plates from another "
                        "rig or camera setting?")
    if image.encoding != plate.encoding:
        raise MaskError(f"{image_shot.label(images_root)} and its plate {plate_shot.label(plates_root)} are "
                        "different kinds of file (8-bit and linear): shoot plates in the images' format")
    return segmenter.segment(image, plate)


def make_masks(plates_dir: Path, images_dir: Path, out_dir: Path,
               geometry: Mapping[str, HullCamera] | None = None, segmenter: Segmenter | None = None,
               min_votes: int = 2, progress: Callable[[int, int], None] | None = None) -> MaskReport:
    """Write ``out_dir/<camera>/<image stem>.png`` for every image under ``images_dir/<camera>/``.

    Parameters
    ----------
    plates_dir, images_dir
        ``<camera>/<file>`` folders; see :mod:`capturerig.masks._folders` for how plates are matched.
    out_dir
        Where the masks go (created).
    geometry
        Cameras by id in the rig frame (:func:`hull_geometry`); None makes masks without the visual hull.
    segmenter
        What finds the subject (default: :class:`DifferenceSegmenter`).
    min_votes
        Cameras that must see a voxel as background before the hull loses it.
    progress
        Called with (images done, images) after each exposure.

    Raises
    ------
    MaskError
        Naming the folder, camera, file or lighting state at fault; nothing is written before the pairing of
        every image with a plate has succeeded.
    """
    started = time.monotonic()
    segmenter = segmenter or DifferenceSegmenter()
    pairs = pair_plates(scan_folder(plates_dir, "plates"), scan_folder(images_dir, "images"), plates_dir,
                        images_dir)
    report = MaskReport()
    if geometry is None:
        report.without_hull.append("no geometry given: masks without the visual hull")
    else:
        missing = sorted({image.camera for image, _ in pairs} - set(geometry))
        if missing:
            report.without_hull.append(f"camera(s) {', '.join(missing)} not in the geometry: their masks are not "
                                       "mended by the hull and do not carve it")
    exposures: dict[str, list[tuple[Shot, Shot]]] = defaultdict(list)
    for image, plate in pairs:
        exposures[image.exposure].append((image, plate))
    plates = _Plates()
    done = 0
    for exposure, members in sorted(exposures.items()):
        mattes = [(image.camera, _matte(segmenter, image, plate, plates, images_dir, plates_dir))
                  for image, plate in members]
        masks, hull, note = _exposure_masks(exposure, mattes, geometry, min_votes)
        report.hull_exposures += hull
        if note is not None:
            report.without_hull.append(note)
        for image, _ in members:
            report.written.append(write_mask(masks[image.camera], out_dir / image.camera / f"{image.path.stem}.png"))
        done += len(members)
        if progress is not None:
            progress(done, len(pairs))
    report.seconds = time.monotonic() - started
    return report


def _exposure_masks(exposure: str, mattes: Sequence[tuple[str, Matte]], geometry: Mapping[str, HullCamera] | None,
                    min_votes: int) -> tuple[dict[str, BoolArray], bool, str | None]:
    """The masks of one exposure by camera, whether a hull mended them, and why not when geometry was given."""
    masks = {camera: matte.foreground for camera, matte in mattes}
    carving = [(geometry[camera], matte) for camera, matte in mattes if geometry is not None and camera in geometry]
    for hull_camera, matte in carving:
        shape = matte.foreground.shape
        if shape != (hull_camera.height, hull_camera.width):
            raise MaskError(f"exposure {exposure}: images of {shape[1]}x{shape[0]} but the geometry's camera "
                            f"is {hull_camera.width}x{hull_camera.height}: geometry of another rig?")
    if len(carving) >= 2:
        hull = carve_hull([(hull_camera, matte.foreground) for hull_camera, matte in carving], min_votes)
        for camera, matte in mattes:
            if geometry is not None and camera in geometry:
                masks[camera] = mend_with_hull(matte, project_hull(hull, geometry[camera]))
        return masks, True, None
    if geometry is not None:
        return masks, False, f"exposure {exposure}: seen by {len(carving)} calibrated camera(s); a hull needs two"
    return masks, False, None


@dataclass(frozen=True)
class ExposureJob:
    """The masks of one exposure (every camera of one pose, station, lighting state and bracket) to make.

    Paths in, paths out, so it travels to a Dask worker as it is. ``members`` holds, per camera, its image,
    its plate and where its mask goes (whose folder must exist: the task never creates one, so a task still
    running after its caller gave up cannot bring a removed folder back).
    """

    exposure: str
    members: tuple[tuple[str, str, str, str], ...]  # camera, image, plate, mask
    geometry: Mapping[str, HullCamera] | None = None
    min_votes: int = 2


@dataclass(frozen=True)
class ExposureMasks:
    """What :func:`mask_exposure` wrote: the masks (in ``members``' order), whether a hull mended them, and why
    not when geometry was given."""

    exposure: str
    written: tuple[str, ...]
    hull: bool
    note: str | None


def _publish_mask(mask: BoolArray, path: Path) -> None:
    """Write the mask PNG under a temporary name beside ``path`` and rename it over: a retried task finds no
    half-written file."""
    ok, encoded = cv2.imencode(".png", np.where(mask, 255, 0).astype(np.uint8))
    if not ok:
        raise MaskError(f"{path}: could not be encoded")
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        with temporary.open("xb") as handle:
            handle.write(encoded.tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def mask_exposure(job: ExposureJob, segmenter: Segmenter | None = None) -> ExposureMasks:
    """Make and write the masks of one exposure (a task: one per exposure, the hull needs all its cameras).

    Raises
    ------
    MaskError
        An image or plate that cannot be read, an image and plate of different sizes or kinds, or geometry
        of another size; naming the files.
    """
    segmenter = segmenter or DifferenceSegmenter()
    plates: dict[str, LinearImage] = {}
    mattes = []
    for camera, image_path, plate_path, _ in job.members:
        image = read_linear(Path(image_path))
        plate = plates.get(plate_path) or plates.setdefault(plate_path, read_linear(Path(plate_path)))
        if image.size != plate.size:
            raise MaskError(f"{image_path} is {image.size[0]}x{image.size[1]} but its plate {plate_path} is "
                            f"{plate.size[0]}x{plate.size[1]}: plates from another rig or camera setting?")
        if image.encoding != plate.encoding:
            raise MaskError(f"{image_path} and its plate {plate_path} are different kinds of file (8-bit and "
                            "linear): shoot plates in the images' format")
        mattes.append((camera, segmenter.segment(image, plate)))
    masks, hull, note = _exposure_masks(job.exposure, mattes, job.geometry, job.min_votes)
    for camera, _, _, mask_path in job.members:
        _publish_mask(masks[camera], Path(mask_path))
    return ExposureMasks(job.exposure, tuple(member[3] for member in job.members), hull, note)
