"""The tasks workers run: plain functions of paths, importable by every worker (no closures, no arrays).

A task re-reads its input and checks it against the sha256 the journal recorded, so a file changed since it
was verified is refused, not processed; outputs go to a temporary name in their folder and are renamed, so a
task retried after a worker died leaves one whole file.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile

from capturerig.calibration.colour import ColourCalibration, load_colour
from capturerig.develop import develop_linear, linear_bgr16, neutral_srgb8
from capturerig.files import fsync_file

__all__ = ["develop_file"]


@functools.lru_cache(maxsize=4)
def _calibration(path: str, modified_ns: int) -> ColourCalibration:
    return load_colour(path)  # once per worker process and file version, not once per task


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomically(target: Path, data: bytes) -> str:
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    partial.write_bytes(data)
    fsync_file(partial)
    os.replace(partial, target)
    return _sha256(data)


def _png(pixels: Any) -> bytes:
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise ValueError("PNG encoding failed")
    return bytes(encoded.tobytes())


def _tiff(rgb16: Any) -> bytes:

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, rgb16, photometric="rgb", metadata=None)
    return buffer.getvalue()


def develop_file(source: str, expected_sha256: str, camera_id: str, out_png: str, out_tiff: str | None = None,
                 colour_json: str | None = None) -> dict[str, str]:
    """Develop one RAW file: an 8-bit sRGB PNG (colour-corrected with ``colour_json`` when given) and, with
    ``out_tiff``, a 16-bit linear TIFF (the calibration's working space, or camera RGB without one).
    Returns the sha256 of each output by path.

    Raises
    ------
    ValueError
        The file is not what the journal recorded, or it does not develop (naming it).
    """
    data = Path(source).read_bytes()
    if _sha256(data) != expected_sha256.lower():
        raise ValueError(f"{source}: its sha256 is not the one journalled when it was captured; it changed "
                         "since (restore it from the camera card or a backup)")
    developed = develop_linear(data, name=source)
    linear16 = linear_bgr16(developed)
    outputs: dict[str, str] = {}
    if colour_json:
        calibration = _calibration(colour_json, os.stat(colour_json).st_mtime_ns)
        srgb8 = calibration.correct(camera_id, linear16, bits=8)
        linear_rgb = np.clip(calibration.to_linear(camera_id, linear16), 0.0, 1.0) if out_tiff else None
    else:  # no calibration: the camera's own neutral as white balance (capturerig.develop.neutral_srgb8)
        srgb8 = neutral_srgb8(developed)
        linear_rgb = developed.rgb if out_tiff else None
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    outputs[out_png] = _write_atomically(Path(out_png), _png(srgb8))
    if out_tiff and linear_rgb is not None:
        Path(out_tiff).parent.mkdir(parents=True, exist_ok=True)
        rgb16 = np.rint(np.clip(linear_rgb, 0.0, 1.0) * 65535.0).astype(np.uint16)
        outputs[out_tiff] = _write_atomically(Path(out_tiff), _tiff(rgb16))
    return outputs
