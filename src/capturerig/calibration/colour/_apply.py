"""Apply a colour calibration to folders of images: ``DIR/<camera_id>/*`` to ``OUT/<camera_id>/*``.

RAW files are developed linearly (:mod:`capturerig.develop`) and written as 8-bit sRGB PNG, what nerfstudio,
3DGS and gsplat read (they divide 8-bit values by 255 and silently cut 16-bit PNGs); with ``linear`` as 16-bit
linear TIFF in the calibration's working space (0..65535 for 0..1, RGB) for work that wants the light itself.
A camera's calibration is applied only to the kind of file it was made from (RAW to RAW, images to images):
the tone curve it undoes would otherwise be wrong. Each output is written under a temporary name and renamed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import tifffile

from capturerig.calibration.colour._calibration import ColourCalibration
from capturerig.calibration.colour._pipeline import IMAGE_SUFFIXES
from capturerig.develop import DevelopError, develop_linear, is_raw, linear_bgr16

__all__ = ["ApplyResult", "apply_to_folder"]

_JPEG_QUALITY = 95


@dataclass
class ApplyResult:
    """What :func:`apply_to_folder` wrote and what it could not."""

    written: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _output_path(out_camera_dir: Path, source: Path, bits: int, linear: bool) -> Path:
    # 16-bit needs PNG; 8-bit keeps the source's format so that tools downstream see what they expect; a RAW
    # file's rendition is a lossless PNG, its linear one a TIFF.
    if linear:
        return out_camera_dir / f"{source.stem}.tif"
    if bits == 16 or is_raw(source) or source.suffix.lower() in (".tif", ".tiff"):
        return out_camera_dir / f"{source.stem}.png"
    return out_camera_dir / source.name


def _read(source: Path) -> npt.NDArray[Any] | str:
    """The image to correct (16-bit linear BGR for a RAW file), or why it cannot be read."""
    if is_raw(source):
        try:
            return linear_bgr16(develop_linear(source, name=str(source)))
        except DevelopError as exc:
            return str(exc)
    image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype not in (np.uint8, np.uint16):
        return f"{source}: not an 8/16-bit colour image; skipped"
    return np.ascontiguousarray(image[..., :3])


def _write(target: Path, pixels: npt.NDArray[Any], linear: bool) -> bool:
    partial = target.with_name(f".{target.name}.partial")
    if linear:  # RGB, as TIFF readers expect; the working space's linear values, 0..65535 for 0..1
        tifffile.imwrite(partial, pixels, photometric="rgb", metadata=None)
    else:
        params = [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY] if target.suffix.lower() in (".jpg", ".jpeg") else []
        if not cv2.imwrite(str(partial) + target.suffix, pixels, params):
            return False
        partial = partial.with_name(partial.name + target.suffix)
    os.replace(partial, target)  # a retried or interrupted run never leaves half a file under the real name
    return True


def apply_to_folder(calibration: ColourCalibration, in_dir: Path, out_dir: Path, bits: int = 8,
                    linear: bool = False) -> ApplyResult:
    """Write every image of ``in_dir/<camera_id>/`` colour-corrected to ``out_dir/<camera_id>/``.

    8-bit output keeps each image's format (JPEG at quality 95; TIFF becomes PNG; RAW becomes PNG); 16-bit
    output is PNG; ``linear`` writes 16-bit linear TIFF in the working space instead. Images of a camera the
    calibration does not know, of a kind its calibration was not made from, and files that do not decode are
    reported by name and skipped; the inputs are never modified.

    Raises
    ------
    FileNotFoundError
        When ``in_dir`` is not a folder.
    ValueError
        When ``bits`` is not 8 or 16, or ``out_dir`` is ``in_dir`` (it would replace the originals).
    """
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    if not in_dir.is_dir():
        raise FileNotFoundError(f"{in_dir}: no such folder (expected {in_dir}/<camera_id>/<image>)")
    if out_dir.resolve() == in_dir.resolve():
        raise ValueError(f"--out {out_dir} is the input folder: corrected images would replace the originals")
    result = ApplyResult()
    for camera_dir in sorted(p for p in in_dir.iterdir() if p.is_dir()):
        images = sorted(p for p in camera_dir.iterdir()
                        if p.is_file() and (p.suffix.lower() in IMAGE_SUFFIXES or is_raw(p)))
        if not images:
            continue
        camera_id = camera_dir.name
        if camera_id not in calibration.cameras:
            result.problems.append(f"{camera_id}: no colour calibration for this camera; its "
                                   f"{len(images)} images were skipped (calibrated: "
                                   f"{', '.join(sorted(calibration.cameras)) or 'none'})")
            continue
        made_from_raw = calibration.camera(camera_id).source == "raw"
        target_dir = out_dir / camera_id
        target_dir.mkdir(parents=True, exist_ok=True)
        for source in images:
            if is_raw(source) != made_from_raw:
                result.problems.append(
                    f"{source}: {camera_id}'s colour calibration was made from "
                    f"{'RAW files' if made_from_raw else 'images'}; calibrate from the same kind of file as the "
                    "one corrected (RAW for RAW); skipped")
                continue
            image = _read(source)
            if isinstance(image, str):
                result.problems.append(image)
                continue
            if linear:
                rgb = np.clip(calibration.to_linear(camera_id, image), 0.0, 1.0)
                pixels = np.rint(rgb * np.float32(65535.0)).astype(np.uint16)
            else:
                pixels = calibration.correct(camera_id, image, bits)
            target = _output_path(target_dir, source, bits, linear)
            if not _write(target, pixels, linear):
                result.problems.append(f"{target}: could not be written")
                continue
            result.written.append(target)
    return result
