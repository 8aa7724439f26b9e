"""Apply a colour calibration to folders of images: ``DIR/<camera_id>/*`` to ``OUT/<camera_id>/*``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from capturerig.calibration.colour._calibration import ColourCalibration
from capturerig.calibration.colour._pipeline import IMAGE_SUFFIXES

__all__ = ["ApplyResult", "apply_to_folder"]

_JPEG_QUALITY = 95


@dataclass
class ApplyResult:
    """What :func:`apply_to_folder` wrote and what it could not."""

    written: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _output_path(out_camera_dir: Path, source: Path, bits: int) -> Path:
    # 16-bit needs PNG; 8-bit keeps the source's format so that tools downstream see what they expect.
    if bits == 16 or source.suffix.lower() in (".tif", ".tiff"):
        return out_camera_dir / f"{source.stem}.png"
    return out_camera_dir / source.name


def apply_to_folder(calibration: ColourCalibration, in_dir: Path, out_dir: Path, bits: int = 8) -> ApplyResult:
    """Write every image of ``in_dir/<camera_id>/`` colour-corrected to ``out_dir/<camera_id>/``.

    8-bit output keeps each image's format (JPEG at quality 95; TIFF becomes PNG); 16-bit output is PNG.
    Images of a camera the calibration does not know, and files that do not decode, are reported by name
    and skipped; the inputs are never modified.

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
        images = sorted(p for p in camera_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            continue
        if camera_dir.name not in calibration.cameras:
            result.problems.append(f"{camera_dir.name}: no colour calibration for this camera; its "
                                   f"{len(images)} images were skipped (calibrated: "
                                   f"{', '.join(sorted(calibration.cameras)) or 'none'})")
            continue
        target_dir = out_dir / camera_dir.name
        target_dir.mkdir(parents=True, exist_ok=True)
        for source in images:
            image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
            if image is None or image.ndim != 3 or image.shape[2] not in (3, 4) \
                    or image.dtype not in (np.uint8, np.uint16):
                result.problems.append(f"{source}: not an 8/16-bit colour image; skipped")
                continue
            corrected = calibration.correct(camera_dir.name, np.ascontiguousarray(image[..., :3]), bits)
            target = _output_path(target_dir, source, bits)
            params = [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY] if target.suffix.lower() in (".jpg", ".jpeg") else []
            if not cv2.imwrite(str(target), corrected, params):
                result.problems.append(f"{target}: could not be written")
                continue
            result.written.append(target)
    return result
