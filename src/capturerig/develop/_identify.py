"""Naming the camera behind a RAW file LibRaw cannot develop: an unsupported format, or a camera it does not know.

LibRaw refuses most RAW files of bodies newer than its release outright. Some it opens anyway (a TIFF-based
RAW of an unknown maker reads as a plain mosaic) but without the camera's white balance: developing those
would give colours that look plausible and are wrong, so they are refused too, naming the maker and model the
file states (TIFF-based RAW formats: DNG, NEF, CR2, ARW, ...).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import rawpy
import tifffile

__all__ = ["camera_named", "unknown_camera_message", "white_balance_problem"]

_MAKE, _MODEL, _UNIQUE_CAMERA_MODEL = 271, 272, 50708


def camera_named(source: Path | bytes) -> str:
    """``maker 'X', model 'Y'`` as a TIFF-based RAW file states them, or a note that it states none we read."""
    try:
        with tifffile.TiffFile(io.BytesIO(source) if isinstance(source, bytes) else source) as tiff:
            tags = tiff.pages[0].tags  # type: ignore[union-attr]
            make = str(tags[_MAKE].value).strip() if _MAKE in tags else ""
            model = str(tags[_MODEL].value).strip() if _MODEL in tags else ""
            if not model and _UNIQUE_CAMERA_MODEL in tags:
                model = str(tags[_UNIQUE_CAMERA_MODEL].value).strip()
    except (tifffile.TiffFileError, OSError, ValueError, IndexError):
        return "maker and model not readable (not a TIFF-based RAW)"
    if not (make or model):
        return "no maker or model stated in the file"
    return f"maker '{make or '?'}', model '{model or '?'}'"


def unknown_camera_message(label: str, source: Path | bytes, reason: str) -> str:
    """What to say about a RAW LibRaw cannot develop for want of knowing its camera."""
    version = ".".join(str(part) for part in rawpy.libraw_version)
    return (f"{label}: LibRaw {version} {reason} ({camera_named(source)}); a camera newer than this LibRaw, or not "
            "a camera's RAW file - convert it to DNG (Adobe DNG Converter) or install a newer rawpy")


def white_balance_problem(raw: rawpy.RawPy, label: str, source: Path | bytes) -> str | None:
    """Why a file without an as-shot white balance for R, G and B cannot be developed (LibRaw does not know
    its camera), or None when it has one."""
    balance = np.asarray(raw.camera_whitebalance[:3], dtype=np.float64)
    if np.all(np.isfinite(balance)) and np.all(balance > 0):
        return None
    return unknown_camera_message(label, source, "knows no white balance or colour data for the camera that made it")
