"""Masks for a folder of images from a folder of clean plates, mended by a visual hull where geometry exists."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
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

__all__ = ["MaskReport", "hull_geometry", "make_masks", "write_mask"]


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
        mattes = [(image, _matte(segmenter, image, plate, plates, images_dir, plates_dir)) for image, plate in members]
        masks = {image.camera: matte.foreground for image, matte in mattes}
        carving = [(geometry[image.camera], matte) for image, matte in mattes
                   if geometry is not None and image.camera in geometry]
        for camera, matte in carving:
            shape = matte.foreground.shape
            if shape != (camera.height, camera.width):
                raise MaskError(f"exposure {exposure}: images of {shape[1]}x{shape[0]} but the geometry's camera "
                                f"is {camera.width}x{camera.height}: geometry of another rig?")
        if len(carving) >= 2:
            hull = carve_hull([(camera, matte.foreground) for camera, matte in carving], min_votes)
            for image, matte in mattes:
                if geometry is not None and image.camera in geometry:
                    masks[image.camera] = mend_with_hull(matte, project_hull(hull, geometry[image.camera]))
            report.hull_exposures += 1
        elif geometry is not None:
            report.without_hull.append(f"exposure {exposure}: seen by {len(carving)} calibrated camera(s); a hull "
                                       "needs two")
        for image, _ in mattes:
            report.written.append(write_mask(masks[image.camera], out_dir / image.camera / f"{image.path.stem}.png"))
        done += len(members)
        if progress is not None:
            progress(done, len(pairs))
    report.seconds = time.monotonic() - started
    return report
